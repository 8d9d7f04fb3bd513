"""The recurrent SNN classifier of the ConvSTAL thesis (after STAL, arXiv 2407.08362).

Linear(input -> 56) -> recurrent LIF -> Linear(56 -> classes) -> recurrent LIF;
the output spikes summed over time are the class scores. In the thesis both
spiking layers are snnTorch ``RLeaky`` with learnable all-to-all recurrence
(beta 0.9, threshold 1, subtract reset, arctan surrogate).

The recurrence is the neuron's, not the architecture's: both spiking layers
come from the cell's neuron model, sized by their features, so a suite gets
the thesis's network by naming a recurrent neuron model (``snntorch-rleaky``
in suites/stal_rsnn.toml) and the same layer stack with any other neuron
model for comparison. A recurrent neuron loops over the encoder's
``[T, B, ...]`` step by step inside itself; the Linear layers see all steps
in one call. The layer stack is the ``mlp`` architecture's with one hidden
layer, so it is built by that code.
"""

from __future__ import annotations

from dataclasses import dataclass

from snnbench_plugins.architectures.feedforward import MLPParams, build_mlp
from torch import nn

from snnbench.api import ArchitectureContext, ArchitectureSpec, hookimpl, param


@dataclass(frozen=True)
class RSNNParams:
    hidden: int = param(56, "neurons in the recurrent hidden layer (thesis: 56)", ge=1)


def build_rsnn(params: RSNNParams, ctx: ArchitectureContext) -> nn.Module:
    return build_mlp(MLPParams(hidden=(params.hidden,)), ctx)


@hookimpl
def register_architectures(register):
    register(ArchitectureSpec(
        "rsnn", RSNNParams, build_rsnn, frozenset({"static", "frames", "spikes"}),
        summary="recurrent SNN of the ConvSTAL thesis: Linear -> LIF(56) -> Linear -> LIF(classes); "
                "name a recurrent neuron model (snntorch-rleaky) for its recurrence"))
