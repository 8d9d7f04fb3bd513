"""Running stateless layers over whole ``[T, B, ...]`` sequences.

Architectures run layer by layer over the whole sequence, never in a Python
loop over timesteps around the network (DESIGN.md "Speed": 22x). A stateless
layer (conv, linear, pooling, norm, dropout) sees ``[T*B, ...]`` in one call.
When its input is the same at every step (direct coding: an ``expand`` of
one image, stride 0 along time) it runs once and its output is broadcast the
same way, without a copy. An elementwise layer over time (a neuron) reads
the sequence as ``[T, N]`` in whatever layout each step has in memory
(:func:`flatten_steps`), so channels-last feature maps pass through it
without a transposing copy either way.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def is_constant_in_time(x: torch.Tensor) -> bool:
    """True for a ``[T, ...]`` tensor that is one slice expanded over T."""
    return x.dim() > 1 and x.shape[0] > 1 and x.stride(0) == 0


def repeat_in_time(step: torch.Tensor, steps: int) -> torch.Tensor:
    """``step`` as a ``[T, ...]`` sequence constant in time: an expand (stride
    0, no copy) that keeps a reference to ``step`` for :func:`constant_step`."""
    sequence = step.unsqueeze(0).expand(steps, *step.shape)
    sequence._snnbench_constant_step = step
    return sequence


def constant_step(x: torch.Tensor) -> torch.Tensor:
    """The one step of a sequence :func:`is_constant_in_time` says is constant.

    For a sequence made by :func:`repeat_in_time` this is the step it was made
    from, so the gradient flows into that step directly. ``x[0]`` would give
    the same values, but its backward writes the gradient into a zero-filled
    tensor of the whole ``[T, ...]`` shape and then sums it over T. For the
    CSNN's first layer at T = 25, batch 64 (pooling its conv's output,
    forward and backward) that took 25.7 ms against 1.7 ms on the step
    itself, on two cores; the whole bf16 training step got 1.06x faster
    (docs/speed.md).
    """
    step = getattr(x, "_snnbench_constant_step", None)
    return step if step is not None else x[0]


class TimeDistributed(nn.Module):
    """Apply a stateless module to every timestep of ``[T, B, ...]`` at once."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = x.shape[0]
        if is_constant_in_time(x):
            return repeat_in_time(self.module(constant_step(x)), steps)
        y = self.module(x.flatten(0, 1))
        return y.unflatten(0, (steps, x.shape[1]))


def flatten_steps(x: torch.Tensor) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """``x [T, ...]`` as ``[T, N]`` with each step's elements in their memory
    order, and the function that turns a ``[T, N]`` result back into ``x``'s
    shape with ``x``'s strides.

    For an elementwise-over-time layer the order of the N elements within a
    step is free, so a step stored channels-last is read as it lies: no copy
    in, and the result comes back channels-last, which is what the next
    convolution wants. Only a step that is not one dense block (an
    ``expand`` over time, a slice) is copied.
    """
    inner = sorted(range(1, x.dim()), key=x.stride, reverse=True)
    order = [0, *inner]
    in_memory_order = x.permute(order).contiguous()
    inverse = [order.index(dim) for dim in range(x.dim())]

    def restore(result: torch.Tensor) -> torch.Tensor:
        return result.view(in_memory_order.shape).permute(inverse)

    return in_memory_order.view(len(x), -1), restore
