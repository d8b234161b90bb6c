"""cnr.eval.rows: the optional query columns are checked when present and not required of older rows."""
from __future__ import annotations

import pandas as pd

from cnr.eval.rows import (
    append_row,
    read_rows,
    read_table,
    row_problem,
    rows_path,
    table_problem,
    write_table,
)
from cnr.paths import RESULTS_DIR

QUICK_TABLE = RESULTS_DIR / "quick" / "tables" / "robustness.csv"


def _row(**extra):
    row = pd.read_csv(QUICK_TABLE).iloc[0].to_dict()
    row = {k: v for k, v in row.items() if not pd.isna(v) and k not in ("queries_median", "queries_max")}
    row["random_defense"], row["ablation"] = bool(row["random_defense"]), bool(row["ablation"])
    return {**row, **extra}


def test_query_columns_are_optional_and_checked(tmp_path):
    assert row_problem(_row()) is None  # a row of a table written before the columns existed
    assert row_problem(_row(queries_median=301.5, queries_max=302)) is None
    assert "queries_max" in row_problem(_row(queries_median=3.0, queries_max=2.5))
    assert "queries_median" in row_problem(_row(queries_median=-1.0, queries_max=2))
    out = tmp_path / "robustness.csv"
    append_row(rows_path(out), _row(queries_median=7.0, queries_max=9))
    append_row(rows_path(out), _row(budget=0.3))  # an older row beside it: the columns are empty there
    df = read_rows(out)
    assert df["queries_max"].isna().sum() == 1 and table_problem(df) is None
    write_table(df, out)
    assert read_table(out)["queries_median"].dropna().tolist() == [7.0]
