"""What every neuron model shares: its params contract and its surrogate gradients.

A suite (and an architecture's overrides such as ``threshold=0.5``) sets
``threshold``, ``reset`` and ``surrogate`` the same way on any model, so a
neuron's params class subclasses :class:`NeuronParams`; registration refuses
a neuron model whose params lack them (a model with no surrogate gradient,
``differentiable=False``, needs only ``threshold``).

Models are written in snnTorch's terms: a membrane ``mem`` that a spike
leaves when it crosses ``threshold``; ``reset`` subtracts the threshold or
sets the membrane to zero; the spike's derivative is replaced by a
surrogate, snnTorch's, of ``u = mem - threshold``:

- ``fast_sigmoid``: 1 / (1 + slope |u|)^2                       (slope 25)
- ``atan``:         (slope / 2) / (1 + (pi/2 slope u)^2)          (slope 2)
- ``sigmoid``:      slope s (1 - s), s = sigmoid(slope u)         (slope 25)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

import torch

from snnbench.api.params import param

Surrogate = Literal["fast_sigmoid", "atan", "sigmoid"]
SURROGATES: tuple[str, ...] = get_args(Surrogate)
DEFAULT_SLOPE = {"fast_sigmoid": 25.0, "atan": 2.0, "sigmoid": 25.0}
#: the params every neuron model takes; a differentiable one all of them
REQUIRED_NEURON_PARAMS = ("threshold", "reset", "surrogate")


@dataclass(frozen=True)
class NeuronParams:
    """The params every neuron model takes; subclass it and add your own fields."""

    threshold: float = param(1.0, "firing threshold", gt=0)
    reset: Literal["subtract", "zero"] = field(default="subtract", metadata={
        "help": "after a spike: subtract the threshold, or set the membrane to zero"})
    surrogate: Surrogate = field(default="fast_sigmoid", metadata={"help": "surrogate gradient of the spike"})
    slope: float | None = param(None, "surrogate sharpness (default: 25 fast_sigmoid/sigmoid, 2 atan)", gt=0)

    @property
    def surrogate_slope(self) -> float:
        return self.slope if self.slope is not None else DEFAULT_SLOPE[self.surrogate]


def fp32_current(current: torch.Tensor) -> torch.Tensor:
    """``current`` widened to fp32 when it comes narrower: under a cell's
    ``precision = "bf16"`` the layers before a neuron hand it bf16. A neuron
    that starts its state from its input's dtype would integrate in bf16's 8
    bits of mantissa and fire differently from the same currents in fp32, so
    a layer whose arithmetic follows its input's dtype widens it first (the
    state of every neuron stays fp32, whatever the precision)."""
    return current.float() if current.dtype in (torch.bfloat16, torch.float16) else current


def surrogate_gradient(u: torch.Tensor, surrogate: Surrogate, slope: float) -> torch.Tensor:
    """d spike / d membrane at ``u = membrane - threshold``."""
    if surrogate == "fast_sigmoid":
        return (1.0 + slope * u.abs()).square().reciprocal()
    if surrogate == "atan":
        return (slope / 2.0) / (1.0 + (torch.pi / 2.0 * slope * u).square())
    sigmoid = torch.sigmoid(slope * u)
    return slope * sigmoid * (1.0 - sigmoid)


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, surrogate, slope):
        ctx.save_for_backward(u)
        ctx.surrogate, ctx.slope = surrogate, slope
        return (u > 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad):
        (u,) = ctx.saved_tensors
        return grad * surrogate_gradient(u, ctx.surrogate, ctx.slope), None, None


def spike(u: torch.Tensor, surrogate: Surrogate = "fast_sigmoid", slope: float | None = None) -> torch.Tensor:
    """Spikes where ``u = membrane - threshold`` is positive, with the surrogate's
    derivative in the backward pass: the one non-differentiable step of a neuron."""
    return _Spike.apply(u, surrogate, DEFAULT_SLOPE[surrogate] if slope is None else slope)
