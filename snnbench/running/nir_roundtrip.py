"""The round trip: a network exported to NIR, loaded back by other tools, measured.

An export that loads is not yet an export that means the same: readers
differ in how they turn NIR's continuous-time neurons back into steps (the
time step, whether the input is scaled by ``r``, when a spike resets the
membrane, whether a neuron fires on reaching the threshold or on passing
it). So the graph goes back into each framework that reads NIR and is
installed here (snnTorch's ``import_from_nir``, Norse's ``from_nir``,
SpikingJelly's ``nir_exchange.import_from_nir``), and each runs the cell's
test split step by step on the same encoded input as snnbench's own model,
on the CPU. For each: its accuracy (argmax of output spike counts, as
:func:`snnbench.running.metrics.evaluate`) and, for every spiking layer, the
share of (step, sample, neuron) slots whose spike equals the one snnbench's
layer fired (1.0: the same spike trains). A layer's agreement includes what
earlier layers' disagreements did to its input: it is what running the
exported network elsewhere would give.

Where a reader gets a convention of its own wrong for a graph it accepts
(snnTorch's flatten keeps NIR's dims, which leave out the batch, so it
flattens the batch too), the correction is made here and named in the
framework's notes; a reader that cannot load the graph at all is reported
with its error, and the others still run.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.metadata
import importlib.util
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from snnbench.api.contracts import DataSplit, SpikingModel
from snnbench.running.nir_export import Exported

#: the frameworks tried, in the order they are reported
FRAMEWORKS = ("snntorch", "norse", "spikingjelly")


@dataclass
class FrameworkResult:
    name: str
    version: str | None
    accuracy: float | None = None
    #: per spiking node of the graph: share of slots with the same spike as snnbench's layer
    agreement: dict[str, float] = field(default_factory=dict)
    #: why the framework did not run the graph (not installed, could not load it)
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def worst(self) -> float | None:
        return min(self.agreement.values()) if self.agreement else None


@dataclass
class RoundTrip:
    own_accuracy: float
    samples: int
    dt: float
    frameworks: list[FrameworkResult]

    @property
    def worst_agreement(self) -> float | None:
        """The lowest agreement of any layer in any framework that ran the graph."""
        values = [f.worst for f in self.frameworks if f.worst is not None]
        return min(values) if values else None

    def metrics(self) -> dict[str, Any]:
        """What a row records of the round trip (metric family ``nir``)."""
        ran = [f for f in self.frameworks if f.error is None]
        return {
            "nir_agreement": self.worst_agreement,
            "nir_own_accuracy": self.own_accuracy,
            "nir_accuracy": {f.name: f.accuracy for f in ran},
            "nir_agreement_per_layer": {f.name: f.agreement for f in ran},
            "nir_frameworks": {f.name: {"version": f.version, "error": f.error, "notes": f.notes}
                               for f in self.frameworks},
            "nir_dt": self.dt,
            "nir_samples": self.samples,
        }

    def describe(self) -> str:
        lines = [f"round trip on {self.samples} test samples, dt = {self.dt:g} s: snnbench's own model "
                 f"{100 * self.own_accuracy:.2f}%"]
        for f in self.frameworks:
            head = f"  {f.name} {f.version or ''}".rstrip()
            if f.error is not None:
                lines.append(f"{head}: not run: {f.error}")
            else:
                gap = 100 * (f.accuracy - self.own_accuracy)
                lines.append(f"{head}: accuracy {100 * f.accuracy:.2f}% ({gap:+.2f} points), spike agreement "
                             + ", ".join(f"{node} {value:.6f}" for node, value in f.agreement.items()))
            lines += [f"    note: {note}" for note in f.notes]
        return "\n".join(lines)


class _Reader:
    """One framework's model of the graph, stepped one time step per call."""

    def __init__(self, module: nn.Module, step: Callable[[torch.Tensor], torch.Tensor], reset: Callable[[], None],
                 notes: list[str]):
        self.module, self.step, self.reset, self.notes = module, step, reset, notes


def _quietly(load: Callable[[], Any]) -> Any:
    """Call an importer that prints and logs warnings about its own
    conventions; they are reported through the framework's notes instead."""
    with contextlib.redirect_stdout(io.StringIO()), _logging_off():
        return load()


@contextlib.contextmanager
def _logging_off():
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def _batch_flatten(module: nn.Module) -> list[str]:
    """Shift the dims of a reader's ``nn.Flatten`` made from NIR's, which
    leave out the batch (as SpikingJelly's importer does), so the batch is
    not flattened with the features; the note that says so, if any was."""
    shifted = 0
    for layer in module.modules():
        if isinstance(layer, nn.Flatten):
            layer.start_dim += layer.start_dim >= 0
            layer.end_dim += layer.end_dim >= 0
            shifted += 1
    return ["its nn.Flatten takes NIR's start_dim/end_dim (which leave out the batch) as torch dims, so "
            "it flattens the batch too: shifted by one here"] if shifted else []


def _stateful(module: nn.Module) -> tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[], None]]:
    """Step and reset for a module whose forward takes and returns its state."""
    state: dict[str, Any] = {"value": None}

    def step(x: torch.Tensor) -> torch.Tensor:
        output, state["value"] = module(x, state["value"])
        return output

    def reset() -> None:
        state["value"] = None

    return step, reset


