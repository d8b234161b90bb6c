"""The one learning-rate schedule of the kit's trainings: linear warmup, then cosine to a floor."""
from __future__ import annotations

import math


def warmup_cosine(step: int, total: int, peak: float, warmup: float = 0.03, start: float = 0.0,
                  floor: float = 0.0, offset: int = 1) -> float:
    """A pure function of the step, so that a resumed run follows the same curve as an uninterrupted one.

    Warmup rises linearly from `start * peak` to `peak` over the first `warmup` fraction of the steps, at progress
    (step + offset) / warmup_steps (offset 1: the first step already moves; 0: it starts at `start`); then a cosine
    decays to `floor * peak` at the last step.
    """
    w = max(1, int(total * warmup))
    if step < w:
        return peak * (start + (1 - start) * (step + offset) / w)
    t = (step - w) / max(1, total - w)
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t)))
