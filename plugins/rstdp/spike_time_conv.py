"""A convolution fed single spikes and followed by non-leaky integrate-and-fire
neurons that fire once, computed from spike times, event by event, on the CPU.

The mozafari network's S layers are such a layer, and its learning rule only
ever asks them for each neuron's firing step and its potential there. Run
densely, that is a convolution of ``T`` whole spike maps (``[T, B, C, H, W]``,
over 99% zeros in S2's input) and a cumulative sum over ``[T, B, F, H, W]``.
Here each output neuron gathers the input spikes of its receptive field
instead: every spike adds one weight column ``w[:, c, ky, kx]`` to the step
it arrived at, and one pass over the ``T`` steps of those sums gives the
first threshold crossing. Nothing ``T``-fold is ever stored.

On one thread of the 2-core AMD EPYC (``make bench-rstdp``, docs/components/architectures.md,
"Hidden layers by events"), layer 2's STDP step fell from 11.0 to 4.0 ms
an image and propagating through S2 + C2 from 12.2 to 1.3 ms: the dense
path spends its time multiplying zeros.

It is the same arithmetic as conv-then-cumsum, summed in another order, so
potentials agree to rounding (a few ulps); a firing step can differ only
where a potential lies within that rounding of the threshold
(``tests/test_spike_time_conv.py`` holds it to the dense layer on real
digits). Thresholds compare strictly, as SpykeTorch's ``fire``; a threshold
of ``None`` is SpykeTorch's infinite one (fire at the last step if the
potential is positive).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch

from snnbench.api import follow_torch_threads


@numba.njit(parallel=True, cache=True)
def _fire_times(times, weight, padding, steps, threshold, at_end, out_times, out_potentials):
    """times [B, H, W, C] (``steps``: never), weight [k, k, C, F] ->
    out_times [B, H', W', F] and out_potentials [B, H', W', F], in place."""
    batch, height, width, channels = times.shape
    kernel, maps = weight.shape[0], weight.shape[3]
    out_height, out_width = out_times.shape[1], out_times.shape[2]
    zero = weight.dtype.type(0)
    for row in numba.prange(batch * out_height):
        b, oy = row // out_height, row % out_height
        arrivals = np.zeros((steps, maps), weight.dtype)
        potential = np.empty(maps, weight.dtype)
        first = np.empty(maps, np.int64)
        for ox in range(out_width):
            arrivals[:] = zero
            for ky in range(kernel):
                iy = oy + ky - padding
                if iy < 0 or iy >= height:
                    continue
                for kx in range(kernel):
                    ix = ox + kx - padding
                    if ix < 0 or ix >= width:
                        continue
                    spike_times = times[b, iy, ix]
                    for c in range(channels):
                        t = spike_times[c]
                        if t < steps:
                            column, sums = weight[ky, kx, c], arrivals[t]
                            for f in range(maps):
                                sums[f] += column[f]
            potential[:] = zero
            first[:] = steps
            for t in range(steps):
                sums = arrivals[t]
                for f in range(maps):
                    v = potential[f] + sums[f]
                    if first[f] == steps:
                        potential[f] = v
                        if not at_end and v > threshold:
                            first[f] = t
            out_t, out_v = out_times[b, oy, ox], out_potentials[b, oy, ox]
            for f in range(maps):
                if at_end:
                    out_t[f] = steps - 1 if potential[f] > zero else steps
                else:
                    out_t[f] = first[f]
                out_v[f] = potential[f]


def fire_times(times: torch.Tensor, weight: torch.Tensor, padding: int, steps: int,
               threshold: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Input spike times ``[B, C, H, W]`` (``steps``: never) through ``conv2d(weight,
    padding)`` and single-spike IF neurons -> each output neuron's firing step
    ``[B, F, H', W']`` (``steps``: never, in the input's dtype) and its potential
    at that step (at the last step for a neuron that never fires), contiguous."""
    if times.device.type != "cpu":
        raise ValueError(f"fire_times runs on the CPU; the spike times are on {times.device}")
    maps, _, kernel, _ = weight.shape
    batch, _, height, width = times.shape
    out_shape = (batch, height + 2 * padding - kernel + 1, width + 2 * padding - kernel + 1, maps)
    out_times = torch.empty(out_shape, dtype=times.dtype)
    out_potentials = torch.empty(out_shape, dtype=weight.dtype)
    follow_torch_threads()
    _fire_times(times.permute(0, 2, 3, 1).contiguous().numpy(),
                weight.detach().permute(2, 3, 1, 0).contiguous().numpy(),
                padding, steps, math.inf if threshold is None else float(threshold), threshold is None,
                out_times.numpy(), out_potentials.numpy())
    return (out_times.permute(0, 3, 1, 2).contiguous(), out_potentials.permute(0, 3, 1, 2).contiguous())
