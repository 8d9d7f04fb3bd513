"""Keeping a cell's trained model, and building it again from the file.

:func:`capture` runs in the process that trained the cell (this one, or a
Ray worker): right after training, before anything is measured, it takes the
model's ``state_dict``, the random state the measurements start from (a rate
encoder draws its spikes from it) and what rebuilds the network, as the
bytes of one safetensors file (:mod:`snnbench.results.models`). The bytes
travel on the cell's row (``ResultRow.kept_model``) to the one process that
writes the store, which keeps them beside it (:func:`keep`) before it
records the row, so a distributed run keeps its models as a local one does.

:func:`rebuild` is the way back: the cell parsed from its recorded config,
its model assembled as a run assembles it (:func:`snnbench.running.assembly.assemble`),
the weights loaded strictly (every tensor of the file, and no other, in the
shape the network has), and the random state to restore before measuring,
so measuring it again on the same machine gives the row's own numbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch

from snnbench.api.contracts import KINDS, DatasetInfo, SpikingModel
from snnbench.api.errors import SnnbenchError
from snnbench.api.records import Cell, Choice, EnergyTable, ResultRow
from snnbench.api.training_config import TrainingConfig
from snnbench.definition.params import ParamError, parse_params
from snnbench.definition.plugins import PluginSet
from snnbench.results.models import FORMAT, ModelFileError, ModelFolder, ModelRef, header, reference, serialize
from snnbench.running.assembly import assemble, encoded_shape
from snnbench.runtime import library_versions

_MODEL = "model."
_RNG = "rng."


@dataclass(frozen=True)
class KeptModel:
    """A trained model's file, as bytes, and the reference its row records."""

    data: bytes
    ref: ModelRef

    def attach(self, row: ResultRow) -> ResultRow:
        row.kept_model = self.data
        row.environment["model"] = self.ref.as_dict()
        return row


def capture(model: SpikingModel, cell: Cell, info: DatasetInfo, device: torch.device,
            components: Mapping[str, Any]) -> KeptModel:
    """The file of ``model`` as trained for ``cell``; call it before the
    model is measured (its random state is the measurements' start).
    ``components`` is the row's provenance (which plugin and version supplied
    each component). Nothing in the header varies between two runs that
    train the same weights, so they write the same file."""
    tensors = {_MODEL + name: tensor.detach().to("cpu", copy=True).contiguous()
               for name, tensor in model.state_dict().items()}
    tensors[_RNG + "torch"] = torch.get_rng_state()
    if device.type == "cuda":
        tensors[_RNG + "cuda"] = torch.cuda.get_rng_state(device)
    metadata = {
        "format": FORMAT,
        "suite": cell.suite,
        "label": cell.label,
        "config_hash": cell.config_hash,
        "seed": str(cell.seed),
        "device_type": device.type,
        "config": json.dumps(cell.config(), sort_keys=True),
        "dataset": json.dumps({"name": info.name, "kind": info.kind, "input_shape": list(info.input_shape),
                               "n_classes": info.n_classes}),
        "timesteps": json.dumps(model.timesteps),
        "components": json.dumps(components, sort_keys=True),
        "libraries": json.dumps(library_versions(), sort_keys=True),
    }
    data = serialize(tensors, metadata)
    return KeptModel(data, reference(data, cell.config_hash, cell.seed, device.type))


def keep(row: ResultRow, store: Path) -> None:
    """Write the model a row carries into the folder beside ``store``, and let
    go of its bytes (the row only names the file from here on)."""
    if row.kept_model is None:
        return
    ModelFolder(store).keep(row.kept_model, ModelRef(**row.environment["model"]))
    row.kept_model = None


@dataclass
class Rebuilt:
    """A kept model built again, in eval mode on its device."""

    model: SpikingModel
    cell: Cell
    info: DatasetInfo
    #: the per-step shape of what its encoder emits: its network's input
    step_shape: tuple[int, ...]
    #: the file's header: config, dataset, plugins and libraries that built it
    metadata: dict[str, str]
    #: the random state right after training (torch's, and CUDA's for a CUDA cell)
    random_state: dict[str, torch.Tensor] = field(default_factory=dict)
    #: where this snnbench's plugins differ from the ones that built it
    differences: list[str] = field(default_factory=list)

    def restore_random_state(self, device: torch.device) -> None:
        """Put the random state back as it was when the cell's measurements began."""
        torch.set_rng_state(self.random_state["torch"])
        if device.type == "cuda" and "cuda" in self.random_state:
            torch.cuda.set_rng_state(self.random_state["cuda"], device)


