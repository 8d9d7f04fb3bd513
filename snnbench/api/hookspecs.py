"""The extension points, grouped by phase as pytest's are.

**Registration** (called once, when plugins load): one hook per component
kind. Each receives a ``register`` callback; call it once per component with
the matching spec from :mod:`snnbench.api.contracts`. The core owns the
registries, so it can say which plugin supplied what, refuse a name two
plugins both claim, and suggest the nearest name for a typo.

**Lifecycle** (called while a suite runs, in this order): suite started,
epoch closed (every epoch of every cell), cell finished (with its row), suite
finished. Watchers (progress, notifiers, ``snnbench tune``) implement these;
they only watch: the results store is written by the runner whatever a hook
does. An experiment tracker is better registered as a *reporter*
(:func:`register_reporters`), which a suite names and configures, and which
the run wires onto these hooks (:mod:`snnbench.running.reporting`). Every implementation is called (no ``firstresult``), in pluggy's order
(last registered first); return values are ignored, and one that raises is
reported once and switched off for the run (:mod:`snnbench.running.lifecycle`).

A plugin is any module (or object) with functions marked
``@snnbench.hookimpl`` and named after these hooks; implement only the hooks
you need. Publish it under the ``snnbench`` entry-point group::

    [project.entry-points.snnbench]
    my-encoders = "my_package.encoders"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

from snnbench.api.contracts import (
    COMPONENT_KINDS,
    ArchitectureSpec,
    DatasetSpec,
    EncoderSpec,
    LearningRuleSpec,
    NeuronSpec,
    ReporterSpec,
)

if TYPE_CHECKING:
    from snnbench.api.records import Cell, EpochStats, ResultRow, RunSummary, Suite

hookspec = pluggy.HookspecMarker("snnbench")
#: Marker for plugin hook implementations: ``@hookimpl`` on a function named after a hook.
hookimpl = pluggy.HookimplMarker("snnbench")

# --------------------------------------------------------------------------- registration


@hookspec
def register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    """Register datasets: ``register(DatasetSpec(name, params, describe, load))``.

    ``describe(params)`` returns the :class:`~snnbench.api.contracts.DatasetInfo`
    (kind, input shape, classes) without reading data, so suites validate
    first. ``load(params, ctx)`` returns ``(train, test)``
    :class:`~snnbench.api.contracts.DataSplit` tensors. It looks for files under
    ``ctx.data_dir`` first and downloads only when they are missing and
    ``ctx.download`` allows it; when neither works it raises
    :class:`~snnbench.api.errors.DataUnavailableError` saying which files to put where.
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
    :class:`~snnbench.api.contracts.SpikingLayer` mapping currents ``[T, B,
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
    see :class:`~snnbench.api.contracts.LearningRule`.
    """


@hookspec
def register_reporters(register: Callable[[ReporterSpec], None]) -> None:
    """Register reporters (experiment trackers): ``register(ReporterSpec(name,
    params, build, requires=(), install=""))``.

    ``build(params)`` returns a :class:`~snnbench.api.contracts.Reporter` for one
    suite's run; it is told the run's events (suite started, epoch closed, cell
    finished, suite finished) and closed at the end. A suite chooses reporters
    in its ``[report.<name>]`` tables (their params), or ``snnbench run
    --report <name>``. ``requires`` names the modules the reporter imports, so
    a run naming it without them installed fails at validate time, saying to
    ``pip install`` ``install``.
    """


# --------------------------------------------------------------------------- lifecycle


@hookspec
def snnbench_suite_started(suite: Suite, environment: dict[str, Any]) -> None:
    """A suite is about to run (after every suite file validated).

    :param suite: the expanded suite: ``suite.name``, ``suite.cells`` (with the
        command line's caps applied: what will really run), ``suite.skipped``.
    :param environment: what every row of this run records: library versions,
        git commit, plugin versions, the machine.
    """


@hookspec
def snnbench_epoch_closed(cell: Cell, stats: EpochStats) -> None:
    """An epoch of a cell's training has closed.

    :param cell: the cell in training (``cell.label``, ``cell.seed``, ``cell.config()``).
    :param stats: ``stats.epoch`` (from 0), ``stats.loss`` (None for a rule
        that minimises none), ``stats.train_accuracy``, ``stats.stage`` (the
        stage's name for a rule that trains in stages, else None),
        ``stats.seconds`` (wall seconds of the epoch).

    Called in the process that started the suite, like every lifecycle
    hook: as each epoch closes when the cell trains there, and, for a cell
    trained elsewhere (``--executor ray``), for each of its epochs in turn
    when its row arrives, just before :func:`snnbench_cell_finished`.
    """


@hookspec
def snnbench_cell_finished(cell: Cell, row: ResultRow) -> None:
    """A cell has finished, and ``row`` is in the store.

    :param cell: the cell, as it ran.
    :param row: its row: ``row.status`` (``ok`` or ``failed``), ``row.reason``
        for a failed one, ``row.metrics`` (accuracy, sparsity, throughput,
        ``history`` of epochs, ...), ``row.environment``.

    Not called for cells skipped as already recorded (``--rerun`` runs them
    again) nor for incompatible combinations, which have no cell.
    """


@hookspec
def snnbench_suite_finished(suite: Suite, summary: RunSummary) -> None:
    """A suite has finished: every cell ran or was skipped.

    :param suite: the suite, as for :func:`snnbench_suite_started`.
    :param summary: ``summary.ok``, ``.failed``, ``.skipped``, ``.cached`` counts.

    Not called when the run is interrupted (Ctrl-C): its finished cells are
    recorded and a rerun resumes.
    """


#: Hook name for each component kind.
HOOK_FOR_KIND = {kind.name: kind.hook for kind in COMPONENT_KINDS}
