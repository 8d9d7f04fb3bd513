"""``mozafari``: the deep convolutional SNN of Mozafari et al. 2019 ("Bio-inspired
digit recognition using reward-modulated spike-timing-dependent plasticity in
deep convolutional networks", Pattern Recognition 94), following the
semantics of its authors' SpykeTorch example ``MozafariDeep.py``:

    input (6 DoG maps) -> zero-pad 2 -> S1 conv 30@5x5, threshold 15 -> C1 max-pool 2 -> zero-pad 1
    -> S2 conv 250@3x3, threshold 10 -> C2 max-pool 3 -> zero-pad 2 -> S3 conv 200@5x5, no threshold
    -> decision: the S3 feature map with the earliest spike (ties: the larger potential); class = map // 20

Every neuron is a non-leaky integrate-and-fire neuron that fires at most once
per sample (the cell's neuron model must be one, e.g. ``spikingjelly-if-once``);
weights start N(0.8, 0.05), no bias. A C layer is a max-pool followed by such
a neuron with a threshold below one spike, so it passes on the first spike in
its window once, as SpykeTorch's pooling of cumulative spike waves does. S3
has SpykeTorch's infinite threshold: its neurons fire at the last step if
their potential is positive, so the earliest spike is the largest potential.
Only its final potential matters, and a non-leaky neuron's final potential is
the weights times the sum of its input, so S3 convolves the window's summed
input once instead of every step (15x less work, the same spikes).

Layers run over whole ``[T, B, ...]`` sequences (stateless ones through
:class:`~snnbench.api.sequence.TimeDistributed`), with the neurons in SpikingJelly's
multi-step mode. The hidden layers' conv weights are kept channels-last: oneDNN
and cuDNN then run those convolutions channels-last (measured 1.3x faster on a
CPU here).

**What learning rules use** (see ``snnbench_plugins.rstdp.stdp``):
a spike train in which each neuron fires at most once is fully given by each
neuron's firing step, so rules move *spike times* ``[B, C, H, W]`` (T meaning
never) between layers: :meth:`MozafariNetwork.propagate` runs one trained
layer, :meth:`MozafariNetwork.compete` runs the layer being trained and picks
its winners. The competition is SpykeTorch's, in
:mod:`snnbench_plugins.rstdp.competition` (shared with the learning rule): in the
hidden layers, point-wise lateral inhibition, then k-winners-take-all within
``inhibition_radius``, so a map wins at most once per sample. The readout has
one winner and no point-wise inhibition. Point-wise inhibition shapes learning only: as in SpykeTorch,
inference runs without it.

On the CPU, ``propagate``, ``compete`` and inference run the hidden S and C
layers from spike times by events (:mod:`snnbench_plugins.rstdp.spike_time_conv`)
when their neurons integrate without leak: the same spikes, potentials and
winners as the dense layers (tested), 5-10x faster through a layer and 2-3x
per STDP step, where the dense conv multiplied inputs that are over 99%
zeros. Inference by events reports the spikes and synaptic operations the
dense layers would have shown to the activity metrics
(:mod:`snnbench.api.activity`), so a row's sparsity and ACs are the same either
way (tested); its input must then be single binary spikes, as the DoG
latency encoder's, else it runs densely.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from snnbench_plugins.rstdp.competition import (
    Competition,
    k_winners,
    pointwise_inhibition,
    potential_at,
    receptive_times,
)
from snnbench_plugins.rstdp.contracts import PlasticNetwork, RecordingNeuron
from snnbench_plugins.rstdp.spike_time_conv import fire_times
from snnbench_plugins.rstdp.spike_times import (
    earliest_in_window,
    first_spike_times,
    spikes_at,
)
from torch import nn

from snnbench.api import (
    ArchitectureContext,
    ArchitectureSpec,
    DatasetInfo,
    SpikingLayer,
    TimeDistributed,
    hookimpl,
    listening,
    param,
    report_spikes,
    report_synapse_input,
)

#: threshold of a C-layer neuron: below one input spike, so it fires on the first
POOL_THRESHOLD = 0.5


@dataclass(frozen=True)
class MozafariParams:
    channels: tuple[int, ...] = param(
        (30, 250, 200), "feature maps of each S layer; the last is the readout, split evenly among the classes", ge=1)
    kernel_sizes: tuple[int, ...] = param((5, 3, 5), "conv kernel size of each S layer", ge=1)
    paddings: tuple[int, ...] = param((2, 1, 2), "zero padding before each S layer's conv", ge=0)
    thresholds: tuple[float, ...] = param(
        (15.0, 10.0), "firing thresholds of the hidden S layers (the readout has none)", gt=0)
    pools: tuple[int, ...] = param((2, 3), "max-pool window and stride of the C layer after each hidden S layer", ge=1)
    winners: tuple[int, ...] = param((5, 8), "k of k-winners-take-all in each hidden S layer while it learns", ge=1)
    inhibition_radius: tuple[int, ...] = param(
        (3, 1), "a winner's neighbourhood (in positions) that no later winner of its layer may come from", ge=0)
    weight_mean: float = param(0.8, "mean of the initial weights (normal)")
    weight_std: float = param(0.05, "standard deviation of the initial weights", ge=0)

    def __post_init__(self):
        hidden = len(self.thresholds)
        for key, expected in (("channels", hidden + 1), ("kernel_sizes", hidden + 1), ("paddings", hidden + 1),
                              ("pools", hidden), ("winners", hidden), ("inhibition_radius", hidden)):
            if len(getattr(self, key)) != expected:
                raise ValueError(f"{key} needs {expected} entries: one per "
                                 f"{'S layer' if expected == hidden + 1 else 'hidden S layer'} "
                                 f"({hidden} thresholds are given)")


def map_sizes(params: MozafariParams, height: int, width: int) -> list[tuple[int, int]]:
    """Height and width of each S layer's output."""
    sizes = []
    for layer, (kernel, padding) in enumerate(zip(params.kernel_sizes, params.paddings)):
        if layer > 0:
            pool = params.pools[layer - 1]
            height, width = height // pool, width // pool
        height, width = height + 2 * padding - kernel + 1, width + 2 * padding - kernel + 1
        sizes.append((height, width))
    return sizes


