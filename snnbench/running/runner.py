"""Executes a suite's cells and records one row per cell and seed.

:func:`run_cell` is a pure step from a cell to its row: seed every RNG,
build the model (:func:`snnbench.running.assembly.assemble`), let the learning rule
train it, evaluate and measure it (see :mod:`snnbench.running.metrics`). A cell that
raises (bad shapes, NaN loss, out of memory, a metric that fails) becomes a
failed row with its error and the suite goes on; a metric is never recorded
as 0 in place of an error. The :class:`Runner` hands cells to an executor
(:mod:`snnbench.running.executors`), records the rows it gets back, and tells the
lifecycle hooks (:mod:`snnbench.running.lifecycle`), which the suite's
reporters watch for the run (:mod:`snnbench.running.reporting`). Cells already recorded as ok
are skipped unless ``rerun`` is set, so a killed run resumes where it
stopped.

Runs of a suite on one store share its cells: each cell is claimed in the
store before it runs (:mod:`snnbench.running.leases`), a cell another live process
holds is left to it, and when its own cells are done a run waits for the
ones others hold, taking over any whose process died, so that when it
exits the suite is complete.
"""

from __future__ import annotations

import dataclasses
import functools
import socket
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from snnbench.api.contracts import (
    KINDS,
    DatasetInfo,
    DataSplit,
    LoadContext,
    iter_spiking_layers,
)
from snnbench.api.errors import SnnbenchError
from snnbench.api.records import (
    Cell,
    Choice,
    EpochStats,
    ResultRow,
    RunSummary,
    SkippedCombination,
    Suite,
    now,
)
from snnbench.definition.energy_tables import DEFAULT as DEFAULT_ENERGY_TABLE
from snnbench.definition.metric_specs import METRIC_VERSIONS
from snnbench.definition.plugins import PluginSet, plugin_environment
from snnbench.results.store import ResultStore
from snnbench.running import cell_detail, contention, kept_models
from snnbench.running.assembly import assemble
from snnbench.running.checkpoints import EpochCheckpoint, checkpoint_path, remove_checkpoint
from snnbench.running.executors import CellWork, Executor, InProcess, WorkerSetup
from snnbench.running.injected_slowdown import injected_slowdown
from snnbench.running.leases import CellKey, CellLeases, Outcome
from snnbench.running.lifecycle import Lifecycle
from snnbench.running.energy_estimate import estimate_energy
from snnbench.running.energy_meter import Meter
from snnbench.running.metrics import (
    chance_accuracy,
    evaluate,
    footprint_bytes,
    inference_throughput,
    is_at_chance,
    parameter_count,
)
from snnbench.running.options import RunOptions
from snnbench.running.progress import SuiteProgress
from snnbench.running.reporting import reporting
from snnbench.running.training import CellTrainingSession
from snnbench.runtime import (
    device_name,
    git_commit,
    library_versions,
    machine,
    seed_everything,
)


@dataclass(frozen=True)
class LoadedData:
    info: DatasetInfo
    train: DataSplit
    test: DataSplit


class DataSource(Protocol):
    """Where cells get their datasets: the loaded splits of a dataset choice."""

    def get(self, choice: Choice) -> LoadedData: ...


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


def run_environment(plugins: PluginSet, options: RunOptions) -> dict[str, Any]:
    """What every row of a run records about where it ran: library versions,
    git commit, plugin versions, the host and the machine (of the worker
    that ran the cell, with a distributed executor)."""
    return {
        "libraries": library_versions(),
        "git_commit": git_commit(Path(__file__).resolve().parent),
        "plugin_versions": dict(plugins.versions),
        "host": socket.gethostname(),
        "machine": machine(options.device),
        # test-only (benchmarks/gate_power.py): such rows are no real measurement
        **({"injected_slowdown": slowdown} if (slowdown := injected_slowdown()) else {}),
    }


