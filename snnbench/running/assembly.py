"""From a cell's choices to a model: the one place that wires components.

The runner, ``snnbench tune``, the tests and the benchmarks all build models
here, so a network is wired the same way wherever it is measured: the
cell's neuron model as a factory the architecture calls once per spiking
layer (with the overrides its design fixes, checked against the neuron's
params), other registered neurons by name where an architecture's design
fixes one type, and the network sized from what the encoder really emits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from snnbench.api.contracts import (
    ArchitectureContext,
    DatasetInfo,
    DataSplit,
    SpikingLayer,
    SpikingModel,
    missing_neuron_params,
)
from snnbench.api.errors import SnnbenchError
from snnbench.api.records import Cell, Choice
from snnbench.definition.registry import Registries


def architecture_context(registries: Registries, architecture: str, neuron: Choice, input_shape: Sequence[int],
                         n_classes: int, timesteps: int) -> ArchitectureContext:
    """What an architecture's ``build`` gets: sizes, and factories for layers of
    the chosen neuron model (``neuron(features, **overrides)``) and of any
    other registered one (``neuron_model(name, features, **params)``)."""
    neurons = registries["neuron"]

    def build(name: str, params: Any, features: tuple[int, ...], overrides: dict[str, Any]) -> SpikingLayer:
        # the suite checked the overrides the architecture declares; this catches any it does not
        problem = missing_neuron_params(architecture, overrides, name, type(params))
        if problem:
            raise SnnbenchError(problem)
        return neurons.get(name).spec.build(dataclasses.replace(params, **overrides), tuple(features))

    def neuron_layer(features: tuple[int, ...], **overrides) -> SpikingLayer:
        return build(neuron.component, neuron.params, features, overrides)

    def named_layer(name: str, features: tuple[int, ...], **params) -> SpikingLayer:
        return build(name, neurons.get(name).spec.params(), features, params)

    return ArchitectureContext(tuple(input_shape), n_classes, timesteps, neuron_layer, named_layer)


def build_network(registries: Registries, architecture: Choice, neuron: Choice, input_shape: Sequence[int],
                  n_classes: int, timesteps: int) -> nn.Module:
    """The architecture built with the neuron model: ``[T, B, *input_shape] -> [T, B, n_classes]``."""
    context = architecture_context(registries, architecture.name, neuron, input_shape, n_classes, timesteps)
    return registries["architecture"].get(architecture.component).spec.build(architecture.params, context)


def encoded_shape(encoder: nn.Module, sample: torch.Tensor) -> tuple[int, ...]:
    """``(T, *per-step shape)`` of what ``encoder`` feeds the network, found by
    encoding two samples: an encoder may reshape its input (into tokens, say),
    and the network must be sized from what it really receives. The RNG state
    is restored, so the probe changes no result."""
    devices = [sample.device] if sample.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        was_training = encoder.training
        encoded = encoder.eval()(sample)
        encoder.train(was_training)
    return (encoded.shape[0], *encoded.shape[2:])


def assemble(cell: Cell, registries: Registries, info: DatasetInfo, sample: DataSplit | torch.Tensor,
             device: torch.device) -> SpikingModel:
    """The cell's model on ``device``: its encoder, and its architecture built
    with its neuron model for what the encoder emits on ``sample`` (a few
    inputs of the dataset, on ``device``)."""
    inputs = sample.inputs if isinstance(sample, DataSplit) else sample
    encoder = registries["encoder"].get(cell.encoder.component).spec.build(cell.encoder.params, info).to(device)
    timesteps, *step_shape = encoded_shape(encoder, inputs[:2])
    network = build_network(registries, cell.architecture, cell.neuron, step_shape, info.n_classes, timesteps)
    return SpikingModel(encoder, network, timesteps).to(device)
