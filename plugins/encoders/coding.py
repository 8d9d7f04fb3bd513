"""Built-in spike encoders for static images: ``[B, ...]`` in [0, 1] to ``[T, B, ...]``.

- ``rate``: each pixel fires at each step with probability ``gain * x``
  (Bernoulli, i.e. discretised Poisson).
- ``latency``: time to first spike; one spike per pixel brighter than
  ``threshold``, at step ``round((T - 1) * (1 - x))``, so bright pixels fire first.
- ``direct``: the analogue image itself as a constant current at every step.
  It is an ``expand`` (stride 0 over time), so the first stateless layer
  computes once per image (see :mod:`snnbench.api.sequence`).
- ``delta``: temporal-contrast (send-on-delta) coding. A static image has no
  temporal change of its own, so it is faded in linearly over the T steps and
  a pixel emits an ON spike each time its intensity has grown by another
  ``threshold`` since its last spike: a pixel of intensity x fires
  ``floor(x / threshold)`` times, spread over the ramp. With
  ``threshold >= 1 / T`` no pixel can owe two spikes in one step.
- ``events``: for data that is spikes already (event frames ``[T,C,H,W]``,
  spike rasters ``[T,N]``): passes the samples on, time-first.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from snnbench.api import (
    DatasetInfo,
    EncoderSpec,
    NoParams,
    hookimpl,
    param,
    repeat_in_time,
)


@dataclass(frozen=True)
class RateParams:
    timesteps: int = param(25, "number of time steps T", ge=1)
    gain: float = param(1.0, "firing probability per step of a pixel of value 1", gt=0, le=1)


class RateEncoder(nn.Module):
    def __init__(self, params: RateParams, info: DatasetInfo):
        super().__init__()
        self.timesteps, self.gain = params.timesteps, params.gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probability = (x * self.gain).clamp_(0.0, 1.0)
        noise = torch.rand((self.timesteps, *x.shape), device=x.device, dtype=x.dtype)
        return (noise < probability).to(x.dtype)


@dataclass(frozen=True)
class LatencyParams:
    timesteps: int = param(25, "number of time steps T", ge=1)
    threshold: float = param(0.0, "pixels at or below this value never fire")


class LatencyEncoder(nn.Module):
    def __init__(self, params: LatencyParams, info: DatasetInfo):
        super().__init__()
        self.timesteps, self.threshold = params.timesteps, params.threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fire_at = torch.round((self.timesteps - 1) * (1.0 - x.clamp(0.0, 1.0))).long()
        steps = torch.arange(self.timesteps, device=x.device).view(-1, *([1] * x.dim()))
        spikes = (steps == fire_at.unsqueeze(0)) & (x > self.threshold).unsqueeze(0)
        return spikes.to(x.dtype)


@dataclass(frozen=True)
class DirectParams:
    timesteps: int = param(25, "number of time steps T", ge=1)


class DirectEncoder(nn.Module):
    def __init__(self, params: DirectParams, info: DatasetInfo):
        super().__init__()
        self.timesteps = params.timesteps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return repeat_in_time(x, self.timesteps)


@dataclass(frozen=True)
class DeltaParams:
    timesteps: int = param(25, "number of time steps T", ge=1)
    threshold: float = param(0.1, "intensity change that triggers a spike; at least 1/timesteps", gt=0)

    def __post_init__(self):
        if self.threshold < 1.0 / self.timesteps:
            raise ValueError(f"threshold must be at least 1/timesteps = {1 / self.timesteps:.4g}, "
                             "or a pixel would owe two spikes in one step")


class DeltaEncoder(nn.Module):
    def __init__(self, params: DeltaParams, info: DatasetInfo):
        super().__init__()
        self.timesteps, self.threshold = params.timesteps, params.threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ramp = torch.arange(1, self.timesteps + 1, device=x.device, dtype=x.dtype) / self.timesteps
        level = ramp.view(-1, *([1] * x.dim())) * x.clamp(0.0, 1.0).unsqueeze(0)
        # a small epsilon keeps exact multiples (x = k * threshold) from rounding down
        crossings = torch.floor(level / self.threshold + 1e-6)
        previous = torch.cat([torch.zeros_like(crossings[:1]), crossings[:-1]])
        return (crossings - previous).clamp_(0.0, 1.0)


class EventsEncoder(nn.Module):
    """``[B, T, ...] -> [T, B, ...]``: the data is already spikes. A view of
    float input; uint8 event counts (as event datasets keep them) become float32
    one batch at a time."""

    def __init__(self, params: NoParams, info: DatasetInfo):
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(0, 1).float()


@hookimpl
def register_encoders(register):
    static = frozenset({"static"})
    register(EncoderSpec("rate", RateParams, RateEncoder, static,
                         summary="Bernoulli rate coding: P(spike) = gain * x per step"))
    register(EncoderSpec("latency", LatencyParams, LatencyEncoder, static,
                         summary="time to first spike: one spike at round((T-1)(1-x))"))
    register(EncoderSpec("direct", DirectParams, DirectEncoder, static,
                         summary="the analogue image as a constant current at every step"))
    register(EncoderSpec("delta", DeltaParams, DeltaEncoder, static,
                         summary="temporal contrast: send-on-delta spikes of the image faded in over T"))
    register(EncoderSpec("events", NoParams, EventsEncoder, frozenset({"frames", "spikes"}),
                         summary="event data as it is (frames [T,C,H,W] or spikes [T,N]), time-first"))
