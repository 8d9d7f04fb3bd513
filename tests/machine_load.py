"""A machine whose other processes use a chosen number of cores, for the
tests of :mod:`snnbench.running.contention`: deterministic, whatever else
the real machine runs meanwhile."""

from __future__ import annotations

import os
import re
import time

from snnbench.running.contention import own_cpu_seconds


class FakeMachine:
    """``/proc/stat`` and ``/proc/loadavg`` of a machine with ``cores`` cores
    on which, besides this process (its real CPU time), other processes use
    ``others_cores`` cores: each read of ``stat`` reports this process's CPU
    time plus ``others_cores`` times the wall time since the machine was made.
    Install it as ``snnbench.running.contention.SOURCE``."""

    def __init__(self, others_cores: float, cores: int = 2):
        self.others_cores, self.cores = others_cores, cores
        self.started = time.monotonic()

    def __call__(self, name: str) -> str:
        if name == "loadavg":
            return f"{self.others_cores + 1:.2f} 1.00 1.00 2/300 4242\n"
        assert name == "stat", name
        tick = os.sysconf("SC_CLK_TCK")
        busy = own_cpu_seconds() + self.others_cores * (time.monotonic() - self.started)
        # user nice system idle iowait irq softirq steal guest guest_nice, in ticks
        total = f"cpu  {round(busy * tick)} 0 0 {10**7} 0 0 0 0 0 0"
        return "\n".join([total, *(f"cpu{i} 0 0 0 0 0 0 0 0 0 0" for i in range(self.cores)),
                          "intr 0", "ctxt 0"]) + "\n"


def others_used(text: str, state: str) -> float:
    """The cores a message of ``text`` says others used, after ``state`` (such
    as ``"BUSY machine"``). Compared approximately by the tests: /proc/stat
    counts in ticks (10 ms), so a timing of a second or two reads 1.5 cores
    as anything from 1.49 to 1.51."""
    match = re.search(re.escape(state) + r": others used (\d+\.\d+)", text)
    assert match, f"no {state!r} with the cores others used in: {text}"
    return float(match.group(1))
