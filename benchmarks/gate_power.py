"""What ``snnbench compare`` catches: its false-alarm rate and the smallest
slowdown it flags 9 times in 10, measured on this machine.

    python benchmarks/gate_power.py suite csnn-speed --rounds 12 --repeats 2,4,6
    python benchmarks/gate_power.py neurons -k 'lif-fused and N4096' --rounds 12
    python benchmarks/gate_power.py report gate-power.json      # the tables again, other --tolerance

For each condition (A/A: the same code on both sides; A/B: the head slowed
by 10, 20, 30 and 50%), the workload runs as ``snnbench compare`` runs it
(:func:`snnbench.comparison.compare.compare_sides`: the seeds run as
warm-up, then interleaved timed rounds of alternating order, each in a
fresh process), ``--rounds`` timed rounds a side. Both sides run one
snapshot of this working tree, installed once; the head gets the test-only
``SNNBENCH_INJECT_SLOWDOWN`` (:mod:`snnbench.running.injected_slowdown`),
which makes each training step (each neuron step) sleep long enough to
cut its throughput by exactly that share.

Each window of ``R`` consecutive rounds (starting at every pair, so the
base-head / head-base alternation is kept) is one comparison with
``--repeats R``, judged by compare's own rule (:func:`judge_timing`) at each
``--tolerance``. A false alarm is an A/A window in which any timing
regressed (compare would exit 1); a detection is an A/B window in which
any did. Windows overlap, so the independent comparisons behind a rate are
about ``rounds / R``; both counts are printed. Every round's record of
what else the machine did (:mod:`snnbench.running.contention`) is counted:
compare refuses a verdict when the machine was busy, this script judges
anyway and reports how busy it was, since a shared machine is what it
measures the noise of.

The raw rounds go to ``--out`` (JSON), from which ``report`` prints the
tables again without running anything.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snnbench.comparison.checkout import (
    Side,
    install,
    repository_root,
    resolve_commit,
    snapshot,
)
from snnbench.comparison.compare import (
    DEFAULT_TOLERANCES,
    NEURON_RATE,
    CompareOptions,
    compare_sides,
    judge_timing,
)
from snnbench.definition.catalog import suite_path
from snnbench.running.injected_slowdown import VARIABLE
from snnbench.runtime import machine

#: a detection rate counts as "caught" from here on
CAUGHT = 0.9


@dataclass(frozen=True)
class SlowedSide(Side):
    """A side whose processes run with the test-only slowdown set."""

    slowdown: float = 0.0

    def environment(self) -> dict[str, str]:
        environment = {k: v for k, v in super().environment().items() if k != VARIABLE}
        return environment | ({VARIABLE: repr(self.slowdown)} if self.slowdown else {})


def measure(args: argparse.Namespace) -> dict:
    """Run every condition; the raw rounds, per condition, cell and metric."""
    root = repository_root(Path.cwd())
    commit = resolve_commit(root, "HEAD")
    conditions = [0.0, *args.slowdowns]
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="snnbench-gate-power-") as folder:
        workdir = Path(folder)
        source = snapshot(root, workdir / "src")
        site = install("measured", source, workdir / "site")
        suite = None
        if args.workload == "suite":
            suite = suite_path(args.suite).resolve()
            try:
                suite = source / suite.relative_to(root.resolve())
            except ValueError:
                pass  # a suite file outside the repository runs as it is
        run_arguments = ["--data-dir", str(Path(args.data_dir).resolve())] if args.data_dir else []
        run_arguments += ["--limit", str(args.limit)] if args.limit else []
        if args.threads:
            os.environ["OMP_NUM_THREADS"] = str(args.threads)
        runs = []
        for slowdown in conditions:
            sides = [SlowedSide("base", "A", commit, source, site),
                     SlowedSide("head", "A" if slowdown == 0 else f"A slowed {slowdown:.0%}", commit, source, site,
                                slowdown=slowdown)]
            options = CompareOptions(repository=root, base_ref="HEAD", suite=suite, select=args.select,
                                     seeds=(0,) if suite else None, repeats=args.rounds,
                                     run_arguments=tuple(run_arguments), progress=False)
            round_dir = workdir / f"slowdown-{slowdown:g}"
            round_dir.mkdir()
            files = {side.name: suite for side in sides} if suite else None
            print(f"{time.strftime('%H:%M:%S')} slowdown {slowdown:.0%}: {args.rounds} timed rounds a side",
                  file=sys.stderr, flush=True)
            comparison = compare_sides(sides, options, round_dir, files)
            runs.append({
                "slowdown": slowdown,
                "timings": [{"cell": f.cell, "metric": f.metric, "base": f.base, "head": f.head}
                            for f in comparison.timing],
                "timed_rounds": comparison.timed_rounds, "busy_rounds": len(comparison.busy_rounds),
                "paired_changed": [f"{f.cell} {f.metric}: {f.verdict}" for f in comparison.paired
                                   if f.verdict != "identical"],
            })
    return {"workload": args.suite if args.workload == "suite" else f"neurons -k {args.select!r}",
            "command": " ".join(["python", *sys.argv]), "machine": machine(), "cores": os.cpu_count(),
            "threads": args.threads or "all cores", "rounds": args.rounds, "minutes": (time.time() - started) / 60,
            "load_average_end": os.getloadavg(), "runs": runs}


def windows(values: list[float], size: int) -> list[list[float]]:
    """Every run of ``size`` consecutive rounds that starts at a pair (even index)."""
    return [values[start:start + size] for start in range(0, len(values) - size + 1, 2)]


def judged(run: dict, size: int, tolerance: float) -> tuple[list[bool], list[float | None]]:
    """Per window: whether compare would flag any timing, and what it says it
    could have caught (on the training or neuron rate: the all-cells row, or the cell)."""
    flagged, detectable = None, None
    for timing in run["timings"]:
        pairs = zip(windows(timing["base"], size), windows(timing["head"], size))
        findings = [judge_timing(timing["cell"], timing["metric"], b, h, {"rel": tolerance}) for b, h in pairs]
        regressed = [f.regressed for f in findings]
        flagged = regressed if flagged is None else [a or b for a, b in zip(flagged, regressed)]
        if timing["metric"] in ("train_samples_per_s", NEURON_RATE) and (
                detectable is None or timing["cell"].startswith("all ")):
            detectable = [f.detectable for f in findings]
    return flagged or [], detectable or []


def noise(run: dict) -> float | None:
    """The spread (standard deviation) of log(head / base) over pairs of
    rounds of the A/A run, on the rate the slowdown acts on."""
    for timing in sorted(run["timings"], key=lambda t: not t["cell"].startswith("all ")):
        if timing["metric"] in ("train_samples_per_s", NEURON_RATE):
            b, h = (np.asarray(timing[side]) for side in ("base", "head"))
            n = len(b) // 2 * 2
            ratios = np.sqrt(h[:n:2] * h[1:n:2]) / np.sqrt(b[:n:2] * b[1:n:2])
            return float(np.std(np.log(ratios), ddof=1)) if len(ratios) > 1 else None
    return None


def report(measured: dict, repeats: list[int], tolerances: list[float]) -> str:
    runs = {run["slowdown"]: run for run in measured["runs"]}
    slowdowns = sorted(s for s in runs if s > 0)
    busy = sum(r["busy_rounds"] for r in runs.values())
    rounds = sum(r["timed_rounds"] for r in runs.values())
    spread = noise(runs[0.0])
    m = measured["machine"]
    lines = [f"workload: {measured['workload']}; {measured['rounds']} timed rounds a side per condition; "
             f"{m['cpu']} [{m['isa']}], torch threads {measured['threads']}; {measured['minutes']:.0f} min",
             f"machine busy (others used more than the free cores) in {busy} of {rounds} rounds; load average "
             f"at the end {measured['load_average_end'][0]:.1f}; A/A spread of log(head/base) per pair of rounds: "
             + (f"{spread:.3f} (about ±{math.expm1(spread):.0%})" if spread is not None else "n/a"),
             "", "| --repeats | tolerance | A/A false alarms | " + " | ".join(f"caught at -{s:.0%}" for s in slowdowns)
             + " | smallest caught 9 in 10 | compare's 'could catch' (median, A/A) |",
             "|---|---|---|" + "---|" * len(slowdowns) + "---|---|"]
    for size in repeats:
        if size > measured["rounds"]:
            continue
        for tolerance in tolerances:
            alarms, predicted = judged(runs[0.0], size, tolerance)
            cells, smallest = [], None
            for slowdown in slowdowns:
                caught, _ = judged(runs[slowdown], size, tolerance)
                rate = sum(caught) / len(caught)
                cells.append(f"{sum(caught)}/{len(caught)}")
                if smallest is None and rate >= CAUGHT:
                    smallest = slowdown
            known = [p for p in predicted if p is not None]
            lines.append(f"| {size} | {tolerance:.0%} | {sum(alarms)}/{len(alarms)} | " + " | ".join(cells)
                         + f" | {f'{smallest:.0%}' if smallest is not None else f'> {slowdowns[-1]:.0%}'} | "
                         + (f"{np.median(known):.0%}" if known else "–") + " |")
    lines.append(f"\nwindows overlap: each rate rests on about {measured['rounds']} / R independent comparisons")
    changed = [c for r in runs.values() for c in r["paired_changed"]]
    if changed:
        lines.append("deterministic metrics that differed between the sides: " + "; ".join(changed))
    return "\n".join(lines)


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workload", choices=("suite", "neurons", "report"))
    parser.add_argument("suite", nargs="?", help="suite file or built-in name (suite); JSON file (report)")
    parser.add_argument("-k", dest="select", help="neurons: pytest -k expression choosing the benchmarks")
    parser.add_argument("--rounds", type=int, default=12, help="timed rounds a side per condition (even)")
    parser.add_argument("--repeats", type=_ints, default=[2, 4, 6], help="compare --repeats to evaluate")
    parser.add_argument("--slowdowns", type=_floats, default=[0.1, 0.2, 0.3, 0.5])
    parser.add_argument("--tolerance", type=_floats, default=[DEFAULT_TOLERANCES["train_samples_per_s"]["rel"]],
                        help="timing tolerances to judge at, e.g. 0.05,0.1 (default compare's)")
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS of both sides (default: unset, all cores)")
    parser.add_argument("--limit", type=int, help="suite: snnbench run --limit")
    parser.add_argument("--data-dir", default=os.environ.get("SNNBENCH_DATA"))
    parser.add_argument("--out", type=Path, help="write the raw rounds here (JSON)")
    args = parser.parse_args()
    if args.workload == "report":
        measured = json.loads(Path(args.suite).read_text())
    else:
        if args.rounds % 2 or args.rounds < 2:
            parser.error("--rounds must be even (rounds are judged by pairs)")
        if (args.workload == "suite") != bool(args.suite):
            parser.error("give a suite for 'suite' (and none for 'neurons')")
        measured = measure(args)
        if args.out:
            args.out.write_text(json.dumps(measured, indent=1) + "\n")
    print(report(measured, args.repeats, args.tolerance))


if __name__ == "__main__":
    main()
