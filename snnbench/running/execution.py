"""How a cell's stateless layers execute: numeric precision and memory layout.

Two ``[training]`` options, recorded with the cell's config (so with its row
and hash) because they can change what a model learns, not only how fast:

- ``precision = "bf16"``: the forward pass runs under bf16 autocast, so
  convolutions and matrix products take bf16 operands with fp32
  accumulation (oneDNN's AVX512-BF16/AMX kernels on a CPU, tensor cores on
  CUDA). Weights, optimiser state and every neuron's membrane stay fp32:
  the neuron layers compute their state in fp32 whatever dtype their input
  current has (``lif-fused`` widens bf16 in its kernels, the others through
  :func:`snnbench.api.fp32_current`; before that, SpikingJelly's nodes and
  three of snnTorch's, ALIF, Alpha and Synaptic, kept a bf16 membrane), and
  spikes, being 0 or 1, are exact in bf16.
- ``memory_format = "channels_last"``: conv weights (and so the feature maps
  they produce) are stored NHWC, the layout oneDNN's convolutions run in
  without reordering on every call.

bf16 needs a device whose matrix kernels support it: CUDA with bf16, or a
CPU oneDNN runs bf16 on (AVX-512 cores; AVX512-BF16 and AMX natively, the
Xeon this was measured on has both). Elsewhere PyTorch would fall back to
slow reference kernels; asking for bf16 there is an error, never a silent
slow path.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from snnbench.api.errors import SnnbenchError
from snnbench.api.training_config import MemoryFormat, Precision


class PrecisionUnavailable(SnnbenchError):
    """The precision asked for has no native support on this device."""


def native_bf16(device: torch.device) -> bool:
    """True where bf16 convolutions and matrix products have fast kernels:
    CUDA with bf16 support, or a CPU that oneDNN runs bf16 on."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and torch.backends.mkldnn.is_available() and \
        torch.ops.mkldnn._is_mkldnn_bf16_supported()


def check_precision(precision: Precision, device: torch.device) -> None:
    """Raise :class:`PrecisionUnavailable` for bf16 where it has no fast kernels."""
    if precision == "bf16" and not native_bf16(device):
        raise PrecisionUnavailable(
            f"[training] precision = 'bf16' needs bf16 kernels on {device.type} (an AVX-512 CPU for oneDNN, "
            f"or a CUDA GPU that supports bf16); this one has none, use precision = 'fp32'")


def prepare_model(model: nn.Module, memory_format: MemoryFormat) -> nn.Module:
    """``model`` with its 4-D parameters in ``memory_format`` (in place)."""
    if memory_format == "channels_last":
        model.to(memory_format=torch.channels_last)
    return model


def autocast(precision: Precision, device: torch.device) -> contextlib.AbstractContextManager:
    """The context a forward pass runs in at ``precision``."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
