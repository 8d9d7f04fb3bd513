"""Built-in architectures, built layer by layer over whole sequences.

- ``mlp``: flatten, then Linear -> spiking layer for each hidden width, and a
  spiking output layer.
- ``csnn``: the convolutional SNN 12C5-MP2-64C5-MP2-1024FC10 (snnTorch
  tutorial 7; 1024 = 64 x 4 x 4 for 28x28 input, sized from the input here,
  so N-MNIST's 2x34x34 frames give 64 x 5 x 5 = 1600). ``pooling = "avg"``
  averages instead of taking the maximum: NIR (the exchange format of
  neuromorphic tools, ``snnbench export --nir``) has sum and average pooling
  but no max-pooling, so only that CSNN can be carried out to other tools.

Every spiking layer comes from the cell's neuron model, so any neuron runs in
any architecture. Outputs are output-layer spikes ``[T, B, n_classes]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from torch import nn

from snnbench.api import (
    ArchitectureContext,
    ArchitectureSpec,
    DatasetInfo,
    TimeDistributed,
    hookimpl,
    param,
)


def require_channels(channels: tuple[int, ...]) -> None:
    """A conv stack needs at least one conv layer (its widths' range is the field's)."""
    if not channels:
        raise ValueError("channels must list at least one width")


@dataclass(frozen=True)
class MLPParams:
    hidden: tuple[int, ...] = param((128,), "widths of the hidden layers", ge=1)


def build_mlp(params: MLPParams, ctx: ArchitectureContext) -> nn.Module:
    layers: list[nn.Module] = [TimeDistributed(nn.Flatten())]
    width = math.prod(ctx.input_shape)
    for hidden in (*params.hidden, ctx.n_classes):
        layers += [TimeDistributed(nn.Linear(width, hidden)), ctx.neuron((hidden,))]
        width = hidden
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class CSNNParams:
    channels: tuple[int, ...] = param((12, 64), "output channels of each conv layer", ge=1)
    kernel_size: int = param(5, "square conv kernel size (no padding)", ge=1)
    pool: int = param(2, "max-pool size and stride after each conv", ge=1)
    # added after rows were recorded: at its default it stays out of a cell's config and hash
    pooling: Literal["max", "avg"] = field(default="max", metadata={
        "help": "max, or avg (which NIR can express: snnbench export --nir)", "hashed_when_default": False})

    def __post_init__(self):
        require_channels(self.channels)


def _pooled(params: CSNNParams, height: int, width: int) -> tuple[int, int]:
    """The size of a feature map after one conv (no padding) and pool stage."""
    return (height - params.kernel_size + 1) // params.pool, (width - params.kernel_size + 1) // params.pool


def _csnn_feature_size(params: CSNNParams, height: int, width: int) -> tuple[int, int]:
    for _ in params.channels:
        height, width = _pooled(params, height, width)
    return height, width


def image_shape(info: DatasetInfo) -> tuple[int, ...] | None:
    """The ``[C,H,W]`` image each time step shows: a static image itself, or
    one of a sample's event frames ``[T,C,H,W]``; None for other data."""
    if info.kind == "static" and len(info.input_shape) == 3:
        return info.input_shape
    if info.kind == "frames" and len(info.input_shape) == 4:
        return info.input_shape[1:]
    return None


def check_csnn(params: CSNNParams, info: DatasetInfo) -> str | None:
    image = image_shape(info)
    if image is None:
        return f"csnn needs images [C,H,W] or frames [T,C,H,W]; {info.name} samples are {list(info.input_shape)}"
    height, width = _csnn_feature_size(params, *image[1:])
    if height < 1 or width < 1:
        return (f"csnn's {len(params.channels)} conv{params.kernel_size}+pool{params.pool} stages "
                f"shrink {info.name}'s {image[1]}x{image[2]} input to nothing")
    return None


def build_csnn(params: CSNNParams, ctx: ArchitectureContext) -> nn.Module:
    in_channels, height, width = ctx.input_shape
    layers: list[nn.Module] = []
    for out_channels in params.channels:
        height, width = _pooled(params, height, width)
        pool = nn.MaxPool2d(params.pool) if params.pooling == "max" else nn.AvgPool2d(params.pool)
        layers += [TimeDistributed(nn.Conv2d(in_channels, out_channels, params.kernel_size)),
                   TimeDistributed(pool), ctx.neuron((out_channels, height, width))]
        in_channels = out_channels
    layers += [TimeDistributed(nn.Flatten()),
               TimeDistributed(nn.Linear(in_channels * height * width, ctx.n_classes)),
               ctx.neuron((ctx.n_classes,))]
    return nn.Sequential(*layers)


@hookimpl
def register_architectures(register):
    register(ArchitectureSpec("mlp", MLPParams, build_mlp, frozenset({"static", "frames", "spikes"}),
                              summary="fully connected: Linear -> spiking layer per hidden width"))
    register(ArchitectureSpec("csnn", CSNNParams, build_csnn, frozenset({"static", "frames"}),
                              check=check_csnn,
                              summary="convolutional SNN 12C5-MP2-64C5-MP2-FC10"))
