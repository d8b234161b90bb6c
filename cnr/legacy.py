"""The paper's published black-box numbers under its own protocol: the runs of each track (Fashion-MNIST with the quick
and the paper-size bank, the ImageNet CPU track), their grids, and the kit's accuracy-vs-budget curves read off them.

The protocol is the `legacy*` profiles' (cnr/config/profiles.py): clean cells, HopSkipJump once per image without a
budget (its budget curve: cnr.analysis.budget_curve) and Square at each normalized L2 budget.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from cnr.errors import InputError
from cnr.notebook_run import start_from_committed
from cnr.run import Run, resolve_run

# profile -> its tracks: (label, profile of the track's run, overrides of that run); a profile that is not a key is
# one track of its own
TRACKS: dict[str, tuple[tuple[str, str, dict[str, Any]], ...]] = {
    "legacy": (("fmnist quick bank", "legacy", {}), ("fmnist paper bank", "legacy", {"bank.preset": "paper"}),
               ("imagenet natural bank", "legacy-imagenet", {})),
    "smoke": (("smoke quick bank", "legacy-smoke", {}),),
}
ATTACKS = {"legacy-hsj": "HopSkipJump", "legacy-square": "Square (L2)"}  # cell group -> the legacy table's name
CURVE_BUDGETS = (0.01, 0.03, 0.05, 0.06, 0.07, 0.08)  # the legacy table's columns: the HSJ curve gives every one


def legacy_runs(profile: str, overrides: dict[str, Any] | None = None, tracks: Sequence[str] | None = None,
                seed: int | None = None, retrain: bool = False, results_root: Any = None) -> dict[str, Run]:
    """One run per track of the profile (all of them, or those named in `tracks`), `overrides` applied to each."""
    known = TRACKS.get(profile, ((profile, profile, {}),))
    labels = [t[0] for t in known]
    if tracks is not None:
        if isinstance(tracks, str) or not tracks:
            raise InputError(f"tracks must be a non-empty list of track names ({', '.join(labels)}); got {tracks!r}")
        stray = [t for t in tracks if t not in labels]
        if stray:
            raise InputError(f"profile {profile!r} has no track {stray[0]!r}; its tracks: {', '.join(labels)}")
    runs = {}
    for label, name, own in known:
        if tracks is None or label in tracks:
            runs[label] = resolve_run(name, {**own, **(overrides or {})}, seed=seed, retrain=retrain,
                                      results_root=results_root)
            start_from_committed(runs[label])  # a session's track starts from the committed rows (else: no-op)
    for label, run in runs.items():
        missing = [g for g in ("legacy-clean", *ATTACKS) if g not in run.profile.grid.groups]
        if missing:
            raise InputError(f"track {label!r} (profile {run.profile.name!r}) does not run the legacy cell groups "
                             f"{', '.join(missing)}; use a legacy profile")
    return runs


def _outcomes(out_csv: Any, row: pd.Series) -> Any:
    from cnr.eval.outcomes import load_outcomes

    return load_outcomes(out_csv, row.to_dict())


def kit_curves(runs: dict[str, Run], hsj_budgets: Sequence[float] = CURVE_BUDGETS) -> pd.DataFrame:
    """Each track's accuracy vs budget, per defense and attack (budget 0: clean accuracy on the same images), with
    n, draws, the mean over draws and its 95% Wilson interval, the worst case over draws, and (HSJ) the attacker's own
    view. Rows the grids have not finished yet are left out."""
    from cnr.analysis.budget_curve import budget_curve
    from cnr.eval.rows import read_table

    parts = []
    for label, run in runs.items():
        if not run.robustness_csv.is_file():
            continue
        df = read_table(run.robustness_csv, hint="run the legacy grid first (make legacy)")
        budgets = sorted({*hsj_budgets, *run.profile.grid.l2_budgets})
        for defense, rows in df.groupby("defense", sort=False):
            clean = rows[rows["attack"] == "legacy-clean"]
            if clean.empty:
                continue
            base = dict(track=label, run=run.name, dataset=run.profile.data.dataset,
                        classifier=run.profile.data.classifier, defense=defense, mode=rows["mode"].iloc[0])
            hsj = rows[rows["attack"] == "legacy-hsj"]
            if not hsj.empty:
                curve = budget_curve(_outcomes(run.robustness_csv, hsj.iloc[0]),
                                     _outcomes(run.robustness_csv, clean.iloc[0]), budgets)
                parts += [{**base, "attack": ATTACKS["legacy-hsj"], **r,
                           "queries_median": hsj["queries_median"].iloc[0]} for r in curve]
            square = rows[rows["attack"] == "legacy-square"].sort_values("budget")
            if not square.empty:
                keep = ["budget", "n", "draws", "accuracy", "acc_lo", "acc_hi", "worst_accuracy", "worst_lo",
                        "worst_hi", "queries_median"]
                parts += [{**base, "attack": ATTACKS["legacy-square"], **{k: r[k] for k in keep if k in r}}
                          for r in [clean.iloc[0].to_dict(), *square.to_dict("records")]]
    if not parts:
        return pd.DataFrame()
    out = pd.DataFrame(parts)
    out.loc[out["budget"] == 0, "queries_median"] = 0.0  # the clean point: no attack
    return out
