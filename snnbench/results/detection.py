"""What a timing comparison could have caught, given the noise it measured.

A "no regression" from ``snnbench compare`` means little without the size
of regression the run could see: on a shared two-core machine six repeats
missed a 15% slowdown that a quiet machine shows plainly. Each timing
verdict therefore comes with :func:`detectable_slowdown`: the smallest
slowdown that rounds as noisy as these would have flagged 9 times in 10.

The gate flags a slowdown when the upper end of the ratio's bootstrap
interval lies below ``1 - tolerance``. A true slowdown ``d`` puts the
measured log ratio near ``log(1 - d)``, and the upper end ``h`` above it,
``h`` being the interval's own upper half-width in this run. The measured
ratio itself scatters around the truth with the standard error of the mean
of the paired log ratios (one per pair of rounds: head / base), ``se``; it
lands low enough 9 times in 10 when

    log(1 - d) + h + z_0.9 * se <= log(1 - tolerance)

so ``d = 1 - (1 - tolerance) * exp(-(h + z_0.9 * se))``. It needs two pairs
of rounds (a spread); ``benchmarks/gate_power.py`` checks it against
slowdowns injected on purpose (docs/regression-power.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: the share of true slowdowns of the reported size that the gate should catch
POWER = 0.9
#: the standard normal quantile of :data:`POWER`
Z_POWER = 1.2815515655446004


def detectable_slowdown(base_pairs: Sequence[float], head_pairs: Sequence[float], ratio: float, high: float,
                        tolerance: float) -> float | None:
    """The smallest slowdown (a share of throughput: 0.2 = 20% slower)
    these rounds would flag 9 times in 10. ``base_pairs`` and ``head_pairs``
    are the rates of each pair of rounds (head and base measured in the same
    pair), ``ratio`` and ``high`` the measured ratio of medians and the
    upper end of its interval. None with fewer than two pairs."""
    n = min(len(base_pairs), len(head_pairs))
    if n < 2 or ratio <= 0 or high <= 0:
        return None
    logs = np.log(np.asarray(head_pairs[:n], dtype=float)) - np.log(np.asarray(base_pairs[:n], dtype=float))
    se = float(np.std(logs, ddof=1)) / math.sqrt(n)
    upper_half_width = max(math.log(high) - math.log(ratio), 0.0)
    return 1 - (1 - tolerance) * math.exp(-(upper_half_width + Z_POWER * se))
