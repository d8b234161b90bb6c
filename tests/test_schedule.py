"""cnr.schedule: the warmup-then-cosine learning rate the banks and the classifier were trained with."""
from __future__ import annotations

import numpy as np
import pytest

from cnr.schedule import warmup_cosine


def _banks_lr(step: int, total: int, peak: float, warmup: float = 0.03, floor: float = 0.05) -> float:
    """The schedule the shipped banks were trained with, written out here independently of cnr.schedule."""
    w = max(1, int(total * warmup))
    if step < w:
        return peak * (step + 1) / w
    t = (step - w) / max(1, total - w)
    return peak * (floor + (1 - floor) * 0.5 * (1 + np.cos(np.pi * t)))


def test_lr_schedule_is_warmup_then_cosine_as_the_banks_were_trained():
    lrs = [warmup_cosine(s, 1000, 1e-3, warmup=0.03, floor=0.05) for s in range(1000)]
    assert lrs == pytest.approx([_banks_lr(s, 1000, 1e-3) for s in range(1000)], rel=1e-12, abs=0)
    assert lrs[0] == pytest.approx(1e-3 / 30) and lrs[29] == pytest.approx(1e-3)  # 30 warmup steps, linear
    assert lrs[-1] == pytest.approx(5e-5 + 0.95e-3 * 0.5 * (1 + np.cos(np.pi * 969 / 970)), rel=1e-12)
    assert all(a >= b for a, b in zip(lrs[30:], lrs[31:]))


def test_warmup_cosine_start_and_floor():
    # start: warmup from start * peak; floor: the cosine ends at floor * peak (one step before the end)
    assert warmup_cosine(0, 100, 2.0, warmup=0.1, start=0.1) == pytest.approx(2.0 * (0.1 + 0.9 / 10))
    assert warmup_cosine(9, 100, 2.0, warmup=0.1, start=0.1) == pytest.approx(2.0)
    assert warmup_cosine(10, 100, 2.0, warmup=0.1) == pytest.approx(2.0)  # the cosine starts at the peak
    assert warmup_cosine(100, 100, 2.0, warmup=0.1, floor=0.25) == pytest.approx(0.5)
    assert warmup_cosine(55, 100, 2.0, warmup=0.1) == pytest.approx(1.0)  # halfway down the cosine
    assert warmup_cosine(0, 1, 1.0) == pytest.approx(1.0)  # a one-step run: warmup of one step
