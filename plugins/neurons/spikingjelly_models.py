"""SpikingJelly's IFNode, LIFNode and ParametricLIFNode in multi-step mode:
all T steps in one call, one kernel on CUDA.

Params are written in snnTorch's terms (``mem = beta * mem + I``) and mapped:
``decay_input=False`` and ``tau = 1 / (1 - beta)`` give the same charge
equation; ``reset="subtract"`` is ``v_reset=None``, ``"zero"`` is
``v_reset=0``; the reset is detached (``detach_reset=True``), as in snnTorch.
Two differences remain and are documented rather than hidden: SpikingJelly
applies a spike's reset right after the spike (before the next decay),
snnTorch at the next update (after it), so *subtract*-reset trajectories
differ by a factor ``beta`` on the reset term (zero reset agrees exactly);
and SpikingJelly fires on ``v >= threshold``, snnTorch on ``mem > threshold``.

Surrogates: ``atan`` and ``sigmoid`` are SpikingJelly's ``ATan`` and
``Sigmoid`` with the same slope. ``fast_sigmoid`` has no built-in twin (its
nearest, ``SoftSign``, is slope/2 times steeper, which measurably hurt
training: CSNN on 10k MNIST images, direct input, 77.8% vs 94.8%), so the
layer runs on a membrane scaled by k = slope (input and threshold times k,
which changes no spike) with ``SuperSpike(alpha=1/k)``, whose derivative
chained through the scaling is exactly 1/(1 + k|u|)^2. It stays a built-in
surrogate, so the Triton kernel still runs.

``backend`` picks SpikingJelly's CUDA implementation (``triton``, its native
``cuda`` ops when built, or its ``torch`` reference); SpikingJelly reads that
choice from an environment variable at import, so the layer sets it on
SpikingJelly's per-neuron selection before each call. A backend that cannot
run raises; the one that really ran is recorded.

Measured, a layer keeps SpikingJelly's ``v_seq`` (the membrane after each
step's reset) and reports it (``report_membrane``). NeuroBench has no
operation count for these nodes; LIF and PLIF are counted as the snnTorch
Leaky they mirror (4 an update), IF as Leaky without the leak (3).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Literal

import torch
from snnbench_plugins.neurons.parameters import LIFParams, NeuronParams

from snnbench.api import (
    NeuronDynamics,
    NeuronSpec,
    SnnbenchError,
    SpikingLayer,
    constant_step,
    fp32_current,
    hookimpl,
    is_constant_in_time,
    listening,
    param,
    repeat_in_time,
    report_membrane,
)

Backend = Literal["auto", "triton", "cuda", "torch"]
_BACKEND_HELP = ("CUDA implementation: triton, cuda (native ops, when built), torch (reference), "
                 "or auto (SpikingJelly's choice); on CPU there is one implementation")


@dataclass(frozen=True)
class SJIFParams(NeuronParams):
    backend: Backend = field(default="auto", metadata={"help": _BACKEND_HELP})


@dataclass(frozen=True)
class SJLIFParams(LIFParams):
    backend: Backend = field(default="auto", metadata={"help": _BACKEND_HELP})


@dataclass(frozen=True)
class SJPLIFParams(SJLIFParams):
    beta: float = param(0.5, "initial membrane decay per step; learned, one per layer", gt=0, lt=1)


class BackendUnavailable(SnnbenchError):
    """The SpikingJelly backend asked for cannot run here."""


class SpikingJellyNeuron(SpikingLayer):
    """One SpikingJelly node in multi-step mode; ``ops`` names its kernel family
    under ``spikingjelly._ops`` (whose selection says what really ran)."""

    ops: str
    operations_per_update = 4

    def __init__(self, params, node_class, **node_args):
        super().__init__()
        from spikingjelly.activation_based import surrogate

        self.backend = params.backend
        slope = params.surrogate_slope
        if params.surrogate == "fast_sigmoid":  # exact, on a membrane scaled by slope (module docstring)
            self.scale, surrogate_function = slope, surrogate.SuperSpike(alpha=1.0 / slope)
        else:
            self.scale = 1.0
            surrogate_function = {"atan": surrogate.ATan, "sigmoid": surrogate.Sigmoid}[params.surrogate](alpha=slope)
        self.node = node_class(v_threshold=params.threshold * self.scale,
                               v_reset=None if params.reset == "subtract" else 0.0,
                               surrogate_function=surrogate_function, detach_reset=True, step_mode="m",
                               **node_args)

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        from spikingjelly.activation_based import functional

        functional.reset_net(self.node)
        current = fp32_current(current)  # else the node keeps its membrane in bf16 under autocast
        if self.scale != 1.0:
            current = repeat_in_time(constant_step(current) * self.scale, len(current)) \
                if is_constant_in_time(current) else current * self.scale
        selection = self._selection()
        if current.device.type == "cuda":
            self._request(selection, current.device)
        elif self.backend not in ("auto", "torch"):
            raise BackendUnavailable(f"SpikingJelly backend {self.backend!r} needs CUDA; this layer runs on "
                                     f"{current.device.type}")
        measured = listening()
        self.node.store_v_seq = measured
        spikes = self.node(current)
        self.backend_used = self._ran(selection, current)
        if measured:
            report_membrane(self, self.node.v_seq)
            self.node.store_v_seq = False
        return spikes

    def dynamics(self) -> NeuronDynamics:
        """In snnTorch's terms (module docstring): the membrane scale undone,
        firing on reaching the threshold, as SpikingJelly's nodes fire."""
        node = self.node
        leak = {"lif": lambda: 1.0 - 1.0 / node.tau, "plif": lambda: 1.0 - float(node.w.detach().sigmoid())}
        kind, beta = ("if", None) if self.ops == "if_" else ("lif", leak[self.ops]())
        return NeuronDynamics(kind, node.v_threshold / self.scale, "subtract" if node.v_reset is None else "zero",
                              beta=beta, fires_at_threshold=True)

    def _selection(self):
        """SpikingJelly's private per-neuron CUDA selection, or None if its layout changed."""
        try:
            return importlib.import_module(f"spikingjelly._ops.{self.ops}")._selection
        except (ImportError, AttributeError):
            return None

    def _request(self, selection, device: torch.device) -> None:
        if selection is None:
            if self.backend != "auto":
                raise BackendUnavailable("this SpikingJelly version offers no backend choice; use backend = 'auto'")
            return
        if selection._requested != self.backend:
            selection._requested = self.backend
            selection._selections.clear()
        try:
            selection._select(device.index if device.index is not None else torch.cuda.current_device())
        except (RuntimeError, ImportError, ValueError) as error:
            raise BackendUnavailable(f"SpikingJelly backend {self.backend!r} cannot run here: {error}") from None

    def _ran(self, selection, x: torch.Tensor) -> str:
        """The implementation SpikingJelly really dispatched to for this input:
        it decides per call (device, dtype, surrogate) and says so only in an
        INFO log line, so the requested backend is not what gets recorded."""
        try:
            from spikingjelly._ops.surrogate import _DTYPES, _surrogate_spec
        except ImportError:
            return "spikingjelly-unknown"
        if _surrogate_spec(self.node.surrogate_function) is None or x.dtype not in _DTYPES:
            return "spikingjelly-torch-reference"
        if x.device.type != "cuda":
            return "spikingjelly-cpu"
        index = x.device.index if x.device.index is not None else torch.cuda.current_device()
        selected = selection._selections.get(index) if selection is not None else None
        return f"spikingjelly-{selected.name}" if selected is not None else "spikingjelly-unknown"


