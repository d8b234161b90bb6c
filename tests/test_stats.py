"""cnr.stats: each test checks against a hand computation or an independent scipy/numpy route, not against itself."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats as sps

from cnr.errors import InputError
from cnr.stats import (
    bootstrap_mean,
    format_accuracy,
    holm,
    mcnemar_exact,
    mean_half_width,
    paired_bootstrap,
    t_half_width,
    wilson_interval,
)

# --- Wilson ----------------------------------------------------------------------------------------------------------

def test_wilson_interval_of_five_in_ten():
    """Hand computation: centre 0.5, half-width z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/(4n^2)) = 0.26341."""
    assert wilson_interval(5, 10) == pytest.approx((0.23659, 0.76341), abs=1e-5)


# --- intervals of a mean ----------------------------------------------------------------------------------------------

def test_mean_intervals_match_scipy():
    v = torch.from_numpy(np.random.default_rng(2).normal(3.0, 1.5, 40))
    mean, half = mean_half_width(v)
    lo, hi = sps.norm.interval(0.95, loc=v.mean().item(), scale=sps.sem(v.numpy()))
    assert mean == pytest.approx(v.mean().item()) and half == pytest.approx((hi - lo) / 2, rel=1e-4)  # z = 1.96
    lo, hi = sps.t.interval(0.95, len(v) - 1, loc=0.0, scale=sps.sem(v.numpy()))
    assert t_half_width(v) == pytest.approx(hi, rel=1e-12)
    assert math.isnan(mean_half_width(v[:1])[1]) and math.isnan(t_half_width(v[:1]))


# --- Holm ------------------------------------------------------------------------------------------------------------

def test_holm_matches_a_hand_computation():
    """Sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04, then running max: 0.04 -> 0.06."""
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02], abs=1e-15)


def test_holm_caps_at_one_and_keeps_the_order_monotone():
    assert holm([0.3, 0.6, 0.9]) == pytest.approx([0.9, 1.0, 1.0])
    assert holm([0.03, 0.03]) == [0.06, 0.06]
    assert holm([]) == []


def test_holm_leaves_missing_tests_out_of_the_family():
    out = holm(np.array([0.01, np.nan, 0.02]))
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.02)


@pytest.mark.parametrize("bad", [[0.5, 1.5], [-0.1], [[0.1, 0.2]]])
def test_holm_refuses_what_is_not_a_list_of_p_values(bad):
    with pytest.raises(InputError):
        holm(bad)


# --- McNemar ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("only_a, only_b", [(3, 12), (12, 3), (7, 7), (0, 1), (40, 25)])
def test_mcnemar_exact_is_the_binomial_test_on_the_discordant_pairs(only_a, only_b):
    want = sps.binomtest(only_a, only_a + only_b, 0.5, alternative="two-sided").pvalue
    assert mcnemar_exact(only_a, only_b) == pytest.approx(want, rel=1e-12)


def test_mcnemar_exact_hand_values():
    assert mcnemar_exact(0, 5) == pytest.approx(2 * 0.5 ** 5)  # the one-sided tail 1/32, doubled
    assert mcnemar_exact(0, 0) == 1.0  # no discordant image: nothing to tell the two apart
    with pytest.raises(InputError):
        mcnemar_exact(-1, 3)


# --- bootstraps ------------------------------------------------------------------------------------------------------

def test_paired_bootstrap_agrees_with_scipy():
    """scipy's paired percentile bootstrap on the same generator draws the same resamples; only its percentile level
    differs in the last bit, so the ends agree to rounding."""
    rng = np.random.default_rng(5)
    a, b = rng.random(150) < 0.6, rng.random(150) < 0.45
    lo, hi = paired_bootstrap(a, b, seed=3, resamples=4000)
    ref = sps.bootstrap((a, b), lambda x, y, axis=-1: y.mean(axis) - x.mean(axis), paired=True, vectorized=True,
                        n_resamples=4000, method="percentile", rng=np.random.default_rng(3)).confidence_interval
    assert (lo, hi) == pytest.approx((ref.low, ref.high), abs=1e-12)
    assert lo < b.mean() - a.mean() < hi


def test_paired_bootstrap_of_identical_sides_is_zero_and_checks_shapes():
    a = np.array([True, False, True, True])
    assert paired_bootstrap(a, a) == (0.0, 0.0)
    with pytest.raises(InputError, match="equally long"):
        paired_bootstrap(a, a[:3])
    with pytest.raises(InputError, match="non-empty"):
        paired_bootstrap(a[:0], a[:0])


def test_bootstrap_mean_is_seeded_and_near_the_normal_interval():
    """On 2000 normal values the percentile interval is within a few percent of mean -/+ 1.96 sd / sqrt(n)."""
    v = torch.from_numpy(np.random.default_rng(0).normal(1.0, 2.0, 2000))
    mean, lo, hi = bootstrap_mean(v, seed=4)
    half = 1.96 * v.std().item() / math.sqrt(len(v))
    assert mean == pytest.approx(v.mean().item())
    assert (lo, hi) == pytest.approx((mean - half, mean + half), abs=0.1 * half)
    assert bootstrap_mean(v, seed=4) == (mean, lo, hi) and bootstrap_mean(v, seed=5) != (mean, lo, hi)


def test_bootstrap_mean_of_nothing_defined_is_nan():
    with pytest.warns(RuntimeWarning, match="2 of 2 values are undefined"):
        assert all(math.isnan(x) for x in bootstrap_mean(torch.tensor([float("nan"), float("inf")]), seed=0))


def _wilson_closed_form(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The textbook formula, independent of scipy."""
    p = k / n
    centre, half = (p + z * z / (2 * n)), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return ((centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n))


@pytest.mark.parametrize("k, n", [(90, 100), (0, 20), (20, 20), (5, 8), (9312, 10000), (1, 1)])
def test_wilson_interval_is_the_wilson_score_interval(k, n):
    lo, hi = wilson_interval(k, n)
    want = _wilson_closed_form(k, n)
    # scipy and the closed form differ only by float rounding (measured <1e-9); 1e-7 leaves room for both
    assert lo == pytest.approx(max(0.0, want[0]), abs=1e-7) and hi == pytest.approx(min(1.0, want[1]), abs=1e-7)


def test_wilson_interval_values_and_edges():
    # Published values (e.g. Newcombe 1998, table I: 81/263 -> 0.2553-0.3662); 5e-5 is the table's rounding
    assert wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=5e-5)
    assert wilson_interval(90, 100) == pytest.approx((0.8256, 0.9448), abs=5e-5)
    assert wilson_interval(0, 20) == (0.0, pytest.approx(0.1611, abs=5e-5))
    assert wilson_interval(20, 20) == (pytest.approx(0.8389, abs=5e-5), 1.0)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    assert format_accuracy(9, 10) == "0.9000 (9/10, 95% CI 0.5958-0.9821)"


@pytest.mark.parametrize("k, n, needle", [(5, 3, r"k \(successes\): expected an integer in \[0, 3\]"),
                                          (-1, 3, r"k \(successes\)"), (1, -2, r"n \(trials\)"),
                                          (0.5, 3, "k")])
def test_wilson_interval_refuses_impossible_counts(k, n, needle):
    with pytest.raises(InputError, match=needle):
        wilson_interval(k, n)
