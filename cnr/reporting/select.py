"""Which rows a table or figure shows, chosen by the columns the grid writes (kind, ablation, mode, N, QF range)."""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from cnr.errors import MissingRows
from cnr.reporting.style import ordered

GRADIENT_KINDS = ("white-box", "adaptive")


def rows_of(df: pd.DataFrame, what: str, kinds: Sequence[str] | None = None, ablation: bool | None = None,
            attacks: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of these attack kinds / ablation groups / attack labels, or MissingRows naming what is missing."""
    sub = df
    if not sub.empty and kinds is not None:
        sub = sub[sub["kind"].isin(kinds)]
    if not sub.empty and ablation is not None:
        sub = sub[sub["ablation"].astype(bool) == ablation]
    if not sub.empty and attacks is not None:
        sub = sub[sub["attack"].isin(attacks)]
    if sub.empty:
        sel = ", ".join(f"{k}={v}" for k, v in (("kinds", kinds), ("ablation", ablation), ("attacks", attacks))
                        if v is not None)
        raise MissingRows(f"{what}: no rows with {sel} in the results table")
    return sub


BUDGET_TOLERANCE = 5e-5  # half the last digit tables of earlier kits kept (4 decimals: 4/255 stored as 0.0157)


def at_budget(df: pd.DataFrame, norm: str, budget: float) -> pd.DataFrame:
    """The rows at one budget of one norm, whether the table stored the budget exactly or to 4 decimals."""
    return df[(df["norm"] == norm) & ((df["budget"] - budget).abs() < BUDGET_TOLERANCE)]


def attack_labels(df: pd.DataFrame) -> list[str]:
    """Attack labels in table order (the grid's registration order)."""
    return list(dict.fromkeys(df["attack"]))


def swept_attacks(df: pd.DataFrame) -> list[str]:
    """Attack labels run at more than one finite budget of some norm (the accuracy-vs-budget curves)."""
    fin = df[(df["budget"] > 0) & (df["budget"] < float("inf"))]
    n = fin.groupby(["attack", "norm"])["budget"].nunique()
    swept = set(n[n > 1].index.get_level_values(0))
    return [a for a in attack_labels(df) if a in swept]


def swept_defenses(df: pd.DataFrame) -> list[str]:
    """Defenses with more than one budget in the table (the others are single ablation points)."""
    counts = df[df["budget"] > 0].groupby(["defense", "norm"])["budget"].nunique().groupby("defense").max()
    return ordered(counts[counts > 1].index)


def main_defenses(df: pd.DataFrame) -> list[str]:
    """Defenses with the 'main' role (run at every budget and attack), in the kit's order."""
    return ordered(df[df["roles"].astype(str).str.split(",").map(lambda r: "main" in r)]["defense"])


def fixed_qf(df: pd.DataFrame) -> pd.Series:
    """Rows of a restoring defense whose QF is fixed (the ablation's fixed-vs-random point)."""
    return df["mode"].isin(["static", "dynamic"]) & ~df["random_qf"].astype(bool)
