"""The fused LIF through ``torch.compile``: the recurrence written out of
place and unrolled over time, which Inductor fuses into one kernel per
direction (C++ on the CPU, Triton on CUDA), every timestep's tensors kept in
registers. It exists to be measured against the hand-written numba and
Triton kernels on the same layer (``make bench-neurons`` times every backend).

Unrolling is what lets Inductor fuse a sequential recurrence, and also its
cost: compile time grows with T, and each new T, batch shape or parameter
value compiles again (on the 2-core EPYC, 6-30 s a direction at T = 25).
Dynamics and surrogates are documented in :mod:`snnbench_plugins.neurons.lif_fused`.
"""

from __future__ import annotations

import torch
from snnbench_plugins.neurons.lif_fused.kernels import fired, surrogate


@torch.compile
def forward(current, beta: float, threshold: float, subtract: bool, at_threshold: bool):
    """current [T, N] -> spikes and membrane [T, N], in snnTorch's order of operations."""
    mem = torch.zeros_like(current[0], dtype=torch.float32)
    spiked = torch.zeros_like(mem)
    spikes, membrane = [], []
    for t in range(current.shape[0]):
        if subtract:
            mem = beta * mem + current[t] - spiked * threshold
        else:
            mem = beta * (1.0 - spiked) * mem + current[t]
        spiked = fired(mem, threshold, at_threshold).to(mem.dtype)
        spikes.append(spiked)
        membrane.append(mem)
    return torch.stack(spikes).to(current.dtype), torch.stack(membrane)


@torch.compile
def backward(grad_spikes, membrane, beta: float, threshold: float, subtract: bool, at_threshold: bool, kind: int,
             slope: float):
    """d loss / d current [T, N]; the reset is detached, as in snnTorch."""
    direct = grad_spikes * surrogate(membrane - threshold, kind, slope)
    # under zero reset, a spike at t cuts mem_t from mem_{t+1}
    passes = (~fired(membrane, threshold, at_threshold)).to(direct.dtype)
    grads = [direct[-1]]
    for t in range(direct.shape[0] - 2, -1, -1):
        carried = beta * grads[-1]
        grads.append(direct[t] + (carried if subtract else carried * passes[t]))
    return torch.stack(grads[::-1]).to(grad_spikes.dtype)