def cell_row(cell: Cell, status: str, plugins: PluginSet, options: RunOptions, environment: dict[str, Any],
             **fields) -> ResultRow:
    """The row of ``cell`` with its provenance (:func:`supplied_by`)."""
    return ResultRow(
        suite=cell.suite, label=cell.label, config_hash=cell.config_hash, seed=cell.seed,
        device_type=options.device.type, device_name=device_name(options.device), status=status,
        components={kind: cell.choice(kind).name for kind in KINDS}, config=cell.config(),
        metric_versions=dict(METRIC_VERSIONS), environment=environment | {"components": supplied_by(cell, plugins)},
        **fields)


def component_name(cell: Cell, kind: str) -> str:
    """A component of ``cell`` as messages about its code name it: ``encoder 'rate'``."""
    return f"{kind} {cell.choice(kind).component!r}"


def supplied_by(cell: Cell, plugins: PluginSet) -> dict[str, dict[str, Any]]:
    """Which plugin (entry point, distribution, version) supplied each of the cell's components."""
    registries = plugins.registries
    entries = {kind: registries[kind].get(cell.choice(kind).component) for kind in KINDS}
    return {kind: {"plugin": entry.plugin, "distribution": plugins.distributions.get(entry.plugin),
                   "version": entry.version, "code": plugins.code_fingerprint(kind, entry.name)}
            for kind, entry in entries.items()}


def train_and_measure(cell: Cell, plugins: PluginSet, data: DataSource, options: RunOptions,
                      progress: SuiteProgress | None = None,
                      on_epoch: Callable[[EpochStats], None] | None = None
                      ) -> tuple[dict[str, Any], kept_models.KeptModel | None]:
    """Train and measure one cell as given (caps already applied); returns its
    metrics and, unless ``options.keep_models`` is off, its trained model
    (taken before anything is measured); raises on failure."""
    registries, device = plugins.registries, options.device
    training = cell.training
    generator = seed_everything(cell.seed)
    loaded = data.get(cell.dataset)
    train, test = loaded.train.head(training.train_limit), loaded.test.head(training.test_limit)
    model = assemble(cell, registries, loaded.info, train, device)
    rule_spec = registries["learning_rule"].get(cell.learning_rule.component).spec
    rule = rule_spec.build(cell.learning_rule.params)
    checkpoint = (EpochCheckpoint(options.checkpoint_dir, cell, device.type,
                                  {component_name(cell, kind): supplied["code"]
                                   for kind, supplied in supplied_by(cell, plugins).items()})
                  if options.checkpoint_dir is not None and rule_spec.resumable else None)
    if checkpoint is not None and options.rerun:
        checkpoint.remove()  # --rerun trains from the first epoch, whatever an earlier attempt left

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    cell_progress = progress.cell(cell.label, len(train)) if progress else None
    session = CellTrainingSession(training, device, generator, cell_progress, model, on_epoch, checkpoint)
    meter = Meter.for_device(device)
    try:
        with meter.window() as training_energy:
            rule.fit(model, train, session)
    finally:
        if cell_progress:
            cell_progress.close()
    kept = (kept_models.capture(model, cell, loaded.info, device, supplied_by(cell, plugins))
            if options.keep_models else None)
    metrics = measure(model, cell, loaded, train, test, session, device)
    training_energy.reading(session.samples_drawn).record(metrics, "train_energy_j")
    return metrics, kept


