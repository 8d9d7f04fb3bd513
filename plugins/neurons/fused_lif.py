"""``lif-fused``: snnbench's own LIF, forward and backward over all timesteps
in one go.

Same dynamics and surrogates as snnTorch's ``Leaky`` (reset_delay on, the
default), for currents ``I_t`` and spikes ``s_t``::

    subtract:  mem_t = beta * mem_{t-1} + I_t - s_{t-1} * threshold
    zero:      mem_t = beta * (1 - s_{t-1}) * mem_{t-1} + I_t
    s_t = 1 if mem_t > threshold else 0

The reset is detached from the graph (as snnTorch's ``mem_reset``), so the
backward pass is a linear recurrence backwards in time::

    dL/dmem_t = dL/ds_t * surrogate(mem_t - threshold) + c_t * dL/dmem_{t+1}
    c_t = beta (subtract) or beta * (1 - s_t) (zero);  dL/dI_t = dL/dmem_t

A custom autograd function saves only the membrane, so five ``[T, B, ...]``
tensors move in all (current, spikes, membrane, two gradients), and autograd
records one node per layer instead of several per timestep. Backends:

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
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from snnbench import hookimpl
from snnbench.components import NeuronSpec, SpikingLayer
from snnbench.errors import SnnbenchError
from snnbench.sequence import flatten_steps
from snnbench_plugins.neurons.buffer_pool import BufferPool
from snnbench_plugins.neurons.parameters import LIFParams

SURROGATE_KIND = {"fast_sigmoid": 0, "atan": 1, "sigmoid": 2}
Backend = Literal["auto", "numba", "triton", "compile", "torch"]


@dataclass(frozen=True)
class FusedLIFParams(LIFParams):
    backend: Backend = field(default="auto", metadata={
        "help": "numba (CPU), triton (CUDA), compile (torch.compile, any device), torch (any device), "
                "or auto: the fastest for the device"})


class BackendUnavailable(SnnbenchError):
    """The backend asked for cannot run here."""


def surrogate(u: torch.Tensor, kind: int, slope: float) -> torch.Tensor:
    """d spike / d membrane at ``u = membrane - threshold``, for the surrogate ``kind``."""
    if kind == SURROGATE_KIND["fast_sigmoid"]:
        return (1.0 + slope * u.abs()).square().reciprocal()
    if kind == SURROGATE_KIND["atan"]:
        return (slope / 2.0) / (1.0 + (torch.pi / 2.0 * slope * u).square())
    sigmoid = torch.sigmoid(slope * u)
    return slope * sigmoid * (1.0 - sigmoid)


class TorchKernels:
    """The recurrences as a loop over time of in-place PyTorch ops on ``[T, N]``."""

    @staticmethod
    def forward(current, beta, threshold, subtract):
        spikes = torch.empty_like(current)
        membrane = torch.empty(current.shape, device=current.device, dtype=torch.float32)
        mem = torch.zeros_like(membrane[0])
        spiked = torch.zeros_like(mem)
        for t in range(len(current)):
            if subtract:
                mem.mul_(beta).add_(current[t]).sub_(spiked, alpha=threshold)
            else:
                mem.mul_(1.0 - spiked).mul_(beta).add_(current[t])
            torch.gt(mem, threshold, out=spikes[t])
            spiked.copy_(spikes[t])
            membrane[t] = mem
        return spikes, membrane

    @staticmethod
    def backward(grad_spikes, membrane, beta, threshold, subtract, kind, slope):
        u = membrane - threshold
        grad_current = (grad_spikes * surrogate(u, kind, slope)).to(grad_spikes.dtype)
        decay = beta if subtract else beta * (u <= 0).to(grad_current.dtype)
        for t in range(len(grad_current) - 2, -1, -1):
            grad_current[t] += (decay if subtract else decay[t]) * grad_current[t + 1]
        return grad_current


class NumbaKernels:
    """The numba kernels on ``[T, N]`` CPU tensors. float32 and float64 compute
    in their own dtype; bf16 tensors go in and out as their bits and compute
    in float32 (``numba_bf16``); other dtypes are cast to float32 and back.
    Outputs and the saved membrane are written into one layer's pooled buffers (see ``buffer_pool``)."""

    def __init__(self):
        from snnbench_plugins.neurons import fused_lif_cpu
        from snnbench_plugins.numba_threads import follow_torch

        self.kernels, self.follow_torch = fused_lif_cpu, follow_torch
        self.buffers = BufferPool()

    @staticmethod
    def _as_kernel_input(x: torch.Tensor) -> np.ndarray:
        """``x`` as the kernels read it: a float array, or a bf16 tensor's int16 bits."""
        if x.dtype == torch.bfloat16:
            return x.contiguous().view(torch.int16).numpy()
        return x.to(x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32).contiguous().numpy()

    @staticmethod
    def _as_tensor(array: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        """A kernel's output array as a tensor of ``dtype`` (bf16 bits viewed as bf16)."""
        tensor = torch.from_numpy(array)
        return tensor.view(torch.bfloat16) if array.dtype == np.int16 else tensor.to(dtype)

    def forward(self, current, beta, threshold, subtract):
        work = self._as_kernel_input(current)
        state_dtype = np.float32 if work.dtype == np.int16 else work.dtype
        spikes = self.buffers.take(work.shape, work.dtype)
        membrane = self.buffers.take(work.shape, state_dtype)
        scalar = np.dtype(state_dtype).type
        self.follow_torch()
        self.kernels.forward(work, scalar(beta), scalar(threshold), subtract, spikes, membrane,
                             self.kernels.block_size(work.shape[1]))
        return self._as_tensor(spikes, current.dtype), torch.from_numpy(membrane)

    def backward(self, grad_spikes, membrane, beta, threshold, subtract, kind, slope):
        saved = membrane.numpy()
        grad = (self._as_kernel_input(grad_spikes) if grad_spikes.dtype == torch.bfloat16
                else grad_spikes.to(membrane.dtype).contiguous().numpy())
        grad_current = self.buffers.take(grad.shape, grad.dtype)
        scalar = saved.dtype.type
        self.follow_torch()
        self.kernels.backward(grad, saved, scalar(beta), scalar(threshold), subtract, kind, scalar(slope),
                              grad_current, self.kernels.block_size(grad.shape[1]))
        return self._as_tensor(grad_current, grad_spikes.dtype)


def kernels_for(backend: Backend, device: torch.device):
    """The kernels of ``backend`` for ``device``, and the name to record."""
    if backend == "auto":
        backend = {"cpu": "numba", "cuda": "triton"}.get(device.type, "torch")
    if backend == "torch":
        return TorchKernels, "lif-fused-torch"
    if backend == "compile":
        return importlib.import_module("snnbench_plugins.neurons.fused_lif_compiled"), "lif-fused-compile"
    wanted = {"numba": "cpu", "triton": "cuda"}[backend]
    if device.type != wanted:
        raise BackendUnavailable(f"lif-fused backend {backend!r} runs on {wanted}, this layer is on "
                                 f"{device.type}; use backend = 'auto' or 'torch'")
    try:
        if backend == "numba":
            return NumbaKernels(), "lif-fused-numba"
        return importlib.import_module("snnbench_plugins.neurons.fused_lif_triton"), "lif-fused-triton"
    except ImportError as error:
        raise BackendUnavailable(f"lif-fused backend {backend!r} is not installed here: {error}") from None


class _FusedLIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, current, kernels, beta, threshold, subtract, kind, slope):
        spikes, membrane = kernels.forward(current, beta, threshold, subtract)
        ctx.save_for_backward(membrane)
        ctx.settings = kernels, beta, threshold, subtract, kind, slope
        return spikes

    @staticmethod
    def backward(ctx, grad_spikes):
        (membrane,) = ctx.saved_tensors
        kernels, beta, threshold, subtract, kind, slope = ctx.settings
        grad = kernels.backward(grad_spikes.contiguous(), membrane, beta, threshold, subtract, kind, slope)
        return grad, None, None, None, None, None, None


class FusedLIF(SpikingLayer):
    """Currents ``[T, B, ...]`` to spikes of the same shape; one autograd node per call."""

    def __init__(self, params: FusedLIFParams, features: tuple[int, ...] = ()):
        super().__init__()
        self.params = params
        self._kernels: dict[torch.device, tuple[object, str]] = {}

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        if current.device not in self._kernels:
            self._kernels[current.device] = kernels_for(self.params.backend, current.device)
        kernels, self.backend_used = self._kernels[current.device]
        params = self.params
        flat, restore = flatten_steps(current)
        spikes = _FusedLIF.apply(flat, kernels, params.beta, params.threshold, params.reset == "subtract",
                                 SURROGATE_KIND[params.surrogate], params.surrogate_slope)
        return restore(spikes)


@hookimpl
def register_neuron_models(register):
    register(NeuronSpec("lif-fused", FusedLIFParams, FusedLIF,
                        "snnbench's LIF (snnTorch Leaky dynamics): forward and backward fused over time "
                        "(numba on CPU, Triton on CUDA)"))
