"""``lif-fused``: snnbench's own LIF, forward and backward over all timesteps
in one go.

Same dynamics and surrogates as snnTorch's ``Leaky`` (reset_delay on, the
default), for currents ``I_t`` and spikes ``s_t``::

    subtract:  mem_t = beta * mem_{t-1} + I_t - s_{t-1} * threshold
    zero:      mem_t = beta * (1 - s_{t-1}) * mem_{t-1} + I_t
    s_t = 1 if mem_t > threshold else 0     (mem_t >= threshold with fires_at_threshold)

With ``reset = "zero"`` and ``fires_at_threshold = true`` these are exactly
SpikingJelly's ``LIFNode`` (``decay_input=False``, ``v_reset=0``, detached
reset), which resets right after a spike rather than at the next update: under
a zero reset the two orders give the same membrane, so Spikformer's neuron
runs on these kernels (the suites ``stal-spikformer*``).

The reset is detached from the graph (as snnTorch's ``mem_reset``), so the
backward pass is a linear recurrence backwards in time::

    dL/dmem_t = dL/ds_t * surrogate(mem_t - threshold) + c_t * dL/dmem_{t+1}
    c_t = beta (subtract) or beta * (1 - s_t) (zero);  dL/dI_t = dL/dmem_t

A custom autograd function saves only the membrane, so five ``[T, B, ...]``
tensors move in all (current, spikes, membrane, two gradients), and autograd
records one node per layer instead of several per timestep. The membrane it
also returns takes no gradient, and autograd is told not to fill one with
zeros, a pass over ``[T, B, ...]`` per layer per step that did nothing.
Backends:

- ``numba`` (CPU): compiled loops, neurons split across threads (the first
  call compiles, about a second, and is cached on disk);
- ``triton`` (CUDA): one kernel each way, the membrane kept in registers;
- ``compile`` (any device): ``torch.compile`` of the recurrence unrolled
  over time, one Inductor kernel each way; there to be measured against the
  hand-written kernels (it compiles once per shape and params, seconds);
- ``torch`` (any device): a loop over time of in-place PyTorch ops; the
  portable reference the others are tested against;
- ``auto``: numba on CPU, triton on CUDA, else torch.

A backend asked for by name that cannot run on the device is an error, never
a silent fallback.

The membrane the kernels return is also what a measurement counts membrane
updates on (``report_membrane``); one update is NeuroBench's 4 operations
of snnTorch's Leaky, whose dynamics these are.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Literal

import torch
from snnbench_plugins.neurons.lif_fused.kernels import (
    SURROGATE_KIND,
    LIFKernels,
    TorchKernels,
)
from snnbench_plugins.neurons.parameters import LIFParams

from snnbench.api import (
    NeuronDynamics,
    NeuronSpec,
    SnnbenchError,
    SpikingLayer,
    flatten_steps,
    hookimpl,
    listening,
    report_membrane,
)

Backend = Literal["auto", "numba", "triton", "compile", "torch"]


@dataclass(frozen=True)
class FusedLIFParams(LIFParams):
    fires_at_threshold: bool = field(default=False, metadata={
        "help": "spike when the membrane reaches the threshold (>=, SpikingJelly's rule) instead of when it "
                "exceeds it (>, snnTorch's)", "hashed_when_default": False})
    backend: Backend = field(default="auto", metadata={
        "help": "numba (CPU), triton (CUDA), compile (torch.compile, any device), torch (any device), "
                "or auto: the fastest for the device"})


class BackendUnavailable(SnnbenchError):
    """The backend asked for cannot run here."""


def kernels_for(backend: Backend, device: torch.device) -> tuple[LIFKernels, str]:
    """The kernels of ``backend`` for ``device``, and the name to record. The
    compiled backends are imported here, so a plugin scan never loads numba or Triton."""
    if backend == "auto":
        backend = {"cpu": "numba", "cuda": "triton"}.get(device.type, "torch")
    if backend == "torch":
        return TorchKernels, "lif-fused-torch"
    if backend == "compile":
        return importlib.import_module("snnbench_plugins.neurons.lif_fused.compiled_kernels"), "lif-fused-compile"
    wanted = {"numba": "cpu", "triton": "cuda"}[backend]
    if device.type != wanted:
        raise BackendUnavailable(f"lif-fused backend {backend!r} runs on {wanted}, this layer is on "
                                 f"{device.type}; use backend = 'auto' or 'torch'")
    try:
        if backend == "numba":
            return importlib.import_module("snnbench_plugins.neurons.lif_fused.numba_kernels").NumbaKernels(), \
                "lif-fused-numba"
        return importlib.import_module("snnbench_plugins.neurons.lif_fused.triton_kernels"), "lif-fused-triton"
    except ImportError as error:
        raise BackendUnavailable(f"lif-fused backend {backend!r} is not installed here: {error}") from None


class _FusedLIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, current, kernels, beta, threshold, subtract, at_threshold, kind, slope):
        spikes, membrane = kernels.forward(current, beta, threshold, subtract, at_threshold)
        ctx.save_for_backward(membrane)
        ctx.mark_non_differentiable(membrane)
        ctx.set_materialize_grads(False)  # the membrane's gradient is never used (module docstring)
        ctx.settings = kernels, beta, threshold, subtract, at_threshold, kind, slope
        return spikes, membrane

    @staticmethod
    def backward(ctx, grad_spikes, _grad_membrane):
        (membrane,) = ctx.saved_tensors
        kernels, *settings = ctx.settings
        grad = kernels.backward(grad_spikes.contiguous(), membrane, *settings)
        return grad, None, None, None, None, None, None, None


class FusedLIF(SpikingLayer):
    """Currents ``[T, B, ...]`` to spikes of the same shape; one autograd node per call."""

    operations_per_update = 4

    def __init__(self, params: FusedLIFParams, features: tuple[int, ...] = ()):
        super().__init__()
        self.params = params
        self._kernels: dict[torch.device, tuple[LIFKernels, str]] = {}

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        if current.device not in self._kernels:
            self._kernels[current.device] = kernels_for(self.params.backend, current.device)
        kernels, self.backend_used = self._kernels[current.device]
        buffers = getattr(kernels, "buffers", None)  # the numba backend's (buffer_pool)
        if buffers is not None:
            buffers.keep(self.training)
        params = self.params
        flat, restore = flatten_steps(current)
        spikes, membrane = _FusedLIF.apply(flat, kernels, params.beta, params.threshold,
                                           params.reset == "subtract", params.fires_at_threshold,
                                           SURROGATE_KIND[params.surrogate],
                                           params.surrogate_slope)
        if listening():
            report_membrane(self, membrane)
        return restore(spikes)

    def dynamics(self) -> NeuronDynamics:
        params = self.params
        return NeuronDynamics("lif", params.threshold, params.reset, beta=params.beta,
                              fires_at_threshold=params.fires_at_threshold)


@hookimpl
def register_neuron_models(register):
    register(NeuronSpec("lif-fused", FusedLIFParams, FusedLIF,
                        "snnbench's LIF (snnTorch Leaky dynamics): forward and backward fused over time "
                        "(numba on CPU, Triton on CUDA)"))
