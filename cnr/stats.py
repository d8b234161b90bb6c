"""Uncertainty for accuracies: every reported number carries n and a 95% interval."""
from __future__ import annotations

import math


def wilson_interval(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval for k successes out of n (well behaved at 0% and 100%)."""
    if n <= 0:
        return (float("nan"), float("nan"))
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def format_accuracy(k: int, n: int) -> str:
    """'0.9312 (9312/10000, 95% CI 0.9261-0.9360)'."""
    lo, hi = wilson_interval(k, n)
    return f"{k / n:.4f} ({k}/{n}, 95% CI {lo:.4f}-{hi:.4f})"
