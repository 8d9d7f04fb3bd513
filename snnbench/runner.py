"""Executes a suite's cells and records one row per cell and seed.

For each cell: seed every RNG, build the components from their specs, let the
learning rule train the model, evaluate it, and measure it (see
:mod:`snnbench.metrics`). A cell that raises (bad shapes, NaN loss, out of
memory, a metric that fails) is recorded as failed with its error and the
suite goes on; a metric is never recorded as 0 in place of an error. Cells
already recorded as ok are skipped unless ``rerun`` is set, so a killed run
resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from snnbench import cell_detail
from snnbench.components import (
    KINDS,
    ArchitectureContext,
    DatasetInfo,
    DataSplit,
    LoadContext,
    SpikingModel,
    iter_spiking_layers,
)
from snnbench.errors import SnnbenchError
from snnbench.metrics import (
    METRIC_VERSIONS,
    evaluate,
    footprint_bytes,
    inference_throughput,
    parameter_count,
)
from snnbench.plugins import PluginSet
from snnbench.progress import SuiteProgress
from snnbench.runtime import device_name, git_commit, library_versions, machine, seed_everything
from snnbench.store import ResultRow, ResultStore, now
from snnbench.suite import Cell, Choice, SkippedCombination, Suite
from snnbench.training import TrainingSession


@dataclass
class RunOptions:
    device: torch.device
    data_dir: Path
    download: bool = True
    rerun: bool = False
    #: cap on training and test samples, overriding the suite (quick CPU runs)
    limit: int | None = None
    #: cap on epochs, overriding the suite
    max_epochs: int | None = None
    progress: bool | None = None


@dataclass
class RunSummary:
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    cached: int = 0

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


@dataclass(frozen=True)
class LoadedData:
    info: DatasetInfo
    train: DataSplit
    test: DataSplit


class DatasetCache:
    """Each dataset is read and moved to the device once per run; a dataset
    that failed to load fails its cells with the same message, untried again."""

    def __init__(self, plugins: PluginSet, options: RunOptions):
        self.plugins, self.options = plugins, options
        self._loaded: dict[tuple, LoadedData | SnnbenchError] = {}

    def get(self, choice: Choice) -> LoadedData:
        key = (choice.component, choice.params)
        if key not in self._loaded:
            spec = self.plugins.registries["dataset"].get(choice.component).spec
            try:
                train, test = spec.load(choice.params, LoadContext(self.options.data_dir, self.options.download))
                self._loaded[key] = LoadedData(spec.describe(choice.params),
                                               train.to(self.options.device), test.to(self.options.device))
            except SnnbenchError as error:
                self._loaded[key] = error
        loaded = self._loaded[key]
        if isinstance(loaded, SnnbenchError):
            raise loaded
        return loaded


def with_caps(cell: Cell, options: RunOptions) -> Cell:
    """The cell as it will really run: the command line's caps applied to its
    training config, so a reduced run gets its own config hash and never
    passes for the full one when a run resumes."""
    training = cell.training
    changes: dict[str, Any] = {}
    if options.limit is not None:
        changes["train_limit"] = min(options.limit, training.train_limit or options.limit)
        changes["test_limit"] = min(options.limit, training.test_limit or options.limit)
    if options.max_epochs is not None and options.max_epochs < training.epochs:
        changes["epochs"] = options.max_epochs
    return dataclasses.replace(cell, training=dataclasses.replace(training, **changes)) if changes else cell


def encoded_shape(encoder: torch.nn.Module, sample: torch.Tensor) -> tuple[int, ...]:
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


def run_cell(cell: Cell, plugins: PluginSet, data: DatasetCache, options: RunOptions,
             progress: SuiteProgress | None = None) -> dict[str, Any]:
    """Train and measure one cell as given (caps already applied); returns its
    metrics, raises on failure."""
    registries, device = plugins.registries, options.device
    training = cell.training
    generator = seed_everything(cell.seed)
    loaded = data.get(cell.dataset)
    train, test = loaded.train.head(training.train_limit), loaded.test.head(training.test_limit)

    encoder = registries["encoder"].get(cell.encoder.component).spec.build(cell.encoder.params, loaded.info)
    def build_neuron(name: str, params, features: tuple[int, ...], overrides: dict[str, Any]):
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(params)})
        if unknown:
            raise SnnbenchError(f"architecture {cell.architecture.name!r} sets {', '.join(unknown)} of its "
                                f"neurons, which neuron model {name!r} does not have")
        spec = registries["neuron"].get(name).spec
        return spec.build(dataclasses.replace(params, **overrides), tuple(features))

    def neuron(features: tuple[int, ...], **overrides):
        return build_neuron(cell.neuron.component, cell.neuron.params, features, overrides)

    def neuron_model(name: str, features: tuple[int, ...], **params):
        return build_neuron(name, registries["neuron"].get(name).spec.params(), features, params)

    timesteps, *step_shape = encoded_shape(encoder.to(device), train.inputs[:2])
    context = ArchitectureContext(tuple(step_shape), loaded.info.n_classes, timesteps, neuron, neuron_model)
    network = registries["architecture"].get(cell.architecture.component).spec.build(cell.architecture.params, context)
    model = SpikingModel(encoder, network).to(device)
    rule = registries["learning_rule"].get(cell.learning_rule.component).spec.build(cell.learning_rule.params)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    cell_progress = progress.cell(cell.label, len(train)) if progress else None
    session = TrainingSession(training, device, generator, cell_progress)
    try:
        rule.fit(model, train, session)
    finally:
        if cell_progress:
            cell_progress.close()
    detail = cell_detail.record(model, test, training.eval_batch_size, loaded.info.n_classes, device, session.history)
    evaluation = evaluate(model, test, training.eval_batch_size, device)
    activity = evaluation.activity
    return {
        "accuracy": evaluation.accuracy,
        "reported_epoch": "last",
        "epochs_trained": len(session.history),
        "train_samples": len(train),
        "test_samples": len(test),
        "final_train_loss": session.history[-1].loss if session.history else None,
        "final_train_accuracy": session.history[-1].train_accuracy if session.history else None,
        "sparsity": activity.sparsity,
        "sparsity_per_layer": activity.sparsity_per_layer,
        "encoder_density": activity.encoder_density,
        "encoder_mean": activity.encoder_mean,
        "encoder_above_half": activity.encoder_above_half,
        "synops_ac": activity.synops_ac,
        "synops_mac": activity.synops_mac,
        "synops_dense": activity.synops_dense,
        "parameters": parameter_count(model),
        "footprint_bytes": footprint_bytes(model),
        "train_samples_per_s": session.samples_per_second,
        "infer_samples_per_s": inference_throughput(model, test, training.eval_batch_size, device),
        "peak_memory_mb": (torch.cuda.max_memory_allocated(device) / 2**20) if device.type == "cuda" else None,
        "train_seconds": session.total_seconds,
        "epoch_seconds": session.epoch_seconds,
        "eval_seconds": evaluation.seconds,
        "timesteps": timesteps,
        "neuron_backends": {name: layer.backend_used for name, layer in iter_spiking_layers(model)},
        **detail,
    }


class Runner:
    def __init__(self, plugins: PluginSet, store: ResultStore, options: RunOptions):
        self.plugins, self.store, self.options = plugins, store, options
        self.data = DatasetCache(plugins, options)
        self._environment = {
            "libraries": library_versions(),
            "git_commit": git_commit(Path(__file__).resolve().parent),
            "plugin_versions": dict(plugins.versions),
            "machine": machine(options.device),
        }

    def run(self, suite: Suite) -> RunSummary:
        summary = RunSummary()
        for skipped in suite.skipped:
            self._record_skip(suite, skipped)
            summary.skipped += 1
        progress = SuiteProgress(suite.name, len(suite.cells), self.options.progress)
        try:
            for cell in (with_caps(cell, self.options) for cell in suite.cells):
                if not self.options.rerun and self.store.has_ok(cell.suite, cell.config_hash, cell.seed,
                                                                 self.options.device.type):
                    summary.cached += 1
                    progress.finished(f"cached  {cell.label} seed={cell.seed} (recorded earlier; --rerun to redo)")
                    continue
                ok = self._run_and_record(cell, progress)
                summary.ok += ok
                summary.failed += not ok
        finally:
            progress.close()
        return summary

    def _row(self, cell: Cell, status: str, **fields) -> ResultRow:
        return ResultRow(
            suite=cell.suite, label=cell.label, config_hash=cell.config_hash, seed=cell.seed,
            device_type=self.options.device.type, device_name=device_name(self.options.device),
            status=status, components={kind: cell.choice(kind).name for kind in KINDS},
            config=cell.config(),
            metric_versions=dict(METRIC_VERSIONS), environment=self._environment_for(cell), **fields)

    def _environment_for(self, cell: Cell) -> dict[str, Any]:
        registries = self.plugins.registries
        supplied_by = {kind: {"plugin": registries[kind].get(cell.choice(kind).component).plugin,
                              "version": registries[kind].get(cell.choice(kind).component).version}
                       for kind in KINDS}
        return self._environment | {"components": supplied_by}

    def _run_and_record(self, cell: Cell, progress: SuiteProgress) -> bool:
        started, clock = now(), time.perf_counter()
        try:
            metrics = run_cell(cell, self.plugins, self.data, self.options, progress)
        except KeyboardInterrupt:
            raise
        except Exception as error:  # any failure of a cell is a result, not a crash
            if isinstance(error, torch.cuda.OutOfMemoryError):
                torch.cuda.empty_cache()
            reason = f"{type(error).__name__}: {error}"
            detail = "" if isinstance(error, SnnbenchError) else traceback.format_exc(limit=-4)
            self.store.record(self._row(cell, "failed", reason=reason, started_at=started,
                                        metrics={"wall_seconds": time.perf_counter() - clock,
                                                 "traceback": detail}))
            progress.finished(f"FAILED  {cell.label} seed={cell.seed}: {reason}")
            return False
        metrics["wall_seconds"] = time.perf_counter() - clock
        self.store.record(self._row(cell, "ok", metrics=metrics, started_at=started))
        throughput = metrics["train_samples_per_s"]
        progress.finished(
            f"ok      {cell.label} seed={cell.seed}: accuracy {metrics['accuracy']:.2%}, "
            f"sparsity {metrics['sparsity']:.3f}, encoder density {metrics['encoder_density']:.3f}, "
            f"train {throughput:,.0f} samples/s" if throughput else
            f"ok      {cell.label} seed={cell.seed}: accuracy {metrics['accuracy']:.2%}")
        return True

    def _record_skip(self, suite: Suite, skipped: SkippedCombination) -> None:
        if self.store.has_skip(suite.name, skipped.config_hash):
            return
        self.store.record(ResultRow(
            suite=suite.name, label=skipped.label, config_hash=skipped.config_hash, seed=None,
            device_type=self.options.device.type, device_name=device_name(self.options.device),
            status="skipped", components=dict(skipped.combination), config=dict(skipped.combination),
            reason=skipped.reason, metric_versions=dict(METRIC_VERSIONS), environment=self._environment))