def check_mozafari(params: MozafariParams, info: DatasetInfo) -> str | None:
    if len(info.input_shape) != 3:
        return f"mozafari needs image input [C,H,W]; {info.name} samples are {list(info.input_shape)}"
    if params.channels[-1] % info.n_classes:
        return (f"mozafari's {params.channels[-1]} readout maps do not split evenly among "
                f"{info.name}'s {info.n_classes} classes")
    if any(h < 1 or w < 1 for h, w in map_sizes(params, *info.input_shape[1:])):
        return f"mozafari's layers shrink {info.name}'s {info.input_shape[1]}x{info.input_shape[2]} input to nothing"
    return None


# --------------------------------------------------------------------------- layers


class WindowConv(nn.Module):
    """A conv fed the window's summed input, its result arriving at the last
    step: for a neuron that only reports at the end of the window (S3), the
    same final potential as convolving every step, for 1/T of the work."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.module = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = self.module(x.sum(0))
        current = total.new_zeros((x.shape[0], *total.shape))
        current[-1] = total
        return current


class SpikingConv(nn.Module):
    """An S layer: conv over the sequence, then single-spike neurons."""

    def __init__(self, conv: nn.Conv2d, neuron: SpikingLayer, whole_window: bool):
        super().__init__()
        self.synapses = WindowConv(conv) if whole_window else TimeDistributed(conv)
        self.neuron = neuron

    @property
    def conv(self) -> nn.Conv2d:
        return self.synapses.module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neuron(self.synapses(x))


class SpikingPool(nn.Module):
    """A C layer: max-pool over the sequence, then a neuron that fires on its first input."""

    def __init__(self, size: int, neuron: SpikingLayer):
        super().__init__()
        self.pool = TimeDistributed(nn.MaxPool2d(size))
        self.neuron = neuron

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neuron(self.pool(x))


class EarliestSpikeReadout(nn.Module):
    """The decision: the readout map with the earliest spike (ties: the larger
    potential) names the class, ``map // maps_per_class``; the output is one
    spike of that class at that step, ``[T, B, n_classes]``, none for a sample
    whose readout stayed silent."""

    def __init__(self, n_classes: int, maps_per_class: int):
        super().__init__()
        self.n_classes, self.maps_per_class = n_classes, maps_per_class

    def forward(self, times: torch.Tensor, potentials: torch.Tensor) -> torch.Tensor:
        """``times``: each readout neuron's firing step ``[B, F, H, W]``; ``potentials``: ``[T, B, F, H, W]``."""
        steps, batch = potentials.shape[:2]
        winner = k_winners(times, potential_at(potentials, times), 1, 0, steps)
        out = potentials.new_zeros(steps, batch, self.n_classes)
        out[winner.times[:, 0].clamp(max=steps - 1), torch.arange(batch, device=times.device),
            winner.features[:, 0] // self.maps_per_class] = winner.valid[:, 0].to(out.dtype)
        return out


@contextmanager
def recording(neuron: SpikingLayer) -> Iterator[None]:
    """Let ``neuron`` keep its spike times and potentials for the calls inside
    (a learning rule needs them; inference does not pay for them)."""
    neuron.record = True
    try:
        yield
    finally:
        neuron.record = False


class MozafariNetwork(nn.Module, PlasticNetwork):
    """S1-C1-S2-C2-S3 and the decision; ``[T, B, C, H, W] -> [T, B, n_classes]``."""

    def __init__(self, params: MozafariParams, ctx: ArchitectureContext):
        super().__init__()
        self.params, self.steps, self.n_classes = params, ctx.timesteps, ctx.n_classes
        in_channels, height, width = ctx.input_shape
        hidden = len(params.thresholds)
        self.simple, self.complex = nn.ModuleList(), nn.ModuleList()
        for layer, ((h, w), maps) in enumerate(zip(map_sizes(params, height, width), params.channels)):
            conv = nn.Conv2d(in_channels, maps, params.kernel_sizes[layer], padding=params.paddings[layer], bias=False)
            nn.init.normal_(conv.weight, params.weight_mean, params.weight_std)
            conv.weight.requires_grad_(False)  # learnt by local rules, never by gradients
            readout = layer == hidden
            if not readout:  # the readout's conv of one summed step is as fast either way
                conv.to(memory_format=torch.channels_last)
            threshold = None if readout else params.thresholds[layer]
            self.simple.append(SpikingConv(conv, self._neuron(ctx, (maps, h, w), threshold), whole_window=readout))
            if not readout:
                pool = params.pools[layer]
                self.complex.append(SpikingPool(pool, self._neuron(ctx, (maps, h // pool, w // pool), POOL_THRESHOLD)))
            in_channels = maps
        self.simple[-1].neuron.record = True  # the decision needs its spike times and potentials
        self.readout = EarliestSpikeReadout(ctx.n_classes, params.channels[-1] // ctx.n_classes)

    @staticmethod
    def _neuron(ctx: ArchitectureContext, features: tuple[int, ...], threshold: float | None) -> SpikingLayer:
        layer = ctx.neuron(features, threshold=threshold)
        if not isinstance(layer, RecordingNeuron) or not layer.fires_once:
            raise ValueError(f"mozafari needs neurons that fire at most once per sample and can record their "
                             f"spike times and potentials, such as spikingjelly-if-once; "
                             f"{type(layer).__name__} does not")
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        times = self._single_spike_times(x)
        if times is not None:
            for layer in range(len(self.complex)):
                times = self.propagate(layer, times)
            x = spikes_at(times, self.steps, x.dtype)
        else:
            for simple, pool in zip(self.simple, self.complex):
                x = pool(simple(x))
        readout = self.simple[-1]
        readout(x)
        return self.readout(readout.neuron.spike_times, readout.neuron.potentials)

    # -- what learning rules use (module docstring) ----------------------------------

    @property
    def plastic_layers(self) -> int:
        """The S layers, learnt one after another; the last is the readout."""
        return len(self.simple)

    def weight(self, layer: int) -> torch.Tensor:
        return self.simple[layer].conv.weight

    def propagate(self, layer: int, times: torch.Tensor) -> torch.Tensor:
        """Spike times of hidden S layer ``layer``'s input -> those of its C layer's output."""
        if self._by_events(layer, times):
            fired = self._fire(layer, times)[0]
            pooled = earliest_in_window(fired, self.params.pools[layer])
            if listening():
                self._report_activity(layer, times, fired, pooled)
            return pooled
        pool = self.complex[layer]
        with recording(pool.neuron):
            pool(self.simple[layer](spikes_at(times, self.steps, self.weight(layer).dtype)))
            return pool.neuron.spike_times.to(times.dtype)

    def compete(self, layer: int, times: torch.Tensor) -> Competition:
        """Run S layer ``layer`` on its input spike times ``[B, C, H, W]`` and pick its winners."""
        readout = layer == len(self.simple) - 1
        if readout:
            out_times, potentials = self._readout_at_end(times)
            winners = k_winners(out_times, potentials, 1, 0, self.steps)
        else:
            out_times, potentials = self._fire(layer, times)
            out_times = pointwise_inhibition(out_times, potentials, self.steps)
            winners = k_winners(out_times, potentials, self.params.winners[layer],
                                self.params.inhibition_radius[layer], self.steps)
        return Competition(winners, receptive_times(times, winners, self.params.kernel_sizes[layer],
                                                    self.params.paddings[layer], self.steps))

    def _single_spike_times(self, x: torch.Tensor) -> torch.Tensor | None:
        """The spike times of input ``x`` ``[T, B, C, H, W]`` where every hidden
        layer can run from them by events: on the CPU, and ``x`` single
        binary spikes (at most one per position); else None."""
        if not all(self._by_events(layer, x) for layer in range(len(self.complex))):
            return None
        if not bool(((x == 0) | (x == 1)).all()) or int((x != 0).sum(0).max()) > 1:
            return None
        return first_spike_times(x)

    def _report_activity(self, layer: int, times: torch.Tensor, fired: torch.Tensor, pooled: torch.Tensor) -> None:
        """Tell the activity metrics what hidden layer ``layer``'s modules would
        have seen run densely: its conv's input spikes, its S and C neurons' spikes."""
        steps = self.steps
        report_synapse_input(self.simple[layer].conv, (times < steps).to(self.weight(layer).dtype), steps)
        for neuron, out in ((self.simple[layer].neuron, fired), (self.complex[layer].neuron, pooled)):
            report_spikes(neuron, (out < steps).sum(), steps * out.numel())

    def _by_events(self, layer: int, times: torch.Tensor) -> bool:
        """Whether hidden S layer ``layer`` (and its C layer) can run from spike
        times by events: on the CPU, with neurons that integrate without leak."""
        return times.device.type == "cpu" and all(
            getattr(neuron, "integrates_without_leak", False)
            for neuron in (self.simple[layer].neuron, self.complex[layer].neuron))

    def _fire(self, layer: int, times: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden S layer ``layer``'s firing steps ``[B, F, H, W]`` from its input
        spike times, and each neuron's potential at its step (the last step's if
        it never fires)."""
        simple = self.simple[layer]
        if self._by_events(layer, times):
            return fire_times(times, simple.conv.weight, self.params.paddings[layer], self.steps,
                              simple.neuron.threshold)
        with recording(simple.neuron):
            simple(spikes_at(times, self.steps, self.weight(layer).dtype))
            return simple.neuron.spike_times, potential_at(simple.neuron.potentials, simple.neuron.spike_times)

    def _readout_at_end(self, times: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The readout's firing steps and final potentials from its input spike
        times. Its neurons only report at the end of the window, on the final
        potential, which is the conv of the window's summed input; so the window
        is collapsed to that last step and the neurons run on it alone: the
        same spikes and potentials as over all T steps, without the T-fold
        tensors. (Inference runs the full window, so the metrics see every step.)"""
        neuron = self.simple[-1].neuron
        total = self.simple[-1].conv((times < self.steps).to(self.weight(-1).dtype))
        neuron(total.unsqueeze(0))
        fired_at_end = torch.where(neuron.spike_times == 0, self.steps - 1, self.steps)
        return fired_at_end, neuron.potentials[0]

    def classes(self, features: torch.Tensor) -> torch.Tensor:
        """The class a readout feature map stands for."""
        return features // self.readout.maps_per_class


def build_mozafari(params: MozafariParams, ctx: ArchitectureContext) -> nn.Module:
    if len(ctx.input_shape) != 3:
        raise ValueError(f"mozafari needs spike maps [C,H,W] per step; the encoder emits {list(ctx.input_shape)}")
    return MozafariNetwork(params, ctx)


@hookimpl
def register_architectures(register):
    register(ArchitectureSpec("mozafari", MozafariParams, build_mozafari, frozenset({"static"}),
                              check=check_mozafari,
                              summary="Mozafari et al. 2019: S1-C1-S2-C2-S3 of single-spike IF neurons, "
                                      "earliest-spike decision (train with stdp-rstdp)",
                              neuron_overrides=lambda params: frozenset({"threshold"})))
