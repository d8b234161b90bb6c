"""cnr.analysis.compare: two results tables agree within chance or the rows that differ are named."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import run_cli

from cnr.errors import CnrError, InputError


def _shipped_table():
    import pandas as pd

    from cnr.paths import RESULTS_DIR

    return pd.read_csv(RESULTS_DIR / "quick" / "tables" / "robustness.csv")


REPO = Path(__file__).resolve().parents[1]


QUICK_TABLE = REPO / "results" / "quick" / "tables" / "robustness.csv"


@pytest.mark.usefixtures("scratch_results")
def test_compare_refuses_a_non_numeric_accuracy(capsys, tmp_path):
    from cnr.paths import RESULTS_DIR

    df = _shipped_table()
    df["accuracy"] = df["accuracy"].astype(object)
    df.loc[4, "accuracy"] = "abc"
    df.to_csv(tmp_path / "bad.csv", index=False)
    code, text = run_cli(capsys, "compare", str(RESULTS_DIR / "quick" / "tables" / "robustness.csv"),
                     str(tmp_path / "bad.csv"))
    assert code == 2 and "bad.csv row 5 (line 6): 'accuracy'" in text and "got 'abc'" in text, text


def test_compare_agrees_within_chance_and_flags_a_real_difference():
    from cnr.analysis.compare import compare_tables, verdict

    ref = pd.read_csv(QUICK_TABLE)
    cand = ref.copy()
    nudged = [3, 10, 20, 30]
    for i in nudged:  # one image more or less
        cand.loc[i, "accuracy"] += (1 if cand.loc[i, "accuracy"] < 0.5 else -1) / cand.loc[i, "n"]
    res = compare_tables(QUICK_TABLE, cand)
    assert res["agree"].all() and (~res.loc[nudged, "bit_identical"]).all()
    assert res["bit_identical"].sum() == len(ref) - len(nudged)
    assert verdict(res) == (f"{len(ref)} rows matched: {len(ref) - 4} bit-identical, 4 differ, all within chance "
                            f"(Holm-corrected p >= 0.05); 0 rows missing")

    big = int(np.flatnonzero(ref["accuracy"] > 0.5)[0])
    cand.loc[big, "accuracy"] -= 0.30
    cand = cand.drop(index=50).reset_index(drop=True)
    res = compare_tables(ref, cand)
    bad = res[~res["agree"] & (res["status"] == "matched")]
    assert len(bad) == 1 and abs(bad["accuracy_diff"].iloc[0] + 0.30) < 1e-9
    line = verdict(res)
    assert "1 disagree beyond chance (Holm-corrected p < 0.05): fmnist/fmnist-cnn none clean linf 0 seed 0: " \
           "accuracy 0.9460 vs 0.6460" in line
    assert line.endswith("1 row missing (1 only in the reference: fmnist/fmnist-cnn jpeg eot-bpda-pgd l2 0.5 "
                         '{"eot": 4, "steps": 10} seed 0)')


def test_compare_refuses_bad_tables():
    from cnr.analysis.compare import compare_tables

    ref = pd.read_csv(QUICK_TABLE)
    with pytest.raises(InputError, match="candidate.*accuracy"):
        compare_tables(ref, ref.drop(columns="accuracy"))
    with pytest.raises(InputError, match=r"reference.*rows 1 and 152\b"):
        compare_tables(pd.concat([ref, ref.head(1)]), ref)
    bad = ref.copy()
    bad.loc[0, "accuracy"] = 1.7
    with pytest.raises(InputError, match=r"row 1 \(line 2\).*'accuracy'.*1\.7"):
        compare_tables(ref, bad)
    with pytest.raises(InputError, match=r"alpha\b.*\b5\b"):
        compare_tables(ref, ref, alpha=5)
    assert issubclass(InputError, CnrError)


def test_compare_unreadable_table_is_one_line_naming_it(capsys, tmp_path, monkeypatch):
    """A table the user cannot read: the kit's one-line error naming it, not a PermissionError traceback."""
    cand = tmp_path / "candidate.csv"
    cand.write_bytes(QUICK_TABLE.read_bytes())
    real = Path.read_bytes

    def denied(self):
        if self.name == "candidate.csv":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    code, text = run_cli(capsys, "compare", str(QUICK_TABLE), str(cand))
    assert code == 2 and "candidate.csv" in text and "Permission denied" in text and "Traceback" not in text, text
