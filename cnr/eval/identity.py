"""Which run a results row belongs to (profile, overrides, seed), so a run's table never reads or summarizes rows of
another run as its own, and the columns that older kits did not write, filled from what the row does say."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from cnr.config import canonical_overrides
from cnr.errors import InputError, MissingRows

IDENTITY_COLUMNS = ("profile", "overrides", "seed")
MODES = ("none", "jpeg", "static", "dynamic")


def run_identity(run: Any) -> dict[str, Any]:
    """The identity columns of a run's rows and derived tables: profile, overrides (JSON, seed apart) and seed."""
    return {**run.describe(), "seed": run.seed}


def _same(value: Any, want: Any) -> bool:
    if value is None or (isinstance(value, float) and value != value):
        return True  # an older row that does not say: judged by its key columns alone
    if isinstance(want, int):
        try:
            return int(value) == want
        except (TypeError, ValueError):
            return False
    if isinstance(want, str) and want.startswith("{"):  # overrides: older tables name settings by older names
        try:
            return canonical_overrides(json.loads(value)) == canonical_overrides(json.loads(want))
        except (TypeError, ValueError, InputError):
            return False
    return str(value) == str(want)


def foreign_rows(df: pd.DataFrame, identity: Mapping[str, Any]) -> pd.Series:
    """Per row: whether it says it belongs to another run (another profile, override set or seed)."""
    mask = pd.Series(False, index=df.index)
    for col, want in identity.items():
        if col in df:
            mask |= ~df[col].map(lambda v, w=want: _same(v, w))
    return mask


def check_own_rows(df: pd.DataFrame, run: Any, where: Any) -> None:
    """Refuse a table holding rows of another run: they would be resumed, checked and summarized as this run's."""
    if df.empty:
        return
    bad = foreign_rows(df, run_identity(run))
    if bad.any():
        other = df[bad].iloc[0]
        said = ", ".join(f"{c} {other[c]}" for c in IDENTITY_COLUMNS if c in df)
        raise InputError(f"{where} holds {int(bad.sum())} row(s) of another run ({said}), not of this run "
                         f"({run.name}); each run has a folder of its own: `{_command(other, run)}` writes and reads "
                         f"those rows' run there. Move them out (or delete them), then rerun")


def _command(row: pd.Series, run: Any) -> str:
    """The `cnr grid` command of the run a row says it belongs to."""
    profile = row.get("profile", run.profile.name)
    profile = run.profile.name if not isinstance(profile, str) else profile
    try:
        overrides = json.loads(row.get("overrides", "{}"))
    except (TypeError, ValueError):
        overrides = {}
    sets = "".join(f" --set {k}={v!r}" for k, v in sorted(overrides.items())) if isinstance(overrides, dict) else ""
    seed = row.get("seed")
    return f"cnr grid --profile {profile}{sets}" + (f" --seed {int(seed)}" if seed == seed and seed is not None else "")


RESULT_COLUMNS = ("defense", "attack", "norm", "budget", "accuracy")  # what every reader of a results table uses


def require_columns(df: Any, columns: tuple[str, ...], what: str = "results table") -> pd.DataFrame:
    """Refuse what is not a DataFrame with these columns, in one line, before a reader fails with a KeyError; a
    table without rows lacking them is MissingRows (a figure or table of it is skipped with a note)."""
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"expected a {what} as a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise (MissingRows if df.empty else InputError)(f"the {what} lacks the column(s) {', '.join(missing)}"
                         + (" (it is empty)" if not len(df.columns) else "")
                         + "; pass the table the kit wrote (read it with cnr.eval.rows.read_table)")
    return df


def fill_older_columns(df: pd.DataFrame, required: tuple[str, ...] = RESULT_COLUMNS) -> pd.DataFrame:
    """A table of an older kit with the columns it lacks derived from its key: `mode` from the defense's name,
    `kind` from the attack's cell group; what cannot be derived is named, and so is a missing `required` column."""
    require_columns(df, required)
    if df.empty or ("mode" in df and "kind" in df):
        return df
    from cnr.cells.groups import GROUPS

    df = df.copy()
    if "mode" not in df:
        modes = [str(d).split("-")[0] for d in df["defense"]]
        unknown = sorted({d for d, m in zip(df["defense"], modes) if m not in MODES})
        if unknown:
            raise InputError(f"the table has no `mode` column and defense(s) {', '.join(unknown)} do not name one "
                             f"({', '.join(MODES)}); regenerate it with `cnr grid`")
        df["mode"] = modes
    if "kind" not in df:
        kinds = {a: (GROUPS[a].kind if a in GROUPS else None) for a in df["attack"]}
        unknown = sorted(a for a, k in kinds.items() if k is None)
        if unknown:
            raise InputError(f"the table has no `kind` column and attack(s) {', '.join(unknown)} are no cell group "
                             f"of the grid; regenerate it with `cnr grid`")
        df["kind"] = df["attack"].map(kinds)
    return df
