"""The fused LIF on the CPU: Numba kernels that make one pass over time with
the neurons split across threads, so the whole sequence costs two compiled
calls (forward, backward) instead of several PyTorch ops per timestep.

Neurons are processed in blocks: the inner loop runs over the neurons of a
block at one timestep (contiguous and branch-free, so it vectorises), the
block's state stays in cache across all timesteps, and blocks run on
separate threads. Scalars arrive in the arrays' dtype, so float32 work stays
float32. Dynamics and surrogates are documented in
:mod:`snnbench_plugins.neurons.fused_lif`.
"""

from __future__ import annotations

import math

import numba
import numpy as np

BLOCK = 2048
FAST_SIGMOID, ATAN, SIGMOID = 0, 1, 2


@numba.njit(cache=True, inline="always")
def _surrogate(u, kind, slope):
    if kind == FAST_SIGMOID:
        return 1 / (1 + slope * abs(u)) ** 2
    if kind == ATAN:
        return (slope / 2) / (1 + (np.float32(math.pi / 2) * slope * u) ** 2)
    s = 1 / (1 + math.exp(-slope * u))
    return slope * s * (1 - s)


@numba.njit(parallel=True, cache=True, fastmath=True)
def forward(current, beta, threshold, subtract, spikes, membrane):
    """current [T, N] -> spikes and membrane [T, N], both written in place.

    Zero reset is ``beta * (1 - s) * mem``: with ``keep = 1 - s`` and
    ``drop = s * threshold`` both resets are one expression,
    ``beta * keep * mem + I - drop``, so the inner loop has no branch.
    """
    steps, size = current.shape
    one, zero = current.dtype.type(1), current.dtype.type(0)
    for block in numba.prange((size + BLOCK - 1) // BLOCK):
        start = block * BLOCK
        width = min(size, start + BLOCK) - start
        mem = np.zeros(width, current.dtype)
        keep = np.ones(width, current.dtype)   # 1 - s for zero reset, else 1
        drop = np.zeros(width, current.dtype)  # s * threshold for subtract reset, else 0
        for t in range(steps):
            for i in range(width):
                m = beta * keep[i] * mem[i] + current[t, start + i] - drop[i]
                s = one if m > threshold else zero
                mem[i] = m
                membrane[t, start + i] = m
                spikes[t, start + i] = s
                keep[i] = one if subtract else one - s
                drop[i] = s * threshold if subtract else zero


@numba.njit(parallel=True, cache=True, fastmath=True)
def backward(grad_spikes, membrane, beta, threshold, subtract, kind, slope, grad_current):
    """d loss / d current [T, N] from d loss / d spikes and the saved membrane.

    d mem_t / d current_t = 1 and d mem_{t+1} / d mem_t = beta (subtract) or
    beta (1 - s_t) (zero): the reset is detached, as in snnTorch.
    """
    steps, size = grad_spikes.shape
    zero = grad_spikes.dtype.type(0)
    for block in numba.prange((size + BLOCK - 1) // BLOCK):
        start = block * BLOCK
        width = min(size, start + BLOCK) - start
        carried = np.zeros(width, grad_spikes.dtype)  # beta * d loss / d mem_{t+1}
        for t in range(steps - 1, -1, -1):
            for i in range(width):
                u = membrane[t, start + i] - threshold
                # a spike at t zeroes mem_t's share of mem_{t+1} under zero reset
                through = carried[i] if subtract or u <= zero else zero
                grad_mem = grad_spikes[t, start + i] * _surrogate(u, kind, slope) + through
                grad_current[t, start + i] = grad_mem
                carried[i] = beta * grad_mem
