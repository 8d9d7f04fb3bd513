"""What a leaderboard row may claim against the best row, and what a suite's
results may claim at all (docs/verdicts.md).

A row compared with the best gets one of four answers, never a vague "not
significantly different":

- ``equivalent`` (``≈ best``): the difference's ``1 - 2 alpha`` interval
  lies inside the metric's equivalence margin (two one-sided Welch tests,
  TOST), so it is known to be small;
- ``worse``: significantly worse (Welch's t-test, two-sided, alpha);
- ``cannot_tell``: neither; the row says the smallest difference these
  seeds could detect and how many seeds would settle the one measured;
- ``at_chance``: some run of the row learnt nothing (its accuracy is no
  better than always guessing one class), so its mean mixes models that
  learnt with ones that did not, and it is compared with nothing.

The best row is the first in the sort order with none of its runs at chance.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import pandas as pd

from snnbench.definition.metric_specs import MetricSpec, margin
from snnbench.results.statistics import equivalence, resolution, welch

BEST, EQUIVALENT, WORSE, CANNOT_TELL, AT_CHANCE = "best", "equivalent", "worse", "cannot_tell", "at_chance"
#: the share of a suite's ok cells at chance above which a run's results are
#: called too short for conclusions
MOSTLY = 0.5


@dataclass(frozen=True)
class Verdict:
    """A row against the best, on the table's sort metric (``difference`` = row - best)."""

    kind: str
    difference: float | None = None
    #: the ``1 - 2 alpha`` interval of the difference (the one TOST checks against the margin)
    low: float | None = None
    high: float | None = None
    margin: float | None = None
    #: two-sided Welch p-value of the difference
    p_value: float | None = None
    #: cannot_tell: the smallest difference these seeds detect (80% power)
    detectable: float | None = None
    #: cannot_tell: seeds per side that would settle the difference measured, if
    #: means and spreads stay as they are (None: more than a thousand, or unknown)
    seeds_needed: int | None = None
    #: cannot_tell: why not, in words
    reason: str | None = None
    #: at_chance: runs at chance, of ``runs``
    at_chance_runs: int = 0
    runs: int = 0

    def mark(self, m: MetricSpec) -> str:
        """The verdict in the table's "vs best" column."""
        if self.kind == CANNOT_TELL:
            if self.reason:
                return f"? ({self.reason})"
            seeds = f"~{self.seeds_needed} seeds each" if self.seeds_needed else "> 1000 seeds each"
            return f"? (could detect ≥ {m.format(self.detectable)}; {seeds})"
        if self.kind == AT_CHANCE:
            return f"AT CHANCE ({self.at_chance_runs} of {self.runs})"
        return {BEST: "best", EQUIVALENT: "≈ best", WORSE: "worse"}[self.kind]

    def to_json(self) -> dict[str, Any]:
        return {key: (None if isinstance(value, float) and not math.isfinite(value) else value)
                for key, value in asdict(self).items()}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def versus_best(table: pd.DataFrame, sort: MetricSpec, alpha: float,
                margins: Mapping[str, dict[str, float]] | None = None) -> list[Verdict | None]:
    """The verdict of each row of ``table`` (sorted best first on ``sort``,
    :func:`snnbench.results.leaderboard.aggregate`'s columns); None where a
    row has no value. ``margins`` overrides metrics' equivalence margins."""
    means, stds, counts = (table[f"{sort.key}_{s}"].tolist() for s in ("mean", "std", "n"))
    chance_runs, runs = table["at_chance"].astype(int).tolist(), table["n"].astype(int).tolist()
    best = next((i for i, mean in enumerate(means) if not _missing(mean) and chance_runs[i] == 0), None)
    tolerance = (margins or {}).get(sort.key, sort.equivalence_margin)
    verdicts: list[Verdict | None] = []
    for i, mean in enumerate(means):
        if _missing(mean):
            verdicts.append(None)
        elif chance_runs[i]:
            verdicts.append(Verdict(AT_CHANCE, at_chance_runs=chance_runs[i], runs=runs[i]))
        elif i == best:
            verdicts.append(Verdict(BEST, runs=runs[i]))
        else:
            allowed, _ = margin(tolerance, means[best])
            verdict = against(means[best], stds[best], int(counts[best]), mean, stds[i], int(counts[i]), allowed,
                              alpha)
            verdicts.append(replace(verdict, runs=runs[i]))
    return verdicts


def against(best_mean: float, best_std: float, best_n: int, mean: float, std: float, n: int, allowed: float,
            alpha: float) -> Verdict:
    """``mean`` (of ``n`` seeds) against ``best_mean``: equivalent within
    ``±allowed``, worse, or cannot tell (see the module's docstring)."""
    difference = mean - best_mean
    if best_n < 2 or n < 2:
        return Verdict(CANNOT_TELL, difference, margin=allowed, reason=f"{min(best_n, n)} seed: an interval "
                       "needs two or more on each side")
    tost = equivalence(best_mean, best_std, best_n, mean, std, n, allowed, alpha)
    worse = welch(best_mean, best_std, best_n, mean, std, n, worse_sign=0)
    found = {"difference": difference, "low": tost.low, "high": tost.high, "margin": allowed,
             "p_value": worse.p_value}
    if tost.equivalent(alpha):
        return Verdict(EQUIVALENT, **found)
    if worse.significant(alpha):
        return Verdict(WORSE, **found)
    plan = resolution(best_std, best_n, std, n, difference, allowed, alpha)
    return Verdict(CANNOT_TELL, **found, detectable=plan.detectable, seeds_needed=plan.seeds_needed)


def significance_note(verdicts: Sequence[Verdict | None], sort: MetricSpec, alpha: float,
                      margins: Mapping[str, dict[str, float]] | None = None) -> str | None:
    """The lines under a table that say what its marks mean (None for a table of one row)."""
    if len(verdicts) < 2:
        return None
    kinds = {v.kind for v in verdicts if v is not None}
    tolerance = (margins or {}).get(sort.key, sort.equivalence_margin)
    allowed = sort.format(tolerance["abs"]) if "abs" in tolerance else f"{tolerance['rel']:.0%} of the best"
    lines = [f"vs best, on {sort.title} (docs/verdicts.md):",
             (f"  ≈ best: equivalent, the {1 - 2 * alpha:.0%} interval of the difference lies within ±{allowed} "
              f"(two one-sided Welch tests, α = {alpha:g}; --margin {sort.key}=abs:X or rel:X changes the margin)"),
             f"  worse: significantly worse (Welch's t-test, two-sided, α = {alpha:g})"]
    if CANNOT_TELL in kinds:
        lines.append("  ?: cannot tell with these seeds: the smallest difference they would detect (80% power) "
                     "and the seeds each side would need to settle the one measured")
    if AT_CHANCE in kinds:
        lines.append("  AT CHANCE: a run learnt nothing (accuracy no better than always guessing one class); "
                     "never compared")
    if not kinds & {EQUIVALENT, WORSE}:
        lines.append("No row could be told apart from the best: run more seeds (e.g. --seeds 0-4).")
    return "\n".join(lines)


def chance_warning(at_chance: Iterable[bool]) -> str | None:
    """The warning for a suite whose ok cells are mostly at chance: its table
    ranks models that learnt nothing, so it supports no conclusion."""
    flags = list(at_chance)
    stuck = sum(flags)
    if not flags or stuck <= MOSTLY * len(flags):
        return None
    return (f"training too short for conclusions: {stuck} of {len(flags)} cells at chance (their accuracy is "
            "no better than always guessing one class); train longer (more epochs or samples) before "
            "comparing them")
