"""Two surrogate-gradient networks for N-MNIST frames ``[T, 2, 34, 34]``,
sized from the input, so they also take static images.

- ``nmnist-cnn``: three blocks of conv -> spiking layer -> max-pool 2 (16, 32
  and 64 channels; kernels 5, 5, 3 with "same" padding), then FC-256 with
  dropout into a spiking layer, and FC-10 into a spiking output layer.
- ``nmnist-resnet``: a conv-BN stem into adaptive-threshold LIF neurons
  (``snntorch-alif``) and max-pool 2; two residual blocks (conv-BN-spike
  twice, plus the block's input: the identity for 32 -> 32, a 1x1 conv-BN-spike
  shortcut for 32 -> 64); max-pool 2; FC-256-BN with dropout into a
  ``snntorch-synaptic`` layer; FC-10 into a spiking output layer.

The reference (an snnTorch N-MNIST project with a ``SpikingCNN`` and a
``SpikingResNet``) reports 90-92% and 92-95% after 10-15 epochs at 25 time
bins; its layer sizes, dropout (0.2 / 0.3), Synaptic alpha 0.8, ALIF threshold
decay 0.9 and the ResNet's fast-sigmoid slope of 75 are the defaults here.

Differences from the reference, by design of the harness: layers run over
whole sequences, so batch norm pools its statistics over all time steps of
the batch (the reference normalises each step separately) and dropout draws
a fresh mask per step and sample, as the reference's per-step loop does. The
spiking layers other than the ALIF stem and the Synaptic layer are the
cell's neuron model, so the suite's neuron params (beta 0.5, threshold 1 in
the reference) apply to them.
"""

from __future__ import annotations

from dataclasses import dataclass

from snnbench_plugins.architectures.feedforward import image_shape, require_channels
from torch import nn

from snnbench.api import (
    ArchitectureContext,
    ArchitectureSpec,
    DatasetInfo,
    TimeDistributed,
    hookimpl,
    param,
)


def _check_image(name: str, info: DatasetInfo, pools: int) -> str | None:
    image = image_shape(info)
    if image is None:
        return f"{name} needs images [C,H,W] or frames [T,C,H,W]; {info.name} samples are {list(info.input_shape)}"
    if min(image[1:]) < 2 ** pools:
        return f"{name}'s {pools} max-pools shrink {info.name}'s {image[1]}x{image[2]} input to nothing"
    return None


@dataclass(frozen=True)
class CNNParams:
    channels: tuple[int, ...] = param((16, 32, 64), "output channels of each conv block", ge=1)
    kernel_sizes: tuple[int, ...] = param(
        (5, 5, 3), "odd square kernel of each conv block (padded to keep the size; a 2x2 max-pool follows)", ge=1)
    hidden: int = param(256, "width of the fully connected spiking layer", ge=1)
    dropout: float = param(0.2, "dropout on the hidden layer's input current", ge=0, lt=1)

    def __post_init__(self):
        require_channels(self.channels)
        if len(self.kernel_sizes) != len(self.channels):
            raise ValueError(f"kernel_sizes needs one kernel per conv block ({len(self.channels)})")
        if any(k % 2 == 0 for k in self.kernel_sizes):
            raise ValueError("kernel_sizes must be odd (padding keeps the size)")


def check_cnn(params: CNNParams, info: DatasetInfo) -> str | None:
    return _check_image("nmnist-cnn", info, len(params.channels))


