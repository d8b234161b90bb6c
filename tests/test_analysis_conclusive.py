"""cnr.analysis.conclusive: a weak attack's row points to the run where the same attack breaks the bare model."""
from __future__ import annotations

import pandas as pd

from cnr.analysis.conclusive import conclusive_rows
from cnr.analysis.sanity import attacks_conclusive
from cnr.paths import RESULTS_DIR

CHECK = "every attack conclusive"


def _quick() -> pd.DataFrame:
    return pd.read_csv(RESULTS_DIR / "quick" / "tables" / "robustness.csv")


def _write(root, name: str, df: pd.DataFrame) -> None:
    tables = root / name / "tables"
    tables.mkdir(parents=True)
    df.to_csv(tables / "robustness.csv", index=False)


def test_a_weak_row_fails_alone_and_passes_with_a_run_where_its_attack_is_conclusive(tmp_path):
    df = _quick()
    alone = attacks_conclusive(df)
    assert not alone["passed"] and "cw l2 inf" in alone["detail"] and "no conclusive run of it" in alone["detail"]
    strong = df.copy()
    weak = (strong["mode"] == "none") & strong["attack"].isin(["cw", "nattack", "hsj"])
    strong.loc[weak, "accuracy"] = 0.0  # the same attacks at a strength that breaks the bare model
    _write(tmp_path, "strong", strong)
    _write(tmp_path, "quick", df)
    found = conclusive_rows(tmp_path, exclude="quick")
    assert set(found["run"]) == {"strong"} and {"cw", "nattack", "hsj"} <= set(found["attack"])
    check = attacks_conclusive(df, found)
    assert check["passed"], check["detail"]
    assert check["detail"].count("conclusive in results/strong") == 3 and "undefended 0.515" in check["detail"]


def test_a_conclusive_run_of_another_norm_or_attack_is_no_pointer(tmp_path):
    df = _quick()
    other = df.copy()
    other.loc[other["attack"] == "hsj", "norm"] = "linf"  # HopSkipJump conclusive only in another norm
    other.loc[(other["mode"] == "none") & other["attack"].isin(["cw", "nattack", "hsj"]), "accuracy"] = 0.0
    _write(tmp_path, "other", other)
    check = attacks_conclusive(df, conclusive_rows(tmp_path))
    assert not check["passed"] and "hsj l2 0.2: undefended 0.390 vs white-box 0.000; no conclusive run" in \
        check["detail"]


def test_the_committed_quick_and_imagenet_rows_point_to_the_committed_conclusive_run():
    for run in ("quick", "imagenet"):
        df = pd.read_csv(RESULTS_DIR / run / "tables" / "robustness.csv")
        check = attacks_conclusive(df, conclusive_rows(RESULTS_DIR, exclude=run))
        assert check["passed"] and "conclusive in results/conclusive" in check["detail"], (run, check["detail"])
