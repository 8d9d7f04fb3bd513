"""The tests behind every "is this difference real?" answer snnbench gives.

Three situations, three tests, each returning the difference with a 95%
interval so a reader sees how sure the verdict is:

- :func:`welch` compares two groups of seeds (a baseline made elsewhere and
  the current run): means, spreads and counts only, no pairing, unequal
  variances. A side with fewer than two values borrows the other side's
  spread, which says "assume this run is as noisy as the other".
- :func:`paired` compares the same seeds run twice on one machine (an A/B
  of two commits): each seed is its own control, so deterministic metrics
  show any change exactly.
- :func:`ratio_of_medians` compares timings taken in interleaved repeats:
  the ratio of medians with a bootstrap interval over whole rounds, robust
  to the odd slow repeat a shared machine produces.

"Not significantly different" is not "about as good": with two or three
seeds a test has little power, and a large difference passes unseen.
:func:`equivalence` answers the other question, whether the difference is
known to be small (two one-sided tests against a stated margin), and
:func:`resolution` says what a run with these seeds could have told apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Difference:
    """``current - baseline`` (or head - base) and how sure it is."""

    difference: float
    low: float
    high: float
    #: p-value of the one-sided test in the direction asked for
    p_value: float
    test: str

    def significant(self, alpha: float) -> bool:
        return self.p_value < alpha


def _t():
    """Student's t distribution; scipy loads when a test runs, not with the CLI."""
    from scipy import stats
    return stats.t


def _t_interval(difference: float, se: float, df: float, confidence: float = CONFIDENCE) -> tuple[float, float]:
    half = _t().ppf(0.5 + confidence / 2, df) * se
    return difference - half, difference + half


def _exact(difference: float, worse_sign: int, test: str) -> Difference:
    """No spread on either side: the difference is what it is."""
    worse = difference != 0 if worse_sign == 0 else difference * worse_sign > 0
    p = 0.0 if worse else 1.0
    return Difference(difference, difference, difference, p, test)


def welch(base_mean: float, base_std: float | None, base_n: int, mean: float, std: float | None, n: int,
          worse_sign: int) -> Difference:
    """Welch's t-test of ``mean - base_mean``, one-sided towards ``worse_sign``
    (+1: larger is worse, -1: smaller is worse, 0: either way, two-sided)."""
    base_var, var = _variance(base_std, base_n), _variance(std, n)
    borrowed = ""
    if var is None and base_var is not None:
        var, borrowed = base_var, ", current spread taken from the baseline"
    elif base_var is None and var is not None:
        base_var, borrowed = var, ", baseline spread taken from the current run"
    difference = mean - base_mean
    if base_var is None or (base_var == 0 and var == 0):
        return _exact(difference, worse_sign, "exact (no spread)")
    a, b = base_var / base_n, var / n
    se = math.sqrt(a + b)
    if borrowed:  # one spread estimated, from one side's seeds: its degrees of freedom
        df = max(base_n, n) - 1
    else:
        df = _welch_df(a, b, base_n, n)
    t = difference / se
    p = _one_sided_p(t, worse_sign, df)
    low, high = _t_interval(difference, se, df)
    return Difference(difference, low, high, p, f"Welch t={t:.2f}, df={df:.1f}{borrowed}")


def _variance(std: float | None, n: int) -> float | None:
    return std**2 if n >= 2 and std is not None and math.isfinite(std) else None


def _welch_df(a: float, b: float, base_n: int | np.ndarray, n: int | np.ndarray):
    """Welch-Satterthwaite degrees of freedom of two squared standard errors."""
    return (a + b) ** 2 / (a**2 / (base_n - 1) + b**2 / (n - 1))


@dataclass(frozen=True)
class Equivalence:
    """Whether ``mean - base_mean`` is known to lie within ``±margin``: two
    one-sided Welch tests (TOST). At level alpha that is the same as the
    difference's ``1 - 2 alpha`` interval (``low``, ``high``) lying inside
    the margin."""

    difference: float
    low: float
    high: float
    margin: float
    #: the larger p-value of the two one-sided tests
    p_value: float

    def equivalent(self, alpha: float) -> bool:
        return self.p_value < alpha


def equivalence(base_mean: float, base_std: float, base_n: int, mean: float, std: float, n: int,
                margin: float, alpha: float) -> Equivalence:
    """TOST of ``mean - base_mean`` against ``±margin``; both sides need two
    or more values (an interval needs a spread, and none is borrowed: a
    claim of "as good as" must not rest on a guess)."""
    if base_n < 2 or n < 2:
        raise ValueError("an equivalence test needs two or more values on each side")
    difference = mean - base_mean
    a, b = _variance(base_std, base_n) / base_n, _variance(std, n) / n
    if a + b == 0:  # no spread on either side: the difference is what it is
        inside = abs(difference) < margin
        return Equivalence(difference, difference, difference, margin, 0.0 if inside else 1.0)
    se, df = math.sqrt(a + b), _welch_df(a, b, base_n, n)
    p_above_lower = float(_t().sf((difference + margin) / se, df))  # H0: difference <= -margin
    p_below_upper = float(_t().cdf((difference - margin) / se, df))  # H0: difference >= +margin
    low, high = _t_interval(difference, se, df, confidence=1 - 2 * alpha)
    return Equivalence(difference, low, high, margin, max(p_above_lower, p_below_upper))


