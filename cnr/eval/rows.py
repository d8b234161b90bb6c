"""The results table on disk: one JSON line per finished row, appended and fsynced per shard, merged by key."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from cnr.weights import atomic_write_bytes

KEY_COLUMNS = ["dataset", "classifier", "defense", "attack", "norm", "budget", "params", "seed"]


def rows_path(out_csv: str | os.PathLike, shard: tuple[int, int]) -> Path:
    """The row file of one shard, beside the table: robustness.rows-<i>-of-<k>.jsonl."""
    out_csv, (i, k) = Path(out_csv), shard
    return out_csv.with_name(f"{out_csv.stem}.rows-{i}-of-{k}.jsonl")


def read_rows(out_csv: str | os.PathLike) -> pd.DataFrame:
    """All finished rows of every shard, deduplicated by key (a torn last line is ignored)."""
    out_csv = Path(out_csv)
    rows = []
    for path in sorted(out_csv.parent.glob(f"{out_csv.stem}.rows-*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # the row in flight when the process died
    df = pd.DataFrame(rows)
    if not df.empty:
        df = df.drop_duplicates(subset=KEY_COLUMNS, keep="last").reset_index(drop=True)
    return df


def append_row(path: str | os.PathLike, row: dict[str, Any]) -> None:
    """Append one finished row and fsync it: a crash loses at most the row in flight."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torn = False
    if path.is_file() and path.stat().st_size:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"  # a row cut short by a crash: start on a line of our own
    with open(path, "a") as f:
        f.write(("\n" if torn else "") + json.dumps(row, default=float) + "\n")
        f.flush()
        os.fsync(f.fileno())


def write_table(df: pd.DataFrame, out_csv: str | os.PathLike) -> Path:
    """Write the merged table atomically."""
    out_csv = Path(out_csv)
    atomic_write_bytes(out_csv, df.to_csv(index=False, float_format="%.4f").encode())
    return out_csv


def read_table(csv: str | os.PathLike) -> pd.DataFrame:
    """A results table: its row files merged when present, else the CSV, else an empty frame."""
    df = read_rows(csv)
    if df.empty and Path(csv).is_file():
        df = pd.read_csv(csv)
    return df
