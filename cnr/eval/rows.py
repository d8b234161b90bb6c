"""The results row store: one JSON line per finished grid row (appended, fsynced), merged into robustness.csv.

Each shard appends to `{stem}.rows-{i}-of-{k}.jsonl` beside the CSV; `read_rows` merges every shard,
keeping the last row of each key (KEY_COLUMNS). Every line is checked against ROW_SCHEMA (extra keys
allowed): a line that is not UTF-8, not JSON (the torn last line of a crash) or not a row is skipped with
one warning per file, and recomputed by the next `cnr grid` run. `write_table` writes the CSV atomically
with a small sidecar (`robustness.csv.meta.json`: row count and checksum) so `read_table` can tell a
truncated table from a complete one; the CSV itself stays a plain CSV.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from cnr import atomic
from cnr.config.schema import conforms, type_name
from cnr.errors import CnrError, DataNotFoundError, InputError, path_error
from cnr.eval.identity import require_columns

KEY_COLUMNS = ["dataset", "classifier", "defense", "attack", "norm", "budget", "params", "seed"]

# the row Evaluator.run_cell builds: key -> type hint, checked by cnr.config.schema.conforms (float: an int or a
# float, never a bool)
ROW_SCHEMA: dict[str, Any] = {
    "dataset": str, "classifier": str, "defense": str, "attack": str, "norm": str, "budget": float,
    "params": str, "seed": int, "n": int, "draws": int, "accuracy": float, "acc_lo": float,
    "acc_hi": float, "worst_accuracy": float, "worst_lo": float, "worst_hi": float,
    "draw_std": float, "random_defense": bool, "view": str, "n_forward": int, "n_backward": int,
    "pert_l2_median": float, "pert_linf_max": float, "wall_s": float, "attack_s": float,
}
# keys that not every row has (min_pert_l2_median: attacks that report it; queries_median / queries_max: the
# per-image model queries of the black-box attacks) or that rows of older kit versions lack
OPTIONAL_SCHEMA: dict[str, Any] = {
    "min_pert_l2_median": float, "queries_median": float, "queries_max": int, "mode": str, "n_iter": int,
    "qf_lo": int | None, "qf_hi": int | None, "random_qf": bool, "roles": str, "kind": str, "ablation": bool,
    "profile": str, "overrides": str, "outcomes": str,
}
SCHEMA: dict[str, Any] = {**ROW_SCHEMA, **OPTIONAL_SCHEMA}

SIDECAR_SUFFIX = ".meta.json"


def _value_ranges() -> dict[str, Any]:
    """What a result row's values may be (beyond their types): fractions in [0, 1], known norms, counts >= 1."""
    from cnr.attacks.base import NORMS
    from cnr.parsing import choice_limit, count_limit, number_limit

    fraction = number_limit(0, 1)
    return {**{k: fraction for k in ("accuracy", "acc_lo", "acc_hi", "worst_accuracy", "worst_lo", "worst_hi")},
            "norm": choice_limit(*NORMS), "n": count_limit(1, None), "draws": count_limit(1, None),
            "seed": count_limit(0, None),
            "budget": number_limit(0, allow_inf=True), "draw_std": number_limit(0),
            "n_forward": count_limit(0, None), "n_backward": count_limit(0, None), "queries_median": number_limit(0),
            "queries_max": count_limit(0, None)}


VALUE_RANGES = _value_ranges()


def value_problem(row: Mapping[str, Any]) -> str | None:
    """Why a well-typed row's values make no sense (accuracy 7.5, norm 'l3', n = -1), or None."""
    from cnr.parsing import check_limits

    values = {k: (int(v) if VALUE_RANGES[k].kind == "int" and isinstance(v, float) and v.is_integer() else v)
              for k, v in row.items() if k in VALUE_RANGES}
    try:
        check_limits(values, VALUE_RANGES, "")
    except InputError as e:
        return str(e).strip()
    return None


