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


# --------------------------------------------------------------------------- encoder losses
# These act on what the encoder emits, ``[T, B, ...]``, not on the output layer.


def warmup_weight(epoch: int, warmup_epochs: int) -> float:
    """Linear warm-up: 0 in the first epoch (0-based ``epoch``), 1 from epoch
    ``warmup_epochs`` on; ``warmup_epochs = 0`` means full weight at once."""
    return 1.0 if warmup_epochs == 0 else min(1.0, epoch / warmup_epochs)


def spike_sparsity(encoded: torch.Tensor, omega: float, c: float, weight: float = 1.0,
                   eps: float = 1e-6) -> torch.Tensor:
    """The spike-sparsity term (SS) of the ConvSTAL thesis, after Allred et al.
    ("Explicitly trained spiking sparsity in SNNs with backpropagation"):

        SS = omega * weight * (sum(s) - c * sum(s**2) / (sum(s) + eps))

    where ``s`` holds each output unit's spike count over the T steps,
    averaged over the batch, so the term is **normalised per sample**: its
    size does not change with the batch size. (The thesis's RSNN handed the
    term ConvSTAL's batch-first output ``[B, T, ...]``, so it summed over the
    batch and averaged over time, which scales the whole term by B/T: its
    omega there is omega * B / T here. Its Spikformer runs were time-first,
    as here.) The first sum is the mean number of spikes a sample sends; the
    second rewards concentrating them on few units.
    ``weight`` is the warm-up factor (:func:`warmup_weight`). Analogue output
    counts its values, so the term has a gradient for any encoder that
    has parameters.
    """
    counts = encoded.sum(0).mean(0).flatten()
    total = counts.sum()
    return omega * weight * (total - c * counts.square().sum() / (total + eps))


def stal_encoder_loss(inputs: torch.Tensor, encoded: torch.Tensor, per_channel: bool = False,
                      eps: float = 1e-12) -> torch.Tensor:
    """The STAL encoder loss (arXiv 2407.08362), for pre-training an encoder
    on its own: ``-MI(x, z) + mean |spike count - T * input mass|``.

    ``encoded`` ``[T, B, ...]`` must hold one output per input value, per
    step. ``z`` weighs each value's spikes by their step, ``z = sum_t (t+1)
    s_t``, as the thesis's encoder loss does (STAL's reference code). MI is
    the STAL estimate ``p_xz log2(p_xz / (p_x p_z))`` with ``p_xz``, ``p_x``,
    ``p_z`` the means of ``x * z``, ``x`` and ``z`` over the batch. The count
    term asks each sample to send T * sum(x) spikes, as many as its input
    would under rate coding at full gain. ``per_channel`` (the thesis's loss
    for ConvSTAL on colour images) computes both terms for each channel of
    ``[T, B, C, H, W]`` and averages them over the channels.
    """
    steps, batch = encoded.shape[:2]
    if encoded[0].numel() != inputs.numel():
        raise ValueError(f"the STAL encoder loss needs one output per input value and step; the input is "
                         f"{list(inputs.shape[1:])} per sample, the encoder's output {list(encoded.shape[2:])}")
    groups = inputs.shape[1] if per_channel else 1
    x = inputs.reshape(batch, groups, -1)
    spikes = encoded.reshape(steps, batch, groups, -1)
    ramp = torch.arange(1, steps + 1, device=encoded.device, dtype=encoded.dtype).view(-1, 1, 1, 1)
    z = (spikes * ramp).sum(0)
    joint = (x * z).mean((0, 2)).clamp_min(eps)
    p_x, p_z = x.mean((0, 2)).clamp_min(eps), z.mean((0, 2)).clamp_min(eps)
    mutual_information = joint * torch.log2(joint / (p_x * p_z))
    count_gap = (spikes.sum((0, 3)) - steps * x.sum(2)).abs()
    return -mutual_information.mean() + count_gap.mean()
