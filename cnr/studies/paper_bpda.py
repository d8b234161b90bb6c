"""The paper's white-box tool as it ran it, beside the kit's: DeepRobust's BPDA (unbounded, no EOT) reports a success
rate and produces perturbations of some size; the kit's projected BPDA-PGD is then run at that size.

Per defense: what DeepRobust's BPDA itself reports (its success: a fresh pass on its output), the normalized L2 of
what it produced (median over the images, no budget bounds it), the defended accuracy on its outputs over the
evaluation's draws, and the kit's BPDA-PGD (the profile's bpda-pgd settings) at the normalized L2 budget of that
median: its own success and the accuracy over draws, on the same images.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch

from cnr.attacks import attack_params, run_attack
from cnr.cells.groups import group_params
from cnr.defenses import Defended, defense_by_name
from cnr.eval.evaluator import Evaluator
from cnr.eval.scoring import score, summarize
from cnr.stats import wilson_interval

DEFENSES = ("none", "jpeg", "dynamic-N3")


def _model(ev: Evaluator, name: str, grad: str) -> torch.nn.Module:
    defense = defense_by_name(ev.run.profile, name).build(ev.bank, grad=grad, seed=ev.seed)
    return ev.classifier if defense is None else Defended(defense, ev.classifier)


def _rate(prefix: str, flags: torch.Tensor) -> dict[str, float]:
    """A success rate with its 95% Wilson interval."""
    k, n = int(flags.sum()), len(flags)
    lo, hi = wilson_interval(k, n)
    return {f"{prefix}_success": k / n, f"{prefix}_success_lo": lo, f"{prefix}_success_hi": hi}


def _scored(prefix: str, model: torch.nn.Module, x_adv: torch.Tensor, y: torch.Tensor, draws: int) -> dict[str, Any]:
    """Accuracy on the attack's outputs over fresh draws: the mean over draws and the worst case, with intervals."""
    s = summarize(score(model, x_adv, y, draws if getattr(model, "is_random", False) else 1))
    return {f"{prefix}_{k}": s[k] for k in ("accuracy", "acc_lo", "acc_hi", "worst_accuracy", "worst_lo",
                                           "worst_hi")}


def paper_bpda(ev: Evaluator, defenses: Sequence[str] = DEFENSES, n: int = 16,
               settings: dict[str, Any] | None = None) -> pd.DataFrame:
    """One row per defense: DeepRobust's BPDA with `settings` (its defaults: 10 iterations, step 1.0, the true
    label) and the kit's projected BPDA-PGD at the median size of what it produced."""
    dr_params = attack_params("deeprobust_bpda", **(settings or {}))
    pgd_params = group_params(ev.run.profile, "bpda-pgd")
    x, y = ev.x[:n], ev.y[:n]
    rows = []
    for name in defenses:
        t0 = time.perf_counter()
        # the paper's tool sees the whole defense as the identity backward; the kit's BPDA only JPEG
        dr = run_attack("deeprobust_bpda", _model(ev, name, "identity"), x, y, float("inf"), "l2", seed=ev.seed,
                        **dr_params)
        target = _model(ev, name, "bpda")
        sizes = dr.extra["output_l2"]
        budget = float(sizes.median())
        row = dict(defense=name, n=len(y), seed=ev.seed, draws=ev.draws, iterations=dr_params["iterations"],
                   step_size=dr_params["step_size"], target=dr_params["target"], **_rate("deeprobust", dr.success),
                   deeprobust_l2_median=budget, deeprobust_l2_max=float(sizes.max()),
                   **_scored("deeprobust", target, dr.x_adv, y, ev.draws), kit_budget=budget)
        if budget > 0:
            kit = run_attack("pgd", target, x, y, budget, "l2", seed=ev.seed, **pgd_params)
            row.update(_rate("kit", kit.success), **_scored("kit", target, kit.x_adv, y, ev.draws))
        row["wall_s"] = round(time.perf_counter() - t0, 1)
        rows.append(row)
    return pd.DataFrame(rows)
