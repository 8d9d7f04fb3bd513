"""Single-spike trains as spike times, shared by the encoders, networks and
rules built on neurons that fire at most once per sample.

Such a train ``[T, B, ...]`` is fully given by each neuron's firing step
``[B, ...]``, with T meaning "never": T times smaller, and what STDP compares.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def spike_time_dtype(steps: int) -> torch.dtype:
    """The smallest integer type that holds the steps 0..``steps`` (``steps``: never)."""
    return torch.uint8 if steps < 256 else torch.int32


def first_true(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean ``[T, B, ...]`` -> whether each neuron's is ever true, and the
    first step it is (0 where never), both ``[B, ...]``."""
    # max over time returns the first index of the maximum; argmax over dim 0 is 5x slower on CPU
    found, first = mask.view(torch.uint8).max(0)
    return found.bool(), first


def first_spike_times(spikes: torch.Tensor) -> torch.Tensor:
    """``[T, B, ...]`` spikes -> the step of each neuron's first spike ``[B, ...]``,
    T where none, in :func:`spike_time_dtype`."""
    fired, first = first_true(spikes > 0)
    steps = spikes.shape[0]
    return torch.where(fired, first, steps).to(spike_time_dtype(steps))


def spikes_at(times: torch.Tensor, steps: int, dtype: torch.dtype) -> torch.Tensor:
    """Spike times ``[B, ...]`` -> one spike per neuron at its step ``[T, B, ...]`` (none for T or later)."""
    spikes = torch.zeros((steps + 1, *times.shape), dtype=dtype, device=times.device)
    spikes.scatter_(0, times.long().clamp(max=steps).unsqueeze(0), 1.0)
    return spikes[:steps]


def earliest_in_window(times: torch.Tensor, size: int) -> torch.Tensor:
    """Spike times ``[B, C, H, W]`` -> the earliest of each ``size`` x ``size``
    window (stride ``size``, the remainder dropped): the step at which a C
    layer, a max-pool followed by a neuron that fires on its first input,
    fires."""
    return (-F.max_pool2d(-times.float(), size)).to(times.dtype)
