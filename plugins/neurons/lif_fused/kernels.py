"""The kernels behind ``lif-fused``: one interface, four implementations.

Each backend (:class:`TorchKernels` here, the numba, Triton and
``torch.compile`` ones beside it) computes the LIF recurrences of the
package's docstring on ``[T, N]`` tensors: ``forward`` returns the spikes and
the membrane to save, ``backward`` the gradient of the current from the
spikes' gradient and that membrane. ``kind`` numbers the surrogate
(:data:`SURROGATE_KIND`), since the compiled kernels take no strings.
"""

from __future__ import annotations

from typing import Protocol

import torch

from snnbench.api import surrogate_gradient

SURROGATE_KIND = {"fast_sigmoid": 0, "atan": 1, "sigmoid": 2}
_SURROGATE_NAME = {kind: name for name, kind in SURROGATE_KIND.items()}


class LIFKernels(Protocol):
    """What every ``lif-fused`` backend implements."""

    def forward(self, current: torch.Tensor, beta: float, threshold: float, subtract: bool,
                at_threshold: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """``(spikes, membrane)`` for currents ``[T, N]``; spikes in the current's dtype. A
        neuron fires when its membrane exceeds the threshold, or reaches it with ``at_threshold``."""

    def backward(self, grad_spikes: torch.Tensor, membrane: torch.Tensor, beta: float, threshold: float,
                 subtract: bool, at_threshold: bool, kind: int, slope: float) -> torch.Tensor:
        """The current's gradient ``[T, N]`` in the spikes' gradient's dtype."""


def fired(membrane: torch.Tensor, threshold: float, at_threshold: bool,
          out: torch.Tensor | None = None) -> torch.Tensor:
    """Where ``membrane`` spikes: above the threshold, or at it too with
    ``at_threshold``; written into ``out`` when given, in its dtype."""
    return (torch.ge if at_threshold else torch.gt)(membrane, threshold, out=out)


def surrogate(u: torch.Tensor, kind: int, slope: float) -> torch.Tensor:
    """d spike / d membrane at ``u = membrane - threshold``, for the surrogate numbered ``kind``."""
    return surrogate_gradient(u, _SURROGATE_NAME[kind], slope)


class TorchKernels:
    """The recurrences as a loop over time of in-place PyTorch ops on ``[T, N]``."""

    @staticmethod
    def forward(current, beta, threshold, subtract, at_threshold):
        spikes = torch.empty_like(current)
        membrane = torch.empty(current.shape, device=current.device, dtype=torch.float32)
        mem = torch.zeros_like(membrane[0])
        spiked = torch.zeros_like(mem)
        for t in range(len(current)):
            if subtract:
                mem.mul_(beta).add_(current[t]).sub_(spiked, alpha=threshold)
            else:
                mem.mul_(1.0 - spiked).mul_(beta).add_(current[t])
            fired(mem, threshold, at_threshold, out=spikes[t])
            spiked.copy_(spikes[t])
            membrane[t] = mem
        return spikes, membrane

    @staticmethod
    def backward(grad_spikes, membrane, beta, threshold, subtract, at_threshold, kind, slope):
        grad_current = (grad_spikes * surrogate(membrane - threshold, kind, slope)).to(grad_spikes.dtype)
        decay = beta if subtract else beta * (~fired(membrane, threshold, at_threshold)).to(grad_current.dtype)
        for t in range(len(grad_current) - 2, -1, -1):
            grad_current[t] += (decay if subtract else decay[t]) * grad_current[t + 1]
        return grad_current
