"""The extension points: one hook per component kind.

Each hook receives a ``register`` callback; call it once per component with
the matching spec from :mod:`snnbench.components`. The core owns the
registries, so it can say which plugin supplied what, refuse a name two
plugins both claim, and suggest the nearest name for a typo.

A plugin is any module (or object) with functions marked
``@snnbench.hookimpl`` and named after these hooks; implement only the hooks
you need. Publish it under the ``snnbench`` entry-point group::

    [project.entry-points.snnbench]
    my-encoders = "my_package.encoders"
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from snnbench.components import (
    ArchitectureSpec,
    DatasetSpec,
    EncoderSpec,
    LearningRuleSpec,
    NeuronSpec,
)

hookspec = pluggy.HookspecMarker("snnbench")


@hookspec
def register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    """Register datasets: ``register(DatasetSpec(name, params, describe, load))``.

    ``describe(params)`` returns the :class:`~snnbench.components.DatasetInfo`
    (kind, input shape, classes) without reading data, so suites validate
    first. ``load(params, ctx)`` returns ``(train, test)``
    :class:`~snnbench.components.DataSplit` tensors. It looks for files under
    ``ctx.data_dir`` first and downloads only when they are missing and
    ``ctx.download`` allows it; when neither works it raises
    :class:`~snnbench.errors.DataUnavailableError` saying which files to put where.
    """


@hookspec
def register_encoders(register: Callable[[EncoderSpec], None]) -> None:
    """Register encoders: ``register(EncoderSpec(name, params, build, accepts))``.

    ``build(params, info)`` returns a module mapping ``[B, ...]`` to spikes
    ``[T, B, ...]``; ``accepts`` is the set of dataset kinds it can encode.
    """


@hookspec
def register_neuron_models(register: Callable[[NeuronSpec], None]) -> None:
    """Register neuron models: ``register(NeuronSpec(name, params, build))``.

    ``build(params, features)`` returns a fresh
    :class:`~snnbench.components.SpikingLayer` mapping currents ``[T, B,
    *features]`` to spikes of the same shape in one call.
    """


@hookspec
def register_architectures(register: Callable[[ArchitectureSpec], None]) -> None:
    """Register architectures: ``register(ArchitectureSpec(name, params, build, accepts))``.

    ``build(params, ctx)`` returns a module ``[T, B, *input_shape] ->
    [T, B, n_classes]`` whose spiking layers come from ``ctx.neuron(features)`` so
    that any neuron model runs in it.
    """


@hookspec
def register_learning_rules(register: Callable[[LearningRuleSpec], None]) -> None:
    """Register learning rules: ``register(LearningRuleSpec(name, params, build))``.

    ``build(params)`` returns an object with ``fit(model, train, session)``;
    see :class:`~snnbench.components.LearningRule`.
    """


#: Hook name for each component kind.
HOOK_FOR_KIND = {
    "dataset": "register_datasets",
    "encoder": "register_encoders",
    "neuron": "register_neuron_models",
    "architecture": "register_architectures",
    "learning_rule": "register_learning_rules",
}
