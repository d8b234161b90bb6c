"""cnr.eval.outcomes: the per-image outcomes a row names are saved beside the table and read back by it."""
from __future__ import annotations

import pytest
from helpers import outcome_table

from cnr.eval.outcomes import load_outcomes


def test_outcomes_round_trip(tmp_path):
    correct = [[1, 0, 1, 1, 0, 1, 1, 1, 0], [1, 1, 0, 1, 0, 1, 1, 1, 1]]
    df, csv = outcome_table(tmp_path, {("s", "static", "pgd", 0.1): correct})
    o = load_outcomes(csv, df.iloc[0])
    assert o.correct.tolist() == [[True, False, True, True, False, True, True, True, False],
                                  [True, True, False, True, False, True, True, True, True]]
    assert o.success.tolist() == [False, True, True, False, True, False, False, False, True]


def test_outcomes_of_a_row_read_back_from_the_csv(tmp_path):
    """robustness.csv keeps 4 decimals of a budget (2/255 becomes 0.0078): the row's own `outcomes` column still finds
    its file, and a name that is not one the grid writes is refused, not opened."""
    from cnr.errors import InputError
    from cnr.eval.rows import read_table

    df, csv = outcome_table(tmp_path, {("s", "static", "pgd", 2 / 255): [[1, 0, 1, 1]]})
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
              for run in ("quick", "imagenet", "study+bank.preset=quick", "study", "conclusive")]
    loaded = 0
    for csv in tables:
        df = read_table(csv)
        for _, row in df[df["outcomes"].notna()].iterrows():
            assert load_outcomes(csv, row).correct.shape[1] == row["n"]
            loaded += 1
    assert loaded > 100
