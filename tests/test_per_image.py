"""Per-image outcomes, the ensemble rule and the paired static-vs-dynamic comparison, on outcomes made up here."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from cnr.analysis.ensemble import ensemble
from cnr.analysis.paired import default_pairs, paired_difference, paired_table
from cnr.eval.outcomes import load_outcomes, save_outcomes


def _row(defense: str, mode: str, attack: str, kind: str, budget: float, acc: float) -> dict:
    return dict(dataset="d", classifier="c", defense=defense, attack=attack, norm="linf", budget=budget, params="{}",
                seed=0, mode=mode, n_iter=3, random_qf=True, kind=kind, accuracy=acc, worst_accuracy=acc, n=8,
                inconclusive=False)


def _table(tmp_path, cells: dict[tuple[str, str, str, float], list[list[int]]]) -> tuple[pd.DataFrame, str]:
    """A results table whose rows carry outcomes: cells[(defense, mode, attack, budget)] = correct (draws x n)."""
    csv = str(tmp_path / "robustness.csv")
    rows = []
    for (defense, mode, attack, budget), correct in cells.items():
        c = torch.tensor(correct, dtype=torch.bool)
        r = _row(defense, mode, attack, "clean" if attack == "clean" else "adaptive", budget, c.float().mean().item())
        r["outcomes"] = save_outcomes(csv, r, c, ~c.all(0), torch.full((c.shape[1],), budget))
        rows.append(r)
    return pd.DataFrame(rows), csv


def test_outcomes_round_trip(tmp_path):
    df, csv = _table(tmp_path, {("s", "static", "pgd", 0.1): [[1, 0, 1, 1, 0, 1, 1, 1, 0], [1, 1, 0, 1, 0, 1, 1, 1, 1]]})
    o = load_outcomes(csv, df.iloc[0])
    assert o.correct.tolist() == [[True, False, True, True, False, True, True, True, False],
                                  [True, True, False, True, False, True, True, True, True]]
    assert o.success.tolist() == [False, True, True, False, True, False, False, False, True]


def test_outcomes_of_a_row_read_back_from_the_csv(tmp_path):
    """robustness.csv keeps 4 decimals of a budget (2/255 becomes 0.0078): the row's own `outcomes` column still finds
    its file, and a name that is not one the grid writes is refused, not opened."""
    from cnr.errors import InputError
    from cnr.eval.rows import read_table

    df, csv = _table(tmp_path, {("s", "static", "pgd", 2 / 255): [[1, 0, 1, 1]]})
    df.to_csv(csv, index=False, float_format="%.4f")
    row = read_table(csv).iloc[0]
    assert row["budget"] != 2 / 255
    assert load_outcomes(csv, row).correct.tolist() == [[True, False, True, True]]
    with pytest.raises(InputError, match="not a file the grid writes"):
        load_outcomes(csv, {**row.to_dict(), "outcomes": "../../robustness.csv"})


def test_the_committed_tables_find_every_rows_outcomes():
    """Every row of the committed grids' robustness.csv that names outcomes can load them (the imagenet budgets are
    fractions of 255, the case the key's hash alone misses)."""
    from cnr.eval.rows import read_table
    from cnr.paths import REPO_ROOT

    tables = [REPO_ROOT / "results" / run / "tables" / "robustness.csv"
              for run in ("quick", "imagenet", "study+bank.preset=quick", "study")]
    loaded = 0
    for csv in tables:
        df = read_table(csv)
        for _, row in df[df["outcomes"].notna()].iterrows():
            assert load_outcomes(csv, row).correct.shape[1] == row["n"]
            loaded += 1
    assert loaded > 100


def test_paired_difference_mcnemar_and_interval():
    a = np.array([1] * 30 + [0] * 70, bool)  # static keeps 30 images
    b = np.array([1] * 10 + [0] * 90, bool)  # dynamic keeps 10 of those, nothing else
    d = paired_difference(a, b, seed=0)
    assert d["diff"] == pytest.approx(-0.2) and (d["only_a"], d["only_b"]) == (20, 0)
    assert d["mcnemar_p"] == pytest.approx(2 * 0.5 ** 20)  # exact two-sided binomial test on 20 discordant images
    assert d["diff_lo"] < -0.2 < d["diff_hi"] < 0
    same = paired_difference(a, a)
    assert same["diff"] == same["diff_lo"] == same["diff_hi"] == 0 and same["mcnemar_p"] == 1.0


