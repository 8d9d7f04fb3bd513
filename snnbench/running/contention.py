"""What the machine was doing while something was timed.

A throughput says something about the code only when the code had the
machine: on a shared host a cell that ran beside another job trained at a
tenth of its usual rate, and an A/B of two commits "found" a regression that
was the neighbour's. So every timed thing (a cell, a round of ``snnbench
compare``) is measured inside :func:`measuring`, which reads, at its start
and end, the CPU time the whole machine spent busy and stolen
(``/proc/stat``), the load average (``/proc/loadavg``) and this process's
own CPU time (its threads and its finished children, ``getrusage``). What the
machine spent beyond this process was spent by others.

The rule (:func:`is_contended`): a timing is *contended* when the cores that
other processes used, plus the CPU time the hypervisor stole, averaged over
the timed span, exceed the cores this process left free (``cores - threads``,
never below 0) by more than :data:`SLACK_CORES`. A job that asks for every
core is slowed by any neighbour; one that runs on one thread of sixteen
cores is not. The load average is recorded for the reader but not judged:
it lags (a one-minute mean) and counts this process's own threads.

Off Linux (no ``/proc``) nothing is measured and the record is None: such a
timing is not known to be contended.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: cores other processes may use beyond those left free before a timing counts as contended
SLACK_CORES = 0.25


def read_proc(name: str) -> str:
    """The text of ``/proc/<name>``."""
    return (Path("/proc") / name).read_text()


#: where :func:`measuring` reads ``stat`` and ``loadavg`` from (tests put a fake machine here)
SOURCE: Callable[[str], str] = read_proc


def own_cpu_seconds() -> float:
    """CPU seconds of this process's threads and of its children that have
    ended (a ``snnbench compare`` round runs as a child)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


@dataclass(frozen=True)
class Sample:
    """The machine's counters at one moment."""

    wall: float
    #: CPU seconds all cores spent on anything but idling and waiting for I/O
    busy: float
    #: CPU seconds the hypervisor ran other guests on this machine's cores
    stolen: float
    own: float
    load: float
    cores: int


def sample(source: Callable[[str], str]) -> Sample:
    """Read the counters now (``/proc/stat``'s ``cpu`` lines, ``/proc/loadavg``)."""
    lines = source("stat").splitlines()
    fields = [int(x) for x in next(line for line in lines if line.startswith("cpu ")).split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    tick = os.sysconf("SC_CLK_TCK")
    cores = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    return Sample(wall=time.monotonic(), busy=(user + nice + system + irq + softirq) / tick, stolen=steal / tick,
                  own=own_cpu_seconds(), load=float(source("loadavg").split()[0]), cores=cores)


def is_contended(others_cores: float, cores: int, threads: int) -> bool:
    """The rule of this module's docstring."""
    return others_cores > max(0, cores - threads) + SLACK_CORES


def record(start: Sample, end: Sample, threads: int) -> dict[str, Any]:
    """What the machine did between two samples, as a row stores it."""
    wall = max(end.wall - start.wall, 1e-9)
    own = end.own - start.own
    stolen = max(end.stolen - start.stolen, 0.0)
    others = max(end.busy - start.busy - own, 0.0)
    others_cores = (others + stolen) / wall
    return {"wall_s": wall, "own_cpu_s": own, "others_cpu_s": others, "stolen_cpu_s": stolen,
            "others_cores": others_cores, "cores": end.cores, "threads": threads,
            "load_start": start.load, "load_end": end.load,
            "contended": is_contended(others_cores, end.cores, threads)}


class Measurement:
    """Filled in when :func:`measuring` ends: ``record`` (None where nothing could be read)."""

    record: dict[str, Any] | None = None


@contextmanager
def measuring(threads: int) -> Iterator[Measurement]:
    """Measure what the machine does while the block runs, for a job of
    ``threads`` threads; the record is set even when the block raises."""
    measurement = Measurement()
    source = SOURCE
    try:
        start = sample(source)
    except (OSError, ValueError, StopIteration):  # no /proc here, or one of another layout
        yield measurement
        return
    try:
        yield measurement
    finally:
        try:
            measurement.record = record(start, sample(source), threads)
        except (OSError, ValueError, StopIteration):
            pass


def describe(contention: dict[str, Any] | None) -> str:
    """A contended record in words, for a finished cell's line; empty otherwise."""
    if not contention or not contention.get("contended"):
        return ""
    return (f"BUSY machine: others used {contention['others_cores']:.2f} of {contention['cores']} cores "
            "(timings left out of means)")
