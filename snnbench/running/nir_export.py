"""A trained network as a NIR graph (the Neuromorphic Intermediate Representation).

NIR is how spiking networks travel between simulators and chips (snnTorch,
Norse, SpikingJelly, Sinabs, Rockpool, Lava read it). Its neurons are
continuous-time ODEs; snnbench's run in discrete steps, written in
snnTorch's terms (:class:`snnbench.api.NeuronDynamics`). A step of ``dt``
seconds, integrated by forward Euler, maps one onto the other, the way
snnTorch's own ``export_to_nir`` does it:

- LIF ``mem_t = beta mem_{t-1} + I_t``: ``tau = dt / (1 - beta)`` and
  ``r = tau / dt`` (so the input enters unscaled), ``v_leak = 0``;
- CubaLIF (snnTorch's Synaptic): as LIF for the membrane, and the synaptic
  current's ``tau_syn = dt / (1 - alpha)``, ``w_in = tau_syn / dt``;
- IF ``mem_t = mem_{t-1} + I_t``: ``r = 1 / dt``;
- ``v_threshold`` is the threshold and ``v_reset = 0``.

``dt`` is not stored in NIR's nodes (only in the graph's metadata, which
importers do not read), so a reader must be told it: :data:`DEFAULT_DT`,
1e-4 s, is the step snnTorch's ``import_from_nir`` assumes (it has no
argument for it) and SpikingJelly's default.

What NIR cannot say, a network cannot carry, and export names the first
layer that stops it: max-pooling (NIR pools by sum or average), a reset that
subtracts the threshold (NIR's neurons reset to ``v_reset``), a neuron
whose dynamics are none of these (adaptive threshold, recurrence), batch
norm, or a block that runs its own ``forward`` instead of a chain of layers.
The graph's input is what the cell's encoder emits per step: the encoder
(rate coding, a learned encoder) stays outside, as it is not part of the
network a chip runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from snnbench.api.contracts import NeuronDynamics, SpikingLayer
from snnbench.api.errors import SnnbenchError
from snnbench.api.sequence import TimeDistributed

#: seconds per step: what snnTorch's import_from_nir assumes and SpikingJelly's defaults to
DEFAULT_DT = 1e-4
#: layers that pass values through unchanged in evaluation, left out of the graph
_PASS_THROUGH = (nn.Identity, nn.Dropout)


class NotExpressible(SnnbenchError):
    """A network, or one of its layers, that NIR cannot express."""


def require_nir():
    """The ``nir`` package, or an error saying how to install it."""
    try:
        import nir
    except ImportError:
        raise SnnbenchError("exporting to NIR needs the nir package: pip install 'snnbench[nir]'") from None
    return nir


@dataclass
class ExportedLayer:
    """One node of the graph and the module of the network it came from."""

    node: str
    module: str
    kind: str
    description: str
    notes: list[str] = field(default_factory=list)


@dataclass
class Exported:
    graph: Any  # nir.NIRGraph
    dt: float
    input_shape: tuple[int, ...]
    layers: list[ExportedLayer]

    @property
    def spiking(self) -> list[ExportedLayer]:
        return [layer for layer in self.layers if layer.kind in ("LIF", "CubaLIF", "IF")]

    def describe(self) -> str:
        lines = [f"input: {list(self.input_shape)} per step (the encoder's output; the encoder stays outside)"]
        for layer in self.layers:
            lines.append(f"{layer.node}: {layer.description}  <- {layer.module}")
            lines += [f"    note: {note}" for note in layer.notes]
        return "\n".join(lines)


def _chain(module: nn.Module, name: str) -> Iterator[tuple[str, nn.Module]]:
    """The layers of a network in the order they run, through nested
    ``nn.Sequential`` and :class:`TimeDistributed` wrappers."""
    if isinstance(module, nn.Sequential):
        for child_name, child in module.named_children():
            yield from _chain(child, f"{name}.{child_name}" if name else child_name)
    elif isinstance(module, TimeDistributed):
        yield from _chain(module.module, name)
    else:
        yield name, module


def _node_name(kind: str, module_name: str) -> str:
    return f"{kind.lower()}_{module_name.replace('.', '_')}"


def _array(value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A per-neuron parameter of a layer of ``shape``, as NIR wants it."""
    tensor = value.detach().cpu().double() if isinstance(value, torch.Tensor) else torch.tensor(float(value))
    return np.broadcast_to(tensor.numpy(), shape).astype(np.float64).copy()


