"""The run's table as the grid sees it: the shards' .jsonl rows laid over the rows already in robustness.csv, so
one shard (or a clean clone's first run) adds to a committed table instead of replacing it.

Keys compare budgets exactly (`budget_key`): the grid writes budgets in full precision, so 0.1 and 0.10000001 stay
two cells. Tables written with 4-decimal budgets (no `budgets: exact` in their sidecar) match a cell when the cell's
budget rounds to theirs, so its rows still count as done and are replaced, never doubled; rows merged into such a
table keep 4 decimals too, so one budget never becomes two.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from cnr.errors import InputError
from cnr.eval.identity import fill_older_columns
from cnr.eval.rows import KEY_COLUMNS, SIDECAR_SUFFIX, read_rows, read_table, rows_path, write_table

ROUNDED_DECIMALS = 4  # what tables without exact budgets kept of a budget


def budget_key(budget: Any) -> str:
    """A budget as a key: the float's shortest exact text (inf stays 'inf')."""
    return repr(float(budget))


def row_key(row: Mapping[str, Any], decimals: int | None = None) -> tuple[str, ...]:
    """A row's (or a cell's) key as text; `decimals` rounds the budget as a 4-decimal table stored it."""
    return tuple(budget_key(row[k] if decimals is None else round(float(row[k]), decimals)) if k == "budget"
                 else str(row[k]) for k in KEY_COLUMNS)


def exact_budgets(out_csv: str | os.PathLike) -> bool:
    """Whether the table was written with exact budgets (its sidecar says so); older tables kept 4 decimals."""
    side = Path(str(out_csv) + SIDECAR_SUFFIX)
    try:
        return json.loads(side.read_text()).get("budgets") == "exact"
    except (OSError, ValueError, AttributeError):
        return False


class DoneKeys:
    """Which cells a table already holds: exact keys, plus rounded ones for the rows of a 4-decimal table."""

    def __init__(self, df: pd.DataFrame, rounded: pd.Series | None = None) -> None:
        records = df[KEY_COLUMNS].to_dict("records") if not df.empty else []
        flags = [False] * len(records) if rounded is None else list(rounded)
        self.exact = {row_key(r) for r, f in zip(records, flags) if not f}
        self.rounded = {row_key(r, ROUNDED_DECIMALS) for r, f in zip(records, flags) if f}

    def __contains__(self, key: Mapping[str, Any]) -> bool:
        return row_key(key) in self.exact or row_key(key, ROUNDED_DECIMALS) in self.rounded


def row_files(out_csv: str | os.PathLike) -> list[Path]:
    """Every shard's .jsonl row file beside the table (what read_rows reads), in name order."""
    return sorted(Path(out_csv).parent.glob(f"{Path(out_csv).stem}.rows-*.jsonl"))


def merged_rows(out_csv: str | os.PathLike) -> tuple[pd.DataFrame, DoneKeys]:
    """Every finished row: the .jsonl rows, plus the rows of the existing table that no .jsonl row replaces."""
    out_csv = Path(out_csv)
    rows = read_rows(out_csv)
    if not out_csv.is_file():
        return fill_older_columns(rows, required=()), DoneKeys(rows)
    table = read_table(out_csv)
    rounded = not exact_budgets(out_csv)
    if not rows.empty:
        decimals = ROUNDED_DECIMALS if rounded else None
        if rounded:  # a 4-decimal table stays one, so a budget never splits into two groups of rows
            rows = rows.assign(budget=[round(float(b), ROUNDED_DECIMALS) for b in rows["budget"]])  # as row_key
        new = {row_key(r, decimals) for r in rows[KEY_COLUMNS].to_dict("records")}
        table = table[[row_key(r, decimals) not in new for r in table[KEY_COLUMNS].to_dict("records")]]
    flags = pd.Series([rounded] * (len(table) + len(rows)))
    df = _stack(table, rows) if not rows.empty else table.reset_index(drop=True)
    return fill_older_columns(df, required=()), DoneKeys(df, flags)


def _stack(table: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """The table's rows then the new ones; a column empty in one part takes its type from the other part."""
    columns = list(dict.fromkeys([*table.columns, *rows.columns]))
    parts = [part.dropna(axis=1, how="all") for part in (table, rows) if not part.empty]
    return pd.concat(parts, ignore_index=True).reindex(columns=columns)


def load_table(out_csv: str | os.PathLike) -> pd.DataFrame:
    """A results table to report from: its shards' rows over the checked CSV's rows, else empty."""
    return merged_rows(out_csv)[0]


def write_merged(df: pd.DataFrame, done: DoneKeys, out_csv: str | os.PathLike) -> None:
    """Write the merged table; it claims exact budgets only when no row kept a 4-decimal budget."""
    write_table(df, out_csv, exact_budgets=not done.rounded)


def check_row_store(out_csv: str | os.PathLike, shard: tuple[int, int]) -> None:
    """Before any cell runs: the table's folder, its outcomes folder and this shard's row file can all be written,
    so no computed row is lost to a permission error afterwards."""
    from cnr.checks import check_writable
    from cnr.eval.outcomes import outcomes_dir

    out_csv = Path(out_csv)
    check_writable(out_csv.parent)
    check_writable(outcomes_dir(out_csv))
    for path in (rows_path(out_csv, shard), out_csv, Path(str(out_csv) + SIDECAR_SUFFIX)):
        if path.is_dir():
            raise InputError(f"{path} is a folder where the grid writes a file; move it away and rerun")
        if path.exists() and not os.access(path, os.R_OK | os.W_OK):
            raise InputError(f"{path} is not readable and writable; fix its permissions (chmod u+rw) and rerun")
