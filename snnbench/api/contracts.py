"""The contracts every plugin kind implements.

A plugin registers *specs*: small frozen records that name a component, say
what it accepts, point at the frozen dataclass whose fields are exactly its
TOML keys, and give the callable that builds it. The core never imports model
code; it only calls these builders.

Tensors are time-first: ``[T, B, ...]``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import torch
from torch import nn

if TYPE_CHECKING:
    from snnbench.api.records import (
        Cell,
        EpochStats,
        ResultRow,
        RunSummary,
        Suite,
        TrainingSession,
    )

#: What one sample of a dataset is: a static image ``[C,H,W]`` in [0, 1],
#: event ``frames`` ``[T,C,H,W]``, or a ``spikes`` raster ``[T,N]``. Event
#: data may be held as uint8 counts (a quarter of float32's memory, on the
#: device too); an encoder that accepts it casts each batch to float.
DataKind = Literal["static", "frames", "spikes"]
DATA_KINDS: tuple[str, ...] = ("static", "frames", "spikes")


@dataclass(frozen=True)
class NoParams:
    """Params of a component that takes none."""


# --------------------------------------------------------------------------- datasets


@dataclass(frozen=True)
class DatasetInfo:
    """What the other components need to know about a dataset."""

    name: str
    kind: DataKind
    input_shape: tuple[int, ...]
    n_classes: int


@dataclass(frozen=True)
class DataSplit:
    """One split held in memory as two tensors, so batches never wait on a loader."""

    inputs: torch.Tensor
    targets: torch.Tensor

    def __post_init__(self):
        if len(self.inputs) != len(self.targets):
            raise ValueError(f"{len(self.inputs)} inputs but {len(self.targets)} targets")

    def __len__(self) -> int:
        return len(self.targets)

    def head(self, n: int | None) -> DataSplit:
        """The first ``n`` samples (all when ``n`` is None)."""
        return self if n is None or n >= len(self) else DataSplit(self.inputs[:n], self.targets[:n])

    def to(self, device: torch.device) -> DataSplit:
        return DataSplit(self.inputs.to(device), self.targets.to(device))


@dataclass(frozen=True)
class LoadContext:
    """Where a dataset loader may look for files, and whether it may download."""

    data_dir: Path
    download: bool = True


@dataclass(frozen=True)
class DatasetSpec:
    """``describe(params)`` gives the dataset's shape without loading it, so a
    suite validates before anything is read; ``load(params, ctx)`` returns the
    ``(train, test)`` splits as in-memory tensors.

    ``requires(params, ctx)`` says, without reading any data, why ``load``
    cannot run here: one message naming each missing file that will not be
    downloaded and the folder it goes in; None when loading can go ahead
    (the files are there, or may be downloaded). A run asks every dataset
    it needs before the first cell trains, so missing data is one error
    up front, not the same failure in every cell. A dataset that needs no
    files (or cannot tell) leaves it None."""

    name: str
    params: type
    describe: Callable[[Any], DatasetInfo]
    load: Callable[[Any, LoadContext], tuple[DataSplit, DataSplit]]
    summary: str = ""
    requires: Callable[[Any, LoadContext], str | None] | None = None


# --------------------------------------------------------------------------- encoders


@dataclass(frozen=True)
class EncoderSpec:
    """An encoder maps a batch ``[B, ...]`` to spikes ``[T, B, ...]``.

    ``build(params, info)`` returns an ``nn.Module``. ``trainable`` encoders
    have parameters the learning rule optimises with the network.
    """

    name: str
    params: type
    build: Callable[[Any, DatasetInfo], nn.Module]
    accepts: frozenset[str]
    trainable: bool = False
    summary: str = ""


# --------------------------------------------------------------------------- neurons


@dataclass(frozen=True)
class NeuronDynamics:
    """What a spiking layer computes each step, in snnTorch's discrete terms,
    for tools that carry a trained network elsewhere (``snnbench export
    --nir``), which cannot read it from the layer's code.

    ``kind`` ``"lif"``: ``mem_t = beta mem_{t-1} + I_t``; ``"cuba-lif"``: a
    synaptic current ``syn_t = alpha syn_{t-1} + I_t`` drives
    ``mem_t = beta mem_{t-1} + syn_t``; ``"if"``: ``mem_t = mem_{t-1} + I_t``.
    A spike leaves when the membrane exceeds ``threshold`` (reaches it, with
    ``fires_at_threshold``, as SpikingJelly's neurons fire); ``reset`` as in
    :class:`~snnbench.api.neuron.NeuronParams`. ``beta`` and ``alpha`` may be
    per neuron (a learned time constant), as tensors of the layer's features.
    """

    kind: Literal["lif", "cuba-lif", "if"]
    threshold: float
    reset: Literal["subtract", "zero"]
    beta: float | torch.Tensor | None = None
    alpha: float | torch.Tensor | None = None
    fires_at_threshold: bool = False


class SpikingLayer(nn.Module):
    """Base of every neuron layer: ``current [T,B,...] -> spikes [T,B,...]``.

    The layer runs all timesteps in one call and starts from a fresh state on
    every call, so no reset between batches can be forgotten. ``backend_used``
    names the implementation that really ran on the last call (not the one
    asked for); the leaderboard records it. The metrics find spiking layers
    through this base class.

    Two numbers describe the neuron model to the workload and energy
    metrics, since no hook can see inside it (a layer also reports its
    membrane, :func:`snnbench.api.activity.report_membrane`):
    ``operations_per_update`` is the work of one membrane update as
    NeuroBench counts it (its ``neuron_ops_reset_operations``: snnTorch's
    Leaky 4, Synaptic 6 with subtract reset and 8 with zero reset, Alpha 18
    and 24), None where no count is defined, which leaves neuron operations
    null; ``state_values`` is how many values per neuron the layer carries
    from one step to the next (membrane, synaptic currents, a trace), read
    and written once per step in the memory-aware energy estimate.
    """

    backend_used: str = "unknown"
    operations_per_update: int | None = None
    state_values: int = 1

    def forward(self, current: torch.Tensor) -> torch.Tensor:  # pragma: no cover - contract
        raise NotImplementedError

    def dynamics(self) -> NeuronDynamics | None:
        """The layer's dynamics as :class:`NeuronDynamics`, or None when they
        are none of its kinds (adaptive thresholds, recurrence, an alpha
        kernel): such a layer cannot be exported."""
        return None


@dataclass(frozen=True)
class NeuronSpec:
    """``build(params, features)`` returns a fresh :class:`SpikingLayer` for
    inputs ``[T, B, *features]``. Most neurons ignore ``features``; those with
    per-neuron state or weights (recurrent connections, learnable time
    constants per neuron) need it to size them before the optimiser is made.

    ``differentiable`` is False for a neuron with no surrogate gradient, which
    only local learning rules (STDP) can train; backpropagation through it is
    an error, and checks that train every neuron by gradient leave it out.
    """

    name: str
    params: type
    build: Callable[[Any], SpikingLayer]
    summary: str = ""
    differentiable: bool = True


NeuronFactory = Callable[..., SpikingLayer]
"""``neuron(features, **overrides)``: a layer for inputs ``[T, B, *features]``,
with keyword overrides of the suite's neuron params (``neuron((56,), threshold=0.5)``)."""


# --------------------------------------------------------------------------- architectures


@dataclass(frozen=True)
class ArchitectureContext:
    #: per-step shape of what the encoder feeds the network (``[C,H,W]`` for
    #: an image encoder, ``[N,D]`` for one that emits tokens)
    input_shape: tuple[int, ...]
    n_classes: int
    #: T of the encoder's output
    timesteps: int
    #: the cell's neuron model
    neuron: NeuronFactory
    #: ``neuron_model(name, features, **params)``: a layer of another registered
    #: neuron model with its default params, for architectures whose design
    #: fixes a neuron type in one place (an ALIF stem, a Synaptic readout)
    neuron_model: Callable[..., SpikingLayer] | None = None


def no_neuron_overrides(params: Any) -> frozenset[str]:
    """The ``neuron_overrides`` of an architecture that takes its neurons as the suite gives them."""
    return frozenset()


@dataclass(frozen=True)
class ArchitectureSpec:
    """``build(params, ctx)`` returns a module ``[T,B,*input_shape] -> [T,B,n_classes]``.

    ``check(params, info)`` may return a reason why the architecture cannot
    take that dataset (too small for its kernels, say); the suite then skips
    the cell with that reason instead of failing it.

    ``neuron_overrides(params)`` names the neuron params that ``build`` sets
    through ``ctx.neuron(features, **overrides)`` (Spikformer's attention
    threshold, say), so that a suite pairing it with a neuron model that
    lacks one of them skips that cell at validate time, with the reason.
    """

    name: str
    params: type
    build: Callable[[Any, ArchitectureContext], nn.Module]
    accepts: frozenset[str]
    check: Callable[[Any, DatasetInfo], str | None] | None = None
    summary: str = ""
    neuron_overrides: Callable[[Any], frozenset[str]] = no_neuron_overrides


def missing_neuron_params(architecture: str, overrides: Iterable[str], neuron: str, neuron_params: type) -> str | None:
    """Why architecture ``architecture`` cannot set ``overrides`` on neuron
    model ``neuron`` (whose params class is ``neuron_params``), or None."""
    missing = sorted(set(overrides) - {f.name for f in fields(neuron_params)})
    if not missing:
        return None
    return (f"architecture {architecture!r} sets {', '.join(missing)} of its neurons, which neuron model "
            f"{neuron!r} does not have")


# --------------------------------------------------------------------------- learning rules


class LearningRule(Protocol):
    """Trains a model. Receives the whole model (encoder and network), the
    training split on the device, and a session that hands out shuffled
    batches, times them, and reports progress. Returns nothing: the runner
    evaluates the model it trained.

    A rule may train in stages (layer by layer: ``session.epochs(count,
    stage=name)`` per stage, each stage's epoch times recorded), batch any
    split of its own (``session.batches(split)``, e.g. cached outputs of frozen
    layers), compute per-sample rewards from the batch's targets, and record
    no loss (``session.record(None, scores, targets)``). A rule that updates
    weights without gradients runs under ``torch.no_grad()``, so no autograd
    graph is built or timed."""

    def fit(self, model: nn.Module, train: DataSplit, session: TrainingSession) -> None: ...


@dataclass(frozen=True)
class LearningRuleSpec:
    """``build(params)`` returns a :class:`LearningRule`.

    ``architectures`` lists the architectures it can train; ``None`` means any.

    ``resumable`` declares that ``fit`` keeps all its state in the model and
    in the optimisers it hands to ``session.schedule``: a cell cut off
    mid-training then resumes from its last finished epoch of the rule's
    first ``session.epochs()`` loop (the runner checkpoints them). A rule that
    carries state across epochs in its own variables leaves it False.
    """

    name: str
    params: type
    build: Callable[[Any], LearningRule]
    architectures: frozenset[str] | None = None
    summary: str = ""
    resumable: bool = False


# --------------------------------------------------------------------------- reporters


class Reporter:
    """Tells an experiment tracker about a run as it happens; override the
    events you need (each does nothing here). The store stays the source of
    truth: a reporter only watches, and one that raises is reported once and
    switched off for the run (:mod:`snnbench.running.reporting`).

    Events come in this order: ``suite_started``; for each cell that runs,
    ``epoch_closed`` per epoch then ``cell_finished``; ``suite_finished``
    (not after an interrupt); then ``close``, always."""

    def suite_started(self, suite: Suite, environment: dict[str, Any]) -> None:
        """The suite's name, its cells as they will run (``suite.cells``), and
        the provenance every row records (libraries, commit, machine)."""

    def epoch_closed(self, cell: Cell, stats: EpochStats) -> None:
        """An epoch closed: ``stats.loss`` (None for a rule without one),
        ``.train_accuracy``, ``.stage``, ``.seconds``."""

    def cell_finished(self, cell: Cell, row: ResultRow) -> None:
        """The cell's row is in the store: ``row.status``, ``.reason``, ``.metrics``."""

    def suite_finished(self, suite: Suite, summary: RunSummary) -> None:
        """Every cell ran or was found recorded: ``summary.ok``, ``.failed``, ``.cached``, ``.skipped``."""

    def close(self) -> None:
        """The last call, also after an interrupt: end what is still open."""


@dataclass(frozen=True)
class ReporterSpec:
    """``build(params)`` returns a :class:`Reporter` for one suite's run.

    ``requires`` names the modules it imports (``("mlflow",)``), and
    ``install`` what to ``pip install`` when one is missing
    (``"snnbench[mlflow]"``): naming a reporter whose library is absent is
    then an error at validate time, before anything trains. ``build`` and the
    reporter import them, so ``snnbench ls`` and ``validate`` never do."""

    name: str
    params: type
    build: Callable[[Any], Reporter]
    requires: tuple[str, ...] = ()
    install: str = ""
    summary: str = ""

    def unavailable(self) -> str | None:
        """Why this reporter cannot run here (a module it requires is not installed), or None."""
        missing = [module for module in self.requires if importlib.util.find_spec(module) is None]
        if not missing:
            return None
        return (f"reporter {self.name!r} needs {', '.join(missing)}, which is not installed"
                + (f": pip install '{self.install}'" if self.install else ""))


ComponentSpec = DatasetSpec | EncoderSpec | NeuronSpec | ArchitectureSpec | LearningRuleSpec | ReporterSpec

@dataclass(frozen=True)
class ComponentKind:
    """A kind of component: its name, the spec its plugins register, the hook
    they register it through, the other names people type for it
    (``snnbench ls neurons``), and whether every cell takes one from the
    suite's matrix (a reporter watches the whole run instead: ``[report]``)."""

    name: str
    spec: type
    hook: str
    aliases: tuple[str, ...]
    in_matrix: bool = True


#: Every plugin kind, the five a suite's matrix names first, in its order: the
#: one list every consumer (registries, hooks, suite matrix, store columns, CLI) reads.
COMPONENT_KINDS: tuple[ComponentKind, ...] = (
    ComponentKind("dataset", DatasetSpec, "register_datasets", ("datasets",)),
    ComponentKind("encoder", EncoderSpec, "register_encoders", ("encoders",)),
    ComponentKind("neuron", NeuronSpec, "register_neuron_models", ("neurons", "neuron_models", "neuron-models")),
    ComponentKind("architecture", ArchitectureSpec, "register_architectures", ("architectures",)),
    ComponentKind("learning_rule", LearningRuleSpec, "register_learning_rules",
                  ("learning_rules", "learning-rules", "learning-rule", "rules")),
    ComponentKind("reporter", ReporterSpec, "register_reporters", ("reporters", "trackers"), in_matrix=False),
)
#: the kinds that make up a cell (its matrix keys, label, config and store columns)
KINDS: tuple[str, ...] = tuple(kind.name for kind in COMPONENT_KINDS if kind.in_matrix)
#: every kind plugins register (the registries, ``snnbench ls``)
PLUGIN_KINDS: tuple[str, ...] = tuple(kind.name for kind in COMPONENT_KINDS)
SPEC_TYPES: dict[str, type] = {kind.name: kind.spec for kind in COMPONENT_KINDS}


def iter_spiking_layers(module: nn.Module) -> Iterator[tuple[str, SpikingLayer]]:
    """The outermost spiking layers of a module, with their qualified names."""
    for name, child in module.named_children():
        if isinstance(child, SpikingLayer):
            yield name, child
        else:
            for sub, layer in iter_spiking_layers(child):
                yield f"{name}.{sub}", layer


class SpikingModel(nn.Module):
    """Encoder followed by network: ``[B, ...] -> [T, B, n_classes]``;
    ``timesteps`` is the T the encoder emits, where it is known."""

    def __init__(self, encoder: nn.Module, network: nn.Module, timesteps: int | None = None):
        super().__init__()
        self.encoder = encoder
        self.network = network
        self.timesteps = timesteps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(self.encoder(x))
