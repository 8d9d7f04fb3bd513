"""Encoders that cut an image into tokens ``[T, B, N, D]`` for a transformer.

- ``sps``: Spikformer's spiking patch splitter (Zhou et al., arXiv
  2209.15425), the baseline for ConvSTAL-PS. Four Conv3x3 (no bias) ->
  BatchNorm -> LIF stages with D/8, D/4, D/2 and D channels, a max-pool (3,
  stride 2, pad 1) after the third and the fourth, then a relative-position
  stage Conv -> BatchNorm -> LIF whose spikes are added to its input; the
  LIFs are Spikformer's (:func:`spikformer_lif`), fixed by the design. The
  image enters as direct input, the same at every step, so the first conv and
  norm run once per image (:mod:`snnbench.api.sequence`); the LIFs make it vary in
  time. The sum of two spike maps takes the values 0, 1 and 2.
- ``convstal-ps``: the same stack with ReLU in place of every LIF, run once
  on the image; its tokens are repeated over T and compared with learnable
  thresholds of shape ``[T, N, D]`` (:class:`LearnableThresholds`, as in
  ConvSTAL), with ``output = "binary" | "analog"``.

N is the number of positions left after the two pools: 49 for 28x28 MNIST,
64 for 32x32 CIFAR-10.

The thesis's ConvSTAL-PS applied the threshold sigmoid twice (once in a loop
over the batch and once more on the result); this one applies it once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from snnbench_plugins.encoders.stal import OUTPUT_HELP, LearnableThresholds, Output
from snnbench_plugins.neurons.lif_fused import FusedLIF, FusedLIFParams
from torch import nn

from snnbench.api import (
    DatasetInfo,
    EncoderSpec,
    SpikingLayer,
    TimeDistributed,
    hookimpl,
    param,
    repeat_in_time,
)


def spikformer_lif() -> SpikingLayer:
    """Spikformer's LIF (SpikingJelly's ``LIFNode`` with tau 2, the input
    decayed too: ``v = v/2 + x/2``, a spike at ``v >= 1``, reset to 0 and
    detached, sigmoid surrogate of alpha 4) in snnTorch's terms: on the
    membrane ``w = 2v`` it is ``w = w/2 + x`` (beta 0.5) with threshold 2,
    reached rather than exceeded, zero reset (detached there too), and the
    sigmoid surrogate of slope 2, which chained through ``w = 2v`` is exactly
    alpha 4 on ``v``. It runs on the ``lif-fused`` kernels, whose spikes and
    gradients equal SpikingJelly's node for these params (tests/test_neurons.py)
    at a fraction of its CPU time: SpikingJelly's CPU path makes some ten
    passes over the sequence per call. The backend that ran is recorded like
    any neuron's."""
    return FusedLIF(FusedLIFParams(beta=0.5, threshold=2.0, reset="zero", surrogate="sigmoid", slope=2.0,
                                   fires_at_threshold=True))


def _pooled(size: int) -> int:
    """A side after max-pool (3, stride 2, pad 1)."""
    return (size - 1) // 2 + 1


def token_count(height: int, width: int) -> int:
    return _pooled(_pooled(height)) * _pooled(_pooled(width))


class PatchSplitter(nn.Module):
    """The SPS stack, ``[..., C, H, W] -> [..., D, H/4, W/4]``, with a given
    activation and a given wrapper for the stateless layers (TimeDistributed
    for sequences, none for a single image)."""

    def __init__(self, in_channels: int, dim: int, activation: Callable[[], nn.Module],
                 wrap: Callable[[nn.Module], nn.Module]):
        super().__init__()
        stages: list[nn.Module] = []
        channels = in_channels
        for index, width in enumerate((dim // 8, dim // 4, dim // 2, dim)):
            stages += [wrap(nn.Conv2d(channels, width, 3, padding=1, bias=False)),
                       wrap(nn.BatchNorm2d(width)), activation()]
            if index >= 2:
                stages.append(wrap(nn.MaxPool2d(3, stride=2, padding=1)))
            channels = width
        self.stages = nn.Sequential(*stages)
        self.position = nn.Sequential(wrap(nn.Conv2d(dim, dim, 3, padding=1, bias=False)),
                                      wrap(nn.BatchNorm2d(dim)), activation())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(x)
        return x + self.position(x)


def _to_tokens(maps: torch.Tensor) -> torch.Tensor:
    """``[..., D, h, w] -> [..., N = h*w, D]``"""
    return maps.flatten(-2).transpose(-1, -2)


def _check_image(name: str, info: DatasetInfo) -> None:
    if len(info.input_shape) != 3:
        raise ValueError(f"{name} needs image input [C,H,W]; {info.name} samples are {list(info.input_shape)}")


def _check_dim(dim: int) -> None:
    if dim % 8:
        raise ValueError("dim must be a multiple of 8 (its stages have dim/8, dim/4, dim/2 channels)")


@dataclass(frozen=True)
class SPSParams:
    timesteps: int = param(5, "number of time steps T", ge=1)
    dim: int = param(128, "token width D (a multiple of 8)", ge=8)

    def __post_init__(self):
        _check_dim(self.dim)


class SPSEncoder(nn.Module):
    def __init__(self, params: SPSParams, info: DatasetInfo):
        super().__init__()
        _check_image("sps", info)
        self.timesteps = params.timesteps
        self.splitter = PatchSplitter(info.input_shape[0], params.dim, spikformer_lif, TimeDistributed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        direct = repeat_in_time(x, self.timesteps)
        return _to_tokens(self.splitter(direct))


@dataclass(frozen=True)
class ConvSTALPSParams:
    timesteps: int = param(5, "number of time steps T", ge=1)
    dim: int = param(128, "token width D (a multiple of 8)", ge=8)
    output: Output = field(default="binary", metadata={"help": OUTPUT_HELP})

    def __post_init__(self):
        _check_dim(self.dim)


class ConvSTALPSEncoder(nn.Module):
    def __init__(self, params: ConvSTALPSParams, info: DatasetInfo):
        super().__init__()
        _check_image("convstal-ps", info)
        channels, height, width = info.input_shape
        self.splitter = PatchSplitter(channels, params.dim, nn.ReLU, lambda layer: layer)
        self.thresholds = LearnableThresholds(params.timesteps, (token_count(height, width), params.dim),
                                              params.output)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.thresholds(_to_tokens(self.splitter(x)))


@hookimpl
def register_encoders(register):
    register(EncoderSpec("sps", SPSParams, SPSEncoder, frozenset({"static"}), trainable=True,
                         summary="Spikformer's spiking patch splitter: conv-BN-LIF stages to tokens [T,B,N,D]"))
    register(EncoderSpec("convstal-ps", ConvSTALPSParams, ConvSTALPSEncoder, frozenset({"static"}),
                         trainable=True,
                         summary="ConvSTAL-PS: the SPS stack with ReLU, tokens vs learnable thresholds [T,N,D]"))
