"""The fused LIF on the CPU: Numba kernels that make one pass over time with
the neurons split across threads, so the whole sequence costs two compiled
calls (forward, backward) instead of several PyTorch ops per timestep.

Neurons are processed in blocks: the inner loop runs over one row slice of
a block at one timestep, the block's state stays in cache across all
timesteps, and blocks run on separate threads. Blocks are as large as
leaves every thread four of them, from 2,048 up to 65,536 neurons
(:func:`block_size`): long row slices stream from memory in long runs, and
at T=25, B=64, N=4096 on the 2-core AMD EPYC the kernels took 1.2x less
time at 32,768-65,536 than at the former fixed 2,048. The inner loops index 1-D
row slices, not the 2-D arrays: that alone took the backward from 18 to 7 ms
on one thread (T=25, B*N=262144, AVX2), as LLVM then vectorises it; the
forward, which also recomputes the previous spike instead of keeping it in
arrays, went from 8.5 to 5.4 ms. The ``subtract`` branch is loop-invariant
and LLVM hoists it; the surrogate's ``kind`` is resolved outside the row
loop (one inlined copy of the loop per kind), since with bf16 I/O the loop
grew past what LLVM unswitches and ran unvectorised, 5x slower; the firing rule
(``at_threshold``) is resolved the same way. Scalars
arrive in the state's dtype, so float32 work stays float32; bf16 currents,
spikes and gradients are read and written as their bits
(:mod:`snnbench_plugins.neurons.lif_fused.numba_bf16`), the membrane staying float32. Dynamics and surrogates are documented in
:mod:`snnbench_plugins.neurons.lif_fused`.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from snnbench_plugins.neurons.lif_fused.numba_bf16 import narrow, widen

SMALLEST_BLOCK, LARGEST_BLOCK = 2048, 65536
FAST_SIGMOID, ATAN, SIGMOID = 0, 1, 2


@numba.njit(cache=True, inline="always", fastmath=True)
def _surrogate(u, kind, slope):
    if kind == FAST_SIGMOID:
        d = 1 + slope * abs(u)
        return 1 / (d * d)
    if kind == ATAN:
        v = np.float32(math.pi / 2) * slope * u
        return (slope / 2) / (1 + v * v)
    s = 1 / (1 + math.exp(-slope * u))
    return slope * s * (1 - s)


def block_size(neurons: int) -> int:
    """Neurons per block for a layer of ``neurons`` (module docstring): a
    multiple of 64, so each row slice starts on a cache line."""
    per_thread = neurons // (4 * numba.get_num_threads())
    return min(LARGEST_BLOCK, max(SMALLEST_BLOCK, per_thread // 64 * 64))


@numba.njit(parallel=True, cache=True)
def forward(current, beta, threshold, subtract, at_threshold, spikes, membrane, block_neurons):
    """current [T, N] -> spikes and membrane [T, N], both written in place
    (current and spikes float, or both bf16 bits; membrane float). A neuron
    fires when its membrane exceeds the threshold, or reaches it with
    ``at_threshold``.

    The previous spike is recomputed from the previous membrane rather than
    stored. No fastmath here: the update is evaluated in snnTorch's order
    with IEEE rounding (no fused multiply-add), so a membrane that lands
    exactly on the threshold spikes as it does in snnTorch.
    """
    steps, size = current.shape
    for block in numba.prange((size + block_neurons - 1) // block_neurons):
        start = block * block_neurons
        stop = min(size, start + block_neurons)
        mem = np.zeros(stop - start, membrane.dtype)
        for t in range(steps):
            current_t, membrane_t, spikes_t = current[t, start:stop], membrane[t, start:stop], spikes[t, start:stop]
            # each call inlines with its rule a constant, so every row loop is branch-free
            if at_threshold:
                _forward_row(current_t, membrane_t, spikes_t, mem, beta, threshold, subtract, True)
            else:
                _forward_row(current_t, membrane_t, spikes_t, mem, beta, threshold, subtract, False)


@numba.njit(cache=True, inline="always")
def _fires(m, threshold, at_threshold):
    return m >= threshold if at_threshold else m > threshold


@numba.njit(cache=True, inline="always")
def _forward_row(current_t, membrane_t, spikes_t, mem, beta, threshold, subtract, at_threshold):
    zero = mem.dtype.type(0)
    spike, no_spike = narrow(mem.dtype.type(1), spikes_t), narrow(zero, spikes_t)
    for i in range(len(mem)):
        m = mem[i]
        if subtract:
            m = beta * m + widen(current_t[i]) - (threshold if _fires(m, threshold, at_threshold) else zero)
        else:
            m = (zero if _fires(m, threshold, at_threshold) else beta * m) + widen(current_t[i])
        mem[i] = m
        membrane_t[i] = m
        spikes_t[i] = spike if _fires(m, threshold, at_threshold) else no_spike


@numba.njit(parallel=True, cache=True, fastmath=True)
def backward(grad_spikes, membrane, beta, threshold, subtract, at_threshold, kind, slope, grad_current,
             block_neurons):
    """d loss / d current [T, N] from d loss / d spikes and the saved membrane.

    d mem_t / d current_t = 1 and d mem_{t+1} / d mem_t = beta (subtract) or
    beta (1 - s_t) (zero): the reset is detached, as in snnTorch.
    """
    steps, size = grad_spikes.shape
    for block in numba.prange((size + block_neurons - 1) // block_neurons):
        start = block * block_neurons
        stop = min(size, start + block_neurons)
        carried = np.zeros(stop - start, membrane.dtype)  # beta * d loss / d mem_{t+1}
        for t in range(steps - 1, -1, -1):
            g_t, m_t, gc_t = grad_spikes[t, start:stop], membrane[t, start:stop], grad_current[t, start:stop]
            # each call inlines with its rule and kind constants, so every row loop is branch-free
            if at_threshold:
                _backward_step(g_t, m_t, gc_t, carried, beta, threshold, subtract, True, kind, slope)
            else:
                _backward_step(g_t, m_t, gc_t, carried, beta, threshold, subtract, False, kind, slope)


@numba.njit(cache=True, inline="always", fastmath=True)
def _backward_step(grad_spikes_t, membrane_t, grad_current_t, carried, beta, threshold, subtract, at_threshold,
                   kind, slope):
    if kind == FAST_SIGMOID:
        _backward_row(grad_spikes_t, membrane_t, grad_current_t, carried, beta, threshold, subtract, at_threshold,
                      FAST_SIGMOID, slope)
    elif kind == ATAN:
        _backward_row(grad_spikes_t, membrane_t, grad_current_t, carried, beta, threshold, subtract, at_threshold,
                      ATAN, slope)
    else:
        _backward_row(grad_spikes_t, membrane_t, grad_current_t, carried, beta, threshold, subtract, at_threshold,
                      SIGMOID, slope)


@numba.njit(cache=True, inline="always", fastmath=True)
def _backward_row(grad_spikes_t, membrane_t, grad_current_t, carried, beta, threshold, subtract, at_threshold,
                  kind, slope):
    zero = membrane_t.dtype.type(0)
    for i in range(len(carried)):
        m = membrane_t[i]
        # a spike at t zeroes mem_t's share of mem_{t+1} under zero reset
        through = carried[i] if subtract or not _fires(m, threshold, at_threshold) else zero
        grad_mem = widen(grad_spikes_t[i]) * _surrogate(m - threshold, kind, slope) + through
        grad_current_t[i] = narrow(grad_mem, grad_current_t)
        carried[i] = beta * grad_mem
