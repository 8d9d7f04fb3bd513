"""A suite's metrics over the commits its rows came from, with their steps.

``snnbench compare`` judges one change; a slow drift, or a regression that
went in unnoticed, shows only across many commits. :func:`load_history`
reads every ok row of a suite (all of them, not only the newest: a store
that ran the suite at each commit with ``--rerun`` holds one set of rows
per commit), and builds one *series* per cell, metric and machine:

- the commit of a row is ``environment.suite_commit`` (the repository the
  suite file lies in, so a project that keeps its suites beside its
  plugins gets its own commits), else ``environment.git_commit``
  (snnbench's); rows with neither are left out, and counted;
- rows of different machines (:data:`snnbench.results.gate.MACHINE_KEYS`
  and the device type) are never mixed in one series: a faster runner is
  not a faster commit;
- commits are in git order (``git rev-list --topo-order``) when the
  repository is at hand and knows every one of them, else in the order
  their first row was written;
- timings measured while the machine was busy (:mod:`snnbench.running.contention`),
  rows made with the test-only slowdown hook, and metrics of an older
  definition are left out, and counted.

:func:`change_points` marks the steps of a series by circular binary
segmentation (Olshen et al., Biostatistics 2004) with a permutation test:
over the rows of a run of commits, the statistic is the largest, over every
stretch of whole commits, of ``|mean(inside) - mean(outside)| *
sqrt(n_inside * n_outside / n)``. A stretch reaching an end of the run is a
single step; one in the middle is a regression and its fix, which a search
for one split alone would miss (both halves of the run have the same
mean). The p-value is the share of random reorderings of the same rows
(999 by default) whose largest statistic is as large. Below ``alpha``
(0.01) a step is marked at each end of the stretch that is not an end of
the run, at the first commit of the new level, and every part between is
searched again. A commit's several rows (seeds, reruns) are what lets a
short history reach significance: four commits of one row each cannot (at
best 2 of the 6 orderings of two slow and two fast rows are as extreme),
four of three rows each can.
"""

from __future__ import annotations

import itertools
import math
import subprocess
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from snnbench.api.errors import SnnbenchError
from snnbench.definition.metric_specs import METRICS, MetricSpec, metric, stale_families
from snnbench.results.gate import MACHINE_KEYS
from snnbench.results.leaderboard import timing_contended

ALPHA = 0.01
PERMUTATIONS = 999
DIRTY = "-dirty"


@dataclass(frozen=True)
class Step:
    """Where a series changes level: the first commit of the new level."""

    commit: str
    #: position of that commit in the series
    index: int
    before: float
    after: float
    p_value: float

    @property
    def ratio(self) -> float:
        return self.after / self.before if self.before else math.inf


@dataclass
class Series:
    """One metric of one cell on one machine, commit by commit."""

    label: str
    metric: str
    machine: str
    commits: list[str]
    #: the values of each commit's rows
    values: list[list[float]]
    steps: list[Step] = field(default_factory=list)

    def medians(self) -> list[float]:
        return [float(np.median(v)) for v in self.values]


@dataclass
class History:
    suite: str
    #: "git" or "time": how the commits are ordered
    order: str
    commits: list[str]
    #: commit -> its subject line (when the repository is at hand)
    subjects: dict[str, str]
    series: list[Series]
    #: rows or values left out, and why
    left_out: dict[str, int]


# -- the change-point test --------------------------------------------------------


