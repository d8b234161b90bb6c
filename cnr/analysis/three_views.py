"""Views of one defense at the legacy budgets, each the per-image ensemble of an attack family (the field's rule,
cnr.analysis.ensemble.combine): the authors' black-box protocol as they ran it, the same attacks once they account
for the randomness (at the same query budget, and at k times it), and the white-box attacks. Where the first is high
and the white-box view is not, the published robustness measures what the black-box search does not find, not what
the defense withstands; the randomness-aware views tell whether the fresh draws are why.

Every view scores the same first images of its track on the same scoring draws; HopSkipJump's one unbounded run per
image enters at a budget through its submissions there (cnr.analysis.budget_curve), Square through its cell at that
budget. A view is inconclusive at a budget when its own ensemble (the same attacks) leaves the bare model more than
INCONCLUSIVE_GAP above the best white-box attack there (the kit's rule); unknown (NA) when the bare model lacks the
cells to tell.
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from cnr.analysis.budget_curve import submissions_correct
from cnr.analysis.ensemble import INCONCLUSIVE_GAP, WHITE_BOX_KINDS, combine, white_box_reference
from cnr.eval.outcomes import load_outcomes

WHITE_BOX = "white-box"
VIEWS: dict[str, tuple[str, ...]] = {
    "as published": ("legacy-hsj", "legacy-square"),
    "randomness handled": ("legacy-hsj-vote3", "legacy-hsj-vote9", "legacy-hsj-fresh", "legacy-square-eot3",
                           "legacy-square-eot9"),
    "randomness handled, k x queries": ("legacy-hsj-vote3-x3", "legacy-hsj-vote9-x9", "legacy-square-eot3-x3",
                                        "legacy-square-eot9-x9"),
}
COLUMNS = ["track", "defense", "mode", "budget", "view", "attacks", "n", "draws", "accuracy", "acc_lo", "acc_hi",
           "worst_accuracy", "worst_lo", "worst_hi", "undefended_accuracy", "reference_accuracy", "inconclusive"]


def l2_reference(table: pd.DataFrame) -> pd.Series:
    """The kit's reference (cnr.analysis.ensemble.white_box_reference) at each normalized L2 budget."""
    ref = white_box_reference(table)
    return ref.xs("l2", level="norm") if "l2" in ref.index.get_level_values("norm") else pd.Series(dtype=float)


def reference_at(reference: pd.Series, budget: float) -> float:
    """The reference at the largest white-box budget <= `budget`: an upper bound of the white-box accuracy there, so a
    budget between two white-box budgets is judged against the smaller one (NaN below them all)."""
    below = reference[reference.index <= budget + 1e-9]
    return float(below.sort_index().iloc[-1]) if len(below) else math.nan


def family_correct(table: pd.DataFrame, out_csv: str | os.PathLike, defense: str, budget: float,
                   groups: Sequence[str] | None) -> dict[str, np.ndarray]:
    """Per attack of the family (cell groups, or None: every white-box L2 cell), the (draws, n) correctness of what it
    submits at `budget` on `defense`, and the clean cell's; empty when the family has no cell there."""
    rows = table[table["defense"] == defense]
    clean = rows[rows["kind"] == "clean"]
    if clean.empty:
        return {}
    clean_out = load_outcomes(out_csv, clean.iloc[0].to_dict())
    if groups is None:
        cells = rows[rows["kind"].isin(WHITE_BOX_KINDS) & (rows["norm"] == "l2")]
    else:
        cells = rows[rows["attack"].isin(groups)]
    out: dict[str, np.ndarray] = {}
    for attack, g in cells.groupby("attack", sort=False):
        unbounded = g[np.isinf(g["budget"])]
        if len(unbounded):  # one minimal run per image: its submission at this budget
            out[attack] = submissions_correct(load_outcomes(out_csv, unbounded.iloc[0].to_dict()), clean_out, budget)
            continue
        at = g[np.isclose(g["budget"], budget)]
        if len(at):
            out[attack] = load_outcomes(out_csv, at.iloc[0].to_dict()).correct
    return {**out, "clean": clean_out.correct} if out else {}


def three_views(track: str, table: pd.DataFrame, out_csv: str | os.PathLike, white_table: pd.DataFrame,
                white_csv: str | os.PathLike, budgets: Sequence[float]) -> pd.DataFrame:
    """One row per (defense, budget, view) of a track that has cells for it: the family's per-image ensemble (mean
    over draws of the worst attack, worst case over draws), on the track's images; the white-box family read from
    `white_table` (the track's own, or the grid it borrows it from) on as many of the first images as the track has."""
    n_track = int(table[table["kind"] != "clean"]["n"].max()) if (table["kind"] != "clean").any() else None
    reference = l2_reference(white_table)
    families = {**{v: (table, out_csv, g) for v, g in VIEWS.items()}, WHITE_BOX: (white_table, white_csv, None)}
    rows = []
    for budget in budgets:
        for defense, d in table.groupby("defense", sort=False):
            for view, (t, csv, groups) in families.items():
                correct = family_correct(t, csv, defense, budget, groups)
                if not correct:
                    continue
                e = combine(correct, n=n_track)
                ref = reference_at(reference, budget)
                # judged by the same attacks on the bare model: those of them that ran there bound the whole
                # family's bare accuracy from above, so strong there means strong; weak means weak only if all ran
                ran = [a for a in correct if a != "clean"] if groups is not None else None
                bare = family_correct(t, csv, "none", budget, ran)
                undefended = combine(bare, n=n_track)["mean_view_accuracy"] if bare else math.nan
                if math.isnan(undefended) or math.isnan(ref):
                    weak = pd.NA
                elif undefended <= ref + INCONCLUSIVE_GAP:
                    weak = False
                else:
                    weak = True if ran is None or len(bare) == len(ran) + 1 else pd.NA
                rows.append(dict(track=track, defense=defense, mode=d["mode"].iloc[0], budget=budget, view=view,
                                 attacks=e["attack_list"], n=e["n"], draws=e["draws"],
                                 accuracy=e["mean_view_accuracy"], acc_lo=e["mean_view_lo"],
                                 acc_hi=e["mean_view_hi"], worst_accuracy=e["robust_accuracy"],
                                 worst_lo=e["robust_lo"], worst_hi=e["robust_hi"], undefended_accuracy=undefended,
                                 reference_accuracy=ref, inconclusive=weak))
    return pd.DataFrame(rows, columns=COLUMNS)
