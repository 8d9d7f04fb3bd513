"""Params of the built-in neuron models, on top of :class:`snnbench.api.NeuronParams`
(threshold, reset, surrogate, slope), which every neuron model takes."""

from __future__ import annotations

from dataclasses import dataclass

from snnbench.api import NeuronParams, param


@dataclass(frozen=True)
class LIFParams(NeuronParams):
    beta: float = param(0.5, "membrane decay per step", gt=0, lt=1)


@dataclass(frozen=True)
class SynapticParams(LIFParams):
    alpha: float = param(0.9, "synaptic current decay per step", gt=0, lt=1)


@dataclass(frozen=True)
class AlphaParams(SynapticParams):
    """snnTorch's Alpha neuron needs alpha > beta (its kernel is a difference of exponentials)."""

    alpha: float = param(0.9, "excitatory current decay per step; must exceed beta", gt=0, lt=1)

    def __post_init__(self):
        if self.alpha <= self.beta:
            raise ValueError("alpha must be larger than beta for the Alpha neuron")


@dataclass(frozen=True)
class ALIFParams(LIFParams):
    adaptation_decay: float = param(0.95, "rho: decay per step of the threshold's adaptation trace", gt=0, lt=1)
    adaptation: float = param(0.5, "how far one spike raises the threshold (threshold + adaptation * trace)", ge=0)