#: the power :func:`resolution` plans with: the usual 80%
POWER = 0.8
#: seeds per side beyond which :func:`resolution` stops counting
MAX_SEEDS = 1000


@dataclass(frozen=True)
class Resolution:
    """What a comparison of two groups of seeds could tell."""

    #: the smallest true difference this run would find significant (two-sided
    #: Welch at alpha) with :data:`POWER`
    detectable: float
    #: seeds per side with which the difference measured now would be told
    #: apart (significant, or inside the margin), if means and spreads stay as
    #: measured, with :data:`POWER`; None: more than :data:`MAX_SEEDS`
    seeds_needed: int | None


def resolution(base_std: float, base_n: int, std: float, n: int, difference: float, margin: float,
               alpha: float) -> Resolution:
    """How finely two groups of seeds (each of two or more) resolve a
    difference, and how many seeds each would need to settle the one measured."""
    t = _t()
    base_var, var = _variance(base_std, base_n), _variance(std, n)
    a, b = base_var / base_n, var / n
    se, df = math.sqrt(a + b), _welch_df(a, b, base_n, n) if a + b > 0 else base_n + n - 2
    detectable = float((t.ppf(1 - alpha / 2, df) + t.ppf(POWER, df)) * se)
    seeds = np.arange(2, MAX_SEEDS + 1)
    a_k, b_k = base_var / seeds, var / seeds
    se_k = np.sqrt(a_k + b_k)
    df_k = _welch_df(a_k, b_k, seeds, seeds) if base_var + var > 0 else 2 * seeds - 2
    beta = t.ppf(POWER, df_k)
    tells_worse = abs(difference) >= (t.ppf(1 - alpha / 2, df_k) + beta) * se_k
    tells_equivalent = margin - abs(difference) >= (t.ppf(1 - alpha, df_k) + beta) * se_k
    settled = np.flatnonzero(tells_worse | tells_equivalent)
    return Resolution(detectable, int(seeds[settled[0]]) if settled.size else None)


def paired(base: Sequence[float], current: Sequence[float], worse_sign: int) -> Difference:
    """Paired t-test of ``current[i] - base[i]`` over seeds run on one machine."""
    diffs = np.asarray(current, dtype=float) - np.asarray(base, dtype=float)
    if len(diffs) == 0:
        raise ValueError("no pairs to compare")
    mean = float(diffs.mean())
    sd = float(diffs.std(ddof=1)) if len(diffs) >= 2 else 0.0
    if sd == 0 or not math.isfinite(sd):
        return _exact(mean, worse_sign, f"paired, {len(diffs)} seed(s), every seed "
                      + ("identical" if mean == 0 else "moved alike"))
    se = sd / math.sqrt(len(diffs))
    t = mean / se
    df = len(diffs) - 1
    low, high = _t_interval(mean, se, df)
    return Difference(mean, low, high, _one_sided_p(t, worse_sign, df),
                      f"paired t={t:.2f}, {len(diffs)} seeds")


def _one_sided_p(t: float, worse_sign: int, df: float) -> float:
    if worse_sign == 0:
        return float(2 * _t().sf(abs(t), df))
    return float(_t().sf(t * worse_sign, df))


@dataclass(frozen=True)
class Ratio:
    """``median(current) / median(base)`` with a bootstrap interval."""

    ratio: float
    low: float
    high: float
    repeats: tuple[int, int]


def ratio_of_medians(base: Sequence[float], current: Sequence[float], *, resamples: int = 10_000,
                     seed: int = 0) -> Ratio:
    """The ratio of medians of two sets of timings (or rates), with a
    percentile-bootstrap interval.

    With as many values on each side, the values are taken as rounds of an
    interleaved run (base and current measured one after the other, round by
    round) and rounds are resampled whole: a round taken while the machine
    was busy slows both sides, and keeping its two values together keeps
    that shared slowness out of the interval. Otherwise each side is
    resampled on its own."""
    base_values, current_values = np.asarray(base, dtype=float), np.asarray(current, dtype=float)
    if len(base_values) == 0 or len(current_values) == 0:
        raise ValueError("a ratio needs at least one value on each side")
    rng = np.random.default_rng(seed)
    if len(base_values) == len(current_values):
        rounds = rng.integers(0, len(base_values), (resamples, len(base_values)))
        base_picks, current_picks = base_values[rounds], current_values[rounds]
    else:
        base_picks = rng.choice(base_values, (resamples, len(base_values)))
        current_picks = rng.choice(current_values, (resamples, len(current_values)))
    ratios = np.median(current_picks, axis=1) / np.median(base_picks, axis=1)
    tail = (1 - CONFIDENCE) / 2
    return Ratio(float(np.median(current_values) / np.median(base_values)),
                 float(np.quantile(ratios, tail)), float(np.quantile(ratios, 1 - tail)),
                 (len(base_values), len(current_values)))


def mean_interval(mean: float, std: float, n: int) -> tuple[float, float] | None:
    """The 95% interval of a mean of ``n`` values with standard deviation
    ``std`` (Student's t); None with fewer than two values."""
    if n < 2 or std is None or not math.isfinite(std):
        return None
    return _t_interval(mean, std / math.sqrt(n), n - 1)
