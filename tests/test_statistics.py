"""The tests behind the gate and the A/B: they agree with scipy's own tests
on the same numbers, and handle the cases scipy leaves undefined (no spread,
one seed) the way the gate needs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from snnbench.results.statistics import equivalence, paired, ratio_of_medians, resolution, welch

BASE = [0.91, 0.93, 0.92, 0.95, 0.90, 0.94]
CURRENT = [0.86, 0.88, 0.91]


def describe(values):
    return float(np.mean(values)), float(np.std(values, ddof=1)), len(values)


@pytest.mark.parametrize("worse_sign, alternative", [(-1, "less"), (1, "greater"), (0, "two-sided")])
def test_welch_equals_scipy(worse_sign, alternative):
    found = welch(*describe(BASE), *describe(CURRENT), worse_sign)
    expected = stats.ttest_ind(CURRENT, BASE, equal_var=False, alternative=alternative)
    assert found.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    interval = stats.ttest_ind(CURRENT, BASE, equal_var=False).confidence_interval(0.95)
    assert (found.low, found.high) == pytest.approx((interval.low, interval.high), rel=1e-9)
    assert found.difference == pytest.approx(np.mean(CURRENT) - np.mean(BASE))


def test_one_current_seed_borrows_the_baseline_spread():
    found = welch(*describe(BASE), 0.80, None, 1, worse_sign=-1)
    mean, std, n = describe(BASE)
    t = (0.80 - mean) / (std * np.sqrt(1 / n + 1))
    assert found.p_value == pytest.approx(stats.t.cdf(t, n - 1), rel=1e-9)
    assert "current spread taken from the baseline" in found.test


def test_no_spread_on_either_side_is_exact():
    assert welch(0.5, 0.0, 3, 0.5, 0.0, 3, worse_sign=0).p_value == 1.0
    moved = welch(0.5, 0.0, 3, 0.4, 0.0, 3, worse_sign=0)
    assert moved.p_value == 0.0 and moved.low == moved.high == pytest.approx(-0.1)
    assert welch(0.5, 0.0, 3, 0.6, 0.0, 3, worse_sign=-1).p_value == 1.0  # better is never significant worse


def test_paired_equals_scipy_and_identical_seeds_are_exact():
    base, head = [0.90, 0.92, 0.94, 0.91], [0.88, 0.91, 0.90, 0.90]
    found = paired(base, head, worse_sign=-1)
    assert found.p_value == pytest.approx(stats.ttest_rel(head, base, alternative="less").pvalue, rel=1e-9)
    same = paired(base, base, worse_sign=-1)
    assert same.p_value == 1.0 and "identical" in same.test
    shifted = paired(base, [b - 0.01 for b in base], worse_sign=-1)
    assert shifted.p_value == 0.0 and "moved alike" in shifted.test


def test_ratio_of_medians_brackets_a_known_slowdown():
    rng = np.random.default_rng(1)
    base = 1000 * (1 + 0.03 * rng.standard_normal(7))
    slower = 700 * (1 + 0.03 * rng.standard_normal(7))
    found = ratio_of_medians(base, slower)
    assert found.ratio == pytest.approx(np.median(slower) / np.median(base))
    assert found.low < 0.7 < found.high < 0.9
    unchanged = ratio_of_medians(base, base[::-1])
    assert unchanged.ratio == 1.0 and unchanged.low < 1.0 < unchanged.high


# ------------------------------------------------------------------ equivalence (TOST)


@pytest.mark.parametrize("margin", [0.02, 0.05, 0.1])
def test_equivalence_is_two_one_sided_welch_tests_as_scipy_computes_them(margin):
    found = equivalence(*describe(BASE), *describe(CURRENT), margin, alpha=0.05)
    shifted_up = stats.ttest_ind(np.add(CURRENT, margin), BASE, equal_var=False, alternative="greater")
    shifted_down = stats.ttest_ind(np.subtract(CURRENT, margin), BASE, equal_var=False, alternative="less")
    assert found.p_value == pytest.approx(max(shifted_up.pvalue, shifted_down.pvalue), rel=1e-9)
    interval = stats.ttest_ind(CURRENT, BASE, equal_var=False).confidence_interval(0.90)
    assert (found.low, found.high) == pytest.approx((interval.low, interval.high), rel=1e-9)
    # the test and the interval agree: equivalent exactly when the 90% interval lies inside the margin
    assert found.equivalent(0.05) == (-margin < found.low and found.high < margin)


def test_not_significant_is_not_equivalent():
    """Issue 27's two seeds, 58.64 ± 4.53 against 94.85 ± 0.20: Welch's test
    finds no significant difference (it has no power), and the difference is
    anything but small. Equivalence says so; the resolution says what these
    seeds could have seen, and how many would settle it."""
    best, row = (0.9485, 0.0020, 2), (0.5864, 0.0453, 2)
    assert not welch(*best, *row, worse_sign=0).significant(0.05)
    assert not equivalence(*best, *row, margin=0.01, alpha=0.05).equivalent(0.05)
    seen = resolution(best[1], best[2], row[1], row[2], difference=row[0] - best[0], margin=0.01, alpha=0.05)
    assert seen.detectable > abs(row[0] - best[0])
    # with the seeds it asks for (and these means and spreads) Welch's test finds the difference
    assert welch(best[0], best[1], seen.seeds_needed, row[0], row[1], seen.seeds_needed, worse_sign=0) \
        .significant(0.05)
    assert not welch(best[0], best[1], 2, row[0], row[1], 2, worse_sign=0).significant(0.05)


def test_resolution_of_a_small_difference_asks_for_the_seeds_that_show_equivalence():
    seen = resolution(0.01, 3, 0.01, 3, difference=-0.002, margin=0.01, alpha=0.05)
    n = seen.seeds_needed
    assert n > 3
    assert equivalence(0.95, 0.01, n, 0.948, 0.01, n, margin=0.01, alpha=0.05).equivalent(0.05)
    more = resolution(0.01, 30, 0.01, 30, difference=-0.002, margin=0.01, alpha=0.05)
    assert more.detectable < seen.detectable  # more seeds resolve finer differences
    hopeless = resolution(0.5, 3, 0.5, 3, difference=-0.0001, margin=0.0002, alpha=0.05)
    assert hopeless.seeds_needed is None  # more than a thousand