def test_ensemble_and_paired_table_take_every_attack_and_draw(tmp_path):
    one = [[1] * 8, [1] * 8]
    cells = {
        ("static-N3", "static", "clean", 0.0): one,
        ("dynamic-N3", "dynamic", "clean", 0.0): [[1] * 7 + [0], [1] * 8],  # image 7 wrong in one draw
        ("static-N3", "static", "pgd", 0.1): [[1, 1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0, 0, 0]],
        ("static-N3", "static", "eot", 0.1): [[1, 1, 1, 0, 1, 0, 0, 0], [1, 1, 1, 0, 1, 0, 0, 0]],
        ("dynamic-N3", "dynamic", "pgd", 0.1): [[1, 0, 0, 0, 0, 0, 0, 1], [1, 1, 0, 0, 0, 0, 0, 1]],
        ("dynamic-N3", "dynamic", "eot", 0.1): [[1, 1, 0, 0, 0, 0, 0, 1], [1, 1, 0, 0, 0, 0, 0, 1]],
    }
    df, csv = _table(tmp_path, cells)
    ens = ensemble(df, csv).set_index("defense")
    assert ens.loc["static-N3", "robust_accuracy"] == 3 / 8  # images 0-2 survive both attacks
    assert ens.loc["dynamic-N3", "robust_accuracy"] == 1 / 8  # image 0 (image 1 falls in a draw, 7 clean)
    assert default_pairs(df) == [("static-N3", "dynamic-N3")]
    t = paired_table(df, csv).set_index("attack")
    assert t[t["budget"] == 0.1].index[0] == "ensemble"  # per budget, the ensemble first
    assert t.loc["ensemble", "diff"] == pytest.approx(1 / 8 - 3 / 8)
    assert (t.loc["ensemble", "only_a"], t.loc["ensemble", "only_b"]) == (2, 0)
    assert t.loc["pgd", "acc_a"] == 4 / 8 and t.loc["pgd", "acc_b"] == 2 / 8
    assert t.loc["clean", "diff"] == pytest.approx(-1 / 8)


def test_paired_ensemble_takes_the_attacks_aimed_at_the_dynamic_bank_alone(tmp_path):
    cells = {
        ("static-N3", "static", "pgd", 0.1): [[1, 1, 1, 1, 0, 0, 0, 0]],
        ("dynamic-N3", "dynamic", "pgd", 0.1): [[1, 1, 1, 1, 1, 1, 0, 0]],
        ("dynamic-N3", "dynamic", "expected", 0.1): [[1, 1, 0, 0, 1, 1, 1, 1]],  # BPDA through the static generator
        ("dynamic-N3", "dynamic", "other", 0.1): [[0] * 8],  # a dynamic-only cell of another view: not added
        ("dynamic-N3", "dynamic", "transfer", 0.2): [[0] * 8],  # no shared attack at this budget: no ensemble row
    }
    df, csv = _table(tmp_path, cells)
    df["view"] = df["attack"].map({"expected": "expected", "transfer": "transfer-static"}).fillna("bpda")
    t = paired_table(df, csv)
    ens = t[t["attack"] == "ensemble"].set_index("budget")
    assert list(ens.index) == [0.1] and set(t["attack"]) == {"ensemble", "pgd"}
    # dynamic: pgd AND expected keeps images 0, 1, 4, 5 (pgd alone: 0-5); static keeps 0-3
    assert ens.loc[0.1, "acc_a"] == 4 / 8 and ens.loc[0.1, "acc_b"] == 4 / 8
    assert (ens.loc[0.1, "only_a"], ens.loc[0.1, "only_b"]) == (2, 2)
    assert t[t["attack"] == "pgd"]["acc_b"].iloc[0] == 6 / 8
