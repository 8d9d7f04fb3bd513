"""snnbench remeasure: fill a row's missing or outdated metrics from its kept model.

When a metric's definition changes version, or a new metric lands, every
earlier row is stale, and training again is hours for a full reproduction.
A row whose model was kept (:mod:`snnbench.results.models`) need not be: its
network is rebuilt from the file (:func:`snnbench.running.kept_models.rebuild`),
the random state put back as it was when its run began measuring, and the
test split measured again by the very function a run measures with
(:func:`snnbench.running.runner.measure`), so on the same machine the
numbers are the ones a fresh run of the cell records.

Which rows: the newest row of every cell (suite, config, seed, device), when
it is ok. ``stale`` takes every family the row holds at an old version or
lacks; ``metrics`` takes the families of those metrics where the row lacks
the key or holds its family at an old version. Families measured while
training (:data:`~snnbench.definition.metric_specs.TRAINING_FAMILIES`:
training throughput, peak memory) cannot be measured without training; such
a row is listed, as is a row with no kept model: nothing is guessed.

The result is a new row of the cell (rows are never updated): the old row's
metrics with the measured families' values replaced, their versions
current, its environment as it was plus ``environment["remeasured"]`` (when,
where, with which snnbench, from which row, which families). It names the
same model file. Before anything is recorded, the rebuilt model must
reproduce its row: the output spike counts of the test samples the row
keeps (its ``samples``) must come out the same, or the row is reported as
not reproduced (a model with state outside its ``state_dict``, or another
machine's rounding) and left as it was.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from snnbench.api.contracts import KINDS, DataSplit
from snnbench.api.errors import SnnbenchError
from snnbench.api.records import ResultRow, now
from snnbench.definition.metric_specs import (
    METRICS,
    TRAINING_FAMILIES,
    metric,
    metric_version,
    stale_families,
)
from snnbench.definition.plugins import PluginSet
from snnbench.results.models import ModelFolder, ModelRef
from snnbench.results.store import ResultStore
from snnbench.running.kept_models import Rebuilt, rebuild
from snnbench.running.runner import DatasetCache, LoadedData, measure
from snnbench.running.options import RunOptions
from snnbench.running.training import CellTrainingSession
from snnbench.runtime import git_commit, library_versions, machine

#: what a test-split pass measures beside the metric records' own keys, by the
#: family whose definition they follow
COMPANIONS: dict[str, tuple[str, ...]] = {
    "accuracy": ("chance_accuracy", "at_chance", "test_samples", "footprint_bytes", "confusion", "samples",
                 "detail_version", "timesteps", "neuron_backends"),
    "sparsity": ("sparsity_per_layer",),
    "synops": ("synops_dense",),
    "neuron_ops": ("neuron_ops_dense",),
    "energy_estimate": ("energy_est_parts", "energy_table"),
    "energy_measured": ("energy_counter",),
    "nir": ("nir_own_accuracy", "nir_accuracy", "nir_agreement_per_layer", "nir_frameworks", "nir_dt",
            "nir_samples"),
}
#: what :func:`~snnbench.running.runner.measure` says of training, never measured again
TRAINING_KEYS = frozenset({"reported_epoch", "epochs_trained", "train_samples", "final_train_loss",
                           "final_train_accuracy", "train_seconds", "epoch_seconds", "eval_seconds", "history"})
#: the key of a row's metrics that says why a metric is null, by the metric's key
UNAVAILABLE = "unavailable"
#: the family measured by carrying the network through NIR (:mod:`snnbench.running.nir_roundtrip`)
NIR_FAMILY = "nir"


def family_keys(family: str) -> set[str]:
    """Every key of a row's metrics that a family's definition fills."""
    return {m.key for m in METRICS if m.family == family} | set(COMPANIONS.get(family, ()))


@dataclass
class Wanted:
    """A row to measure again, and what."""

    row: dict[str, Any]
    families: list[str]
    #: stale families only a new training run measures
    needs_training: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.row['label']} seed={self.row['seed']} ({self.row['device_type']}, row {self.row['id']})"


def newest_ok_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest row of every cell, where it is ok (rows oldest first, as the store gives them)."""
    newest: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        newest[(row["suite"], row["config_hash"], row["seed"], row["device_type"])] = row
    return [row for row in newest.values() if row["status"] == "ok"]


