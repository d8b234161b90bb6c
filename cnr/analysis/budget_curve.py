"""Accuracy at every budget from one minimal-perturbation run per image (HopSkipJump without a budget), as the legacy
black-box table reports it, scored on fresh draws of the defense as the kit scores every attack.

What "accuracy at budget eps" means here, for a random defense. The attack ran once per image with no budget and
returned the smallest adversarial it found, x_adv_i at normalized L2 distance d_i (the attack's own judgement of
"adversarial" rests on single draws, fixed per point by its answer cache). At budget eps the attacker submits x_adv_i
if d_i <= eps and the clean image x_i otherwise (nothing it found fits the budget); the submission is then classified
on each of the same fresh scoring draws that score every cell of the grid. So

    accuracy(eps) = mean over draws j and images i of  correct_j(x_adv_i) if d_i <= eps else correct_j(x_i),

with correct_j(x_adv_i) from the minimal run's outcomes and correct_j(x_i) from the clean cell's (the first n images
of both samples coincide). `worst_accuracy` counts an image only if every draw is right. Beside it,
`attack_view_accuracy` is what the attacker itself believed: an image is lost at eps when the attack's own final
check called x_adv_i adversarial and d_i <= eps (one more single draw, no fresh scoring), which is how a legacy
evaluation that takes the attack's word reads the same run. On a deterministic model the two agree.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from cnr.errors import InputError
from cnr.eval.outcomes import Outcomes
from cnr.eval.scoring import summarize
from cnr.stats import wilson_interval


def submissions_correct(minimal: Outcomes, clean: Outcomes, budget: float) -> np.ndarray:
    """(draws, n) bool: the submission at `budget` (the smallest adversarial if it fits, else the clean image) right
    under each scoring draw."""
    n = minimal.correct.shape[1]
    if clean.correct.shape[1] < n:
        raise InputError(f"the clean cell scored {clean.correct.shape[1]} images, fewer than the minimal run's {n}; "
                         f"give the clean cells at least as many images (samples.eval >= samples.blackbox)")
    if clean.correct.shape[0] != minimal.correct.shape[0]:
        raise InputError(f"the clean cell has {clean.correct.shape[0]} scoring draws and the minimal run "
                         f"{minimal.correct.shape[0]}: score both with the same samples.draws")
    fits = minimal.pert <= budget
    return np.where(fits[None, :], minimal.correct, clean.correct[:, :n])


def budget_curve(minimal: Outcomes, clean: Outcomes, budgets: Sequence[float]) -> list[dict[str, Any]]:
    """One row per budget (0 included: clean accuracy on the same images): the re-scored accuracy with its Wilson
    interval, the worst case over draws, and the attacker's own view."""
    rows = []
    for b in sorted({0.0, *(float(x) for x in budgets)}):
        if not b >= 0:
            raise InputError(f"budgets are normalized L2 sizes >= 0, got {b!r}")
        correct = torch.from_numpy(submissions_correct(minimal, clean, b))
        lost = minimal.success & (minimal.pert <= b)
        k_view = int((~lost).sum())
        lo, hi = wilson_interval(k_view, len(lost))
        rows.append({"budget": b, **summarize(correct), "attack_view_accuracy": k_view / len(lost),
                     "attack_view_lo": lo, "attack_view_hi": hi,
                     "fits": int((minimal.pert <= b).sum())})
    return rows