def measure(model: torch.nn.Module, cell: Cell, loaded: LoadedData, train: DataSplit, test: DataSplit,
            session: CellTrainingSession, device: torch.device) -> dict[str, Any]:
    """The metrics of a trained model: its test-split measurements (the same
    whether it trained just now or was rebuilt from its kept file, see
    :mod:`snnbench.running.remeasure`) beside what ``session`` says of its training."""
    training = cell.training
    samples = cell_detail.first_samples(model, test, training.eval_batch_size, device)  # first: see cell_detail
    evaluation = evaluate(model, test, training.eval_batch_size, device)
    detail = cell_detail.record(session.history, evaluation.confusion, samples)
    activity = evaluation.activity
    energy_table = cell.energy or DEFAULT_ENERGY_TABLE
    energy = estimate_energy(activity, energy_table)
    chance = chance_accuracy(test.targets)
    metrics = {
        "accuracy": evaluation.accuracy,
        "chance_accuracy": chance,
        "at_chance": is_at_chance(evaluation.accuracy, chance, len(test)),
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
        "membrane_updates": activity.membrane_updates,
        "neuron_ops": activity.neuron_ops,
        "neuron_ops_dense": activity.neuron_ops_dense,
        **energy.metrics(energy_table),
        #: why a metric is null in this row, by its key
        "unavailable": activity.unavailable | energy.unavailable,
        "parameters": parameter_count(model),
        "footprint_bytes": footprint_bytes(model),
        "train_samples_per_s": session.samples_per_second,
        "infer_samples_per_s": inference_throughput(model, test, training.eval_batch_size, device),
        "peak_memory_mb": (torch.cuda.max_memory_allocated(device) / 2**20) if device.type == "cuda" else None,
        "train_seconds": session.total_seconds,
        "epoch_seconds": session.epoch_seconds,
        "eval_seconds": evaluation.seconds,
        "timesteps": model.timesteps,
        "neuron_backends": {name: layer.backend_used for name, layer in iter_spiking_layers(model)},
        **detail,
    }
    meter = Meter.for_device(device)
    meter.inference(model, test, training.eval_batch_size).record(metrics, "infer_energy_j")
    metrics["energy_counter"] = meter.name
    return metrics


def run_cell(cell: Cell, plugins: PluginSet, data: DataSource, options: RunOptions, environment: dict[str, Any],
             progress: SuiteProgress | None = None, lifecycle: Lifecycle | None = None) -> ResultRow:
    """A cell to its row, ok or failed: a pure step that touches no store, so
    any executor can run it anywhere. A cell that raises (bad shapes, NaN
    loss, out of memory, a metric that fails) is a failed row with its error;
    only an interrupt (Ctrl-C) propagates."""
    started, clock = now(), time.perf_counter()
    on_epoch = (lambda stats: lifecycle.epoch_closed(cell, stats)) if lifecycle else None
    try:
        with contention.measuring(torch.get_num_threads()) as machine:
            metrics, kept = train_and_measure(cell, plugins, data, options, progress, on_epoch)
    except KeyboardInterrupt:
        raise
    except Exception as error:  # any failure of a cell is a result, not a crash
        if isinstance(error, torch.cuda.OutOfMemoryError):
            torch.cuda.empty_cache()
        detail = "" if isinstance(error, SnnbenchError) else traceback.format_exc(limit=-4)
        return cell_row(cell, "failed", plugins, options, environment, reason=f"{type(error).__name__}: {error}",
                        started_at=started, metrics={"wall_seconds": time.perf_counter() - clock,
                                                     "traceback": detail})
    metrics["wall_seconds"] = time.perf_counter() - clock
    metrics["contention"] = machine.record  # what else ran meanwhile: its timings are flagged if much did
    row = cell_row(cell, "ok", plugins, options, environment, metrics=metrics, started_at=started)
    return row if kept is None else kept.attach(row)


def describe(row: ResultRow) -> str:
    """The one line a finished cell prints."""
    where = f"{row.label} seed={row.seed}"
    if row.status != "ok":
        return f"FAILED  {where}: {row.reason}"
    metrics = row.metrics
    accuracy = f"accuracy {metrics['accuracy']:.2%}" + (
        f" (AT CHANCE: {metrics['chance_accuracy']:.2%} by always guessing one class)"
        if metrics.get("at_chance") else "")
    throughput = metrics.get("train_samples_per_s")
    if not throughput:
        return f"ok      {where}: {accuracy}"
    busy = contention.describe(metrics.get("contention"))
    return (f"ok      {where}: {accuracy}, sparsity {metrics['sparsity']:.3f}, encoder density "
            f"{metrics['encoder_density']:.3f}, train {throughput:,.0f} samples/s" + (f" ({busy})" if busy else ""))