class RowStoreWarning(UserWarning):
    """Lines of a .jsonl row file that were skipped (torn, not UTF-8, not JSON, or not a row)."""


class TableError(CnrError):
    """A results table that is truncated or damaged."""


# --- rows -----------------------------------------------------------------------------------------

def rows_path(out_csv: str | os.PathLike, shard: tuple[int, int] = (1, 1)) -> Path:
    """The .jsonl file shard i of k appends its rows to, beside the CSV."""
    out_csv = Path(out_csv)
    i, k = shard
    return out_csv.with_name(f"{out_csv.stem}.rows-{i}-of-{k}.jsonl")


def _typed(value: Any, hint: Any) -> Any:
    """An integral float as an int where the schema wants an int (older writers turned numpy ints into floats)."""
    if isinstance(value, float) and value.is_integer() and not conforms(value, hint) and conforms(int(value), hint):
        return int(value)
    return value


def row_problem(row: Any) -> str | None:
    """Why `row` is not a result row (None when it is one): missing keys or a key of the wrong type."""
    if not isinstance(row, dict):
        return f"a JSON {type(row).__name__}, not a row object"
    missing = [k for k in ROW_SCHEMA if k not in row]
    if missing:
        return f"missing {len(missing)} of the row's {len(ROW_SCHEMA)} keys ({', '.join(missing[:3])}" + (
            " ...)" if len(missing) > 3 else ")")
    for k, hint in SCHEMA.items():
        if k in row and not conforms(_typed(row[k], hint), hint):
            return f"{k} is {type(row[k]).__name__} {row[k]!r}, not {type_name(hint)}"
    return value_problem(row)


def _normalize(row: dict[str, Any]) -> dict[str, Any]:
    """The row with integral floats as ints where the schema wants an int."""
    return {k: (_typed(v, SCHEMA[k]) if k in SCHEMA else v) for k, v in row.items()}


def _read_file(path: Path) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """The rows of one .jsonl file and the (line number, reason) of every skipped line."""
    rows, skipped = [], []
    data = path.read_bytes()
    lines = data.split(b"\n")
    for no, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            skipped.append((no, "not UTF-8"))
            continue
        try:
            obj = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            torn = no == len(lines) and not data.endswith(b"\n")
            skipped.append((no, "not JSON (a row cut short by a crash)" if torn else "not JSON"))
            continue
        problem = row_problem(obj)
        if problem:
            skipped.append((no, problem))
            continue
        rows.append(_normalize(obj))
    return rows, skipped


def _warn_skipped(path: Path, skipped: list[tuple[int, str]]) -> None:
    shown = "; ".join(f"line {no}: {why}" for no, why in skipped[:5])
    more = f"; and {len(skipped) - 5} more" if len(skipped) > 5 else ""
    warnings.warn(f"{path}: skipped {len(skipped)} line(s) that are not result rows ({shown}{more}); "
                  f"the next `cnr grid` run recomputes those cells", RowStoreWarning, stacklevel=3)


def read_rows(out_csv: str | os.PathLike) -> pd.DataFrame:
    """All finished rows of every shard, deduplicated by key (last wins); lines that are not rows are skipped."""
    out_csv = Path(out_csv)
    rows: list[dict[str, Any]] = []
    for path in sorted(out_csv.parent.glob(f"{out_csv.stem}.rows-*.jsonl")):
        try:
            got, skipped = _read_file(path)
        except OSError as e:
            raise TableError(f"cannot read the row file {path} ({e.strerror or e}); check its permissions") from None
        rows += got
        if skipped:
            _warn_skipped(path, skipped)
    df = pd.DataFrame(rows)
    if not df.empty:
        df = df.drop_duplicates(subset=KEY_COLUMNS, keep="last").reset_index(drop=True)
    return df


def _json_default(o: Any) -> Any:
    """numpy / torch scalars keep their kind (an int stays an int); anything else numeric becomes a float."""
    item = getattr(o, "item", None)
    return item() if callable(item) else float(o)