def _neuron(nir, dynamics: NeuronDynamics, shape: tuple[int, ...], dt: float, where: str) -> tuple[Any, str, list[str]]:
    if dynamics.reset != "zero":
        raise NotExpressible(f"layer {where}: reset = {dynamics.reset!r} (the threshold is taken off the membrane "
                             "after a spike), and NIR's neurons reset the membrane to v_reset: train it with "
                             "reset = 'zero' to export it")
    threshold = _array(dynamics.threshold, shape)
    zeros = np.zeros(shape)
    notes = []
    if dynamics.fires_at_threshold:
        notes.append("fires on mem >= threshold (SpikingJelly's rule); NIR fires on mem > threshold, which differs "
                     "only where the membrane lands exactly on the threshold")
    if dynamics.kind == "if":
        node = nir.IF(r=np.full(shape, 1.0 / dt), v_threshold=threshold, v_reset=zeros)
        return node, f"IF r=1/dt={1.0 / dt:g} v_threshold={dynamics.threshold:g}", notes
    beta = _array(dynamics.beta, shape)
    if not ((beta > 0) & (beta < 1)).all():
        raise NotExpressible(f"layer {where}: a membrane decay beta outside (0, 1) has no time constant")
    tau = dt / (1.0 - beta)
    shown = f"beta={_shown(dynamics.beta)} -> tau={_shown(tau)} s"
    if dynamics.kind == "lif":
        node = nir.LIF(tau=tau, r=tau / dt, v_leak=zeros.copy(), v_threshold=threshold, v_reset=zeros.copy())
        return node, f"LIF {shown}, r=tau/dt, v_threshold={dynamics.threshold:g}, v_reset=0", notes
    alpha = _array(dynamics.alpha, shape)
    tau_syn = dt / (1.0 - alpha)
    node = nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau, r=tau / dt, v_leak=zeros.copy(), v_threshold=threshold,
                       v_reset=zeros.copy(), w_in=tau_syn / dt)
    return node, (f"CubaLIF {shown}, alpha={_shown(dynamics.alpha)} -> tau_syn={_shown(tau_syn)} s, r=tau_mem/dt, "
                  f"w_in=tau_syn/dt, v_threshold={dynamics.threshold:g}, v_reset=0"), notes


def _shown(value: Any) -> str:
    array = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value, dtype=float)
    unique = np.unique(array)
    return f"{unique[0]:.6g}" if unique.size == 1 else f"{unique.min():.6g}..{unique.max():.6g} (per neuron)"


def _pair(value: Any) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _stateless(nir, module: nn.Module, shape: tuple[int, ...], where: str) -> tuple[Any, str, str]:
    """The NIR node of a stateless layer, its kind and description."""
    if isinstance(module, nn.Linear):
        weight = module.weight.detach().cpu().numpy().astype(np.float32)
        if module.bias is None:
            return nir.Linear(weight=weight), "Linear", f"Linear {module.in_features}->{module.out_features}"
        return (nir.Affine(weight=weight, bias=module.bias.detach().cpu().numpy().astype(np.float32)), "Affine",
                f"Affine {module.in_features}->{module.out_features}")
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        if isinstance(module.padding, str) or module.padding_mode != "zeros":
            raise NotExpressible(f"layer {where} ({type(module).__name__}): padding {module.padding!r} "
                                 f"({module.padding_mode}): export needs explicit zero padding")
        weight = module.weight.detach().cpu().numpy().astype(np.float32)
        bias = (module.bias.detach().cpu().numpy() if module.bias is not None
                else np.zeros(module.out_channels)).astype(np.float32)
        common = dict(weight=weight, stride=module.stride, padding=module.padding, dilation=module.dilation,
                      groups=module.groups, bias=bias)
        if isinstance(module, nn.Conv1d):
            return nir.Conv1d(input_shape=shape[-1], **{k: v[0] if isinstance(v, tuple) else v
                                                        for k, v in common.items()}), "Conv1d", \
                f"Conv1d {module.in_channels}->{module.out_channels} k{module.kernel_size[0]}"
        return (nir.Conv2d(input_shape=tuple(shape[-2:]), **common), "Conv2d",
                f"Conv2d {module.in_channels}->{module.out_channels} k{module.kernel_size[0]}x{module.kernel_size[1]}")
    if isinstance(module, nn.AvgPool2d):
        if module.ceil_mode or module.divisor_override is not None or (
                any(_pair(module.padding)) and not module.count_include_pad):
            raise NotExpressible(f"layer {where} (AvgPool2d): ceil_mode, divisor_override or padding left out of "
                                 "the count have no NIR equivalent")
        kernel = _pair(module.kernel_size)
        stride = _pair(module.stride if module.stride is not None else module.kernel_size)
        return (nir.AvgPool2d(kernel_size=np.array(kernel), stride=np.array(stride),
                              padding=np.array(_pair(module.padding))), "AvgPool2d",
                f"AvgPool2d {kernel[0]}x{kernel[1]} stride {stride[0]}")
    if isinstance(module, nn.Flatten):
        # the module sees [T*B, ...]: NIR's dims leave out that batch dimension
        start = module.start_dim - 1 if module.start_dim > 0 else module.start_dim
        end = module.end_dim - 1 if module.end_dim > 0 else module.end_dim
        return (nir.Flatten(input_type={"input": np.array(shape)}, start_dim=start, end_dim=end), "Flatten",
                f"Flatten {list(shape)} dims {start}..{end}")
    raise NotExpressible(f"layer {where} ({type(module).__name__}): {_why_not(module)}")


