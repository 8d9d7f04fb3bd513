"""A slowdown of known size, for measuring what ``snnbench compare`` can catch.

TEST-ONLY. ``SNNBENCH_INJECT_SLOWDOWN=0.2`` makes every training step (and
every step of the neuron benchmarks) sleep for a share of the time the step
took, so that the work's throughput falls to ``1 - 0.2`` of what it would
have been: a regression of exactly 20% on a quiet machine.
``benchmarks/gate_power.py`` sets it on the head side of its A/B rounds to
measure the smallest slowdown the gate catches 9 times in 10
(docs/regression-power.md). Nothing else sets it, and a results row made
with it set says so (``environment.injected_slowdown``), so such a row is
never taken for a real measurement.

On a busy machine the share is not exact, and a sleep errs on the side of
hiding the slowdown: a process that sleeps is owed CPU time by the scheduler
and gets it on waking, so the rest of its step runs faster (measured on the
shared 2-core machine, 0.5 injected on the smoke suite's first cell: 275
against 265 samples/s in one pair of runs, 317 against 131 in the next).
Power measured there is therefore a lower bound. A busy wait instead of the
sleep erred the other way (0.5 injected cut the rate to 0.2-0.29: torch's
worker threads, idle during the wait, had to be woken for every step), and
a gate's power should not be overstated.
"""

from __future__ import annotations

import os
import time

from snnbench.api.errors import SnnbenchError

VARIABLE = "SNNBENCH_INJECT_SLOWDOWN"


def injected_slowdown() -> float:
    """The share of throughput to take away (0 when the variable is unset)."""
    text = os.environ.get(VARIABLE, "").strip()
    if not text:
        return 0.0
    try:
        share = float(text)
    except ValueError:
        share = float("nan")
    if not 0 <= share < 1:
        raise SnnbenchError(f"{VARIABLE}={text!r}: give the share of throughput to take away, a number in "
                            "[0, 1) such as 0.2 (a test-only hook: benchmarks/gate_power.py sets it)")
    return share


class Slowdown:
    """Sleeps after each step long enough that the step's rate becomes
    ``1 - share`` of its measured one."""

    def __init__(self, share: float | None = None):
        self.share = injected_slowdown() if share is None else share

    def __bool__(self) -> bool:
        return self.share > 0

    def after_step(self, step_seconds: float) -> None:
        """Call with the wall time the step took (device work synchronised)."""
        if self.share > 0:
            time.sleep(step_seconds * self.share / (1 - self.share))
