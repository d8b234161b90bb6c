"""Uncertainty for accuracies: every reported number carries n and a 95% interval."""
from __future__ import annotations


def wilson_interval(k: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval for k successes out of n, from scipy (well behaved at 0% and 100%).

    `scipy.stats.binomtest(k, n).proportion_ci(0.95, "wilson")`; n == 0 (no images) gives (nan, nan).
    """
    if n <= 0:
        return (float("nan"), float("nan"))
    from scipy.stats import binomtest

    ci = binomtest(int(k), int(n)).proportion_ci(0.95, "wilson")
    return (float(ci.low), float(ci.high))


def format_accuracy(k: int, n: int) -> str:
    """'0.9312 (9312/10000, 95% CI 0.9261-0.9360)'."""
    lo, hi = wilson_interval(k, n)
    return f"{k / n:.4f} ({k}/{n}, 95% CI {lo:.4f}-{hi:.4f})"
