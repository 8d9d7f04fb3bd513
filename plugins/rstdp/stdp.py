"""``stdp-rstdp``: learning without backpropagation, as in Mozafari et al. 2019
and its authors' SpykeTorch example ``MozafariDeep.py``. The hidden layers
learn one after another by unsupervised STDP, then the readout by
reward-modulated STDP (R-STDP). Nothing here uses gradients: the rule runs
under ``torch.no_grad`` and the network's weights do not require grad, so
no autograd graph is ever built.

**STDP** (hidden layers). For each winner of a sample (the network's
point-wise inhibition and k-WTA, :meth:`MozafariNetwork.compete`) and each
synapse of its receptive field: if the input fired no later than the winner
(t_pre <= t_post), w += a+ w(1-w), else (later or never) w += a- w(1-w); then
w is clipped to [0, 1]. Only winners learn; a map wins at most once a sample.
a+ starts at 0.004 and doubles every 500 samples up to 0.15, a- staying at
-0.75 a+ (SpykeTorch's schedule, counted over the stage's samples).

**R-STDP** (readout). The sample's decision is the readout map with the
earliest spike; if its class is right the winner gets STDP with
(0.004, -0.003) scaled by the miss ratio, if wrong anti-STDP with
(-0.004, +0.0005) scaled by the hit ratio; a silent readout changes nothing.
The ratios are those of the previous ``adapt_window`` samples (SpykeTorch:
its loader's batches of 1000; before the first window, 1). No soft bound;
weights are clipped to [0.2, 0.8].

**What is batched, what stays sequential.** A batch's forward pass, point-wise
inhibition, k-WTA and the STDP deltas are computed for all its samples at
once, with the weights as they were at the start of the batch. The updates
are then applied in sample order, exactly as one at a time: they go in
rounds, each round taking the next update of every feature map that has one
(a map's r-th winner of the batch goes in round r), so no two updates of a
round touch the same weights, and the soft bound and the clipping of each
update see every earlier one. What batching changes is only that a sample's
winners were chosen with weights up to a batch old; ``batch_size`` (the
suite's ``[training]`` one for the readout, ``stdp_batch_size`` for the hidden
layers) trades that staleness for speed; 1, the default for the hidden
layers, is SpykeTorch's per-sample loop. On a CPU it costs little (with the
dense layers an image took 7 ms in layer 1 and about 20 ms in layer 2 at
batch 1 and at 16; by events, 3 and 4 ms at batch 1); on a GPU, where small
steps are launch-bound, 16 is faster. The k-WTA's k picks
are sequential too (each excludes the next), but vectorised over the batch.

**Stages and caching.** Each stage first computes, in one pass, the spike
times its layer receives, from the previous stage's ones through the layer
just trained (the encoder for the first): the layers below are frozen, so
this is the same for every epoch and is stored on the device as one byte per
neuron. A readout epoch then costs only the readout layer. Every pass is an
epoch of a named stage (``layer 2 input``, ``layer 2 STDP``, ...), so the
runner records its wall time in the row's ``epoch_seconds``.

SpikingJelly's ``STDPLearner`` is not used: it is trace-based pair STDP over
every neuron, accumulated into gradients for an optimiser, and cannot express
winner-only, order-only updates with this soft bound or reward modulation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from snnbench_plugins.rstdp.competition import Competition
from snnbench_plugins.rstdp.contracts import PlasticNetwork
from snnbench_plugins.rstdp.spike_times import first_spike_times
from torch import nn

from snnbench.api import (
    DataSplit,
    LearningRuleSpec,
    SnnbenchError,
    TrainingSession,
    hookimpl,
    param,
)


def _pair(key: str, value: tuple[float, ...]) -> None:
    if len(value) != 2:
        raise ValueError(f"{key} needs two rates: [pre-before-post, post-before-pre]")


@dataclass(frozen=True)
class StdpRstdpParams:
    stdp_epochs: tuple[int, ...] = param(
        (2, 4), "epochs of unsupervised STDP for each hidden layer (SpykeTorch: 2 and 4 over MNIST's 60k)", ge=0)
    stdp: tuple[float, ...] = param(
        (0.004, -0.003), "initial STDP rates [pre-before-post, post-before-pre] of the hidden layers")
    stdp_max: float = param(0.15, "the pre-before-post rate doubles up to this; the other keeps its ratio to it")
    stdp_doubling: int = param(500, "samples between doublings of the STDP rates", ge=1)
    stdp_batch_size: int = param(1, "samples whose winners are chosen with the same weights in the hidden layers "
                                    "(1: per sample, as SpykeTorch; more runs faster on a GPU)", ge=1)
    reward: tuple[float, ...] = param((0.004, -0.003), "readout rates after a right decision, scaled by the miss ratio")
    punishment: tuple[float, ...] = param(
        (-0.004, 0.0005), "readout rates after a wrong decision (anti-STDP), scaled by the hit ratio")
    readout_bounds: tuple[float, ...] = param((0.2, 0.8), "readout weights are clipped to [low, high]", ge=0)
    adapt_window: int = param(1000, "samples whose hit and miss ratios scale the next readout rates", ge=1)

    def __post_init__(self):
        for key in ("stdp", "reward", "punishment"):
            _pair(key, getattr(self, key))
        if not self.stdp[0] > 0:
            raise ValueError("the first stdp rate (pre-before-post) must be positive")
        if self.stdp_max < self.stdp[0]:
            raise ValueError("stdp_max must be at least the initial pre-before-post rate")
        if len(self.readout_bounds) != 2 or not self.readout_bounds[0] < self.readout_bounds[1]:
            raise ValueError("readout_bounds must be [low, high] with low < high")


def _update_rounds(features: torch.Tensor, valid: torch.Tensor, maps: int) -> tuple[torch.Tensor, list[int]]:
    """Indices of the valid updates ordered by round (a map's r-th update, in
    sample order, is in round r), and the size of each round."""
    key = torch.where(valid, features, maps)
    by_map = key.argsort(stable=True)
    sorted_key = key[by_map]
    occurrence = torch.arange(len(key), device=key.device) - torch.searchsorted(sorted_key, sorted_key)
    occurrence = torch.where(sorted_key < maps, occurrence, len(key))
    order = by_map[occurrence.argsort(stable=True)]
    sizes = torch.bincount(occurrence[sorted_key < maps]).tolist()
    return order, sizes


def apply_stdp(weight: torch.Tensor, competition: Competition, pre_first: torch.Tensor, post_first: torch.Tensor,
               valid: torch.Tensor, bounds: tuple[float, float], soft_bound: bool) -> None:
    """Apply each valid winner's update, in sample order (module docstring).

    ``pre_first`` and ``post_first`` are the rates of synapses whose input fired
    no later than the winner, and of the others, broadcastable to ``[B, k]``.
    """
    winners = competition.winners
    causal = (competition.receptive_times <= winners.times.unsqueeze(-1)).flatten(0, 1)
    shape = winners.features.shape
    pre_first, post_first = pre_first.expand(shape).flatten(), post_first.expand(shape).flatten()
    features = winners.features.flatten()
    order, sizes = _update_rounds(features, valid.flatten(), weight.shape[0])
    low, high = bounds
    # rows of a channels-last weight are not contiguous, and gathering them is slow: work on a plain copy
    flat = weight.view(weight.shape[0], -1) if weight.is_contiguous() else weight.flatten(1).contiguous()
    start = 0
    for size in sizes:
        index = order[start:start + size]
        start += size
        maps = features[index]
        rows = flat[maps]
        delta = torch.where(causal[index], pre_first[index, None], post_first[index, None])
        if soft_bound:
            delta = delta * (rows - low) * (high - rows)
        flat[maps] = (rows + delta).clamp_(low, high)
    flat.clamp_(low, high)  # SpykeTorch clips the whole layer at every update
    if flat.data_ptr() != weight.data_ptr():
        weight.copy_(flat.view(weight.shape))


class StdpRstdp:
    def __init__(self, params: StdpRstdpParams):
        self.params = params

    def fit(self, model: nn.Module, train: DataSplit, session: TrainingSession) -> None:
        network = model.network
        if not isinstance(network, PlasticNetwork):
            raise SnnbenchError(f"stdp-rstdp trains networks that learn layer by layer from spike times "
                                f"(snnbench_plugins.rstdp.contracts.PlasticNetwork); {type(network).__name__} "
                                "is not one")
        hidden = network.plastic_layers - 1
        if len(self.params.stdp_epochs) != hidden:
            raise SnnbenchError(f"stdp_epochs has {len(self.params.stdp_epochs)} entries; the network has "
                                f"{hidden} hidden layers to train by STDP")
        with torch.no_grad():
            times = self._encode(model.encoder, train, session)
            for layer in range(network.plastic_layers):
                if layer > 0:
                    times = self._pass(f"layer {layer + 1} input", times, session,
                                       lambda batch, below=layer - 1: network.propagate(below, batch))
                if layer < hidden:
                    self._stdp(network, layer, times, session)
                else:
                    self._rstdp(network, layer, times, session)

    # -- stages ---------------------------------------------------------------------

    def _encode(self, encoder: nn.Module, train: DataSplit, session: TrainingSession) -> DataSplit:
        return self._pass("layer 1 input", train, session, lambda batch: first_spike_times(encoder(batch)))

    @staticmethod
    def _pass(stage: str, split: DataSplit, session: TrainingSession, compute) -> DataSplit:
        """One pass of ``compute`` over ``split``, collected into a new split (in
        the pass's shuffled order, with the targets to match)."""
        outputs, targets, filled = None, torch.empty_like(split.targets), 0
        for _ in session.epochs(1, stage=stage):
            for inputs, batch_targets in session.batches(split):
                result = compute(inputs)
                if outputs is None:
                    outputs = result.new_empty((len(split), *result.shape[1:]))
                outputs[filled:filled + len(result)] = result
                targets[filled:filled + len(result)] = batch_targets
                filled += len(result)
        return DataSplit(outputs, targets)

    def _stdp(self, network, layer: int, times: DataSplit, session: TrainingSession) -> None:
        seen = 0
        for _ in session.epochs(self.params.stdp_epochs[layer], stage=f"layer {layer + 1} STDP"):
            for inputs, _targets in session.batches(times, self.params.stdp_batch_size):
                self.hidden_step(network, layer, inputs, seen)
                seen += len(inputs)

    def _rstdp(self, network, layer: int, times: DataSplit, session: TrainingSession) -> None:
        device = network.weight(layer).device
        hit_ratio = miss_ratio = torch.ones((), device=device)
        hits = misses = torch.zeros((), device=device)
        in_window = 0
        for _ in session.epochs(stage=f"layer {layer + 1} R-STDP"):
            for inputs, targets in session.batches(times):
                right, decided, classes = self.readout_step(network, layer, inputs, targets, hit_ratio, miss_ratio)
                session.record(None, nn.functional.one_hot(classes, network.n_classes) * decided.unsqueeze(1),
                               targets)
                hits, misses = hits + right.sum(), misses + (decided & ~right).sum()
                in_window += len(targets)
                if in_window >= self.params.adapt_window:
                    hit_ratio, miss_ratio = hits / in_window, misses / in_window
                    hits, misses, in_window = torch.zeros_like(hits), torch.zeros_like(misses), 0

    # -- one batch ------------------------------------------------------------------

    def hidden_step(self, network, layer: int, times: torch.Tensor, seen: int) -> None:
        """STDP on one batch of spike times reaching hidden layer ``layer``;
        ``seen``: samples the stage learnt from before (for the rate schedule)."""
        params, weight = self.params, network.weight(layer)
        competition = network.compete(layer, times)
        # SpykeTorch doubles the rates when its counter reaches 500, before that sample's update
        index = seen + 1 + torch.arange(len(times), device=times.device)
        doublings = torch.div(index, params.stdp_doubling, rounding_mode="floor").to(weight.dtype)
        pre_first = (params.stdp[0] * 2.0 ** doublings).clamp_(max=params.stdp_max).unsqueeze(1)
        apply_stdp(weight, competition, pre_first, pre_first * (params.stdp[1] / params.stdp[0]),
                   competition.winners.valid, (0.0, 1.0), soft_bound=True)

    def readout_step(self, network, layer: int, times: torch.Tensor, targets: torch.Tensor,
                     hit_ratio: torch.Tensor, miss_ratio: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """R-STDP on one batch reaching the readout: each sample's decision is
        rewarded or punished. Returns (right, decided, decided class) per sample."""
        competition = network.compete(layer, times)
        decided = competition.winners.valid[:, 0]
        classes = network.classes(competition.winners.features[:, 0])
        right = decided & (classes == targets)
        reward = torch.tensor(self.params.reward, device=times.device) * miss_ratio
        punishment = torch.tensor(self.params.punishment, device=times.device) * hit_ratio
        rates = torch.where(right.unsqueeze(1), reward, punishment)
        apply_stdp(network.weight(layer), competition, rates[:, :1], rates[:, 1:], decided.unsqueeze(1),
                   self.params.readout_bounds, soft_bound=False)
        return right, decided, classes


@hookimpl
def register_learning_rules(register):
    register(LearningRuleSpec("stdp-rstdp", StdpRstdpParams, StdpRstdp, architectures=frozenset({"mozafari"}),
                              summary="layer-wise STDP for the hidden layers, then reward-modulated STDP "
                                      "for the readout (Mozafari et al. 2019); no gradients"))