def _largest_shift(values: np.ndarray, cuts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``values`` (one ordering of the observations), the
    largest weighted mean shift of a stretch between two of ``cuts`` (the
    positions between commits, with 0 and the end) against the rest, and the
    stretch's two ends."""
    n = values.shape[-1]
    sums = np.concatenate([np.zeros(values.shape[:-1] + (1,)), np.cumsum(values, axis=-1)], axis=-1)[..., cuts]
    first, last = np.triu_indices(len(cuts), 1)
    whole = (first == 0) & (last == len(cuts) - 1)
    first, last = first[~whole], last[~whole]
    inside = cuts[last] - cuts[first]
    inside_sum = sums[..., last] - sums[..., first]
    outside_mean = (sums[..., -1:] - inside_sum) / (n - inside)
    shift = np.abs(inside_sum / inside - outside_mean) * np.sqrt(inside * (n - inside) / n)
    best = shift.argmax(axis=-1)
    return shift.max(axis=-1), np.stack([cuts[first[best]], cuts[last[best]]], axis=-1)


def change_points(groups: Sequence[Sequence[float]], alpha: float = ALPHA, permutations: int = PERMUTATIONS,
                  seed: int = 0) -> list[tuple[int, float]]:
    """The steps of a series given as the values of each commit, in order:
    ``(index of the first commit after the step, p-value)``, sorted by index
    (see the module's docstring for the method)."""
    rng = np.random.default_rng(seed)
    found: list[tuple[int, float]] = []

    def search(first: int, last: int) -> None:  # commits first..last-1
        if last - first < 2:
            return
        chunk = [np.asarray(g, dtype=float) for g in groups[first:last]]
        values = np.concatenate(chunk)
        if np.ptp(values) == 0:
            return
        cuts = np.concatenate([[0], np.cumsum([len(g) for g in chunk])])
        observed, ends = _largest_shift(values, cuts)
        shuffled = rng.permuted(np.broadcast_to(values, (permutations, len(values))), axis=1)
        null, _ = _largest_shift(shuffled, cuts)
        p_value = (1 + int(np.sum(null >= observed - 1e-12 * abs(observed)))) / (permutations + 1)
        if p_value >= alpha:
            return
        splits = [first + int(np.searchsorted(cuts, end)) for end in ends if 0 < end < cuts[-1]]
        found.extend((split, p_value) for split in splits)
        edges = [first, *splits, last]
        for start, stop in itertools.pairwise(edges):
            search(start, stop)

    search(0, len(groups))
    return sorted(found)


# -- reading a store --------------------------------------------------------------


def _row_commit(environment: dict[str, Any]) -> str | None:
    return environment.get("suite_commit") or environment.get("git_commit")


def _machine(row: dict[str, Any]) -> str:
    found = (row.get("environment") or {}).get("machine") or {}
    parts = [row["device_type"], *(str(found.get(key)) for key in MACHINE_KEYS if found.get(key) is not None)]
    return ", ".join(parts)


def _git(repository: Path, *args: str) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(["git", *args], cwd=repository, capture_output=True, text=True, timeout=60,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return None


def _git_order(repository: Path | None, commits: Iterable[str]) -> tuple[dict[str, tuple[int, bool]], dict[str, str]]:
    """Each commit's place in the repository's history (and whether it was a
    dirty tree), and its subject; empty when the repository does not know
    every commit."""
    if repository is None:
        return {}, {}
    listed = _git(repository, "rev-list", "--topo-order", "--reverse", "--all")
    if listed is None or listed.returncode != 0:
        return {}, {}
    position = {sha: i for i, sha in enumerate(listed.stdout.split())}
    places, subjects = {}, {}
    for commit in commits:
        clean = commit.removesuffix(DIRTY)
        resolved = _git(repository, "rev-parse", "--verify", "--quiet", f"{clean}^{{commit}}")
        sha = resolved.stdout.strip() if resolved is not None and resolved.returncode == 0 else ""
        if sha not in position:
            return {}, {}
        places[commit] = (position[sha], commit.endswith(DIRTY))
        subject = _git(repository, "log", "-1", "--format=%s", sha)
        subjects[commit] = subject.stdout.strip() if subject is not None else ""
    return places, subjects


def load_history(rows: Sequence[dict[str, Any]], suite: str, metrics: Sequence[str] | None = None,
                 repository: Path | None = None, include_contended: bool = False, alpha: float = ALPHA,
                 permutations: int = PERMUTATIONS) -> History:
    """The history of ``suite`` in ``rows`` (a store's rows, oldest first)."""
    chosen: list[MetricSpec] = [metric(key) for key in metrics] if metrics else list(METRICS)
    left_out: dict[str, int] = defaultdict(int)
    first_seen: dict[str, int] = {}
    # (label, metric, machine) -> commit -> values
    collected: dict[tuple[str, str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for position, row in enumerate(rows):
        if row["suite"] != suite or row["status"] != "ok":
            continue
        environment = row.get("environment") or {}
        commit = _row_commit(environment)
        if commit is None:
            left_out["rows that record no commit"] += 1
            continue
        if environment.get("injected_slowdown"):
            left_out["rows made with the test-only SNNBENCH_INJECT_SLOWDOWN"] += 1
            continue
        first_seen.setdefault(commit, position)
        stale = set(stale_families(row.get("metric_versions") or {}))
        busy = timing_contended(row["metrics"])
        for m in chosen:
            value = row["metrics"].get(m.key)
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                continue
            if m.family in stale:
                left_out["values of an older metric definition"] += 1
            elif m.is_timing and busy and not include_contended:
                left_out["timings measured while the machine was busy (--include-contended keeps them)"] += 1
            else:
                collected[(row["label"], m.key, _machine(row))][commit].append(float(value))
    if not first_seen:
        raise SnnbenchError(f"suite {suite!r} has no ok row that records its commit: nothing to follow")
    places, subjects = _git_order(repository, first_seen)
    if places:
        order, commits = "git", sorted(first_seen, key=lambda c: places[c])
    else:
        order, commits = "time", sorted(first_seen, key=first_seen.get)
    series = []
    for (label, key, machine), by_commit in sorted(collected.items()):
        present = [c for c in commits if c in by_commit]
        one = Series(label, key, machine, present, [by_commit[c] for c in present])
        one.steps = _steps(one, alpha, permutations)
        series.append(one)
    return History(suite, order, commits, subjects, series, dict(left_out))


def _steps(series: Series, alpha: float, permutations: int) -> list[Step]:
    steps = []
    found = change_points(series.values, alpha, permutations)
    edges = [0, *(index for index, _ in found), len(series.values)]
    for (index, p_value), previous, following in zip(found, edges, edges[2:]):
        before = float(np.mean(np.concatenate(series.values[previous:index])))
        after = float(np.mean(np.concatenate(series.values[index:following])))
        steps.append(Step(series.commits[index], index, before, after, p_value))
    return steps


# -- text ----------------------------------------------------------------------------


def short(commit: str) -> str:
    clean = commit.removesuffix(DIRTY)
    return clean[:12] if "-g" not in clean else clean  # a describe string stays whole


def render(history: History, changed_only: bool = False) -> str:
    """Per cell and machine, one line per commit (each metric's median over
    its rows, ``▲``/``▼`` where a step begins), then the steps in words."""
    from tabulate import tabulate

    lines = [f"history of suite {history.suite}: {len(history.commits)} commit(s) in {history.order} order"
             + ("" if history.order == "git" else " (no repository at hand that knows them all: --repo)")]
    groups: dict[tuple[str, str], list[Series]] = defaultdict(list)
    for one in history.series:
        groups[(one.label, one.machine)].append(one)
    steps_text = []
    for (label, machine), members in groups.items():
        if changed_only and not any(s.steps for s in members):
            continue
        rows = []
        for commit in history.commits:
            cells = []
            for one in members:
                if commit not in one.commits:
                    cells.append("")
                    continue
                index = one.commits.index(commit)
                step = next((s for s in one.steps if s.index == index), None)
                mark = "" if step is None else (" ▲" if step.after > step.before else " ▼")
                cells.append(metric(one.metric).format(one.medians()[index]) + mark)
            if any(cells):
                rows.append([short(commit), history.subjects.get(commit, "")[:40],
                             max(len(one.values[one.commits.index(commit)]) for one in members
                                 if commit in one.commits), *cells])
        lines += ["", f"{label} on {machine}:",
                  tabulate(rows, headers=["commit", "subject", "rows", *(one.metric for one in members)],
                           disable_numparse=True)]
        for one in members:
            for step in one.steps:
                steps_text.append(f"  {label} {one.metric} [{machine}]: step at {short(step.commit)}"
                                  + (f" ({history.subjects[step.commit]})" if history.subjects.get(step.commit)
                                     else "")
                                  + f": mean {metric(one.metric).format(step.before)} -> "
                                    f"{metric(one.metric).format(step.after)} ({step.ratio:.3f}x), "
                                    f"p={step.p_value:.3g}")
    lines += ["", "steps (circular binary segmentation, permutation test; docs/history.md):"] + (
        steps_text or ["  none"])
    if history.left_out:
        lines += ["", "left out: " + "; ".join(f"{count} {why}" for why, count in history.left_out.items())]
    return "\n".join(lines)
