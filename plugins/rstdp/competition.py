"""SpykeTorch's competition between spiking neurons, as Mozafari et al. 2019
use it: which neurons of a convolutional layer learn from a sample.

A layer whose neurons fire at most once is described by each neuron's firing
step ("spike times" ``[B, F, H, W]``, ``steps`` meaning never). In the hidden
layers, point-wise lateral inhibition comes first (at each position only the
feature map that fired first keeps its spike, ties by potential), then
k-winners-take-all (winners by earliest spike, then potential; after each
winner its map and every map within a radius of its position are out), and
the winners' receptive fields give STDP the input times to learn from.

The network (``snnbench_plugins.rstdp.mozafari``) runs the
competition, the learning rule (``snnbench_plugins.rstdp.stdp``)
applies STDP to its result; both import it from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def potential_at(potentials: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
    """The potential ``[T, B, ...]`` of each neuron at step ``times`` (the last step for T)."""
    index = times.long().clamp(max=potentials.shape[0] - 1).unsqueeze(0)
    return potentials.gather(0, index).squeeze(0)


@dataclass
class Winners:
    """The winners of a layer, ``[B, k]`` each; ``valid`` is False where fewer
    than k neurons of a sample fired."""

    features: torch.Tensor
    rows: torch.Tensor
    cols: torch.Tensor
    times: torch.Tensor
    valid: torch.Tensor


@dataclass
class Competition:
    """A layer's winners, and the input spike times in each winner's receptive
    field ``[B, k, C*kh*kw]`` (T where no spike came, padding included), in the
    order of the conv weight's input dimensions."""

    winners: Winners
    receptive_times: torch.Tensor


def pointwise_inhibition(times: torch.Tensor, potentials: torch.Tensor, steps: int) -> torch.Tensor:
    """At each position of ``[B, F, H, W]`` only the map that fired first (ties:
    the larger potential, then the lower index) keeps its spike; the others'
    times become T."""
    earliest = times.min(1, keepdim=True).values
    candidate = (times == earliest) & (times < steps)
    best = torch.where(candidate, potentials, -torch.inf).argmax(1, keepdim=True)
    maps = torch.arange(times.shape[1], device=times.device).view(1, -1, 1, 1)
    return torch.where(candidate & (maps == best), times, steps)


def k_winners(times: torch.Tensor, potentials: torch.Tensor, k: int, radius: int, steps: int) -> Winners:
    """Up to k winners per sample of ``[B, F, H, W]``: the earliest spike, ties by
    potential at that spike; after each, its map and (radius > 0) every map
    within ``radius`` positions of it can no longer win. Vectorised over the
    batch; the k rounds are sequential because each depends on the last."""
    batch, maps, height, width = times.shape
    fired = times < steps
    scale = potentials.abs().amax() + 1.0  # earlier beats any potential difference
    score = torch.where(fired, (steps - times).to(potentials.dtype) * scale + potentials, -torch.inf)
    score = score.view(batch, maps, height * width)
    map_ids = torch.arange(maps, device=times.device)
    row_ids = torch.arange(height, device=times.device)
    col_ids = torch.arange(width, device=times.device)
    picks = []
    for _ in range(k):
        best, index = score.flatten(1).max(1)
        feature, row, col = index // (height * width), index // width % height, index % width
        picks.append((feature, row, col, best > -torch.inf))
        score[map_ids == feature[:, None]] = -torch.inf
        if radius > 0:
            near = (((row_ids - row[:, None]).abs() <= radius)[:, :, None]
                    & ((col_ids - col[:, None]).abs() <= radius)[:, None, :])
            score.masked_fill_(near.view(batch, 1, height * width), -torch.inf)
    features, rows, cols, valid = (torch.stack(parts, 1) for parts in zip(*picks))
    winner_times = times[torch.arange(batch, device=times.device)[:, None], features, rows, cols]
    return Winners(features, rows, cols, winner_times, valid)


def receptive_times(times: torch.Tensor, winners: Winners, kernel: int, padding: int, steps: int) -> torch.Tensor:
    """Input spike times ``[B, C, H, W]`` in each winner's receptive field, ``[B, k, C*kernel*kernel]``."""
    padded = F.pad(times, (padding,) * 4, value=steps)
    offsets = torch.arange(kernel, device=times.device)
    batch = torch.arange(times.shape[0], device=times.device).view(-1, 1, 1, 1)
    rows = (winners.rows[:, :, None, None] + offsets.view(1, 1, -1, 1))
    cols = (winners.cols[:, :, None, None] + offsets.view(1, 1, 1, -1))
    patches = padded[batch, :, rows, cols]  # [B, k, kernel, kernel, C]: advanced indices come first
    return patches.permute(0, 1, 4, 2, 3).flatten(2)
