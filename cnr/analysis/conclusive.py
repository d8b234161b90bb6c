"""Where an attack's conclusive number lives: a run whose bare model the attack breaks as well as white-box PGD.

A row is inconclusive when its attack leaves the undefended model well above white-box PGD at the same budget
(cnr.analysis.ensemble.mark_inconclusive). A profile that cannot afford an attack's full strength still names its
weak rows; these helpers find, among the runs under a results folder, those where the same attack and norm are
conclusive, so the weak row points to the number that means something.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from cnr.analysis.ensemble import mark_inconclusive
from cnr.errors import CnrError

QUERY_KINDS = ("black-box", "minimal")  # the attacks whose strength a profile sets by cost (steps, queries)
COLUMNS = ["run", "dataset", "classifier", "attack", "norm", "budget", "n", "undefended_accuracy",
           "reference_accuracy", "params"]


def conclusive_rows(results_root: str | os.PathLike, exclude: str | None = None) -> pd.DataFrame:
    """The conclusive undefended rows of the query and minimal-perturbation attacks of every run under the folder."""
    from cnr.eval.identity import fill_older_columns
    from cnr.eval.merge import load_table

    found = []
    for csv in sorted(Path(results_root).glob("*/tables/robustness.csv")):
        name = csv.parent.parent.name
        if name == exclude:
            continue
        try:
            df = fill_older_columns(load_table(csv))
        except (CnrError, OSError, ValueError):
            continue  # an unreadable table there says nothing about this run; `cnr sanity` on it names the problem
        if df.empty or "kind" not in df:
            continue
        m = mark_inconclusive(df)
        ok = m[(m["mode"] == "none") & m["kind"].isin(QUERY_KINDS) & ~m["inconclusive"].astype(bool)]
        found.append(ok.assign(run=name)[COLUMNS])
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=COLUMNS)


def pointer(row: pd.Series, found: pd.DataFrame) -> str | None:
    """Where the weak row's attack is conclusive (the same attack and norm; the same data set first), or None."""
    same = found[(found["attack"] == row["attack"]) & (found["norm"] == row["norm"])]
    if same.empty:
        return None
    same = same.assign(other=same["dataset"] != row.get("dataset")).sort_values(["other", "run"])
    best = same.iloc[0]
    where = f"results/{best['run']}" + ("" if best["dataset"] == row.get("dataset") else f" ({best['dataset']})")
    return (f"conclusive in {where}: undefended {best['undefended_accuracy']:.3f} vs white-box "
            f"{best['reference_accuracy']:.3f}, n={int(best['n'])}")
