"""Losses on output spikes ``[T, B, n_classes]``, shared by the gradient-based rules."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def ce_count(spikes: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with the spike counts of each class as logits."""
    return F.cross_entropy(spikes.sum(0), targets)


def mse_count(spikes: torch.Tensor, targets: torch.Tensor, correct_rate: float = 0.8,
              incorrect_rate: float = 0.2) -> torch.Tensor:
    """Mean squared error between spike counts and target counts: the correct
    class should fire at ``correct_rate`` of the steps, the others at
    ``incorrect_rate`` (snnTorch's ``mse_count_loss``)."""
    steps, _, n_classes = spikes.shape
    wanted = torch.full_like(spikes[0], incorrect_rate * steps)
    wanted[torch.arange(len(targets), device=targets.device), targets] = correct_rate * steps
    return F.mse_loss(spikes.sum(0), wanted)


def ce_rate(spikes: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each step's output spikes, averaged over the steps
    (snnTorch's ``ce_rate_loss``): every step is pushed towards the right class."""
    steps, batch, n_classes = spikes.shape
    return F.cross_entropy(spikes.reshape(steps * batch, n_classes), targets.repeat(steps))
