"""What an experiment tracker is told about a run, the same for every tracker.

Reporters (:class:`snnbench.api.contracts.Reporter`) hand a tracker a cell's
config as flat params, each epoch's values, the row's final metrics and the
run's provenance. Building those here, once, keeps the three built-in
trackers (and a third party's) logging the same names and values, which the
tests read back against the store's rows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from snnbench.api.records import Cell, EpochStats, ResultRow

Scalar = str | int | float | bool
R = TypeVar("R")


def run_name(cell: Cell) -> str:
    """A cell's name in a tracker: its label and seed, as the terminal prints it."""
    return f"{cell.label} seed={cell.seed}"


def cell_params(cell: Cell) -> dict[str, Scalar]:
    """The cell's config as flat params: ``encoder = "rate"``, ``encoder.timesteps = 10``,
    ``encoder.variant_of``, ``training.epochs = 3``, ``seed = 0``. Lists become
    their text (``"[64]"``); unset values (None) are left out, as trackers hold none."""
    flat: dict[str, Scalar] = {}
    for key, value in cell.config().items():
        if key == "training":
            flat.update(_flattened(value, "training."))
            continue
        flat[key] = value["name"]
        flat.update(_flattened(value.get("params", {}), f"{key}."))
        if value.get("variant_of"):
            flat[f"{key}.variant_of"] = value["variant_of"]
    flat["seed"] = cell.seed
    return flat


def _flattened(table: Mapping[str, Any], prefix: str) -> dict[str, Scalar]:
    flat: dict[str, Scalar] = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            flat.update(_flattened(value, f"{prefix}{key}."))
        elif value is not None:
            flat[f"{prefix}{key}"] = value if isinstance(value, Scalar) else str(value)
    return flat


def epoch_values(stats: EpochStats) -> dict[str, float]:
    """One epoch's values: ``train_loss`` (absent for a rule that records none),
    ``train_accuracy`` and ``epoch_seconds`` (the row's ``history`` and ``epoch_seconds``)."""
    values = {"train_accuracy": stats.train_accuracy, "epoch_seconds": stats.seconds}
    return values | ({"train_loss": stats.loss} if stats.loss is not None else {})


def epoch_scalars(stats: EpochStats) -> dict[str, float]:
    """The epoch's values under the scalar names of TensorBoard and W&B:
    ``train/loss``, ``train/accuracy``, ``train/epoch_seconds``."""
    return {"train/" + key.removeprefix("train_"): value for key, value in epoch_values(stats).items()}


def final_metrics(row: ResultRow) -> dict[str, float]:
    """The row's metrics that are one finite number (accuracy, sparsity, SynOps,
    throughputs, seconds, ``at_chance`` as 0 or 1), and ``timing_contended``
    (0 or 1: its timings were taken while other processes used the machine,
    so its throughputs are not comparable) with ``others_cores`` (the cores
    they used) where the row recorded them; per-layer tables, the history
    and the cell detail are left out."""
    values = {key: float(value) for key, value in row.metrics.items()
              if isinstance(value, int | float) and math.isfinite(value)}
    machine = row.metrics.get("contention")
    if row.status == "ok":
        values["at_chance"] = float(bool(row.metrics.get("at_chance")))
    if machine:
        values |= {"timing_contended": float(bool(machine["contended"])), "others_cores": machine["others_cores"]}
    return values


def verdict_tags(row: ResultRow) -> dict[str, str]:
    """What a reader of a tracker must not miss about a row, as tags a run
    list can filter on: ``at_chance`` (the model learnt nothing) and
    ``timing_contended`` (its throughputs were measured on a busy machine),
    each ``"true"`` or ``"false"``; only for ok rows."""
    if row.status != "ok":
        return {}
    machine = row.metrics.get("contention") or {}
    return {"at_chance": str(bool(row.metrics.get("at_chance"))).lower(),
            "timing_contended": str(bool(machine.get("contended"))).lower()}


def provenance(environment: Mapping[str, Any]) -> dict[str, str]:
    """What every row of the run records of where it ran, as flat text tags:
    ``git_commit``, ``libraries.torch``, ``machine.cpu``, ``plugin_versions.<plugin>``."""
    return {key: str(value) for key, value in _flattened(environment, "").items()}


def path_part(name: str) -> str:
    """``name`` as one safe folder name: no separators, no ``..``."""
    part = re.sub(r"[^\w.=+-]+", "_", name)
    return "_" if part in ("", ".", "..") else part


class OpenRuns(Generic[R]):
    """The tracker run of each cell in flight, opened (by ``open``) at the cell's
    first event, and the step of its next epoch: epochs are numbered from 0
    within each stage of a rule that trains in stages, and a tracker's steps
    run on through all of them, as the row's ``history`` lists them."""

    def __init__(self, open: Callable[[Cell], R]):
        self._open = open
        self._runs: dict[tuple[str, int], R] = {}
        self._steps: dict[tuple[str, int], int] = {}

    @staticmethod
    def _key(cell: Cell) -> tuple[str, int]:
        return cell.config_hash, cell.seed

    def get(self, cell: Cell) -> R:
        """The cell's run, opened now if this is its first event."""
        key = self._key(cell)
        if key not in self._runs:
            self._runs[key] = self._open(cell)
            self._steps[key] = 0
        return self._runs[key]

    def next_step(self, cell: Cell) -> int:
        """The step of the epoch closing now (0, 1, ... over every stage)."""
        key = self._key(cell)
        self.get(cell)
        step, self._steps[key] = self._steps[key], self._steps[key] + 1
        return step

    def pop(self, cell: Cell) -> R:
        """The finished cell's run (opened now if the cell failed before an epoch closed)."""
        run = self.get(cell)
        del self._runs[self._key(cell)], self._steps[self._key(cell)]
        return run

    def drain(self) -> Iterator[R]:
        """The runs still open (of cells an interrupt stopped), each handed out once."""
        while self._runs:
            yield self._runs.pop(next(iter(self._runs)))
        self._steps.clear()
