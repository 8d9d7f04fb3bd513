"""The ``dog-latency`` encoder: difference-of-Gaussians contrast, local
normalisation and intensity-to-latency coding, as the input stage of
Mozafari et al. 2019 (Pattern Recognition 94) and of its authors' SpykeTorch
example ``MozafariDeep.py``, whose semantics it follows:

1. the image is scaled to 0-255 and filtered by a bank of DoG kernels
   (by default six: on- then off-centre at three scales, ``(size, sigma1,
   sigma2)`` = (3, 3/9, 6/9), (3, 6/9, 3/9), (7, 7/9, 14/9), (7, 14/9, 7/9),
   (13, 13/9, 26/9), (13, 26/9, 13/9)); each kernel has its mean subtracted and
   is divided by its maximum, and all are zero-padded to the largest size so
   the responses keep the image's size;
2. responses under ``threshold`` (50 in the example) become 0;
3. each response is divided by the mean of its (2r+1)x(2r+1) neighbourhood in
   its own map (r = 8: 17x17; zeros beyond the border count in the mean);
4. intensity to latency: the non-zero values of a sample (all maps together)
   are sorted, strongest first, and cut into ``timesteps`` equal bins by rank;
   bin t fires at step t. The ``n mod T`` weakest values, which fill no whole
   bin, never fire (as in SpykeTorch). With fewer than T non-zero values each
   fires in its own step (SpykeTorch's bins would be empty). Equal values are
   ranked by position.

**Single events, not SpykeTorch's cumulative waves.** SpykeTorch represents a
spike train cumulatively: once a pixel has fired it is 1 at every later step,
and the next layer's convolution of that wave *is* the potential of a
non-leaky integrate-and-fire neuron. This encoder emits each spike once, at
its step. A non-leaky IF neuron that integrates single events has at step t
the potential sum_{s<=t} W x_s = W sum_{s<=t} x_s: exactly the potential
SpykeTorch computes from the cumulative wave, so every threshold crossing, and
with it every decision and every STDP update, is the same. What differs is
only what the measurements see: with single events the encoder density and the
synaptic operations are those of an event-driven network, each spike counted
once, instead of each spike again at every later step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from snnbench_plugins.rstdp.spike_times import spikes_at
from torch import nn

from snnbench.api import DatasetInfo, EncoderSpec, hookimpl, param

#: (size, sigma1, sigma2) of Mozafari et al.'s six DoG kernels; floats like the
#: field, so the default hashes as the same kernels written in a suite file do
MOZAFARI_DOG = ((3.0, 3 / 9, 6 / 9), (3.0, 6 / 9, 3 / 9), (7.0, 7 / 9, 14 / 9),
                (7.0, 14 / 9, 7 / 9), (13.0, 13 / 9, 26 / 9), (13.0, 26 / 9, 13 / 9))


@dataclass(frozen=True)
class DoGLatencyParams:
    timesteps: int = param(15, "number of time steps T (latency bins)", ge=1)
    threshold: float = param(50.0, "DoG responses below this (image on the 0-255 scale) are set to 0", ge=0)
    normalization_radius: int = param(8, "local normalisation divides by the mean of a (2r+1)x(2r+1) window", ge=0)
    kernels: tuple[tuple[float, ...], ...] = field(default=MOZAFARI_DOG, metadata={
        "help": "DoG kernels as [size, sigma1, sigma2]: sigma1 < sigma2 is on-centre, > is off-centre"})

    def __post_init__(self):
        if not self.kernels:
            raise ValueError("kernels must list at least one [size, sigma1, sigma2]")
        for kernel in self.kernels:
            if len(kernel) != 3:
                raise ValueError(f"kernel {list(kernel)} must be [size, sigma1, sigma2]")
            size, sigma1, sigma2 = kernel
            if size != int(size) or size < 1 or int(size) % 2 == 0:
                raise ValueError(f"kernel {list(kernel)}: size must be an odd positive integer")
            if sigma1 <= 0 or sigma2 <= 0 or sigma1 == sigma2:
                raise ValueError(f"kernel {list(kernel)}: sigmas must be positive and differ")


def dog_kernel(size: int, sigma1: float, sigma2: float) -> torch.Tensor:
    """A ``size`` x ``size`` DoG kernel, mean-subtracted and divided by its maximum."""
    radius = size // 2
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    squared = offsets[:, None] ** 2 + offsets[None, :] ** 2

    def gaussian(sigma: float) -> torch.Tensor:
        return torch.exp(-squared / (2 * sigma * sigma)) / (sigma * sigma)

    dog = (gaussian(sigma1) - gaussian(sigma2)) / (2 * math.pi)
    dog = dog - dog.mean()
    return (dog / dog.max()).float()


def dog_bank(kernels: tuple[tuple[float, ...], ...]) -> torch.Tensor:
    """The kernels as one conv weight ``[K, 1, S, S]``, each zero-padded to the largest size S."""
    largest = max(int(size) for size, _, _ in kernels)
    padded = []
    for size, sigma1, sigma2 in kernels:
        margin = (largest - int(size)) // 2
        padded.append(F.pad(dog_kernel(int(size), sigma1, sigma2), (margin,) * 4))
    return torch.stack(padded).unsqueeze(1)


def latency_times(values: torch.Tensor, timesteps: int) -> torch.Tensor:
    """Firing step of each value of ``[B, ...]`` (``timesteps`` = never): the
    positive values of each sample, strongest first, in equal bins by rank."""
    flat = values.flatten(1)
    count = (flat > 0).sum(1, keepdim=True)
    order = flat.argsort(dim=1, descending=True, stable=True)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(flat.shape[1], device=flat.device)
                                            .expand_as(order))
    step = rank // (count // timesteps).clamp(min=1)
    never = torch.full_like(step, timesteps)
    return torch.where((flat > 0) & (step < timesteps), step, never).view_as(values)


class DoGLatencyEncoder(nn.Module):
    """``[B, 1, H, W]`` in [0, 1] -> single spikes ``[T, B, K, H, W]``, one per
    map and position at most."""

    def __init__(self, params: DoGLatencyParams, info: DatasetInfo):
        super().__init__()
        if len(info.input_shape) != 3 or info.input_shape[0] != 1:
            raise ValueError(f"dog-latency needs one-channel images [1,H,W]; {info.name} samples are "
                             f"{list(info.input_shape)}")
        self.timesteps, self.threshold = params.timesteps, params.threshold
        self.radius = params.normalization_radius
        self.register_buffer("kernels", dog_bank(params.kernels))

    def intensities(self, images: torch.Tensor) -> torch.Tensor:
        """The thresholded, locally normalised DoG responses ``[B, K, H, W]`` that are turned into latencies."""
        responses = F.conv2d(images * 255.0, self.kernels, padding=self.kernels.shape[-1] // 2)
        responses = torch.where(responses < self.threshold, 0.0, responses)
        window = 2 * self.radius + 1  # the box mean is separable: rows, then columns (5x faster than 2-D)
        means = F.avg_pool2d(responses, (window, 1), stride=1, padding=(self.radius, 0), count_include_pad=True)
        means = F.avg_pool2d(means, (1, window), stride=1, padding=(0, self.radius), count_include_pad=True)
        return responses / (means + 1e-12)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return spikes_at(latency_times(self.intensities(images), self.timesteps), self.timesteps, images.dtype)


@hookimpl
def register_encoders(register):
    register(EncoderSpec("dog-latency", DoGLatencyParams, DoGLatencyEncoder, accepts=frozenset({"static"}),
                         summary="DoG filters, local normalisation, rank-order latency: one spike per "
                                 "map and position (Mozafari et al. 2019)"))