def plan(rows: Iterable[dict[str, Any]], metrics: Sequence[str] = (), stale: bool = False) -> list[Wanted]:
    """The rows that need measuring again, and their families (module docstring)."""
    if not metrics and not stale:
        raise SnnbenchError("say what to measure again: --stale (every family a row holds at an old version "
                            "or lacks), --metric KEY (repeatable), or both")
    asked = {key: metric(key).family for key in metrics}
    wanted = []
    for row in newest_ok_rows(rows):
        versions = row.get("metric_versions") or {}
        families = set(stale_families(versions)) if stale else set()
        families |= {family for key, family in asked.items()
                     if key not in row["metrics"] or versions.get(family) != metric_version(family)}
        if families:
            wanted.append(Wanted(row, sorted(families - TRAINING_FAMILIES), sorted(families & TRAINING_FAMILIES)))
    return wanted


class NotReproduced(SnnbenchError):
    """A rebuilt model whose outputs are not the ones its row recorded."""


def check_reproduced(old: dict[str, Any], new: dict[str, Any]) -> None:
    """Refuse a rebuilt model whose output spike counts on the row's kept
    test samples differ from the row's (see the module's docstring)."""
    before, after = old.get("samples") or [], new.get("samples") or []
    if old.get("detail_version") != new.get("detail_version"):
        return
    for index, (then, again) in enumerate(zip(before, after)):
        if then["output_counts"] != again["output_counts"]:
            raise NotReproduced(f"the rebuilt model does not reproduce its row: test sample {index}'s output spike "
                                f"counts were {then['output_counts']}, now {again['output_counts']} (state kept "
                                "outside the model's state_dict, or another machine's rounding)")


def remeasured_row(row: dict[str, Any], families: Sequence[str], measured: dict[str, Any],
                   where: dict[str, Any]) -> ResultRow:
    """The new row of ``row``'s cell: its metrics with ``families``' keys
    from ``measured`` (and any key of a known family it lacked), those
    families' versions current, and where the measuring happened."""
    metrics = dict(row["metrics"])
    refreshed = set().union(*(family_keys(family) for family in families)) if families else set()
    known = set().union(*(family_keys(family) for family in {m.family for m in METRICS} | set(COMPANIONS)))
    for key, value in measured.items():
        if key in refreshed or (key in known and key not in metrics):
            metrics[key] = value
    if UNAVAILABLE in measured or UNAVAILABLE in metrics:
        reasons = {key: reason for key, reason in (metrics.get(UNAVAILABLE) or {}).items() if key not in refreshed}
        reasons |= {key: reason for key, reason in (measured.get(UNAVAILABLE) or {}).items() if key in refreshed}
        metrics[UNAVAILABLE] = reasons
    versions = dict(row["metric_versions"]) | {family: metric_version(family) for family in families}
    environment = dict(row["environment"]) | {"remeasured": where | {"from_row": row["id"],
                                                                    "families": list(families)}}
    stamp = now()
    return ResultRow(
        suite=row["suite"], label=row["label"], config_hash=row["config_hash"], seed=row["seed"],
        device_type=row["device_type"], device_name=row["device_name"], status="ok",
        components={kind: row[kind] for kind in KINDS}, config=row["config"], metrics=metrics,
        metric_versions=versions, environment=environment, started_at=stamp, finished_at=stamp)


def measuring_environment(device: torch.device) -> dict[str, Any]:
    """Where a row is measured again: when, with which snnbench, on which machine."""
    return {"at": now(), "libraries": library_versions(), "git_commit": git_commit(Path(__file__).resolve().parent),
            "host": socket.gethostname(), "machine": machine(device), "device_type": device.type}


@dataclass
class RemeasureSummary:
    recorded: list[ResultRow] = field(default_factory=list)
    #: rows with no kept model, listed
    not_kept: list[Wanted] = field(default_factory=list)
    #: rows that could not be measured here, with why
    failed: list[tuple[Wanted, str]] = field(default_factory=list)
    #: rows still stale in families only training measures
    needs_training: list[Wanted] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