def _why_not(module: nn.Module) -> str:
    if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)):
        return ("NIR has no max-pooling (it pools by sum or average): for the CSNN, train with "
                "[params.architecture.csnn] pooling = \"avg\" to export it")
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return "NIR has no batch norm (fold it into the layer before it to export)"
    if list(module.children()):
        return ("a block that runs its own forward; only a chain of layers (nn.Sequential of Linear, Conv, "
                "pooling, flatten and spiking layers) can be exported")
    return "no NIR node for this layer (NIR has Linear/Affine, Conv1d/2d, Sum/AvgPool2d, Flatten and neurons)"


@torch.no_grad()
def to_nir(network: nn.Module, step_shape: tuple[int, ...], dt: float = DEFAULT_DT,
           metadata: dict[str, Any] | None = None) -> Exported:
    """The NIR graph of ``network`` (``[T, B, *step_shape] -> [T, B, classes]``),
    its neurons discretised at ``dt`` seconds a step (module docstring)."""
    nir = require_nir()
    if not dt > 0:
        raise SnnbenchError(f"--dt {dt}: the step must be a positive number of seconds")
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array(step_shape)})}
    layers: list[ExportedLayer] = []
    shape = tuple(step_shape)
    for name, module in _chain(network, ""):
        where = f"network.{name}"
        if isinstance(module, _PASS_THROUGH):
            continue
        if isinstance(module, SpikingLayer):
            dynamics = module.dynamics()
            if dynamics is None:
                raise NotExpressible(f"layer {where} ({type(module).__name__}): its dynamics are none of NIR's "
                                     "LIF, CubaLIF or IF (adaptive threshold, recurrence or an alpha kernel)")
            node, description, notes = _neuron(nir, dynamics, shape, dt, f"{where} ({type(module).__name__})")
            kind = type(node).__name__
        else:
            node, kind, description = _stateless(nir, module, shape, where)
            notes = []
            shape = tuple(module(torch.zeros((1, *shape))).shape[1:])
        node_name = _node_name(kind, name)
        nodes[node_name] = node
        layers.append(ExportedLayer(node_name, where, kind, description, notes))
    if not any(layer.kind in ("LIF", "CubaLIF", "IF") for layer in layers):
        raise NotExpressible("the network has no spiking layer to export")
    nodes["output"] = nir.Output(output_type={"output": np.array(shape)})
    names = list(nodes)
    graph = nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])),
                         metadata={"dt": dt, "producer": "snnbench", **(metadata or {})})
    return Exported(graph, dt, tuple(step_shape), layers)


def write(exported: Exported, path: Path) -> None:
    """Write the graph as NIR's HDF5 file."""
    nir = require_nir()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        nir.write(path, exported.graph)
    except OSError as error:
        raise SnnbenchError(f"cannot write {path}: {error.strerror or error}") from None


def write_kept(data: bytes, where: Path, plugins, path: Path, dt: float = DEFAULT_DT,
               metadata: dict[str, Any] | None = None) -> Exported:
    """Write the NIR graph of a kept model's bytes (read from ``where``,
    checked against its row) to ``path``; ``plugins`` build the network."""
    from snnbench.running.kept_models import rebuild

    rebuilt = rebuild(data, where, plugins, torch.device("cpu"))
    exported = to_nir(rebuilt.model.network, rebuilt.step_shape, dt, metadata)
    write(exported, path)
    return exported
