"""What the R-STDP family's parts promise each other.

The STDP rule trains any network that is a :class:`PlasticNetwork`, and the
Mozafari network builds its layers from any neuron that is a
:class:`RecordingNeuron`; each checks the other against these declarations
(``isinstance``) and says what is missing, instead of reaching for
attributes a class happens to have.

Spike times are ``[B, C, H, W]`` tensors of each neuron's firing step, ``T``
meaning it never fired: a layer whose neurons fire at most once is fully
described by them.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from snnbench_plugins.rstdp.competition import Competition


@runtime_checkable
class RecordingNeuron(Protocol):
    """A neuron layer that fires at most once per sample and, while ``record``
    is set, keeps each step's membrane (``potentials`` ``[T, B, ...]``) and
    each neuron's firing step (``spike_times`` ``[B, ...]``)."""

    fires_once: bool
    record: bool
    potentials: torch.Tensor | None
    spike_times: torch.Tensor | None


@runtime_checkable
class PlasticNetwork(Protocol):
    """A network learnt layer by layer from spike times; its last plastic layer is the readout."""

    n_classes: int

    @property
    def plastic_layers(self) -> int:
        """How many layers learn, in order; the last one is the readout."""

    def weight(self, layer: int) -> torch.Tensor:
        """The weights plastic layer ``layer`` learns (updated in place)."""

    def propagate(self, layer: int, times: torch.Tensor) -> torch.Tensor:
        """Spike times into trained hidden layer ``layer`` -> spike times out of it."""

    def compete(self, layer: int, times: torch.Tensor) -> Competition:
        """Run plastic layer ``layer`` on its input spike times and pick its winners."""

    def classes(self, features: torch.Tensor) -> torch.Tensor:
        """The class each readout feature map stands for."""