def _snntorch(graph, dt: float) -> _Reader:
    import snntorch
    from snntorch.import_nir import import_from_nir

    if dt != 1e-4:
        raise ValueError(f"snnTorch reads every graph at dt = 1e-4 s; this one is at {dt:g} s")
    module = _quietly(lambda: import_from_nir(graph))
    notes = ["import_from_nir has no time step argument: it reads every graph at dt = 1e-4 s",
             *_batch_flatten(module)]

    def step(x: torch.Tensor) -> torch.Tensor:
        output, _ = module(x)
        return output

    def reset() -> None:
        for layer in module.modules():
            if isinstance(layer, snntorch.SpikingNeuron):
                layer.reset_hidden()

    return _Reader(module, step, reset, notes)


def _norse(graph, dt: float) -> _Reader:
    import norse.torch

    module = _quietly(lambda: norse.torch.from_nir(graph, dt=dt))
    step, reset = _stateful(module)
    return _Reader(module, step, reset, ["its LIF leaves out the graph's r (from_nir warns that r 'diverges' from "
                                         "1), so inputs enter scaled by dt/tau", *_batch_flatten(module)])


def _spikingjelly(graph, dt: float) -> _Reader:
    from spikingjelly.activation_based.nir_exchange.from_nir import import_from_nir

    module = _quietly(lambda: import_from_nir(graph, dt=dt, step_mode="s"))
    step, reset = _stateful(module)
    return _Reader(module, step, reset, ["its neurons fire on v >= v_threshold (NIR: v > v_threshold)"])


_LOADERS = {"snntorch": _snntorch, "norse": _norse, "spikingjelly": _spikingjelly}


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _spikes_of(output: Any) -> torch.Tensor:
    """A neuron module's spikes from what its forward returns ((spikes, state) or spikes)."""
    return (output[0] if isinstance(output, tuple) else output).detach()


def _load(name: str, exported: Exported) -> tuple[_Reader | None, FrameworkResult]:
    result = FrameworkResult(name, _version(name))
    if importlib.util.find_spec(name) is None:
        result.error = f"not installed (pip install {name})"
        return None, result
    try:
        reader = _LOADERS[name](copy.deepcopy(exported.graph), exported.dt)
    except Exception as error:  # a reader's refusal is its finding, reported beside the others'
        node = error.args[0] if isinstance(error, KeyError) and error.args else None
        result.error = (f"could not load the graph: it has no mapping for node {node} "
                        f"({type(exported.graph.nodes[node]).__name__})" if node in exported.graph.nodes else
                        f"could not load the graph: {type(error).__name__}: {str(error).strip().splitlines()[0]}")
        return None, result
    result.notes = reader.notes
    reader.module.eval()
    return reader, result


@torch.no_grad()
def round_trip(model: SpikingModel, exported: Exported, test: DataSplit, batch_size: int,
               frameworks: tuple[str, ...] = FRAMEWORKS) -> RoundTrip:
    """Run ``test`` through snnbench's ``model`` (on the CPU) and through the
    graph as each framework reads it (module docstring)."""
    model = model.cpu().eval()
    spiking = exported.spiking
    own_layers = {layer.node: model.get_submodule(layer.module) for layer in spiking}
    readers = [_load(name, exported) for name in frameworks]
    hits = {name: 0 for name in frameworks}
    own_hits = 0
    same = {name: {layer.node: 0 for layer in spiking} for name in frameworks}
    slots = {layer.node: 0 for layer in spiking}
    for start in range(0, len(test), batch_size):
        inputs = test.inputs[start:start + batch_size].cpu()
        targets = test.targets[start:start + batch_size].cpu()
        encoded = model.encoder(inputs)
        own = _recorded(own_layers, lambda: model.network(encoded))
        output, own_spikes = own
        own_hits += int((output.sum(0).argmax(-1) == targets).sum())
        for node, spikes in own_spikes.items():
            slots[node] += spikes.numel()
        for (reader, result), name in zip(readers, frameworks):
            if reader is None:
                continue
            try:
                theirs, their_spikes = _stepped(reader, encoded, [layer.node for layer in spiking])
            except Exception as error:  # a framework that fails on the data is reported, not fatal
                result.error = f"failed to run the graph: {type(error).__name__}: {str(error).splitlines()[0]}"
                readers[frameworks.index(name)] = (None, result)
                continue
            hits[name] += int((theirs.sum(0).argmax(-1) == targets).sum())
            for node, spikes in their_spikes.items():
                same[name][node] += int(((spikes != 0) == (own_spikes[node] != 0)).sum())
    results = []
    for reader, result in readers:
        if result.error is None:
            result.accuracy = hits[result.name] / len(test)
            result.agreement = {node: same[result.name][node] / slots[node] for node in slots}
        results.append(result)
    return RoundTrip(own_hits / len(test), len(test), exported.dt, results)


def _recorded(layers: dict[str, nn.Module], run: Callable[[], torch.Tensor]
              ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``run()``'s output and what each of ``layers`` output meanwhile."""
    captured: dict[str, torch.Tensor] = {}
    handles = [layer.register_forward_hook(lambda module, args, output, node=node: captured.__setitem__(
        node, _spikes_of(output))) for node, layer in layers.items()]
    try:
        return run(), captured
    finally:
        for handle in handles:
            handle.remove()


def _stepped(reader: _Reader, encoded: torch.Tensor, nodes: list[str]
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The framework's output spikes ``[T, B, classes]`` and each spiking
    node's spikes ``[T, B, ...]``, stepping it through ``encoded``."""
    modules = {node: reader.module.get_submodule(node) for node in nodes}
    reader.reset()
    outputs, per_node = [], {node: [] for node in nodes}
    for step in encoded:
        output, captured = _recorded(modules, lambda: reader.step(step.contiguous()))
        outputs.append(output)
        for node in nodes:
            per_node[node].append(captured[node])
    return torch.stack(outputs), {node: torch.stack(values) for node, values in per_node.items()}
