"""Spikformer (Zhou et al., arXiv 2209.15425), the transformer classifier of the ConvSTAL thesis.

Each block is spiking self-attention (SSA) and an MLP, both residual:

- SSA: q, k, v each Linear -> BatchNorm -> LIF; per head ``q kᵀ v · scale``
  with no softmax (spikes are non-negative, so the products need no
  normalisation; the paper's scale is 0.125), an attention LIF with a lower
  threshold (0.5 in the paper), then Linear -> BatchNorm -> LIF.
- MLP: Linear(dim -> mlp_hidden) -> BatchNorm -> LIF -> Linear -> BatchNorm -> LIF.

The head averages over tokens and time and applies Linear(dim -> classes).
Each step emits its token mean's logits divided by T, so the class scores
(the sum over time, as for every architecture here) are exactly that
average's logits.

**What it takes.** Its own input is tokens ``[T, B, N, D]`` with D = ``dim``,
as the SPS and ConvSTAL-PS encoders emit them; these pass unchanged, which
is the paper's network. Any other encoder output is cut into tokens and
embedded, Linear(F -> dim) -> BatchNorm -> LIF (a linear patch embedding):

- images ``[T, B, C, H, W]`` (rate, latency, direct, ConvSTAL, event frames)
  into ``patch_size`` x ``patch_size`` patches, F = C p², H and W zero-padded
  up to a multiple of p: (H/p)(W/p) tokens (49 on MNIST with p = 4, as SPS);
- vectors ``[T, B, L]`` (STAL's features, spike rasters) into runs of p²
  consecutive features; STAL's features come from Linear layers and have no
  spatial layout to keep, and a raster's channels stay in their order;
- tokens of another width F than ``dim``: embedded as they are.

So every dataset kind and encoder here can feed it, and there is nothing
for a ``check`` to skip; an encoder whose steps are none of these shapes
fails its cell with a message saying what it emitted.

BatchNorm normalises each feature over time, batch and tokens. Every spiking
layer comes from the cell's neuron model (the paper uses SpikingJelly's LIF,
tau 2, hard reset); the attention LIF overrides only its threshold. The
attention products are not Linear/Conv layers, so they are not counted in
the synaptic operations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from snnbench.api import (
    ArchitectureContext,
    ArchitectureSpec,
    SnnbenchError,
    TimeDistributed,
    hookimpl,
    param,
)


@dataclass(frozen=True)
class SpikformerParams:
    dim: int = param(128, "token width D (paper: 128 on MNIST and CIFAR-10)", ge=1)
    heads: int = param(4, "attention heads; must divide dim", ge=1)
    depth: int = param(6, "number of SSA + MLP blocks (0: only the token embedding and the head)", ge=0)
    mlp_hidden: int = param(512, "hidden width of each block's MLP", ge=1)
    scale: float = param(0.125, "factor on q kᵀ v (no softmax)", gt=0)
    attention_threshold: float = param(
        0.5, "threshold of the LIF after the attention product (the other LIFs keep the neuron's)", gt=0)
    patch_size: int = param(4, "side p of the patches cut from images (p x p) and vectors (p² features); "
                               "dim-wide tokens are not cut", ge=1)

    def __post_init__(self):
        if self.dim % self.heads:
            raise ValueError(f"heads ({self.heads}) must divide dim ({self.dim})")


class TokenNorm(nn.Module):
    """BatchNorm1d over the last (feature) axis of ``[..., D]``: statistics over
    every other axis, as Spikformer's BN over (time, batch, tokens)."""

    def __init__(self, features: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.reshape(-1, x.shape[-1])).reshape(x.shape)


def linear_norm(width_in: int, width_out: int) -> nn.Module:
    return TimeDistributed(nn.Sequential(nn.Linear(width_in, width_out), TokenNorm(width_out)))


class Tokenize(nn.Module):
    """Cuts one step of encoder output into tokens ``[B, N, F]``, without weights:
    an image ``[B, C, H, W]`` into p x p patches (F = C p²), a vector ``[B, L]``
    into runs of p² features (F = p²), zero-padding what does not fill a patch."""

    def __init__(self, shape: tuple[int, ...], patch: int):
        super().__init__()
        self.patch = patch
        if len(shape) == 3:
            channels, height, width = shape
            self.pad = (0, -width % patch, 0, -height % patch)
            self.shape = (math.ceil(height / patch) * math.ceil(width / patch), channels * patch * patch)
        else:
            self.pad = (0, -shape[0] % (patch * patch))
            self.shape = (math.ceil(shape[0] / patch ** 2), patch * patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, self.pad)
        if x.dim() == 4:
            return F.pixel_unshuffle(x, self.patch).flatten(2).transpose(1, 2)
        return x.unflatten(-1, self.shape)


