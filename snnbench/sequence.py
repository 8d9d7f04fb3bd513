"""Running stateless layers over whole ``[T, B, ...]`` sequences.

Architectures run layer by layer over the whole sequence, never in a Python
loop over timesteps around the network (DESIGN.md "Speed": 22x). A stateless
layer (conv, linear, pooling, norm, dropout) sees ``[T*B, ...]`` in one call.
When its input is the same at every step (direct coding: an ``expand`` of
one image, stride 0 along time) it runs once and its output is broadcast the
same way, without a copy.
"""

from __future__ import annotations

import torch
from torch import nn


def is_constant_in_time(x: torch.Tensor) -> bool:
    """True for a ``[T, ...]`` tensor that is one slice expanded over T."""
    return x.dim() > 1 and x.shape[0] > 1 and x.stride(0) == 0


class TimeDistributed(nn.Module):
    """Apply a stateless module to every timestep of ``[T, B, ...]`` at once."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = x.shape[0]
        if is_constant_in_time(x):
            y = self.module(x[0])
            return y.unsqueeze(0).expand(steps, *y.shape)
        y = self.module(x.flatten(0, 1))
        return y.unflatten(0, (steps, x.shape[1]))
