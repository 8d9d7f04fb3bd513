"""Params every neuron model shares, so a suite (and an architecture's
overrides such as ``threshold=0.5``) can set them the same way on any model.

All models are written in snnTorch's terms: a membrane ``mem`` that a spike
leaves when it crosses ``threshold``; ``reset`` subtracts the threshold or
sets the membrane to zero; the spike's derivative is replaced by a surrogate.
The surrogates are snnTorch's, with ``u = mem - threshold``:

- ``fast_sigmoid``: 1 / (1 + slope |u|)^2                       (slope 25)
- ``atan``:         (slope / 2) / (1 + (pi/2 slope u)^2)          (slope 2)
- ``sigmoid``:      slope s (1 - s), s = sigmoid(slope u)         (slope 25)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Surrogate = Literal["fast_sigmoid", "atan", "sigmoid"]
DEFAULT_SLOPE = {"fast_sigmoid": 25.0, "atan": 2.0, "sigmoid": 25.0}


@dataclass(frozen=True)
class NeuronParams:
    threshold: float = field(default=1.0, metadata={"help": "firing threshold"})
    reset: Literal["subtract", "zero"] = field(default="subtract", metadata={
        "help": "after a spike: subtract the threshold, or set the membrane to zero"})
    surrogate: Surrogate = field(default="fast_sigmoid", metadata={"help": "surrogate gradient of the spike"})
    slope: float | None = field(default=None, metadata={
        "help": "surrogate sharpness (default: 25 fast_sigmoid/sigmoid, 2 atan)"})

    def __post_init__(self):
        if self.threshold <= 0:
            raise ValueError("threshold must be positive")
        if self.slope is not None and self.slope <= 0:
            raise ValueError("slope must be positive")

    @property
    def surrogate_slope(self) -> float:
        return self.slope if self.slope is not None else DEFAULT_SLOPE[self.surrogate]


def _check_decay(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1")


@dataclass(frozen=True)
class LIFParams(NeuronParams):
    beta: float = field(default=0.5, metadata={"help": "membrane decay per step, in (0, 1)"})

    def __post_init__(self):
        super().__post_init__()
        _check_decay("beta", self.beta)


@dataclass(frozen=True)
class SynapticParams(LIFParams):
    alpha: float = field(default=0.9, metadata={"help": "synaptic current decay per step, in (0, 1)"})

    def __post_init__(self):
        super().__post_init__()
        _check_decay("alpha", self.alpha)


@dataclass(frozen=True)
class AlphaParams(SynapticParams):
    """snnTorch's Alpha neuron needs alpha > beta (its kernel is a difference of exponentials)."""

    alpha: float = field(default=0.9, metadata={"help": "excitatory current decay per step; must exceed beta"})

    def __post_init__(self):
        super().__post_init__()
        if self.alpha <= self.beta:
            raise ValueError("alpha must be larger than beta for the Alpha neuron")


@dataclass(frozen=True)
class ALIFParams(LIFParams):
    adaptation_decay: float = field(default=0.95, metadata={
        "help": "rho: decay per step of the threshold's adaptation trace, in (0, 1)"})
    adaptation: float = field(default=0.5, metadata={
        "help": "how far one spike raises the threshold (threshold + adaptation * trace)"})

    def __post_init__(self):
        super().__post_init__()
        _check_decay("adaptation_decay", self.adaptation_decay)
        if self.adaptation < 0:
            raise ValueError("adaptation must not be negative")
