"""Have the PGD-based attacks converged? Accuracy of a defense against the attack's effort: PGD steps, EOT samples
per step and random restarts, each swept with the others at the profile's settings, on the same images, with the
cross-entropy or the margin loss.

Every point is scored like a grid cell (fresh draws, worst case over draws, Wilson interval). Restarts are combined
per image the way an attacker would use them: an image survives r restarts only if it survives each of them under
every draw (the ensemble rule over restarts, seeds seed..seed+r-1). Attacks that two points share (eot=1 is the
steps sweep's 10-step point, r restarts reuse the first r-1) run once.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch

from cnr.attacks import run_attack
from cnr.cells.groups import group_params
from cnr.defenses import Defended, defense_by_name
from cnr.eval.evaluator import Evaluator
from cnr.eval.scoring import score, summarize
from cnr.stats import wilson_interval

STEPS = (5, 10, 20, 50, 100, 200)
EOT = (1, 2, 4, 8, 16, 32)
RESTARTS = (1, 2, 3, 5)


def _point(ev: Evaluator, model: Defended, x: torch.Tensor, y: torch.Tensor, norm: str, budget: float,
           seeds: Sequence[int], memo: dict[tuple, torch.Tensor], **params: Any) -> dict[str, Any]:
    """One point: per-image worst case over draws and over the restarts' adversarials."""
    t0 = time.perf_counter()
    alive = None
    first = None
    for s in seeds:
        key = (s, tuple(sorted({"eot": 1, **params}.items())))
        if key not in memo:
            res = run_attack("pgd", model, x, y, budget, norm=norm, seed=s, **params)
            memo[key] = score(model, res.x_adv, y, ev.draws)
        correct = memo[key]
        first = summarize(correct) if first is None else first
        alive = correct.all(0) if alive is None else alive & correct.all(0)
    k, n = int(alive.sum()), len(y)
    lo, hi = wilson_interval(k, n)
    return dict(n=n, draws=ev.draws, restarts=len(seeds), accuracy_first=first["accuracy"],
                worst_accuracy=k / n, worst_lo=lo, worst_hi=hi, wall_s=round(time.perf_counter() - t0, 1))


def convergence(ev: Evaluator, defenses: Sequence[str] = ("static-N3", "dynamic-N3"),
                budgets: Sequence[float] = (0.05, 0.1), n: int = 200, steps: Sequence[int] = STEPS,
                eot: Sequence[int] = EOT, restarts: Sequence[int] = RESTARTS, norm: str = "linf",
                losses: Sequence[str] = ("ce",)) -> pd.DataFrame:
    """The three sweeps for each defense, budget and loss, as a tidy table (sweep, value, accuracy, interval)."""
    p = ev.run.profile
    x, y = ev.x[:n], ev.y[:n]
    rows = []
    for name in defenses:
        spec = defense_by_name(p, name)
        model = Defended(spec.build(ev.bank, grad="bpda", seed=ev.seed), ev.classifier)
        for budget in budgets:
            for loss in losses:
                # PGD's default loss (cross-entropy) stays out of the params, as in tables without the loss sweep.
                extra = {} if loss == "ce" else {"loss": loss}
                plan = ([("steps", s, dict(steps=s, **extra), 1) for s in steps]
                        + [("eot", e, dict(steps=group_params(p, "eot-bpda-pgd")["steps"], eot=e, **extra), 1)
                           for e in eot]
                        + [("restarts", r, dict(steps=group_params(p, "bpda-pgd")["steps"], **extra), r)
                           for r in restarts])
                memo: dict[tuple, torch.Tensor] = {}
                for sweep, value, params, r in plan:
                    pt = _point(ev, model, x, y, norm, budget, [ev.seed + i for i in range(r)], memo, **params)
                    rows.append(dict(defense=name, mode=spec.mode, n_iter=spec.n_iter, norm=norm, budget=budget,
                                     loss=loss, sweep=sweep, value=value, params=str(params), seed=ev.seed, **pt))
                    print(f"{name} {norm} {budget:g} {loss} {sweep}={value}: worst {pt['worst_accuracy']:.3f} "
                          f"[{pt['worst_lo']:.3f}, {pt['worst_hi']:.3f}] ({pt['wall_s']} s)", flush=True)
    return pd.DataFrame(rows)


def with_loss(df: pd.DataFrame) -> pd.DataFrame:
    """A table from before the loss sweep ran every point with cross-entropy."""
    return df if "loss" in df.columns else df.assign(loss="ce")


def flat_from(df: pd.DataFrame, sweep: str) -> pd.DataFrame:
    """Per (defense, budget, loss): the smallest setting whose accuracy lies inside the interval of the largest one."""
    out = []
    df = with_loss(df)
    for (d, norm, b, loss), g in df[df["sweep"] == sweep].groupby(["defense", "norm", "budget", "loss"]):
        g = g.sort_values("value")
        top = g.iloc[-1]
        inside = g[(g["worst_accuracy"] >= top["worst_lo"]) & (g["worst_accuracy"] <= top["worst_hi"])]
        out.append(dict(defense=d, norm=norm, budget=b, loss=loss, sweep=sweep, flat_from=int(inside["value"].min()),
                        largest=int(top["value"]), accuracy_at_largest=top["worst_accuracy"]))
    return pd.DataFrame(out)
