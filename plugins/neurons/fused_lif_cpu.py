"""The fused LIF on the CPU: Numba kernels that make one pass over time with
the neurons split across threads, so the whole sequence costs two compiled
calls (forward, backward) instead of several PyTorch ops per timestep.

Neurons are processed in blocks: the inner loop runs over the neurons of a
block at one timestep (contiguous, so it vectorises), the block's membrane
stays in cache across all timesteps, and blocks run on separate threads.
Dynamics and surrogates are documented in :mod:`snnbench_plugins.neurons.fused_lif`.
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
        return 1.0 / (1.0 + slope * abs(u)) ** 2
    if kind == ATAN:
        return (slope / 2.0) / (1.0 + (math.pi / 2.0 * slope * u) ** 2)
    s = 1.0 / (1.0 + math.exp(-slope * u))
    return slope * s * (1.0 - s)


@numba.njit(parallel=True, cache=True)
def forward(current, beta, threshold, subtract, spikes, membrane):
    """current [T, N] -> spikes and membrane [T, N], both written in place."""
    steps, size = current.shape
    for block in numba.prange((size + BLOCK - 1) // BLOCK):
        start = block * BLOCK
        stop = min(size, start + BLOCK)
        mem = np.zeros(stop - start, current.dtype)
        spiked = np.zeros(stop - start, current.dtype)
        for t in range(steps):
            for i in range(stop - start):
                if subtract:
                    m = beta * mem[i] + current[t, start + i] - spiked[i] * threshold
                else:
                    m = beta * (1.0 - spiked[i]) * mem[i] + current[t, start + i]
                s = 1.0 if m > threshold else 0.0
                mem[i] = m
                spiked[i] = s
                membrane[t, start + i] = m
                spikes[t, start + i] = s


@numba.njit(parallel=True, cache=True)
def backward(grad_spikes, membrane, beta, threshold, subtract, kind, slope, grad_current):
    """d loss / d current [T, N] from d loss / d spikes and the saved membrane.

    d mem_t / d current_t = 1 and d mem_{t+1} / d mem_t = beta (subtract) or
    beta (1 - s_t) (zero): the reset is detached, as in snnTorch.
    """
    steps, size = grad_spikes.shape
    for block in numba.prange((size + BLOCK - 1) // BLOCK):
        start = block * BLOCK
        stop = min(size, start + BLOCK)
        carried = np.zeros(stop - start, grad_spikes.dtype)  # beta * d loss / d mem_{t+1}
        for t in range(steps - 1, -1, -1):
            for i in range(stop - start):
                u = membrane[t, start + i] - threshold
                grad_mem = grad_spikes[t, start + i] * _surrogate(u, kind, slope)
                if subtract or u <= 0.0:  # a spike at t zeroes mem_t's share of mem_{t+1}
                    grad_mem += carried[i]
                grad_current[t, start + i] = grad_mem
                carried[i] = beta * grad_mem
