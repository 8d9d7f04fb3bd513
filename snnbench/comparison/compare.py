"""``snnbench compare``: one workload at a base commit and at the working tree,
on one machine, in one command.

On one machine, with the same seeds, a cell's accuracy, sparsity, encoder
densities and synaptic operations are deterministic, so they are compared
seed by seed (paired): any change is the code's. Timings are not
deterministic, so they are measured in interleaved rounds whose order
alternates (base-head, head-base, ... after a warm-up round) and judged, a
pair of rounds at a time, by the ratio of medians with a bootstrap 95%
interval; a timing regresses only when the whole interval lies below
``1 - tolerance``.

Each side runs its own code and entry points (see :mod:`snnbench.comparison.checkout`)
through its own command line, the interface every commit has, so a base
from before a refactor still runs. Workloads:

- a suite: the base runs its own copy of the suite file, the head the
  working tree's; seeds run once for the paired metrics, then the first
  seed alone for the timing repeats;
- the neuron benchmarks (``benchmarks/test_neuron_speed.py``): forward and
  backward time of each selected neuron, a neuron being the whole workload.

Every timed round is measured for what else the machine did meanwhile
(:mod:`snnbench.running.contention`). When other processes took the CPU
during any round, the timings are not judged: a neighbour's job is not a
regression of the head, and the command exits 2 saying so (the paired
metrics, deterministic on one machine, are judged as always).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import tomllib
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w
from tabulate import tabulate
from tqdm.auto import tqdm

from snnbench.api.errors import SnnbenchError
from snnbench.comparison.checkout import (
    Side,
    check_out,
    has_file,
    install,
    remove_checkout,
    repository_root,
    resolve_commit,
    snapshot,
    tree_changes,
)
from snnbench.definition.metric_specs import METRIC_BY_KEY, METRICS, margin
from snnbench.results.detection import detectable_slowdown
from snnbench.results.leaderboard import Results, latest_results
from snnbench.results.statistics import Difference, Ratio, paired, ratio_of_medians
from snnbench.results.store import ResultStore
from snnbench.running import contention
from snnbench.runtime import machine

NEURON_BENCHMARKS = Path("benchmarks") / "test_neuron_speed.py"
#: timings of the neuron benchmarks: calls (forward + backward) per second
NEURON_RATE = "neuron_calls_per_s"
#: what the paired (deterministic) and timing comparisons fail on by default (each
#: metric's record says its own, the neuron benchmarks' rate is compare's alone);
#: ``--tolerance`` changes them
DEFAULT_TOLERANCES: dict[str, dict[str, float]] = {
    **{m.key: m.compare_tolerance for m in METRICS if m.compare_tolerance},
    NEURON_RATE: {"rel": 0.10},
}
#: values closer than this are the same number written twice
IDENTICAL = 1e-12


@dataclass(frozen=True)
class CompareOptions:
    repository: Path
    base_ref: str
    #: a suite file, or None for the neuron benchmarks
    suite: Path | None = None
    #: pytest ``-k`` expression choosing neuron benchmarks
    select: str | None = None
    #: seeds of the paired comparison (None: the suite's own)
    seeds: tuple[int, ...] | None = None
    #: timed rounds of each side; even, so each side runs first as often as second
    repeats: int = 6
    warmup: int = 1
    tolerances: dict[str, dict[str, float]] = field(default_factory=lambda: dict(DEFAULT_TOLERANCES))
    alpha: float = 0.05
    #: arguments both sides' ``snnbench run`` get (data dir, device, caps)
    run_arguments: tuple[str, ...] = ()
    allow_dirty: bool = False
    keep: Path | None = None
    progress: bool | None = None


@dataclass(frozen=True)
class PairedFinding:
    cell: str
    metric: str
    seeds: list[int]
    base: list[float]
    head: list[float]
    difference: Difference
    allowed: str
    verdict: str
    regressed: bool


@dataclass(frozen=True)
class TimingFinding:
    cell: str
    metric: str
    base: list[float]
    head: list[float]
    ratio: Ratio
    allowed: str
    verdict: str
    regressed: bool
    #: the smallest slowdown these rounds would have flagged 9 times in 10, given their noise
    #: (snnbench.results.detection); None with fewer than two pairs of rounds
    detectable: float | None = None


@dataclass
class Comparison:
    base: dict[str, str]
    head: dict[str, str]
    workload: str
    machine: dict[str, Any]
    repeats: int
    alpha: float
    paired: list[PairedFinding] = field(default_factory=list)
    timing: list[TimingFinding] = field(default_factory=list)
    #: cells that failed (on the head: a regression) or ran on one side only
    notes: list[str] = field(default_factory=list)
    broken_cells: int = 0
    #: timed rounds, and those during which other processes used the machine
    timed_rounds: int = 0
    busy_rounds: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> int:
        return (sum(f.regressed for f in self.paired) + sum(f.regressed for f in self.timing)
                + self.broken_cells)

    def round_timed(self, side: str, what: str, record: dict[str, Any] | None) -> None:
        """Note what the machine did during a timed round (its contention record)."""
        self.timed_rounds += 1
        if record and record["contended"]:
            self.busy_rounds.append(f"{side} {what}: others used {record['others_cores']:.2f} of "
                                    f"{record['cores']} cores")

    @property
    def timing_refused(self) -> str | None:
        """Why the timings got no verdict (the machine was busy), or None."""
        if not self.busy_rounds or not self.timing:
            return None
        return (f"the machine was busy during {len(self.busy_rounds)} of {self.timed_rounds} timed rounds "
                f"({'; '.join(self.busy_rounds[:3])}{'; ...' if len(self.busy_rounds) > 3 else ''}): the "
                "timings get no verdict, since another process's load is not the head's regression; rerun "
                "compare when the machine is quiet (docs/verdicts.md)")

    def to_json(self) -> dict[str, Any]:
        return {"snnbench_compare": 1, "base": self.base, "head": self.head, "workload": self.workload,
                "machine": self.machine, "repeats": self.repeats, "alpha": self.alpha,
                "regressions": self.regressions, "paired": [asdict(f) for f in self.paired],
                "timing": [asdict(f) for f in self.timing], "timing_refused": self.timing_refused,
                "busy_rounds": self.busy_rounds, "timed_rounds": self.timed_rounds, "notes": self.notes}


# -- judging --------------------------------------------------------------------


def judge_paired(cell: str, key: str, seeds: list[int], base: list[float], head: list[float],
                 tolerance: dict[str, float] | None, alpha: float) -> PairedFinding:
    m = METRIC_BY_KEY[key]
    difference = paired(base, head, m.worse_sign)
    identical = all(abs(a - b) <= IDENTICAL for a, b in zip(base, head))
    if tolerance is None:
        return PairedFinding(cell, key, seeds, base, head, difference, "–",
                             "identical" if identical else "changed (not gated)", False)
    allowed_change, allowed = margin(tolerance, float(np.mean(base)))
    worse_by = m.worse_by(difference.difference)
    regressed = not identical and worse_by > allowed_change and difference.significant(alpha)
    if identical:
        verdict = "identical"
    elif regressed:
        verdict = "REGRESSED"
    else:
        direction = "changed" if m.worse_sign == 0 else ("worse" if worse_by > 0 else "better")
        verdict = (f"{direction}, within tolerance" if worse_by <= allowed_change
                   else f"{direction}, not significant (p={difference.p_value:.3g})")
    return PairedFinding(cell, key, seeds, base, head, difference, allowed, verdict, regressed)


def by_pairs_of_rounds(values: list[float]) -> list[float]:
    """One value per pair of rounds: the geometric mean of a side's value when
    it ran first (base-head) and when it ran second (head-base). Measured on
    identical code with a fixed order, the side that ran second was 1.16
    times faster; in a pair each side takes both places, so the place cancels,
    and the bootstrap resamples whole pairs. A round left without its partner
    stands alone."""
    pairs = [math.sqrt(values[i] * values[i + 1]) for i in range(0, len(values) - 1, 2)]
    return pairs + values[len(pairs) * 2:]


def order_of_round(sides: list[Side], measured_round: int) -> list[Side]:
    """Base first in even rounds, head first in odd ones (see :func:`by_pairs_of_rounds`)."""
    return sides if measured_round % 2 == 0 else sides[::-1]


def judge_timing(cell: str, key: str, base: list[float], head: list[float],
                 tolerance: dict[str, float]) -> TimingFinding:
    # a cost (joules a sample) is judged as its reciprocal, a rate, so that a ratio below one is worse
    is_rate = key not in METRIC_BY_KEY or METRIC_BY_KEY[key].higher_is_better  # NEURON_RATE is no metric
    rate = (lambda values: values) if is_rate else (lambda values: [1 / value for value in values])
    base_pairs, head_pairs = by_pairs_of_rounds(rate(base)), by_pairs_of_rounds(rate(head))
    ratio = ratio_of_medians(base_pairs, head_pairs)
    rel = tolerance.get("rel", 0.0)
    regressed = ratio.high < 1 - rel
    verdict = ("REGRESSED" if regressed else ("faster" if is_rate else "better") if ratio.low > 1 + rel
               else "same within noise and tolerance")
    return TimingFinding(cell, key, base, head, ratio, f"-{rel:.0%}", verdict, regressed,
                         detectable_slowdown(base_pairs, head_pairs, ratio.ratio, ratio.high, rel))


# -- running a side -------------------------------------------------------------


class _Runs:
    """Runs commands of either side, counting them on one progress bar."""

    def __init__(self, total: int, workdir: Path, enabled: bool | None):
        self.workdir = workdir
        self.bar = tqdm(total=total, desc="compare", unit="run", disable=not enabled if enabled is not None
                        else None, dynamic_ncols=True)
        #: what the machine did during the last command (snnbench.running.contention)
        self.machine: dict[str, Any] | None = None

    def __call__(self, side: Side, what: str, argv: list[str]) -> subprocess.CompletedProcess:
        self.bar.set_description(f"{side.name}: {what}")
        environment = side.environment()
        threads = int(environment.get("OMP_NUM_THREADS") or 0) or os.cpu_count() or 1
        with contention.measuring(threads) as measured:
            done = subprocess.run(side.command(*argv), cwd=self.workdir, env=environment,
                                  capture_output=True, text=True)
        self.machine = measured.record
        self.bar.update(1)
        if done.returncode not in (0, 1):  # 1: some cells failed, recorded in the store
            last = next((line for line in reversed(done.stderr.strip().splitlines()) if line.strip()),
                        f"exit code {done.returncode}")
            raise SnnbenchError(f"{side.short}: {what} failed: {last}")
        return done

    def close(self) -> None:
        self.bar.close()


def _results(db: Path) -> Results:
    with ResultStore(db, create=False) as store:
        # a base from before a metric family existed has rows the leaderboard calls
        # stale; compare pairs metric by metric, at equal versions only (_pair_cells)
        return latest_results(store.rows(), keep_stale=True)


def _suite_with_seeds(suite: Path, seeds: tuple[int, ...] | None, into: Path) -> Path:
    """A copy of ``suite`` that runs ``seeds`` (None: the first of its own,
    what the timing repeats run). Written as a file, since a base from before
    ``run --seeds`` existed reads suites the same way."""
    try:
        data = tomllib.loads(suite.read_text())
    except (OSError, ValueError) as error:
        raise SnnbenchError(f"{suite}: cannot read it as a suite: {error}") from None
    header = data.setdefault("suite", {})
    header["seeds"] = list(seeds) if seeds is not None else list(header.get("seeds", [0]))[:1]
    into.write_text(tomli_w.dumps(data))
    return into


def _suite_workload(sides: list[Side], suite_files: dict[str, Path], options: CompareOptions, runs: _Runs,
                    comparison: Comparison) -> None:
    stores = {side.name: runs.workdir / f"{side.name}-seeds.db" for side in sides}
    for side in sides:  # the seeds run is also the warm-up round
        suite = suite_files[side.name]
        if options.seeds is not None:
            suite = _suite_with_seeds(suite, options.seeds, runs.workdir / f"{side.name}-seeds.toml")
        runs(side, "all seeds", ["snnbench.cli", "run", str(suite), "--db",
                                 str(stores[side.name]), "--no-progress", *options.run_arguments])
    results = {name: _results(db) for name, db in stores.items()}
    # where the sides really ran (the kernels torch picked in their processes)
    comparison.machine = next(iter(results["head"].machines), comparison.machine)
    versions = {name: {(row["label"], row["seed"]): row.get("metric_versions") or {} for row in r.rows}
                for name, r in results.items()}
    _pair_cells({name: (r.ok.to_dict("records"), r.failed.to_dict("records")) for name, r in results.items()},
                options, comparison, versions)

    first_seed = None if options.seeds is None else options.seeds[:1]
    one_seed = {side.name: _suite_with_seeds(suite_files[side.name], first_seed,
                                             runs.workdir / f"{side.name}-timing.toml") for side in sides}
    timings: dict[str, dict[tuple[str, str], list[float]]] = {side.name: defaultdict(list) for side in sides}
    for repeat in range(options.warmup - 1 + options.repeats):
        for side in order_of_round(sides, repeat - (options.warmup - 1)):
            db = runs.workdir / f"{side.name}-timing-{repeat}.db"
            runs(side, f"timing {repeat + 1}", ["snnbench.cli", "run", str(one_seed[side.name]), "--db", str(db),
                                               "--no-progress", *options.run_arguments])
            if repeat < options.warmup - 1:
                continue
            comparison.round_timed(side.name, f"timing {repeat + 1}", runs.machine)
            for row in _results(db).ok.to_dict("records"):
                for m in METRICS:
                    value = row.get(m.key)
                    if m.is_timing and value is not None and math.isfinite(value):
                        timings[side.name][(row["label"], m.key)].append(float(value))
    _judge_timings(timings, options, comparison, aggregate_label="all cells (geometric mean)")


def _pair_cells(rows: dict[str, tuple[list, list]], options: CompareOptions, comparison: Comparison,
                versions: dict[str, dict[tuple, dict[str, int]]]) -> None:
    (base_ok, base_failed), (head_ok, head_failed) = rows["base"], rows["head"]
    index = lambda records: {(r["label"], r["seed"]): r for r in records}  # noqa: E731
    base, head = index(base_ok), index(head_ok)
    base_broken, head_broken = index(base_failed), index(head_failed)
    for (label, seed), row in sorted(head_broken.items(), key=str):
        if (label, seed) in base:
            comparison.broken_cells += 1
            comparison.notes.append(f"REGRESSED: {label} seed={seed} fails on the head: {row['reason']}")
        else:
            comparison.notes.append(f"{label} seed={seed} fails on the head ({row['reason']}), "
                                    "and did not run on the base either")
    for (label, seed), row in sorted(base_broken.items(), key=str):
        if (label, seed) in head:
            comparison.notes.append(f"{label} seed={seed} fails on the base ({row['reason']}) and runs on the head")
    comparison.notes += [f"{label} seed={seed} runs on the base only (not in the head's suite)"
                         for label, seed in sorted(set(base) - set(head) - set(head_broken), key=str)]
    comparison.notes += [f"{label} seed={seed} is new on the head: nothing to compare with"
                         for label, seed in sorted(set(head) - set(base) - set(base_broken), key=str)]
    common = sorted(set(base) & set(head), key=str)
    if not common and not comparison.broken_cells:
        raise SnnbenchError("the base and the head share no cell that ran: nothing to compare "
                            "(is it the same suite on both sides?)")
    cells = sorted({label for label, _ in common})
    for cell in cells:
        seeds = sorted(seed for label, seed in common if label == cell)
        for m in METRICS:
            if m.is_timing:
                continue
            if m.family == "energy_estimate" and any(
                    base[(cell, s)]["config"].get("energy") != head[(cell, s)]["config"].get("energy") for s in seeds):
                comparison.notes.append(f"{cell}: {m.title} not compared: the sides priced it at other energy tables")
                continue
            pairs = [(base[(cell, s)].get(m.key), head[(cell, s)].get(m.key)) for s in seeds]
            if any(a is None or b is None or not (math.isfinite(a) and math.isfinite(b)) for a, b in pairs):
                continue
            if any(versions["base"][(cell, s)].get(m.family) != versions["head"][(cell, s)].get(m.family)
                   for s in seeds):
                comparison.notes.append(f"{cell}: {m.title} not compared: the sides measure it under different "
                                        "versions of its definition")
                continue
            finding = judge_paired(cell, m.key, seeds, [float(a) for a, _ in pairs], [float(b) for _, b in pairs],
                                   options.tolerances.get(m.key), options.alpha)
            if m.key in options.tolerances or finding.verdict != "identical":
                comparison.paired.append(finding)


def _judge_timings(timings: dict[str, dict[tuple[str, str], list[float]]], options: CompareOptions,
                   comparison: Comparison, aggregate_label: str) -> None:
    base, head = timings["base"], timings["head"]
    shared = sorted(key for key in set(base) & set(head) if base[key] and head[key])
    for cell, key in shared:
        tolerance = options.tolerances.get(key, {"rel": 0.0})
        comparison.timing.append(judge_timing(cell, key, base[cell, key], head[cell, key], tolerance))
    for key in sorted({key for _, key in shared}):
        cells = [cell for cell, k in shared if k == key]
        if len(cells) < 2:
            continue
        # one value per repeat: the geometric mean over the cells every repeat measured
        def per_repeat(side: dict[tuple[str, str], list[float]]) -> list[float]:
            repeats = min(len(side[cell, key]) for cell in cells)
            return [float(np.exp(np.mean([np.log(side[cell, key][r]) for cell in cells]))) for r in range(repeats)]
        comparison.timing.append(judge_timing(aggregate_label, key, per_repeat(base), per_repeat(head),
                                              options.tolerances.get(key, {"rel": 0.0})))
    if comparison.timing_refused:
        comparison.timing = [replace(f, verdict="NOT JUDGED (machine busy)", regressed=False)
                             for f in comparison.timing]


def _neuron_workload(sides: list[Side], options: CompareOptions, runs: _Runs, comparison: Comparison) -> None:
    timings: dict[str, dict[tuple[str, str], list[float]]] = {side.name: defaultdict(list) for side in sides}
    for repeat in range(options.warmup + options.repeats):
        for side in order_of_round(sides, repeat - options.warmup):
            report = runs.workdir / f"{side.name}-neurons-{repeat}.json"
            argv = ["pytest", str(side.source / NEURON_BENCHMARKS), "-q", "-p", "no:cacheprovider",
                    "--rootdir", str(side.source), "-c", str(side.source / "pyproject.toml"),
                    "--benchmark-enable", f"--benchmark-json={report}"]
            if options.select:
                argv += ["-k", options.select]
            done = runs(side, f"neuron benchmarks {repeat + 1}", argv)
            if done.returncode != 0 or not report.exists():
                raise SnnbenchError(f"{side.short}: the neuron benchmarks failed: "
                                    + (done.stdout.strip().splitlines() or ["no output"])[-1])
            if repeat < options.warmup:
                continue
            comparison.round_timed(side.name, f"neuron benchmarks {repeat + 1}", runs.machine)
            for bench in json.loads(report.read_text())["benchmarks"]:
                timings[side.name][(bench["name"], NEURON_RATE)].append(1.0 / bench["stats"]["median"])
                if side.name == "head":  # where the benchmarks really ran (a base from before this has no record)
                    comparison.machine = bench["extra_info"].get("machine", comparison.machine)
    if not timings["base"] or not timings["head"]:
        raise SnnbenchError("no neuron benchmark ran on both sides"
                            + (f" (-k {options.select!r} selects none?)" if options.select else ""))
    _judge_timings(timings, options, comparison, aggregate_label="all neurons (geometric mean)")


# -- the command ------------------------------------------------------------------


@contextmanager
def _sides(options: CompareOptions, base_commit: str, dirty: list[str], workdir: Path) -> Iterator[list[Side]]:
    """Check out and install both sides; remove the checkouts afterwards."""
    root = options.repository
    head_commit = resolve_commit(root, "HEAD")
    checkouts = []
    try:
        base_source = check_out(root, base_commit, workdir / "base-src")
        checkouts.append(base_source)
        if dirty:
            head_source = snapshot(root, workdir / "head-src")
        else:
            head_source = check_out(root, head_commit, workdir / "head-src")
            checkouts.append(head_source)
        sides = [Side("base", options.base_ref, base_commit, base_source, workdir / "base-site"),
                 Side("head", "working tree" if dirty else "HEAD", head_commit, head_source, workdir / "head-site",
                      dirty=bool(dirty))]
        for side in sides:
            install(side.name, side.source, side.site)
        yield sides
    finally:
        for tree in checkouts:
            remove_checkout(root, tree)


def neuron_benchmarks_repository(here: Path) -> Path:
    """The repository whose neuron benchmarks ``--neurons`` compares: the git
    checkout of snnbench that ``here`` lies in. The benchmarks are a file of
    the repository, not of the installed package, and compare runs them at
    two of its commits, so nothing else can stand in for a checkout."""
    needed = (f"--neurons compares snnbench's neuron benchmarks ({NEURON_BENCHMARKS.as_posix()}) at two "
              "commits of the snnbench repository, so it needs a git checkout of snnbench (git clone it, "
              "pip install -e it, and run snnbench compare inside it)")
    try:
        root = repository_root(here)
    except SnnbenchError:
        raise SnnbenchError(f"{needed}; {here} is not inside a git repository") from None
    if not (root / NEURON_BENCHMARKS).is_file():
        raise SnnbenchError(f"{needed}; the repository {root} has no {NEURON_BENCHMARKS.as_posix()}")
    return root


def run_comparison(options: CompareOptions, say: Callable[[str], None] = print) -> Comparison:
    """Check everything that can be wrong before anything runs, then run both
    sides and judge them."""
    root = options.repository
    base_commit = resolve_commit(root, options.base_ref)
    changes = tree_changes(root)
    if changes.tracked and not options.allow_dirty:
        raise SnnbenchError(f"{root} has uncommitted changes ({_some(changes.tracked)}): commit them so the head "
                            "is a commit others can reproduce, or pass --allow-dirty to compare the tree as it is")
    # --allow-dirty compares a copy of the tree, untracked files included; else the head is HEAD without them
    dirty = changes.tracked + changes.untracked if options.allow_dirty else []
    if changes.untracked and not options.allow_dirty:
        say(f"compare: the head is HEAD; left out {len(changes.untracked)} untracked file(s) that no commit "
            f"holds: {_some(changes.untracked)}")
    if options.suite is not None:
        relative = _inside(root, options.suite, base_commit)
        if relative is not None and not has_file(root, base_commit, relative):
            raise SnnbenchError(f"base {options.base_ref} ({base_commit[:12]}) has no {relative}: "
                                "compare a suite both commits have")
    elif not has_file(root, base_commit, NEURON_BENCHMARKS):
        raise SnnbenchError(f"base {options.base_ref} ({base_commit[:12]}) has no {NEURON_BENCHMARKS}")
    with _workdir(options.keep) as workdir, _sides(options, base_commit, dirty, workdir) as sides:
        say(f"compare: {sides[0].short} against {sides[1].short}, {options.repeats} timing repeats each, "
            f"in {workdir}")
        files = None
        if options.suite is not None:
            relative = _inside(root, options.suite, base_commit)
            files = {side.name: (side.source / relative if relative is not None else options.suite.resolve())
                     for side in sides}
        return compare_sides(sides, options, workdir, files)


def compare_sides(sides: list[Side], options: CompareOptions, workdir: Path,
                  suite_files: dict[str, Path] | None) -> Comparison:
    """Run the workload on two sides ready to run (base first) and judge them:
    ``suite_files`` gives each side's suite file, None runs the neuron
    benchmarks. ``benchmarks/gate_power.py`` calls this with two sides of the
    same code, one slowed on purpose, to measure what the gate catches."""
    comparison = Comparison(
        base={"ref": sides[0].ref, "commit": sides[0].commit, "version": sides[0].version},
        head={"ref": sides[1].ref, "commit": sides[1].commit, "version": sides[1].version},
        workload=str(options.suite) if options.suite else f"neuron benchmarks ({options.select or 'all'})",
        machine=machine(), repeats=options.repeats, alpha=options.alpha)
    if suite_files is not None:
        runs = _Runs(2 + 2 * (options.warmup - 1 + options.repeats), workdir, options.progress)
        try:
            _suite_workload(sides, suite_files, options, runs, comparison)
        finally:
            runs.close()
    else:
        runs = _Runs(2 * (options.warmup + options.repeats), workdir, options.progress)
        try:
            _neuron_workload(sides, options, runs, comparison)
        finally:
            runs.close()
    return comparison


def _some(names: list[str], shown: int = 5) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _inside(root: Path, path: Path, base_commit: str) -> Path | None:
    """``path`` relative to the repository, or None for a file outside it
    (which both sides then run as it is). A path through a symbolic link
    (``suites/`` links to ``snnbench/suites/``) is taken as written or as
    resolved, whichever the base commit holds: git knows a file by its own
    path only, and a commit from before the suites moved holds
    ``suites/smoke.toml`` itself, one after it ``snnbench/suites/smoke.toml``."""
    try:
        resolved = path.resolve().relative_to(root.resolve())
    except ValueError:
        return None
    written = next((path.absolute().relative_to(top) for top in (root, root.resolve())
                    if path.absolute().is_relative_to(top)), resolved)
    return resolved if written != resolved and has_file(root, base_commit, resolved) else written


@contextmanager
def _workdir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        if any(keep.iterdir()):
            raise SnnbenchError(f"--keep {keep}: the folder is not empty; give a new or empty one")
        yield keep.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="snnbench-compare-") as folder:
        yield Path(folder)


def render(comparison: Comparison) -> str:
    """The tables a reviewer reads: what changed, what regressed."""
    lines = [f"base {comparison.base['ref']} ({comparison.base['version']}) -> head "
             f"{comparison.head['ref']} ({comparison.head['version']}): {comparison.workload}, on "
             f"{comparison.machine['cpu']} [{comparison.machine['isa']}, {comparison.machine['threads']} threads]"]
    if comparison.paired:
        rows = []
        for f in comparison.paired:
            fmt = METRIC_BY_KEY[f.metric].format
            d = f.difference
            rows.append([f.verdict, f.cell, f.metric, fmt(float(np.mean(f.base))), fmt(float(np.mean(f.head))),
                         f"{d.difference:+.4g} [{d.low:+.4g}, {d.high:+.4g}]", f.allowed, d.test])
        lines += ["", f"paired over seeds (deterministic on one machine; regression = worse beyond tolerance, "
                      f"significant at alpha {comparison.alpha:g}):",
                  tabulate(rows, headers=["", "cell", "metric", "base", "head", "head - base [95% CI]", "tolerance",
                                          "test"], disable_numparse=True)]
    if comparison.timing:
        rows = [[f.verdict, f.cell, f.metric, f"{np.median(f.base):,.4g}", f"{np.median(f.head):,.4g}",
                 f"{f.ratio.ratio:.3f} [{f.ratio.low:.3f}, {f.ratio.high:.3f}]", f.allowed,
                 "–" if f.detectable is None else f"{f.detectable:.0%}",
                 f"{len(f.base)} + {len(f.head)}"] for f in comparison.timing]
        lines += ["", "timings, interleaved rounds of alternating order, judged by pairs of rounds (regression = "
                      "the whole 95% interval of the ratio of medians below 1 - tolerance; could catch = the "
                      "smallest slowdown rounds this noisy flag 9 times in 10):",
                  tabulate(rows, headers=["", "cell", "metric", "base median", "head median",
                                          "head / base [95% CI]", "tolerance", "could catch", "repeats"],
                           disable_numparse=True)]
    lines += [""] + comparison.notes if comparison.notes else []
    return "\n".join(lines)


def detection_summary(comparison: Comparison) -> str | None:
    """What the timings could have caught, for the verdict's line: per timing
    metric, the smallest slowdown flagged 9 times in 10 given the noise of
    these rounds (the all-cells row where there is one, else the least
    sensitive cell). None when nothing was timed."""
    by_metric: dict[str, list[TimingFinding]] = defaultdict(list)
    for finding in comparison.timing:
        by_metric[finding.metric].append(finding)
    parts = []
    for key, findings in by_metric.items():
        aggregate = [f for f in findings if f.cell.startswith("all ")]
        values = [f.detectable for f in aggregate or findings]
        if any(v is None for v in values):
            parts.append(f"{key}: not estimable (fewer than two pairs of rounds: --repeats 4 or more)")
        else:
            parts.append(f"{key} slowdowns of {max(values):.0%} or more")
    if not parts:
        return None
    return ("given the noise of these rounds, they would catch (9 times in 10) " + "; ".join(parts)
            + " (docs/regression-power.md)")


def write_json(comparison: Comparison, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(comparison.to_json(), indent=2, default=float) + "\n")
    except OSError as error:
        raise SnnbenchError(f"cannot write {path}: {error.strerror or error}") from None


def progress_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
