"""Static vs dynamic on the same images: a paired comparison, not two intervals compared by eye.

For each pair of defenses (by default static-N vs dynamic-N for every N of the table) and each attack cell they
share, per image "robust" means right under every scoring draw (the worst-case view; the ensemble row takes every
conclusive attack at that budget together, on the dynamic side also the attacks aimed at it alone). The two
defenses saw the same images (the grid's first n), so the difference of their accuracies gets a paired bootstrap
95% interval (images resampled together) and McNemar's exact test on the discordant images (scipy's binomial
test): b = images only the first defense keeps, c = only the second.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from cnr.eval.outcomes import load_outcomes
from cnr.stats import PAIRED_RESAMPLES, mcnemar_exact, paired_bootstrap

ENSEMBLE = "ensemble"
# Views of the attacks aimed at the dynamic bank itself (cnr.cells.groups): their stand-in on the static generator
# is plain BPDA through it, which the static side already has, so the pair's ensemble adds them to the dynamic side.
AIMED_AT_DYNAMIC = frozenset({"expected", "transfer-static"})


def default_pairs(df: pd.DataFrame) -> list[tuple[str, str]]:
    """(static-N, dynamic-N) for every N where the table has both, the paper's central contrast."""
    by = {(r["mode"], int(r["n_iter"]), bool(r.get("random_qf", True))): r["defense"]
          for _, r in df.drop_duplicates("defense").iterrows()}
    return [(by[("static", n, True)], by[("dynamic", n, True)]) for (m, n, rq) in sorted(by)
            if m == "static" and rq and ("dynamic", n, True) in by]


def paired_difference(a: np.ndarray, b: np.ndarray, seed: int = 0, resamples: int = PAIRED_RESAMPLES
                      ) -> dict[str, Any]:
    """Accuracy of b minus a on the same images, its paired bootstrap interval, and McNemar's exact p-value."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    lo, hi = paired_bootstrap(a, b, seed, resamples)
    only_a, only_b = int((a & ~b).sum()), int((b & ~a).sum())
    return dict(n=len(a), acc_a=float(a.mean()), acc_b=float(b.mean()), diff=float(b.mean() - a.mean()),
                diff_lo=lo, diff_hi=hi, only_a=only_a, only_b=only_b, mcnemar_p=mcnemar_exact(only_a, only_b))


TABLE = "table"  # optional column: the robustness.csv a row was read from, when df joins several runs' tables


def _robust(out_csv: str | os.PathLike, row: pd.Series) -> np.ndarray:
    """Per image of a cell: right under every scoring draw (the worst-case view)."""
    source = row.get(TABLE)
    return load_outcomes(source if isinstance(source, (str, os.PathLike)) else out_csv, row).correct.all(0)


def paired_table(df: pd.DataFrame, out_csv: str | os.PathLike, pairs: Sequence[tuple[str, str]] | None = None,
                 seed: int = 0) -> pd.DataFrame:
    """One row per (pair, attack, norm, budget) the two defenses share, plus the per-image ensemble per budget.

    Outcomes are read next to out_csv, or next to the table a row's `table` column names (a df joining two runs)."""
    if df.empty or "outcomes" not in df:
        return pd.DataFrame()
    pairs = default_pairs(df) if pairs is None else pairs
    has = df[df["outcomes"].notna()]
    rows: list[dict[str, Any]] = []
    key = ["attack", "norm", "budget"]
    for a, b in pairs:
        da, db = (has[has["defense"] == d].set_index(key, drop=False) for d in (a, b))
        # one row per cell, the last one as in the ensemble (a dict by attack) and cnr.eval.rows.read_rows
        da, db = da[~da.index.duplicated(keep="last")], db[~db.index.duplicated(keep="last")]
        clean = [_robust(out_csv, d[d["kind"] == "clean"].iloc[0]) if (d["kind"] == "clean").any() else None
                 for d in (da, db)]
        # per budget, each side's conclusive attacks: (label, robust per image)
        suite: dict[tuple[str, float], tuple[list, list]] = {}
        for k in da.index.intersection(db.index):
            ra, rb = da.loc[k], db.loc[k]
            xa, xb = _robust(out_csv, ra), _robust(out_csv, rb)
            n = min(len(xa), len(xb))
            weak = bool(ra.get("inconclusive", False) or rb.get("inconclusive", False))
            attack, norm, budget = k
            rows.append(dict(defense_a=a, defense_b=b, attack=attack, norm=norm, budget=budget,
                             params=ra.get("params", ""), inconclusive=weak, **paired_difference(xa[:n], xb[:n], seed)))
            if ra["kind"] != "clean" and 0 < budget < float("inf") and not weak:
                side_a, side_b = suite.setdefault((norm, budget), ([], []))
                side_a.append((attack, xa))
                side_b.append((attack, xb))
        # attacks aimed at one side's dynamic bank alone join that side's ensemble at budgets the pair shares (they
        # never run on the bare model, so none is marked inconclusive; one more attack can only lower the ensemble)
        for mine, other, side in ((da, db, 0), (db, da, 1)):
            for k in mine.index.difference(other.index):
                r = mine.loc[k]
                if r.get("view") in AIMED_AT_DYNAMIC and (k[1], k[2]) in suite:
                    suite[(k[1], k[2])][side].append((k[0], _robust(out_csv, r)))
        for (norm, budget), (side_a, side_b) in suite.items():
            if clean[0] is not None and clean[1] is not None:
                side_a, side_b = [("clean", clean[0]), *side_a], [("clean", clean[1]), *side_b]
            n = min(len(x) for _, x in side_a + side_b)
            xa = np.logical_and.reduce([x[:n] for _, x in side_a])
            xb = np.logical_and.reduce([x[:n] for _, x in side_b])
            rows.append(dict(defense_a=a, defense_b=b, attack=ENSEMBLE, norm=norm, budget=budget, params="",
                             inconclusive=False, attacks_a=";".join(name for name, _ in side_a),
                             attacks_b=";".join(name for name, _ in side_b), **paired_difference(xa, xb, seed)))
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["_single"] = out["attack"] != ENSEMBLE  # the ensemble row first in each budget
    out = out.sort_values(["defense_a", "norm", "budget", "_single", "attack"], kind="stable")
    return out.drop(columns="_single").reset_index(drop=True)
