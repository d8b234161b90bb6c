"""One robust-accuracy number per defense and budget that can be trusted, and the rows that cannot be.

`mark_inconclusive`: an attack that leaves the undefended model more than INCONCLUSIVE_GAP above the best white-box
attack at the same budget is too weak to say anything about a defense; its rows are marked and never quoted.

`ensemble`: the field's rule (AutoAttack's ensemble, RobustBench), per image: an image is robust only if it is
classified right clean and under every conclusive attack at that budget, and (for a random defense) under every
scoring draw. Beside it, the other views of random defenses in use: the per-image worst attack of the mean over
draws, the majority vote over draws (Lee & Kim, ICCV 2023) and the resubmission view (DiffHammer, NeurIPS 2024):
the chance that an attacker who submits the same adversarial k times is never caught, k = 1..draws. Attacks run on
different sample sizes share the first images, so the ensemble uses the smallest n among them.
"""
from __future__ import annotations

import math
import os
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from cnr.errors import InputError
from cnr.eval.outcomes import load_outcomes
from cnr.stats import wilson_interval

INCONCLUSIVE_GAP = 0.10
WHITE_BOX_KINDS = ("white-box", "adaptive")


def white_box_reference(df: pd.DataFrame) -> pd.Series:
    """The bare model's accuracy under its best white-box attack, per (norm, budget): the reference of the kit's
    rule."""
    none = df[(df["mode"] == "none") & df["kind"].isin(WHITE_BOX_KINDS)]
    return none.groupby(["norm", "budget"])["accuracy"].min()


def mark_inconclusive(df: pd.DataFrame, gap: float = INCONCLUSIVE_GAP) -> pd.DataFrame:
    """Add undefended_accuracy, reference_accuracy and inconclusive to every row of a results table."""
    from cnr.eval.identity import fill_older_columns
    from cnr.eval.rows import table_problem

    if df.empty and not len(df.columns):  # no rows yet
        return df
    df = fill_older_columns(df)  # a table of an older kit: mode and kind derived; a frame that is no table refused
    problem = table_problem(df)  # a frame built by hand gets the checks read_table gives a file
    if problem:
        raise InputError(f"results table {problem}")
    if df.empty:
        return df
    df = df.copy()
    none = df[df["mode"] == "none"]
    ref = white_box_reference(df)
    undefended = none.set_index(["attack", "norm", "budget"])["accuracy"]
    undefended = undefended[~undefended.index.duplicated(keep="last")]

    def reference(norm: str, budget: float) -> float:
        if math.isinf(budget):
            return 0.0  # unbounded white-box PGD reaches 0% (the direct sanity check measures it)
        return float(ref.get((norm, budget), np.nan))

    df["undefended_accuracy"] = [undefended.get((a, nm, b), np.nan) for a, nm, b in
                                 zip(df["attack"], df["norm"], df["budget"])]
    df["reference_accuracy"] = [reference(nm, b) if b > 0 else np.nan for nm, b in zip(df["norm"], df["budget"])]
    attacked = df["budget"] > 0
    df["inconclusive"] = attacked & (df["undefended_accuracy"] > df["reference_accuracy"] + gap)
    return df


def _all_k_correct(correct: np.ndarray, k: int) -> np.ndarray:
    """Per image: the probability that k distinct scoring draws are all right (k capped at the draws there are)."""
    d = correct.shape[0]
    k = min(k, d)
    c = correct.sum(0)
    return np.array([math.comb(int(ci), k) / math.comb(d, k) for ci in c])


def combine(correct: dict[str, np.ndarray], n: int | None = None) -> dict[str, Any]:
    """The per-image ensemble of some attacks' (draws, n) correctness ("clean" among them counts as no attack), on
    their first `n` images (default: as many as all have): n, draws, the attacks, the robust accuracy (right under
    every draw of every attack) with its Wilson interval, the mean view (per image, the worst attack's mean over
    draws) with the interval of its rounded count, the majority view, the top attack and the resubmission views."""
    n = min([c.shape[1] for c in correct.values()] + ([n] if n is not None else []))
    correct = {a: c[:, :n] for a, c in correct.items()}
    robust = np.logical_and.reduce([c.all(0) for c in correct.values()])
    mean_view = np.minimum.reduce([c.mean(0) for c in correct.values()])
    majority = np.logical_and.reduce([c.mean(0) > 0.5 for c in correct.values()])
    draws = max(c.shape[0] for c in correct.values())
    broke = Counter({a: int((~c.all(0)).sum()) for a, c in correct.items() if a != "clean"})
    top, top_n = broke.most_common(1)[0] if broke else ("-", 0)
    k = int(robust.sum())
    lo, hi = wilson_interval(k, n)
    mlo, mhi = wilson_interval(round(float(mean_view.sum())), n)
    rec = dict(n=n, draws=draws, attacks=len(correct) - ("clean" in correct),
               attack_list=",".join(a for a in correct if a != "clean"), robust_accuracy=k / n, robust_lo=lo,
               robust_hi=hi, mean_view_accuracy=float(mean_view.mean()), mean_view_lo=mlo, mean_view_hi=mhi,
               majority_accuracy=float(majority.mean()), top_attack=top, top_attack_breaks=top_n / n)
    for kk in range(1, draws + 1):
        never_caught = np.minimum.reduce([_all_k_correct(c, kk) for c in correct.values()])
        rec[f"resubmit_k{kk}"] = float(never_caught.mean())  # accuracy if the attacker may submit k times
    return rec


def ensemble(df: pd.DataFrame, out_csv: str | os.PathLike) -> pd.DataFrame:
    """Per (defense, norm, budget): the per-image robust accuracy over the whole suite, with its views and interval."""
    df = mark_inconclusive(df)
    if df.empty or "outcomes" not in df:
        return pd.DataFrame()
    clean = {r["defense"]: r for _, r in df[df["kind"] == "clean"].iterrows()}
    attacked = df[(df["budget"] > 0) & np.isfinite(df["budget"]) & df["outcomes"].notna()]
    rows: list[dict[str, Any]] = []
    for (defense, norm, budget), g in attacked.groupby(["defense", "norm", "budget"], sort=False):
        used = g[~g["inconclusive"].astype(bool)]
        if used.empty:
            continue
        outs = {r["attack"]: load_outcomes(out_csv, r) for _, r in used.iterrows()}
        if defense in clean and pd.notna(clean[defense].get("outcomes")):
            outs["clean"] = load_outcomes(out_csv, clean[defense])
        rec = dict(defense=defense, mode=g["mode"].iloc[0], n_iter=g["n_iter"].iloc[0], norm=norm, budget=budget,
                   **combine({a: o.correct for a, o in outs.items()}),
                   excluded_inconclusive=",".join(g[g["inconclusive"].astype(bool)]["attack"]))
        rows.append(rec)
    out = pd.DataFrame(rows)
    return out.sort_values(["norm", "budget"], kind="stable").reset_index(drop=True) if len(out) else out
