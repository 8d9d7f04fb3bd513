"""``shd-mlp``: the two-layer network of the SHD reference, inputs -> 256
spiking neurons -> one spiking neuron per class, with Xavier-uniform weights
and zero biases.

It is the ``mlp`` architecture with one hidden layer and the reference's
initialisation, so it adds no layers of its own. The reference's LIF beta of
0.95 (a membrane time constant of about 20 steps, which spoken digits binned
at 10 ms need) is a neuron param and belongs in the suite; so do its loss
(cross-entropy on spike counts) and schedule (Adam, lr halved every 5 epochs).
"""

from __future__ import annotations

from dataclasses import dataclass

from snnbench_plugins.architectures.feedforward import MLPParams, build_mlp
from torch import nn

from snnbench.api import (
    ArchitectureContext,
    ArchitectureSpec,
    DatasetInfo,
    hookimpl,
    param,
)


@dataclass(frozen=True)
class SHDNetParams:
    hidden: int = param(256, "width of the hidden spiking layer", ge=1)


def check_shd_mlp(params: SHDNetParams, info: DatasetInfo) -> str | None:
    if len(info.input_shape) != 2:
        return f"shd-mlp needs spike rasters [T,N]; {info.name} samples are {list(info.input_shape)}"
    return None


def build_shd_mlp(params: SHDNetParams, ctx: ArchitectureContext) -> nn.Module:
    network = build_mlp(MLPParams(hidden=(params.hidden,)), ctx)
    for module in network.modules():
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    return network


@hookimpl
def register_architectures(register):
    register(ArchitectureSpec("shd-mlp", SHDNetParams, build_shd_mlp, frozenset({"spikes"}), check=check_shd_mlp,
                              summary="two-layer SHD network: N -> 256 -> classes, Xavier-uniform, zero biases"))