def build_cnn(params: CNNParams, ctx: ArchitectureContext) -> nn.Module:
    in_channels, height, width = ctx.input_shape
    layers: list[nn.Module] = []
    for out_channels, kernel in zip(params.channels, params.kernel_sizes, strict=True):
        layers += [TimeDistributed(nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2)),
                   ctx.neuron((out_channels, height, width)),
                   TimeDistributed(nn.MaxPool2d(2))]
        in_channels, height, width = out_channels, height // 2, width // 2
    layers += [TimeDistributed(nn.Flatten()),
               TimeDistributed(nn.Linear(in_channels * height * width, params.hidden)),
               TimeDistributed(nn.Dropout(params.dropout)),
               ctx.neuron((params.hidden,)),
               TimeDistributed(nn.Linear(params.hidden, ctx.n_classes)),
               ctx.neuron((ctx.n_classes,))]
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class ResNetParams:
    channels: tuple[int, ...] = param(
        (32, 64), "output channels of each residual block; the stem has as many as the first", ge=1)
    hidden: int = param(256, "width of the Synaptic layer", ge=1)
    dropout: float = param(0.3, "dropout on the Synaptic layer's input current", ge=0, lt=1)
    slope: float | None = param(75.0, "surrogate slope of every spiking layer, the cell's neuron included (the "
                                      "reference uses a fast sigmoid of slope 75 throughout); unset keeps the "
                                      "neuron's own", gt=0)
    beta: float = param(0.5, "membrane decay of the ALIF stem and the Synaptic layer", gt=0, lt=1)
    adaptation_decay: float = param(
        0.9, "decay per step of the ALIF stem's threshold adaptation (snnTorch ALIF's alpha)", gt=0, lt=1)
    synaptic_alpha: float = param(0.8, "synaptic current decay of the Synaptic layer", gt=0, lt=1)

    def __post_init__(self):
        require_channels(self.channels)


def check_resnet(params: ResNetParams, info: DatasetInfo) -> str | None:
    return _check_image("nmnist-resnet", info, 2)


class Residual(nn.Module):
    """``body(x) + shortcut(x)`` over whole ``[T, B, ...]`` sequences: the
    block's spikes plus its input (or the input's 1x1 projection)."""

    def __init__(self, body: nn.Module, shortcut: nn.Module):
        super().__init__()
        self.body, self.shortcut = body, shortcut

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


def _conv_bn(in_channels: int, out_channels: int, kernel: int) -> list[nn.Module]:
    return [TimeDistributed(nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2)),
            TimeDistributed(nn.BatchNorm2d(out_channels))]


def build_resnet(params: ResNetParams, ctx: ArchitectureContext) -> nn.Module:
    slope = {} if params.slope is None else {"slope": params.slope}

    def neuron(features):
        return ctx.neuron(features, **slope)

    in_channels, height, width = ctx.input_shape
    stem = params.channels[0]
    layers: list[nn.Module] = [
        *_conv_bn(in_channels, stem, 3),
        ctx.neuron_model("snntorch-alif", (stem, height, width), beta=params.beta,
                         adaptation_decay=params.adaptation_decay, **slope),
        TimeDistributed(nn.MaxPool2d(2))]
    channels, height, width = stem, height // 2, width // 2
    for out_channels in params.channels:
        features = (out_channels, height, width)
        body = nn.Sequential(*_conv_bn(channels, out_channels, 3), neuron(features),
                             *_conv_bn(out_channels, out_channels, 3), neuron(features))
        shortcut = nn.Identity() if out_channels == channels else nn.Sequential(
            *_conv_bn(channels, out_channels, 1), neuron(features))
        layers.append(Residual(body, shortcut))
        channels = out_channels
    height, width = height // 2, width // 2
    layers += [TimeDistributed(nn.MaxPool2d(2)),
               TimeDistributed(nn.Flatten()),
               TimeDistributed(nn.Linear(channels * height * width, params.hidden)),
               TimeDistributed(nn.BatchNorm1d(params.hidden)),
               TimeDistributed(nn.Dropout(params.dropout)),
               ctx.neuron_model("snntorch-synaptic", (params.hidden,), alpha=params.synaptic_alpha,
                                beta=params.beta, **slope),
               TimeDistributed(nn.Linear(params.hidden, ctx.n_classes)),
               neuron((ctx.n_classes,))]
    return nn.Sequential(*layers)


@hookimpl
def register_architectures(register):
    images = frozenset({"static", "frames"})
    register(ArchitectureSpec("nmnist-cnn", CNNParams, build_cnn, images, check=check_cnn,
                              summary="spiking CNN for N-MNIST: 3x (conv-spike-maxpool 16/32/64), FC-256 "
                                      "with dropout, FC-10"))
    register(ArchitectureSpec("nmnist-resnet", ResNetParams, build_resnet, images, check=check_resnet,
                              summary="spiking ResNet for N-MNIST: conv-BN-ALIF stem, 2 residual blocks, "
                                      "FC-256 into a Synaptic layer, FC-10",
                              neuron_overrides=lambda params: frozenset() if params.slope is None
                              else frozenset({"slope"})))
