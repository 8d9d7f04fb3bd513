"""Learned spike encoders with learnable thresholds: STAL and ConvSTAL.

STAL (Spike Threshold Adaptive Learning, arXiv 2407.08362) turns an input
into spikes with a small network followed by a threshold per output feature
and timestep; the thesis this follows (ConvSTAL / ConvSTAL-PS, after STAL)
applies the idea to images. Both encoders here compute their features once
per image, repeat them over T (a broadcast, no copy) and compare them with
thresholds of shape ``[T, *features]``:

- ``stal``: flatten, then two blocks Linear -> BatchNorm -> ReLU -> Dropout
  (widths ``l1``, ``l2``, by default the input size); output ``[T, B, l2]``.
- ``convstal``: two blocks Conv3x3(pad 1) -> BatchNorm -> ReLU -> Dropout
  (channels C -> ``l1`` -> C); output ``[T, B, C, H, W]``, the image's layout.

The threshold function (:class:`LearnableThresholds`, shared with
ConvSTAL-PS) follows the thesis: thresholds start uniform in [0.4, 0.6], are
clamped into [0.001, 1] before every use, and a sigmoid of sharpness
``alpha = 25`` gives the gradient. ``output = "binary"`` emits true 0/1
spikes, ``feature > threshold``, and trains through that sigmoid as a
surrogate gradient; ``output = "analog"`` emits the sigmoid itself, as the
thesis did, so its numbers can be reproduced (it is not a spike train: the
leaderboard's ``encoder_mean`` and ``encoder_above_half`` describe it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from snnbench.api import DatasetInfo, EncoderSpec, hookimpl, param

#: sharpness of the sigmoid that stands in for the step (the thesis's alpha)
ALPHA = 25.0
#: where thresholds start (uniform) and the range they are kept in
THRESHOLD_INIT = (0.4, 0.6)
THRESHOLD_RANGE = (0.001, 1.0)

Output = Literal["binary", "analog"]
OUTPUT_HELP = ("binary: 0/1 spikes forward, sigmoid surrogate gradient into the thresholds; "
               "analog: the sigmoid values themselves, as the thesis did")


class LearnableThresholds(nn.Module):
    """``[B, *features] -> [T, B, *features]``: the features repeated over T,
    each compared with its own learnable threshold per timestep."""

    def __init__(self, timesteps: int, features: tuple[int, ...], output: Output):
        super().__init__()
        self.output = output
        self.threshold = nn.Parameter(torch.empty(timesteps, *features).uniform_(*THRESHOLD_INIT))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():  # the optimiser may have pushed them out since the last call
            self.threshold.clamp_(*THRESHOLD_RANGE)
        margin = features.unsqueeze(0) - self.threshold.unsqueeze(1)
        soft = torch.sigmoid(ALPHA * margin)
        if self.output == "analog":
            return soft
        # soft - soft.detach() is exactly 0 forward but carries the sigmoid's
        # gradient, so the output is exact 0/1 with a surrogate backward pass
        return (margin > 0).to(soft.dtype) + (soft - soft.detach())


class _FlatBlock(nn.Module):
    """Linear -> BatchNorm -> ReLU -> Dropout. A lone training sample (a last
    batch of one) is normalised with the running statistics, since batch
    statistics of one sample do not exist."""

    def __init__(self, in_features: int, out_features: int, dropout: float):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.norm = nn.BatchNorm1d(out_features)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(x)
        if self.training and x.shape[0] == 1:
            x = F.batch_norm(x, self.norm.running_mean, self.norm.running_var, self.norm.weight,
                             self.norm.bias, training=False, eps=self.norm.eps)
        else:
            x = self.norm(x)
        return self.dropout(torch.relu(x))


@dataclass(frozen=True)
class STALParams:
    timesteps: int = param(5, "number of time steps T", ge=1)
    l1: int | None = param(None, "width of the first block (default: the input size)", ge=1)
    l2: int | None = param(None, "width of the second block = features per step (default: the input size)", ge=1)
    dropout: float = param(0.1, "dropout after each block", ge=0, lt=1)
    output: Output = field(default="binary", metadata={"help": OUTPUT_HELP})


class STALEncoder(nn.Module):
    def __init__(self, params: STALParams, info: DatasetInfo):
        super().__init__()
        size = math.prod(info.input_shape)
        l1, l2 = params.l1 or size, params.l2 or size
        self.features = nn.Sequential(nn.Flatten(), _FlatBlock(size, l1, params.dropout),
                                      _FlatBlock(l1, l2, params.dropout))
        self.thresholds = LearnableThresholds(params.timesteps, (l2,), params.output)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.thresholds(self.features(x))


@dataclass(frozen=True)
class ConvSTALParams:
    timesteps: int = param(5, "number of time steps T", ge=1)
    l1: int = param(32, "channels of the first conv block (the second maps back to C)", ge=1)
    dropout: float = param(0.1, "dropout after each block", ge=0, lt=1)
    output: Output = field(default="binary", metadata={"help": OUTPUT_HELP})


def _conv_block(in_channels: int, out_channels: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels),
                         nn.ReLU(), nn.Dropout(dropout))


class ConvSTALEncoder(nn.Module):
    def __init__(self, params: ConvSTALParams, info: DatasetInfo):
        super().__init__()
        if len(info.input_shape) != 3:
            raise ValueError(f"convstal needs image input [C,H,W]; {info.name} samples are "
                             f"{list(info.input_shape)}")
        channels = info.input_shape[0]
        self.features = nn.Sequential(_conv_block(channels, params.l1, params.dropout),
                                      _conv_block(params.l1, channels, params.dropout))
        self.thresholds = LearnableThresholds(params.timesteps, tuple(info.input_shape), params.output)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.thresholds(self.features(x))


@hookimpl
def register_encoders(register):
    register(EncoderSpec("stal", STALParams, STALEncoder, frozenset({"static"}), trainable=True,
                         summary="STAL: MLP features vs learnable thresholds per feature and step"))
    register(EncoderSpec("convstal", ConvSTALParams, ConvSTALEncoder, frozenset({"static"}), trainable=True,
                         summary="ConvSTAL: conv features vs learnable thresholds [T,C,H,W]"))