def append_row(path: str | os.PathLike, row: Mapping[str, Any]) -> None:
    """Append one finished row as a JSON line and fsync it; a row that breaks ROW_SCHEMA is refused, not written."""
    path = Path(path)
    if not isinstance(row, Mapping):
        raise InputError(f"a row is a mapping of column -> value, got {type(row).__name__}")
    line = json.dumps(dict(row), default=_json_default)
    problem = row_problem(json.loads(line))
    if problem:
        raise InputError(f"refusing to write a row to {path}: {problem} (a row needs {', '.join(ROW_SCHEMA)})")
    try:
        _append_line(path, line)
    except OSError as e:
        raise TableError(f"cannot append a row to {path} ({e.strerror or e}); fix its permissions and rerun "
                         f"`cnr grid` (finished rows are kept)") from None


def _append_line(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = ""
    if path.is_file() and path.stat().st_size:
        with open(path, "rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":  # the last row was cut short by a crash
                f.seek(0)
                data = f.read()
                cut = data.rfind(b"\n") + 1
                try:
                    tail_ok = row_problem(json.loads(data[cut:].decode("utf-8"))) is None
                except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                    tail_ok = False
                if tail_ok:
                    prefix = "\n"  # a whole row that only lacks its newline: keep it
                else:
                    f.truncate(cut)  # half a row: drop it (its cell is recomputed)
    with open(path, "a", encoding="utf-8") as f:
        f.write(prefix + line + "\n")
        f.flush()
        os.fsync(f.fileno())


# --- the merged table -------------------------------------------------------------------------------

def _sidecar(csv_path: Path) -> Path:
    return csv_path.with_name(csv_path.name + SIDECAR_SUFFIX)


def write_table(df: pd.DataFrame, out_csv: str | os.PathLike, exact_budgets: bool = True) -> Path:
    """Write the merged table atomically, with a sidecar (row count, sha256) that lets read_table spot truncation;
    budgets in full precision (they are part of the key), the other numbers at 4 decimals."""
    out_csv, df = Path(out_csv), require_columns(df, tuple(KEY_COLUMNS), "results table to write")
    df = df.assign(budget=[repr(float(b)) for b in df["budget"]])
    data = df.to_csv(index=False, float_format="%.4f").encode()
    atomic.write_bytes(out_csv, data)
    meta = {"rows": len(df), "columns": len(df.columns), "sha256": hashlib.sha256(data).hexdigest(),
            **({"budgets": "exact"} if exact_budgets else {})}
    atomic.write_text(_sidecar(out_csv), json.dumps(meta, sort_keys=True) + "\n")
    return out_csv


def _rebuild_hint(csv_path: Path) -> str:
    profile = csv_path.parent.parent.name if csv_path.parent.name == "tables" else "<profile>"
    rows = sorted(csv_path.parent.glob(f"{csv_path.stem}.rows-*.jsonl"))
    if rows:
        src = f"from the finished rows in {csv_path.stem}.rows-*.jsonl beside it (nothing finished is recomputed)"
    else:
        src = "(no .jsonl rows are beside it, so the grid is rerun; a shipped table can be restored with git checkout)"
    return f"regenerate it with `cnr grid --profile {profile}` {src}"


def read_table(path: str | os.PathLike, required: Iterable[str] = KEY_COLUMNS, hint: str | None = None
               ) -> pd.DataFrame:
    """Read a results CSV, refusing one that is truncated or damaged instead of returning half-filled rows.

    `hint` says how to remake the table (default: from the grid's rows, right for the grid's own tables)."""
    path = Path(path)
    hint = hint or _rebuild_hint(path)
    if not path.is_file():
        what = "is a folder, not a CSV file" if path.is_dir() else "does not exist"
        raise DataNotFoundError(f"results table {path} {what}; {hint}")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise path_error(path, e, "read results table") from None
    fail = lambda why: TableError(f"results table {path} {why}; {hint}")  # noqa: E731
    if not data.strip():
        raise fail("is empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise fail(f"is not UTF-8 text (byte {e.start}), so it is damaged") from None
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as e:
        if not data.endswith(b"\n"):
            raise fail(f"is truncated: it ends inside a row ({e})") from None
        raise fail(f"is not a valid CSV ({e})") from None
    header, body = records[0], records[1:]
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:  # pandas would rename the second one to "name.1" and read the first silently
        raise fail(f"is damaged: its header names the column(s) {', '.join(twice)} more than once")
    for i, rec in enumerate(body, 2):
        if len(rec) != len(header):
            last = i == len(records)
            why = "is truncated: its last row" if last else f"is damaged: row {i}"
            raise fail(f"{why} has {len(rec)} fields, the header has {len(header)}")
    if not data.endswith(b"\n"):
        raise fail("is truncated: it does not end with a newline (it was cut short while being written or copied)")
    side = _sidecar(path)
    if side.is_file():
        try:
            meta = json.loads(side.read_text())
            want_rows, want_sum = int(meta["rows"]), meta["sha256"]
        except (ValueError, KeyError, TypeError, OSError):
            want_rows = want_sum = None  # an unreadable sidecar proves nothing; the checks above still hold
        if want_rows is not None and len(body) < want_rows and hashlib.sha256(data).hexdigest() != want_sum:
            raise fail(f"is truncated: it has {len(body)} rows, but {want_rows} were written ({side.name}); "
                       f"if you shortened it on purpose, delete {side.name}")
    try:
        # round_trip: budgets are keys written in full precision; pandas' default parser can miss their last digit
        df = pd.read_csv(io.StringIO(text), float_precision="round_trip")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as e:
        raise fail(f"cannot be parsed as CSV ({str(e).splitlines()[0]})") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(f"{path} is not a results table: it lacks the column(s) {', '.join(missing)} "
                         f"(a results table has {', '.join(KEY_COLUMNS)}, accuracy, ...)")
    if required:  # a results table: its values must make sense too, not only its shape
        problem = table_problem(df)
        if problem:
            raise TableError(f"results table {path} {problem}; fix that row or regenerate the table "
                             f"with `cnr grid`")
    return df


def table_problem(df: pd.DataFrame) -> str | None:
    """The first row of a results table whose values break VALUE_RANGES ('row 3 (line 4): accuracy ...'), or None."""
    cols = [c for c in VALUE_RANGES if c in df.columns]
    for i, rec in enumerate(df[cols].to_dict("records")):
        rec = {k: _cell(v, VALUE_RANGES[k].kind != "choice") for k, v in rec.items()}
        problem = value_problem({k: v for k, v in rec.items() if v is not None})
        missing = [k for k in ("accuracy", "n", "norm", "budget") if k in rec and rec[k] is None]
        if missing and not problem:
            problem = f"{missing[0]} is empty"
        if problem:
            return f"row {i + 1} (line {i + 2}): {problem}"
    return None


def _cell(v: Any, numeric: bool) -> Any:
    """A CSV cell as a plain value: NaN (an empty cell) -> None, numpy scalars -> Python ones; in a numeric
    column that pandas read as text (one bad cell makes the whole column text) the numbers become numbers again."""
    if isinstance(v, float) and v != v:
        return None
    if isinstance(v, str):
        if numeric:
            try:
                x = float(v)
            except ValueError:
                return v  # the cell to report
            return int(x) if x.is_integer() and "." not in v and "e" not in v.lower() else x
        return v
    item = getattr(v, "item", None)
    return item() if callable(item) else v


def read_plain_table(path: str | os.PathLike, hint: str | None = None) -> pd.DataFrame:
    """A table the kit wrote (e.g. restoration.csv), checked for truncation; empty when it is not there yet."""
    return read_table(path, required=(), hint=hint) if Path(path).is_file() else pd.DataFrame()
