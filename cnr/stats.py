"""Uncertainty for every reported number: Wilson and mean intervals, Holm, McNemar's exact test, bootstraps.

The one home of the kit's statistics (scipy's and numpy's where they have them), so that a table and the verdict
drawn from it use the same arithmetic.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from cnr.errors import InputError

if TYPE_CHECKING:
    import torch

CONFIDENCE = 0.95
PAIRED_RESAMPLES = 10_000
MEAN_RESAMPLES = 2000


def wilson_interval(k: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval for k successes out of n, from scipy (well behaved at 0% and 100%).

    `scipy.stats.binomtest(k, n).proportion_ci(0.95, "wilson")`; n == 0 (no images) gives (nan, nan).
    """
    from cnr.parsing import check_int

    n = check_int(n, "wilson_interval n (trials)", 0)
    k = check_int(k, "wilson_interval k (successes)", 0, n)
    if n == 0:
        return (float("nan"), float("nan"))
    from scipy.stats import binomtest

    ci = binomtest(int(k), int(n)).proportion_ci(CONFIDENCE, "wilson")
    return (float(ci.low), float(ci.high))


def format_accuracy(k: int, n: int) -> str:
    """'0.9312 (9312/10000, 95% CI 0.9261-0.9360)'."""
    lo, hi = wilson_interval(k, n)
    return f"{k / n:.4f} ({k}/{n}, 95% CI {lo:.4f}-{hi:.4f})"


def mean_half_width(values: torch.Tensor) -> tuple[float, float]:
    """Mean and the half-width of its normal-approximation 95% interval (nan for fewer than two values)."""
    v = values.double()
    half = 1.96 * v.std().item() / math.sqrt(len(v)) if len(v) > 1 else float("nan")
    return v.mean().item(), half


def t_half_width(values: torch.Tensor) -> float:
    """Half-width of the 95% t-interval of a mean, for per-image differences whose two means share their images."""
    from scipy.stats import t as student

    n = len(values)
    return student.ppf(0.975, n - 1) * values.double().std().item() / math.sqrt(n) if n > 1 else float("nan")


def holm(pvalues: Sequence[float] | np.ndarray) -> list[float]:
    """Holm's step-down adjusted p-values, in the input's order: testing several cells at once must not let the lucky
    one decide. NaN (no test) stays NaN and does not count towards the family. scipy has no Holm correction."""
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1:
        raise InputError(f"holm takes a flat list of p-values, got an array of shape {p.shape}")
    if ((p < 0) | (p > 1)).any():
        raise InputError(f"p-values must lie in [0, 1], got {p[(p < 0) | (p > 1)].tolist()}")
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]  # ties keep their input order
    m = len(order)
    out = np.full(p.shape, np.nan)
    out[order] = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    return out.tolist()


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """McNemar's exact two-sided p-value from the discordant pairs (images only a keeps, only b keeps): a binomial test
    of only_a out of only_a + only_b at 1/2 (scipy.stats.binomtest); 1.0 when no pair is discordant."""
    from scipy.stats import binomtest

    if only_a < 0 or only_b < 0:
        raise InputError(f"discordant counts must be >= 0, got {only_a} and {only_b}")
    return float(binomtest(int(only_a), int(only_a + only_b), 0.5).pvalue) if only_a + only_b else 1.0


def paired_bootstrap(a: np.ndarray, b: np.ndarray, seed: int = 0, resamples: int = PAIRED_RESAMPLES
                     ) -> tuple[float, float]:
    """95% percentile-bootstrap interval of mean(b) - mean(a) over the same images, resampled together (numpy's
    seeded generator), for a difference that two separate intervals would overstate.

    Not scipy.stats.bootstrap: its percentile levels, (1 - 0.95) / 2 * 100, differ from 2.5 in the last bit and move
    some interval ends."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 1 or a.shape != b.shape or len(a) == 0:
        raise InputError(f"a paired bootstrap needs two equally long, non-empty 1-D arrays, got shapes {a.shape} "
                         f"and {b.shape}")
    idx = np.random.default_rng(seed).integers(0, len(a), size=(resamples, len(a)))
    diffs = b[idx].mean(1) - a[idx].mean(1)
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return float(lo), float(hi)


def bootstrap_mean(values: torch.Tensor, seed: int, resamples: int = MEAN_RESAMPLES) -> tuple[float, float, float]:
    """Mean over images with a 95% percentile-bootstrap interval (torch's generator, seeded): the uncertainty every
    mechanism row carries. Non-finite values are left out, with a warning that says how many."""
    import warnings

    import torch

    v = values.detach().double().flatten().cpu()
    finite = torch.isfinite(v)
    if not finite.all():  # e.g. a cosine with an all-zero gradient: said, since the caller's image count includes it
        warnings.warn(f"{int((~finite).sum())} of {v.numel()} values are undefined (NaN/inf) and left out of the "
                      "mean and its interval", RuntimeWarning, stacklevel=2)
    v = v[finite]
    if v.numel() == 0:
        return float("nan"), float("nan"), float("nan")
    idx = torch.randint(0, len(v), (resamples, len(v)), generator=torch.Generator().manual_seed(seed))
    lo, hi = torch.quantile(v[idx].mean(1), torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
    return v.mean().item(), lo, hi