def rebuild(data: bytes, where: Path | str, plugins: PluginSet, device: torch.device) -> Rebuilt:
    """The model of a kept file (already checked against its row), on ``device``."""
    metadata = header(data, where)
    try:
        tensors = safetensors.torch.load(data)
    except safetensors.SafetensorError as error:
        raise ModelFileError(f"{where}: its tensors cannot be read: {error}") from None
    cell = _cell(metadata, plugins, where)
    dataset = json.loads(metadata["dataset"])
    info = DatasetInfo(dataset["name"], dataset["kind"], tuple(dataset["input_shape"]), dataset["n_classes"])
    sample = torch.zeros((2, *info.input_shape), device=device)
    try:
        model = assemble(cell, plugins.registries, info, sample, device)
    except SnnbenchError:
        raise
    except Exception as error:  # a plugin that no longer builds what it built then
        raise SnnbenchError(f"{where}: the network of {cell.label} cannot be built here: "
                            f"{type(error).__name__}: {error}") from None
    state = {name[len(_MODEL):]: tensor for name, tensor in tensors.items() if name.startswith(_MODEL)}
    problems = model.load_state_dict(state, strict=False)
    if problems.missing_keys or problems.unexpected_keys:
        raise ModelFileError(f"{where}: its weights do not fit the network {cell.label} builds here: "
                             + "; ".join(f"{what}: {', '.join(keys[:6])}" + (" ..." if len(keys) > 6 else "")
                                         for what, keys in (("missing", problems.missing_keys),
                                                            ("not in the network", problems.unexpected_keys))
                                         if keys))
    model.eval()
    random_state = {name[len(_RNG):]: tensor for name, tensor in tensors.items() if name.startswith(_RNG)}
    step_shape = tuple(encoded_shape(model.encoder, sample)[1:])
    return Rebuilt(model, cell, info, step_shape, metadata, random_state, _differences(metadata, plugins, cell))


def _cell(metadata: dict[str, str], plugins: PluginSet, where: Path | str) -> Cell:
    """The cell of a kept model, parsed from its config as a suite's would be;
    one whose hash comes out different would be another cell, and is refused."""
    config = json.loads(metadata["config"])
    choices = {}
    try:
        for kind in KINDS:
            described = config[kind]
            component = described.get("variant_of") or described["name"]
            spec = plugins.registries[kind].get(component).spec
            choices[kind] = Choice(described["name"], parse_params(spec.params, described["params"]),
                                   described.get("variant_of"))
        training = parse_params(TrainingConfig, config["training"])
        energy = EnergyTable(**config["energy"]) if "energy" in config else None
    except (ParamError, TypeError) as error:
        key = f": {error.key} = {error.value!r}" if getattr(error, "key", None) else ""
        raise SnnbenchError(f"{where}: its config no longer parses here{key}: {error}") from None
    cell = Cell(suite=metadata["suite"], training=training, seed=int(metadata["seed"]), energy=energy, **choices)
    if cell.config_hash != metadata["config_hash"]:
        raise SnnbenchError(f"{where}: its config parses here to cell {cell.config_hash}, not the "
                            f"{metadata['config_hash']} it was trained as (a plugin's params changed?)")
    return cell


def _differences(metadata: dict[str, str], plugins: PluginSet, cell: Cell) -> list[str]:
    """Each component whose plugin version here is not the one that built the model."""
    built_by = json.loads(metadata["components"])
    found = []
    for kind in KINDS:
        entry = plugins.registries[kind].get(cell.choice(kind).component)
        then = built_by.get(kind, {})
        if then.get("version") != entry.version or then.get("plugin") != entry.plugin:
            found.append(f"{kind} {cell.choice(kind).name}: built by {then.get('plugin')} {then.get('version')}, "
                         f"here {entry.plugin} {entry.version}")
    return found