class SpikingJellyLIF(SpikingJellyNeuron):
    ops = "lif"

    def __init__(self, params: SJLIFParams, features: tuple[int, ...] = ()):
        from spikingjelly.activation_based import neuron

        super().__init__(params, neuron.LIFNode, tau=1.0 / (1.0 - params.beta), decay_input=False)


class SpikingJellyIF(SpikingJellyNeuron):
    ops = "if_"
    operations_per_update = 3

    def __init__(self, params: SJIFParams, features: tuple[int, ...] = ()):
        from spikingjelly.activation_based import neuron

        super().__init__(params, neuron.IFNode)


class SpikingJellyPLIF(SpikingJellyNeuron):
    ops = "plif"

    def __init__(self, params: SJPLIFParams, features: tuple[int, ...] = ()):
        from spikingjelly.activation_based import neuron

        super().__init__(params, neuron.ParametricLIFNode, init_tau=1.0 / (1.0 - params.beta), decay_input=False)


@hookimpl
def register_neuron_models(register):
    register(NeuronSpec("spikingjelly-lif", SJLIFParams, SpikingJellyLIF,
                        "SpikingJelly LIFNode in multi-step mode (Triton kernel on CUDA)"))
    register(NeuronSpec("spikingjelly-if", SJIFParams, SpikingJellyIF,
                        "SpikingJelly IFNode (no leak) in multi-step mode"))
    register(NeuronSpec("spikingjelly-plif", SJPLIFParams, SpikingJellyPLIF,
                        "SpikingJelly ParametricLIFNode: LIF with a learned time constant (Fang et al. 2021)"))
