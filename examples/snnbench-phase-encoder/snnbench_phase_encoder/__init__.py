"""Phase coding of static images, as an snnbench plugin.

The idea is from Kim, Park, Na and Yoon, "Deep neural networks with weighted
spikes", Neurocomputing 311 (2018): instead of spending many steps to
approximate an intensity by a firing rate, write it in binary. A pixel
``x`` in [0, 1] is quantised to the integer ``q = round(x * (2**K - 1))``
(``K = 8``: the usual 8-bit intensity, ``round(x * 255)``), and at step ``t``
the pixel spikes if and only if bit ``t mod K`` of ``q`` is set, counting
from the most significant bit. The K-step pattern repeats over the ``T``
steps, so K steps carry the exact 8-bit value where rate coding would need
hundreds of steps for the same precision, and every period presents the
same pattern, unlike a single time-to-first-spike.

In the paper each phase also carries a weight ``2**-(1 + t mod K)`` applied
to the synaptic input, so the network reads the bits as a number. This
encoder emits the plain 0/1 spikes the snnbench encoder contract asks for
(``[T, B, ...]``, binary); the phase weighting is left to the network, which
here has to learn the bit order from timing alone. That is a fair thing to
benchmark: it shows what the code is worth to an unmodified network.

Everything is computed at once over time and batch: the integer codes are
shifted right by ``K - 1 - (t mod K)`` for all ``t`` in one broadcast, so
there is no Python loop over samples, steps or bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from snnbench.api import (
    DatasetInfo,
    EncoderSpec,
    NeuronParams,
    NeuronSpec,
    SpikingLayer,
    flatten_steps,
    hookimpl,
    param,
    spike,
)

__version__ = "0.1.0"
#: the snnbench plugin API this package is written against: an older snnbench refuses it by name
requires_api = "1.0"

#: Codes are computed in float32 (float64 is missing on some accelerators);
#: up to 16 bits its rounding error stays far below half a quantisation level.
MAX_BITS = 16


@dataclass(frozen=True)
class PhaseParams:
    timesteps: int = param(16, "number of time steps T (the K-bit pattern repeats)", ge=1)
    bits: int = param(8, "bits per period K; x is quantised to round(x * (2**K - 1))", ge=1, le=MAX_BITS)


class PhaseEncoder(nn.Module):
    """``[B, ...]`` in [0, 1] to binary spikes ``[T, B, ...]``, most significant bit first."""

    def __init__(self, params: PhaseParams, info: DatasetInfo | None = None):
        super().__init__()
        self.timesteps, self.bits = params.timesteps, params.bits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        levels = (1 << self.bits) - 1
        codes = torch.round(x.detach().float().clamp(0.0, 1.0) * levels).long()
        phase = torch.arange(self.timesteps, device=x.device) % self.bits
        shifts = (self.bits - 1 - phase).view(-1, *([1] * x.dim()))
        spikes = (codes.unsqueeze(0) >> shifts) & 1
        return spikes.to(x.dtype if x.is_floating_point() else torch.float32)


@hookimpl
def register_encoders(register):
    register(EncoderSpec("phase", PhaseParams, PhaseEncoder, frozenset({"static"}),
                         summary="phase coding (Kim et al. 2018): bit (t mod K) of the K-bit pixel, MSB first"))


# --------------------------------------------------------------------------- a neuron model


@dataclass(frozen=True)
class RefractoryLIFParams(NeuronParams):
    """``threshold``, ``reset``, ``surrogate`` and ``slope`` come from
    :class:`snnbench.api.NeuronParams`, which every neuron model takes."""

    beta: float = param(0.5, "membrane decay per step", gt=0, lt=1)
    refractory: int = param(1, "steps after a spike during which the neuron ignores its input", ge=0)


class RefractoryLIF(SpikingLayer):
    """A LIF neuron that, after each spike, ignores its input for ``refractory``
    steps: currents ``[T, B, ...]`` to spikes of the same shape.

    ``mem_t = beta * mem_{t-1} + open_t * I_t``, where ``open_t`` is 0 for the
    ``refractory`` steps after a spike; the spike is
    :func:`snnbench.api.spike` of ``mem_t - threshold``, whose backward pass is
    the params' surrogate gradient. The reset is detached, as snnTorch's is."""

    def __init__(self, params: RefractoryLIFParams, features: tuple[int, ...] = ()):
        super().__init__()
        self.params = params
        self.backend_used = "refractory-lif-torch"

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        params = self.params
        flat, restore = flatten_steps(current)
        mem = torch.zeros_like(flat[0])
        closed = torch.zeros_like(flat[0])  # steps left in each neuron's refractory period
        spikes = []
        for step in flat:
            mem = params.beta * mem + (closed == 0).to(step.dtype) * step
            fired = spike(mem - params.threshold, params.surrogate, params.surrogate_slope)
            reset = fired.detach()
            mem = mem - reset * params.threshold if params.reset == "subtract" else mem * (1 - reset)
            closed = torch.where(reset > 0, torch.full_like(closed, params.refractory), (closed - 1).clamp(min=0))
            spikes.append(fired)
        return restore(torch.stack(spikes))


@hookimpl
def register_neuron_models(register):
    register(NeuronSpec("refractory-lif", RefractoryLIFParams, RefractoryLIF,
                        summary="LIF that ignores its input for `refractory` steps after each spike"))
