"""The plain records that pass between snnbench and its plugins.

A hook receives these (a :class:`Cell` as it starts, its :class:`ResultRow`
when it is recorded, the :class:`RunSummary` at the end, an
:class:`EpochStats` per epoch), and a learning rule trains through a
:class:`TrainingSession`. They live here, beside the contracts and not in
the stage that makes them, so a plugin depends on this module only and the
runner, store and leaderboard can change underneath it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from snnbench.api.contracts import KINDS, DataSplit
from snnbench.api.params import hashed_params
from snnbench.api.training_config import TrainingConfig


def config_hash(config: dict[str, Any]) -> str:
    """The short, stable hash of a JSON-ready config: a cell's identity in the store."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- cells


@dataclass(frozen=True)
class Choice:
    """One component of a cell: its name in the suite, its parsed params, and,
    for a variant, the registered component it configures."""

    name: str
    params: Any
    variant_of: str | None = None

    @property
    def component(self) -> str:
        """The registered name to build from."""
        return self.variant_of or self.name

    def as_dict(self) -> dict[str, Any]:
        described = {"name": self.name, "params": hashed_params(self.params)}
        return described | {"variant_of": self.variant_of} if self.variant_of else described


@dataclass(frozen=True)
class EnergyTable:
    """The energy of one operation, in picojoules, that turns a cell's counts
    into its estimated energy (a suite's ``[energy]``; the built-in tables and
    the checks are in :mod:`snnbench.definition.energy_tables`)."""

    name: str
    #: a multiply-accumulate (an analogue input times a weight)
    mac_pj: float
    #: an accumulate (a spike adds a weight)
    ac_pj: float
    #: one of a neuron update's operations as NeuroBench counts them
    neuron_op_pj: float
    #: one byte of parameter or neuron-state memory traffic
    byte_pj: float
    source: str = ""

    def as_config(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Cell:
    """One combination of components, trained and measured for one seed.

    ``energy`` is the suite's energy table; None is the default one, and is
    left out of the config, so the cells of a suite that chooses none keep
    the hash they had before tables existed, while a cell priced under other
    constants is another cell, never averaged or compared with this one."""

    suite: str
    dataset: Choice
    encoder: Choice
    neuron: Choice
    architecture: Choice
    learning_rule: Choice
    training: TrainingConfig
    seed: int
    energy: EnergyTable | None = None

    def choice(self, kind: str) -> Choice:
        return getattr(self, kind)

    def config(self) -> dict[str, Any]:
        """Everything that defines the cell except its seed (JSON-ready)."""
        config = {kind: self.choice(kind).as_dict() for kind in KINDS}
        config["training"] = self.training.as_config()
        if self.energy is not None:  # its source is a citation, not a constant: rewording it makes no other cell
            config["energy"] = {k: v for k, v in self.energy.as_config().items() if k != "source"}
        return config

    @property
    def config_hash(self) -> str:
        return config_hash(self.config())

    @property
    def label(self) -> str:
        return "/".join(self.choice(kind).name for kind in KINDS)


@dataclass(frozen=True)
class SkippedCombination:
    combination: dict[str, str]
    reason: str

    @property
    def label(self) -> str:
        return "/".join(self.combination[kind] for kind in KINDS)

    @property
    def config_hash(self) -> str:
        return config_hash(self.combination)


@dataclass(frozen=True)
class Reference:
    """A published value of one metric for the cells whose components match
    ``match`` (kind -> name, any subset of the five kinds)."""

    match: tuple[tuple[str, str], ...]
    metric: str
    value: float
    source: str

    def matches(self, components: dict[str, Any]) -> bool:
        """Whether a row (or a leaderboard group) with these component names is
        the one this reference is for; a kind the group does not name matches nothing."""
        return all(components.get(kind) == name for kind, name in self.match)

    def describe(self) -> str:
        return ", ".join(f"{kind} {name}" for kind, name in self.match)


@dataclass
class Suite:
    name: str
    path: Path
    description: str
    seeds: tuple[int, ...]
    training: TrainingConfig
    cells: list[Cell] = field(default_factory=list)
    skipped: list[SkippedCombination] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    #: the reporters that watch its runs, with their params ([report.<name>] tables)
    reporters: tuple[Choice, ...] = ()
    #: what in its file is valid but probably not what was meant (a params table that applies to nothing)
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- training


@dataclass
class EpochStats:
    epoch: int
    #: None for a rule that records no loss
    loss: float | None
    train_accuracy: float
    stage: str | None = None
    #: wall seconds of the epoch
    seconds: float = 0.0


@runtime_checkable
class TrainingSession(Protocol):
    """What a learning rule trains through: shuffled batches of a split that
    already sits on the device, timed the one way every cell shares, with the
    suite's schedule and execution options. The runner hands one to
    :meth:`LearningRule.fit`; a rule needs nothing else from it.

    ``config`` is the suite's ``[training]`` table; ``device`` where the
    model and the splits live."""

    config: TrainingConfig
    device: torch.device

    def epochs(self, count: int | None = None, stage: str | None = None) -> Iterator[int]:
        """Yield ``count`` epoch numbers (default: the suite's ``epochs``), closing
        each epoch (stats, NaN check, wall time, schedule) when the rule asks for
        the next. A rule that trains in stages calls it once per stage, named."""

    def batches(self, split: DataSplit, batch_size: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Shuffled ``(inputs, targets)`` batches of ``split``, timed after warm-up."""

    def record(self, loss: torch.Tensor | None, scores: torch.Tensor, targets: torch.Tensor) -> None:
        """Add one batch's loss (None for a rule without one) and class scores
        ``[B, n_classes]`` to the epoch's stats."""

    def schedule(self, optimizer: torch.optim.Optimizer) -> None:
        """Put ``optimizer`` under the suite's ``lr_schedule``, stepped per epoch."""

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model in the suite's ``memory_format``, after checking its
        ``precision`` runs here; a rule that calls it runs forward passes in
        :meth:`autocast`. A rule that never calls it cannot run a cell that asks
        for bf16 or channels-last (an error, not a silent fp32 run)."""

    def autocast(self) -> AbstractContextManager:
        """The context each forward pass runs in, at the suite's ``precision``."""


# --------------------------------------------------------------------------- results


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class ResultRow:
    suite: str
    label: str
    config_hash: str
    seed: int | None
    device_type: str
    device_name: str
    status: str
    components: dict[str, str]
    config: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    metric_versions: dict[str, int] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    started_at: str = field(default_factory=now)
    finished_at: str = field(default_factory=now)
    #: the trained model's file (safetensors bytes), carried from wherever the
    #: cell trained to the process that writes the store, which keeps it beside
    #: the store and lets go of it; the row itself names the file (``environment["model"]``)
    kept_model: bytes | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> ResultRow:
        """The row as :meth:`ResultStore.rows` returns it, back as a ResultRow."""
        names = {f.name for f in fields(cls)} - {"components", "kept_model"}
        return cls(components={kind: stored[kind] for kind in KINDS},
                   **{name: stored[name] for name in names})


@dataclass
class RunSummary:
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    cached: int = 0
    #: cells another process sharing the store ran while this one did
    elsewhere: int = 0
    #: cells run again because the code of a component changed since their row was recorded
    code_changed: int = 0
    #: the row of every cell of the suite: run now, or found recorded
    rows: list[ResultRow] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0