class Runner:
    """Runs suites into a store: claims each cell, has the executor run it,
    records its row (one transaction a row, from this process only), and
    tells the lifecycle hooks. ``data`` is where cells get their datasets
    (default: each loaded once per run); ``executor`` where cells run
    (default: one after another in this process)."""

    def __init__(self, plugins: PluginSet, store: ResultStore, options: RunOptions,
                 data: DataSource | None = None, executor: Executor | None = None):
        self.plugins, self.store, self.options = plugins, store, options
        self.data = data if data is not None else DatasetCache(plugins, options)
        self.executor = executor if executor is not None else InProcess()
        self.lifecycle = Lifecycle(plugins.manager)
        self.environment = run_environment(plugins, options)
        self._progress: SuiteProgress | None = None

    def run_cells(self, cells: Iterable[Cell]) -> Iterator[ResultRow]:
        """The rows of ``cells`` (caps applied), as the executor finishes them;
        nothing is recorded here."""
        run = functools.partial(run_cell, plugins=self.plugins, data=self.data, options=self.options,
                                environment=self.environment, progress=self._progress, lifecycle=self.lifecycle)
        setup = WorkerSetup(self.plugins.extra_modules, plugin_environment(),
                            dataclasses.replace(self.options, data_dir=self.options.data_dir.absolute(),
                                                progress=False))
        return self.executor.map(CellWork(run, setup, self._lost_cell, self._progress), cells)

    def _lost_cell(self, cell: Cell, reason: str) -> ResultRow:
        """The failed row of a cell that never came back from its worker."""
        return cell_row(cell, "failed", self.plugins, self.options, self.environment, reason=reason)

    def run(self, suite: Suite) -> RunSummary:
        """Run ``suite``'s cells, watched by its reporters (``suite.reporters``)."""
        with reporting(suite.reporters, self.plugins, self.lifecycle):
            return self._run(suite)

    def _run(self, suite: Suite) -> RunSummary:
        summary = RunSummary()
        # the commit of the repository the suite file lies in (a project's own, when it keeps its
        # suites and plugins beside them): what `snnbench history` orders the rows by
        self.environment = self.environment | {"suite_commit": git_commit(suite.path.parent)}
        cells = [with_caps(cell, self.options) for cell in suite.cells]
        self.lifecycle.suite_started(dataclasses.replace(suite, cells=cells), self.environment)
        for skipped in suite.skipped:
            self._record_skip(suite, skipped)
            summary.skipped += 1
        self._progress = SuiteProgress(suite.name, len(cells), self.options.progress)
        leases = CellLeases(self.store, rerun=self.options.rerun, since=self.store.last_row_id(),
                            lease_seconds=self.options.lease_seconds)
        by_key = {self._key(cell): cell for cell in cells}
        try:
            for row in self.run_cells(self._claimed(cells, leases, summary)):
                key = CellKey(row.suite, row.config_hash, row.seed, row.device_type)
                kept_models.keep(row, self.store.path)  # before its row, which names the file
                self.store.record(row, also=leases.release_in(key))
                summary.ok += row.status == "ok"
                summary.failed += row.status != "ok"
                summary.rows.append(row)
                self._progress.finished(describe(row), failed=row.status != "ok")
                if self.options.checkpoint_dir is not None:
                    self._settle_checkpoint(row, checkpoint_path(self.options.checkpoint_dir, by_key[key],
                                                                 key.device_type))
                if not self.executor.live_epochs:
                    for stats in cell_detail.replayed_epochs(row.metrics):
                        self.lifecycle.epoch_closed(by_key[key], stats)
                self.lifecycle.cell_finished(by_key[key], row)
        finally:
            self._progress.close()
            self._progress = None
            leases.release_all()
        self.lifecycle.suite_finished(suite, summary)
        return summary

    def _settle_checkpoint(self, row: ResultRow, path: Path) -> None:
        """Drop a recorded cell's saved epochs, unless the cell failed: a
        measuring pass that fails after hours of training (a metric's bug, too
        little memory) must not take the training with it, so the next run
        resumes after the last saved epoch and only measures again."""
        if row.status == "ok":
            remove_checkpoint(path)
        elif path.exists():
            self._progress.note(f"        its saved epochs stay in {path}: the next run of the suite resumes from "
                                f"them (--rerun, or deleting the file, trains it from its first epoch)")

    def _key(self, cell: Cell) -> CellKey:
        return CellKey(cell.suite, cell.config_hash, cell.seed, self.options.device.type)

    def _claimed(self, cells: list[Cell], leases: CellLeases, summary: RunSummary) -> Iterator[Cell]:
        """The cells this process claims, in order, each claimed just before
        the executor takes it. Cells recorded earlier are counted (their rows
        go to the summary); cells another live process holds are left to it
        and, once the rest are done, waited for: taken over if their process
        dies, counted when it records them."""
        held: dict[CellKey, tuple[Cell, str]] = {}
        for cell in cells:
            holder = yield from self._claim(cell, leases, summary)
            if holder is not None:
                held[self._key(cell)] = (cell, holder)
        if held:
            holders = sorted({holder for _, holder in held.values()})
            self._progress.note(f"waiting for {len(held)} cell(s) other processes are running "
                                f"({', '.join(holders)}); a claim lapses {self.options.lease_seconds:g} s after "
                                "its process stops")
        while held:
            time.sleep(self.options.poll_seconds)
            for key, (cell, _) in list(held.items()):
                if (yield from self._claim(cell, leases, summary)) is None:
                    del held[key]

    def _claim(self, cell: Cell, leases: CellLeases, summary: RunSummary):
        """Yield ``cell`` if this process gets its claim; count it if it is
        recorded; return who holds it when another live process does."""
        key = self._key(cell)
        changed = [] if self.options.rerun else self._changed_code(key, cell)
        claim = leases.claim(key, redo=bool(changed))
        if claim.outcome is Outcome.HELD:
            return claim.holder
        if claim.outcome is Outcome.CLAIMED:
            if changed:
                summary.code_changed += 1
                self._progress.note(f"rerun   {cell.label} seed={cell.seed}: the code of {' and '.join(changed)} "
                                    "changed since its row was recorded")
            yield cell
            return None
        row = self.store.newest_row(*key.as_params())
        if row is not None:
            summary.rows.append(row)
        if claim.outcome is Outcome.RECORDED:
            summary.cached += 1
            self._progress.finished(f"cached  {cell.label} seed={cell.seed} (recorded earlier; --rerun to redo)")
        else:
            summary.elsewhere += 1
            self._progress.finished(f"done    {cell.label} seed={cell.seed} (by another process on this store)")
        return None

    def _changed_code(self, key: CellKey, cell: Cell) -> list[str]:
        """The components of ``cell`` whose code differs from the code its
        recorded ok row ran (``encoder 'rate'``): that row no longer says what
        the code does, so the cell runs again. A row from before fingerprints
        were recorded has none to compare, and stands."""
        row = self.store.newest_row(*key.as_params())
        if row is None:
            return []
        recorded = row.environment.get("components", {})
        return [component_name(cell, kind) for kind in KINDS
                if recorded.get(kind, {}).get("code") not in
                (None, self.plugins.code_fingerprint(kind, cell.choice(kind).component))]

    def _record_skip(self, suite: Suite, skipped: SkippedCombination) -> None:
        if self.store.has_skip(suite.name, skipped.config_hash):
            return
        self.store.record(ResultRow(
            suite=suite.name, label=skipped.label, config_hash=skipped.config_hash, seed=None,
            device_type=self.options.device.type, device_name=device_name(self.options.device),
            status="skipped", components=dict(skipped.combination), config=dict(skipped.combination),
            reason=skipped.reason, metric_versions=dict(METRIC_VERSIONS), environment=self.environment))
