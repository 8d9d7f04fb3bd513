"""The numba backend of ``lif-fused``: :mod:`.numba_loops` on CPU tensors,
writing into one layer's pooled buffers (:mod:`.buffer_pool`)."""

from __future__ import annotations

import numpy as np
import torch
from snnbench_plugins.neurons.lif_fused import numba_loops
from snnbench_plugins.neurons.lif_fused.buffer_pool import BufferPool

from snnbench.api import follow_torch_threads


class NumbaKernels:
    """The numba kernels on ``[T, N]`` CPU tensors. float32 and float64 compute
    in their own dtype; bf16 tensors go in and out as their bits and compute
    in float32 (``numba_bf16``); other dtypes are cast to float32 and back.
    Outputs and the saved membrane are written into one layer's pooled buffers (see ``buffer_pool``)."""

    def __init__(self):
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

    def forward(self, current, beta, threshold, subtract, at_threshold):
        work = self._as_kernel_input(current)
        state_dtype = np.float32 if work.dtype == np.int16 else work.dtype
        spikes = self.buffers.take(work.shape, work.dtype)
        membrane = self.buffers.take(work.shape, state_dtype)
        scalar = np.dtype(state_dtype).type
        follow_torch_threads()
        numba_loops.forward(work, scalar(beta), scalar(threshold), subtract, at_threshold, spikes, membrane,
                             numba_loops.block_size(work.shape[1]))
        return self._as_tensor(spikes, current.dtype), torch.from_numpy(membrane)

    def backward(self, grad_spikes, membrane, beta, threshold, subtract, at_threshold, kind, slope):
        saved = membrane.numpy()
        grad = (self._as_kernel_input(grad_spikes) if grad_spikes.dtype == torch.bfloat16
                else grad_spikes.to(membrane.dtype).contiguous().numpy())
        grad_current = self.buffers.take(grad.shape, grad.dtype)
        scalar = saved.dtype.type
        follow_torch_threads()
        numba_loops.backward(grad, saved, scalar(beta), scalar(threshold), subtract, at_threshold, kind, scalar(slope),
                              grad_current, numba_loops.block_size(grad.shape[1]))
        return self._as_tensor(grad_current, grad_spikes.dtype)
