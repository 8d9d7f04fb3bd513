"""The fused LIF on CUDA: one Triton program per block of neurons walks all
timesteps with the membrane in registers, so each of the five ``[T, N]``
tensors (current and spikes forward, membrane saved for backward, incoming
and outgoing gradient) crosses memory exactly once: the bandwidth floor.
Dynamics and surrogates are documented in :mod:`snnbench_plugins.neurons.lif_fused`.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

BLOCK = 1024


@triton.jit
def _forward_kernel(current, spikes, membrane, steps, size, beta, threshold,
                    SUBTRACT: tl.constexpr, AT_THRESHOLD: tl.constexpr, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = offsets < size
    mem = tl.zeros([BLOCK], dtype=tl.float32)
    spiked = tl.zeros([BLOCK], dtype=tl.float32)
    for t in range(steps):
        x = tl.load(current + t * size + offsets, mask=inside, other=0.0).to(tl.float32)
        if SUBTRACT:
            mem = beta * mem + x - spiked * threshold
        else:
            mem = beta * (1.0 - spiked) * mem + x
        if AT_THRESHOLD:
            spiked = tl.where(mem >= threshold, 1.0, 0.0)
        else:
            spiked = tl.where(mem > threshold, 1.0, 0.0)
        tl.store(membrane + t * size + offsets, mem, mask=inside)
        tl.store(spikes + t * size + offsets, spiked.to(spikes.dtype.element_ty), mask=inside)


@triton.jit
def _backward_kernel(grad_spikes, membrane, grad_current, steps, size, beta, threshold, slope,
                     SUBTRACT: tl.constexpr, AT_THRESHOLD: tl.constexpr, KIND: tl.constexpr, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = offsets < size
    carried = tl.zeros([BLOCK], dtype=tl.float32)
    for step in range(steps):
        t = steps - 1 - step
        u = tl.load(membrane + t * size + offsets, mask=inside, other=0.0) - threshold
        if KIND == 0:  # fast sigmoid
            denominator = 1.0 + slope * tl.abs(u)
            surrogate = 1.0 / (denominator * denominator)
        elif KIND == 1:  # arctan
            scaled = 1.5707963267948966 * slope * u
            surrogate = 0.5 * slope / (1.0 + scaled * scaled)
        else:  # sigmoid
            s = tl.sigmoid(slope * u)
            surrogate = slope * s * (1.0 - s)
        grad = tl.load(grad_spikes + t * size + offsets, mask=inside, other=0.0).to(tl.float32)
        if SUBTRACT:
            grad_mem = grad * surrogate + carried
        elif AT_THRESHOLD:  # a spike at t zeroes mem_t's share of mem_{t+1}
            grad_mem = grad * surrogate + tl.where(u >= 0.0, 0.0, carried)
        else:
            grad_mem = grad * surrogate + tl.where(u > 0.0, 0.0, carried)
        tl.store(grad_current + t * size + offsets, grad_mem.to(grad_current.dtype.element_ty), mask=inside)
        carried = beta * grad_mem


def forward(current: torch.Tensor, beta: float, threshold: float, subtract: bool, at_threshold: bool):
    steps, size = current.shape
    spikes = torch.empty_like(current)
    membrane = torch.empty(current.shape, device=current.device, dtype=torch.float32)
    # no multiply-add fusion: beta * mem + I rounds twice, as in snnTorch's separate
    # PyTorch ops, so a membrane within one rounding of the threshold spikes as there
    _forward_kernel[(triton.cdiv(size, BLOCK),)](current, spikes, membrane, steps, size, beta, threshold,
                                                 SUBTRACT=subtract, AT_THRESHOLD=at_threshold, BLOCK=BLOCK,
                                                 enable_fp_fusion=False)
    return spikes, membrane


def backward(grad_spikes: torch.Tensor, membrane: torch.Tensor, beta: float, threshold: float,
             subtract: bool, at_threshold: bool, kind: int, slope: float) -> torch.Tensor:
    steps, size = grad_spikes.shape
    grad_current = torch.empty_like(grad_spikes)
    _backward_kernel[(triton.cdiv(size, BLOCK),)](grad_spikes, membrane, grad_current, steps, size, beta,
                                                  threshold, slope, SUBTRACT=subtract, AT_THRESHOLD=at_threshold,
                                                  KIND=kind, BLOCK=BLOCK)
    return grad_current