class Remeasurer:
    """Measures rows of ``store`` again from their kept models, recording new rows."""

    def __init__(self, store: ResultStore, plugins: PluginSet, data_dir: Path, download: bool = True,
                 say: Callable[[str], None] = print):
        self.store, self.plugins, self.say = store, plugins, say
        self.folder = ModelFolder(store.path)
        self.data_dir, self.download = data_dir, download
        self._caches: dict[str, DatasetCache] = {}

    def data(self, rebuilt: Rebuilt, device: torch.device) -> tuple[LoadedData, DataSplit, DataSplit]:
        """The cell's dataset (each read once), and its train and test splits as its run capped them."""
        if device.type not in self._caches:
            options = RunOptions(device=device, data_dir=self.data_dir, download=self.download, progress=False)
            self._caches[device.type] = DatasetCache(self.plugins, options)
        loaded = self._caches[device.type].get(rebuilt.cell.dataset)
        training = rebuilt.cell.training
        return loaded, loaded.train.head(training.train_limit), loaded.test.head(training.test_limit)

    def rebuilt(self, row: dict[str, Any], device: torch.device) -> Rebuilt:
        ref = ModelRef.of_row(row)
        rebuilt = rebuild(self.folder.read(ref), self.folder.file(ref), self.plugins, device)
        for difference in rebuilt.differences:
            self.say(f"  note: {difference}")
        return rebuilt

    def test_split_metrics(self, row: dict[str, Any], device: torch.device) -> dict[str, Any]:
        """The row's test-split measurements again, as its run made them."""
        rebuilt = self.rebuilt(row, device)
        loaded, train, test = self.data(rebuilt, device)
        rebuilt.restore_random_state(device)
        session = CellTrainingSession(rebuilt.cell.training, device, torch.Generator())  # one that never trains
        measured = measure(rebuilt.model, rebuilt.cell, loaded, train, test, session, device)
        check_reproduced(row["metrics"], measured)
        return measured

    def nir_metrics(self, row: dict[str, Any], dt: float) -> dict[str, Any]:
        """The NIR round trip's metrics of the row's model (on the CPU), or a
        null agreement with the reason, for a network NIR cannot express."""
        from snnbench.running.nir_export import NotExpressible, to_nir
        from snnbench.running.nir_roundtrip import round_trip

        device = torch.device("cpu")
        rebuilt = self.rebuilt(row, device)
        try:
            exported = to_nir(rebuilt.model.network, rebuilt.step_shape, dt)
        except NotExpressible as error:
            return {"nir_agreement": None, UNAVAILABLE: {"nir_agreement": str(error)}}
        _, _, test = self.data(rebuilt, device)
        trip = round_trip(rebuilt.model, exported, test, rebuilt.cell.training.eval_batch_size)
        self.say("  " + trip.describe().replace("\n", "\n  "))
        return trip.metrics()

    def measure_row(self, wanted: Wanted, dt: float) -> ResultRow:
        row = wanted.row
        device = torch.device(row["device_type"])
        if device.type == "cuda" and not torch.cuda.is_available():
            raise SnnbenchError("measured on CUDA and this machine has none")
        measured: dict[str, Any] = {}
        if set(wanted.families) - {NIR_FAMILY}:
            measured |= self.test_split_metrics(row, device)
        if NIR_FAMILY in wanted.families:
            nir = self.nir_metrics(row, dt)
            measured[UNAVAILABLE] = (measured.get(UNAVAILABLE) or {}) | nir.pop(UNAVAILABLE, {})
            measured |= nir
        return remeasured_row(row, wanted.families, measured, measuring_environment(device))

    def run(self, wanted: Sequence[Wanted], dt: float) -> RemeasureSummary:
        summary = RemeasureSummary()
        for item in wanted:
            if item.needs_training:
                summary.needs_training.append(item)
            if not item.families:
                continue
            if ModelRef.of_row(item.row) is None:
                summary.not_kept.append(item)
                continue
            self.say(f"measuring {', '.join(item.families)} again: {item.name}")
            try:
                new = self.measure_row(item, dt)
            except SnnbenchError as error:
                summary.failed.append((item, str(error)))
                self.say(f"  not measured: {error}")
                continue
            self.store.record(new)
            summary.recorded.append(new)
        return summary