class PositionEmbedding(nn.Module):
    """A learned vector per token position, added to the embedded tokens (as in
    ViT): attention without softmax and the mean over tokens are blind to
    order, and a bag of patches cannot tell a 6 from a 9. (SPS gets position
    from its relative-position convolution.)"""

    def __init__(self, tokens: int, dim: int):
        super().__init__()
        self.position = nn.Parameter(torch.zeros(tokens, dim))
        nn.init.trunc_normal_(self.position, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.position


class SpikingSelfAttention(nn.Module):
    def __init__(self, params: SpikformerParams, ctx: ArchitectureContext, tokens: int):
        super().__init__()
        features = (tokens, params.dim)
        self.heads, self.scale = params.heads, params.scale
        self.q, self.k, self.v = (linear_norm(params.dim, params.dim) for _ in range(3))
        self.q_lif, self.k_lif, self.v_lif = (ctx.neuron(features) for _ in range(3))
        self.attention_lif = ctx.neuron(features, threshold=params.attention_threshold)
        self.project = linear_norm(params.dim, params.dim)
        self.project_lif = ctx.neuron(features)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, N, D]`` -> ``[T, B, heads, N, D / heads]``."""
        return x.unflatten(-1, (self.heads, -1)).transpose(-3, -2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self._split(self.q_lif(self.q(x)))
        k = self._split(self.k_lif(self.k(x)))
        v = self._split(self.v_lif(self.v(x)))
        attended = (q @ k.transpose(-2, -1)) @ v * self.scale
        attended = self.attention_lif(attended.transpose(-3, -2).flatten(-2))
        return self.project_lif(self.project(attended))


class SpikingMLP(nn.Module):
    def __init__(self, params: SpikformerParams, ctx: ArchitectureContext, tokens: int):
        super().__init__()
        self.layers = nn.Sequential(
            linear_norm(params.dim, params.mlp_hidden), ctx.neuron((tokens, params.mlp_hidden)),
            linear_norm(params.mlp_hidden, params.dim), ctx.neuron((tokens, params.dim)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class Block(nn.Module):
    def __init__(self, params: SpikformerParams, ctx: ArchitectureContext, tokens: int):
        super().__init__()
        self.attention = SpikingSelfAttention(params, ctx, tokens)
        self.mlp = SpikingMLP(params, ctx, tokens)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(x)
        return x + self.mlp(x)


class MeanHead(nn.Module):
    """Token mean -> Linear, divided by T so the sum over time is the time mean."""

    def __init__(self, dim: int, n_classes: int):
        super().__init__()
        self.linear = nn.Linear(dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.mean(-2)) / x.shape[0]


def _stem(params: SpikformerParams, ctx: ArchitectureContext) -> tuple[list[nn.Module], int]:
    """The layers that turn the encoder's output into ``dim``-wide spike tokens, and the token count.

    Tokens as wide as ``dim`` pass as they are (SPS, ConvSTAL-PS: the paper's
    network); anything else is tokenised and embedded, Linear -> BN -> LIF."""
    shape = ctx.input_shape
    if len(shape) not in (1, 2, 3):
        raise SnnbenchError(f"spikformer takes images [C, H, W], tokens [N, D] or vectors [L] at each step; "
                            f"the encoder emits {list(shape)}")
    layers: list[nn.Module] = []
    if len(shape) != 2:
        layers.append(Tokenize(shape, params.patch_size))
        shape = layers[0].shape
    tokens, width = shape
    if not layers and width == params.dim:
        return [], tokens
    layers += [nn.Linear(width, params.dim), PositionEmbedding(tokens, params.dim), TokenNorm(params.dim)]
    return [TimeDistributed(nn.Sequential(*layers)), ctx.neuron((tokens, params.dim))], tokens


def build_spikformer(params: SpikformerParams, ctx: ArchitectureContext) -> nn.Module:
    stem, tokens = _stem(params, ctx)
    blocks = [Block(params, ctx, tokens) for _ in range(params.depth)]
    return nn.Sequential(*stem, *blocks, MeanHead(params.dim, ctx.n_classes))


@hookimpl
def register_architectures(register):
    register(ArchitectureSpec(
        "spikformer", SpikformerParams, build_spikformer, frozenset({"static", "frames", "spikes"}),
        summary="Spikformer: spiking self-attention on tokens (SPS, ConvSTAL-PS), or on "
                "patches of any other encoder's output",
        neuron_overrides=lambda params: frozenset({"threshold"})))
