"""Mozafari et al.'s STDP / R-STDP network: the DoG latency encoder on real
MNIST, the single-spike IF neuron, point-wise inhibition and k-WTA, one STDP
and one R-STDP update against hand-computed values, the session's stages, and
a small real run through the runner that learns without backpropagation."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import ok_rows, suite_toml
from snnbench_plugins.datasets.vision import TorchvisionImagesParams, load_mnist
from snnbench_plugins.rstdp.competition import (
    Competition,
    Winners,
    k_winners,
    pointwise_inhibition,
)
from snnbench_plugins.rstdp.dog_latency import (
    DoGLatencyEncoder,
    DoGLatencyParams,
    dog_bank,
    dog_kernel,
    latency_times,
)
from snnbench_plugins.rstdp.if_once import IFOnceParams, SpikingJellyIFOnce
from snnbench_plugins.rstdp.mozafari import (
    EarliestSpikeReadout,
    MozafariNetwork,
    MozafariParams,
)
from snnbench_plugins.rstdp.spike_times import first_spike_times
from snnbench_plugins.rstdp.stdp import StdpRstdp, StdpRstdpParams, apply_stdp

from snnbench.api.contracts import DatasetInfo, DataSplit, LoadContext
from snnbench.api.errors import SnnbenchError
from snnbench.api.records import Choice
from snnbench.api.training_config import TrainingConfig
from snnbench.cli import main
from snnbench.definition.plugins import load_plugins
from snnbench.results.benchmark_file import read_benchmark_file
from snnbench.running.assembly import architecture_context
from snnbench.running.training import CellTrainingSession

REPO = Path(__file__).resolve().parents[1]

MNIST_INFO = DatasetInfo("mnist", "static", (1, 28, 28), 10)
NEVER = 15


@pytest.fixture(scope="module")
def digits(mnist_dir) -> DataSplit:
    train, _ = load_mnist(TorchvisionImagesParams(download=False), LoadContext(mnist_dir, download=False))
    return train.head(64)


def if_once(features=(), threshold=1.0):
    return SpikingJellyIFOnce(IFOnceParams(threshold), features)


def mozafari_context(neuron: str, params):
    """The context the runner gives the mozafari network, for a registered neuron."""
    return architecture_context(load_plugins().registries, "mozafari", Choice(neuron, params), (6, 28, 28), 10,
                                NEVER)


def tiny_network(channels=(8, 16, 10), seed=0) -> MozafariNetwork:
    torch.manual_seed(seed)
    return MozafariNetwork(MozafariParams(channels=channels), mozafari_context("spikingjelly-if-once", IFOnceParams()))


# --------------------------------------------------------------------------- encoder


def test_dog_kernels_match_the_formula_by_hand():
    for size, sigma1, sigma2 in ((3, 3 / 9, 6 / 9), (7, 14 / 9, 7 / 9), (13, 13 / 9, 26 / 9)):
        r = size // 2
        by_hand = np.empty((size, size))
        for i in range(size):
            for j in range(size):
                d2 = (i - r) ** 2 + (j - r) ** 2
                by_hand[i, j] = (math.exp(-d2 / (2 * sigma1 ** 2)) / sigma1 ** 2
                                 - math.exp(-d2 / (2 * sigma2 ** 2)) / sigma2 ** 2) / (2 * math.pi)
        by_hand -= by_hand.mean()
        by_hand /= by_hand.max()
        kernel = dog_kernel(size, sigma1, sigma2)
        assert np.allclose(kernel.numpy(), by_hand, atol=1e-6)
        assert abs(float(kernel.sum())) < 1e-4 and float(kernel.max()) == pytest.approx(1.0)
        centre_is_max = float(kernel[r, r]) == pytest.approx(1.0)
        assert centre_is_max == (sigma1 < sigma2)  # on-centre peaks in the middle, off-centre does not
    bank = dog_bank(DoGLatencyParams().kernels)
    assert bank.shape == (6, 1, 13, 13)
    assert torch.equal(bank[0, 0, 5:8, 5:8], dog_kernel(3, 3 / 9, 6 / 9)) and bank[0, 0, :5].abs().sum() == 0


def test_latency_bins_by_rank_strongest_first():
    values = torch.tensor([[0.0, 5.0, 3.0, 9.0, 1.0, 7.0, 2.0, 0.0]])
    # six positive values, T = 3: bins of two by rank (9, 7), (5, 3), (2, 1); zeros never fire
    assert latency_times(values, 3).tolist() == [[3, 1, 1, 0, 2, 0, 2, 3]]
    # seven: still bins of two, and the weakest value, which fills no bin, never fires
    values = torch.tensor([[4.0, 5.0, 3.0, 9.0, 1.0, 7.0, 2.0]])
    assert latency_times(values, 3).tolist() == [[1, 1, 2, 0, 3, 0, 2]]
    # fewer positive values than steps: one step each
    assert latency_times(torch.tensor([[0.0, 2.0, 8.0]]), 5).tolist() == [[5, 1, 0]]


def test_encoder_on_real_digits(digits):
    encoder = DoGLatencyEncoder(DoGLatencyParams(), MNIST_INFO)
    images = digits.inputs[:8]
    spikes = encoder(images)
    assert spikes.shape == (15, 8, 6, 28, 28)
    assert set(spikes.unique().tolist()) == {0.0, 1.0}
    assert spikes.sum(0).max() == 1  # single events: at most one spike per map and position
    intensities = encoder.intensities(images)
    times = first_spike_times(spikes)
    for sample in range(8):
        value, when = intensities[sample].flatten(), times[sample].flatten()
        positive = int((value > 0).sum())
        assert int((when < 15).sum()) == positive // 15 * 15  # equal bins by rank
        for step in range(14):  # every spike of a step is at least as strong as any later one
            assert value[when == step].min() >= value[when == step + 1].max()
        leftover = value[(when == 15) & (value > 0)]  # the weakest, filling no whole bin, never fire
        assert len(leftover) == positive % 15 and (leftover <= value[when == 14].min()).all()
    assert not torch.equal(spikes[:, 0], spikes[:, 1])
    rejects_colour = DatasetInfo("rgb", "static", (3, 28, 28), 10)
    with pytest.raises(ValueError, match="one-channel"):
        DoGLatencyEncoder(DoGLatencyParams(), rejects_colour)


def test_single_events_give_spyketorchs_potentials(digits):
    """The documented decision: a non-leaky IF neuron integrating single events
    has, at every step, the potential SpykeTorch gets by convolving cumulative
    spike waves, so every threshold crossing is the same."""
    spikes = DoGLatencyEncoder(DoGLatencyParams(), MNIST_INFO)(digits.inputs[:4])
    weight = torch.rand(5, 6, 5, 5)
    layer = if_once(threshold=15.0)
    layer.record = True
    out = layer(F.conv2d(spikes.flatten(0, 1), weight, padding=2).unflatten(0, spikes.shape[:2]))
    cumulative = spikes.cumsum(0)  # SpykeTorch's wave: 1 from the spike on
    spyketorch = F.conv2d(cumulative.flatten(0, 1), weight, padding=2).unflatten(0, spikes.shape[:2])
    assert torch.allclose(layer.potentials, spyketorch, atol=1e-3)
    fired_by = (spyketorch > 15.0).float()  # SpykeTorch's cumulative output wave
    assert torch.equal(out.cumsum(0), fired_by)


# --------------------------------------------------------------------------- neuron


def test_if_once_fires_once_at_the_first_crossing():
    from spikingjelly.activation_based.neuron import BaseNode

    layer = if_once(threshold=1.0)
    assert isinstance(layer.node, BaseNode) and layer.node.step_mode == "m"
    layer.record = True
    current = torch.tensor([[0.5, 1.0, 2.0, 0.2],
                            [0.6, 0.0, -1.5, 0.2],
                            [0.5, 0.5, 1.0, 0.2]])
    spikes = layer(current)
    # membranes by column: 0.5 1.1 1.6 | 1.0 (not above) 1.0 1.5 | 2.0 0.5 1.5 | 0.2 0.4 0.6 (never)
    assert spikes.tolist() == [[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0]]
    assert layer.spike_times.tolist() == [1, 2, 0, 3]
    assert torch.allclose(layer.potentials[:, 0], torch.tensor([0.5, 1.1, 1.6]))
    layer.node.step_mode = "s"
    layer.node.reset()
    assert torch.stack([layer.node(step) for step in current]).tolist() == spikes.tolist()

    end = if_once(threshold=None)  # SpykeTorch's infinite threshold: positive potentials fire at the last step
    assert end(torch.tensor([[3.0, 0.0, -1.0], [0.0, 0.0, 0.5]])).tolist() == [[0, 0, 0], [1, 0, 0]]
    with pytest.raises(SnnbenchError, match="no surrogate gradient"):
        if_once()(torch.ones(2, 3, requires_grad=True))


def test_if_once_is_registered_as_not_differentiable(plugins):
    assert not plugins.registries["neuron"].get("spikingjelly-if-once").spec.differentiable
    assert plugins.registries["neuron"].get("spikingjelly-lif").spec.differentiable


def test_network_refuses_neurons_that_fire_again(plugins):
    context = mozafari_context("spikingjelly-lif", plugins.registries["neuron"].get("spikingjelly-lif").spec.params())
    with pytest.raises(ValueError, match="fire at most once"):
        MozafariNetwork(MozafariParams(), context)


# --------------------------------------------------------------------------- competition


def test_pointwise_inhibition_keeps_the_earliest_then_strongest_map():
    times = torch.full((1, 3, 2, 2), NEVER)
    potentials = torch.zeros(1, 3, 2, 2)
    times[0, :, 0, 0], potentials[0, :, 0, 0] = torch.tensor([2, 1, 1]), torch.tensor([20.0, 16.0, 18.0])
    times[0, 0, 1, 1], potentials[0, 0, 1, 1] = 3, 30.0
    times[0, :2, 0, 1], potentials[0, :2, 0, 1] = 1, 17.0  # a tie: the lower map
    kept = pointwise_inhibition(times, potentials, NEVER)
    assert kept[0, :, 0, 0].tolist() == [NEVER, NEVER, 1]
    assert kept[0, :, 1, 1].tolist() == [3, NEVER, NEVER]
    assert kept[0, :, 0, 1].tolist() == [1, NEVER, NEVER]
    assert (kept[0, :, 1, 0] == NEVER).all()


def test_k_winners_take_earliest_then_strongest_one_per_map_outside_the_radius():
    times = torch.full((2, 3, 5, 5), NEVER)
    potentials = torch.zeros(2, 3, 5, 5)

    def spike(sample, feature, row, col, step, potential):
        times[sample, feature, row, col], potentials[sample, feature, row, col] = step, potential

    spike(0, 1, 4, 4, 0, 16.0)   # earliest
    spike(0, 0, 0, 0, 1, 20.0)   # next: step 1, the larger potential
    spike(0, 2, 0, 1, 1, 19.0)   # step 1 but weaker, and next to (0, 0)
    spike(0, 1, 0, 1, 1, 25.0)   # map 1 has won already
    spike(0, 2, 2, 2, 2, 30.0)
    spike(0, 0, 4, 0, 2, 18.0)   # map 0 has won already
    spike(1, 2, 3, 3, 5, 11.0)   # the second sample: one spike only
    winners = k_winners(times, potentials, 4, 1, NEVER)
    picked = list(zip(winners.features[0].tolist(), winners.rows[0].tolist(), winners.cols[0].tolist()))
    assert picked[:3] == [(1, 4, 4), (0, 0, 0), (2, 2, 2)]
    assert winners.valid[0].tolist() == [True, True, True, False]
    assert winners.times[0, :3].tolist() == [0, 1, 2]
    assert winners.valid[1].tolist() == [True, False, False, False]
    assert (winners.features[1, 0], winners.rows[1, 0], winners.cols[1, 0]) == (2, 3, 3)
    without_radius = k_winners(times, potentials, 4, 0, NEVER)
    assert list(zip(without_radius.features[0].tolist(), without_radius.rows[0].tolist()))[:3] == \
        [(1, 4), (0, 0), (2, 0)]  # map 2's weaker step-1 spike next to (0, 0) now wins


def test_decision_is_the_class_of_the_earliest_map():
    times = torch.full((2, 20, 1, 1), NEVER)
    potentials = torch.zeros(NEVER, 2, 20, 1, 1)
    times[0, 7], times[0, 13] = 14, 14
    potentials[:, 0, 7], potentials[:, 0, 13] = 3.0, 5.0  # same step: the larger potential, map 13
    out = EarliestSpikeReadout(n_classes=10, maps_per_class=2)(times, potentials)
    assert out.shape == (NEVER, 2, 10)
    assert out[14, 0].tolist() == [0.0] * 6 + [1.0] + [0.0] * 3 and out.sum() == 1  # map 13 -> class 6
    assert out[:, 1].sum() == 0  # a silent readout decides nothing


# --------------------------------------------------------------------------- learning


def hand_competition(features, times, receptive, valid=None) -> Competition:
    features = torch.tensor(features)
    zeros = torch.zeros_like(features)
    valid = torch.ones_like(features, dtype=torch.bool) if valid is None else torch.tensor(valid)
    return Competition(Winners(features, zeros, zeros, torch.tensor(times), valid),
                       torch.tensor(receptive, dtype=torch.long))


def test_stdp_update_by_hand():
    weight = torch.tensor([[[[0.5, 0.2], [0.9, 0.6]]], [[[0.7, 0.7], [0.7, 0.7]]]])
    before = weight.clone()
    # one sample, its winner is map 0 firing at step 2; inputs at 1, 2, 3 and never
    competition = hand_competition([[0]], [[2]], [[[1, 2, 3, NEVER]]])
    apply_stdp(weight, competition, torch.tensor([[0.1]]), torch.tensor([[-0.05]]),
               competition.winners.valid, (0.0, 1.0), soft_bound=True)
    w = before[0].flatten()
    expected = w + torch.tensor([0.1, 0.1, -0.05, -0.05]) * w * (1 - w)
    assert torch.allclose(weight[0].flatten(), expected)
    assert torch.equal(weight[1], before[1])  # only the winner learns

    # two samples of one batch with the same winner: the second update sees the first
    weight = before.clone()
    competition = hand_competition([[0], [0], [1]], [[2], [2], [0]],
                                   [[[1, 1, 1, 1]], [[NEVER, 1, 1, 1]], [[0, 0, 0, 0]]], [[True], [True], [False]])
    apply_stdp(weight, competition, torch.full((3, 1), 0.1), torch.full((3, 1), -0.05),
               competition.winners.valid, (0.0, 1.0), soft_bound=True)
    once = w + 0.1 * w * (1 - w)
    twice = once + torch.tensor([-0.05, 0.1, 0.1, 0.1]) * once * (1 - once)
    assert torch.allclose(weight[0].flatten(), twice)
    assert torch.equal(weight[1], before[1])  # a silent sample (no valid winner) changes nothing


def test_hidden_layer_stdp_changes_only_the_winners(digits):
    network = tiny_network()
    encoder = DoGLatencyEncoder(DoGLatencyParams(), MNIST_INFO)
    rule = StdpRstdp(StdpRstdpParams())
    times = first_spike_times(encoder(digits.inputs[:1]))
    with torch.no_grad():
        winners = network.compete(0, times).winners
        before = network.weight(0).clone()
        rule.hidden_step(network, 0, times, seen=0)
    won = set(winners.features[0][winners.valid[0]].tolist())
    assert len(won) == 5  # k = 5 distinct maps
    changed = {f for f in range(8) if not torch.equal(network.weight(0)[f], before[f])}
    assert changed == won


def test_rstdp_rewards_a_right_decision_and_punishes_a_wrong_one(digits):
    encoder = DoGLatencyEncoder(DoGLatencyParams(), MNIST_INFO)
    rule = StdpRstdp(StdpRstdpParams())
    hit, miss = torch.tensor(0.25), torch.tensor(0.5)
    for rewarded in (True, False):
        network = tiny_network()
        with torch.no_grad():
            network.weight(2).uniform_(0.4, 0.6)  # inside the bounds: no clipping
            times = first_spike_times(encoder(digits.inputs[:1]))
            for layer in (0, 1):
                times = network.propagate(layer, times)
            competition = network.compete(2, times)
            winner = int(competition.winners.features[0, 0])
            fired = competition.receptive_times[0, 0] < NEVER
            decided_class = winner  # one readout map per class
            target = torch.tensor([decided_class if rewarded else (decided_class + 1) % 10])
            before = network.weight(2).clone()
            right, decided, classes = rule.readout_step(network, 2, times, target, hit, miss)
        assert decided.tolist() == [True] and classes.tolist() == [decided_class] and right.tolist() == [rewarded]
        delta = (network.weight(2) - before)[winner].flatten()
        pre, post = (0.004 * 0.5, -0.003 * 0.5) if rewarded else (-0.004 * 0.25, 0.0005 * 0.25)
        assert fired.any() and (~fired).any()
        assert torch.allclose(delta[fired], torch.full_like(delta[fired], pre), atol=1e-6)
        assert torch.allclose(delta[~fired], torch.full_like(delta[~fired], post), atol=1e-6)
        others = [f for f in range(10) if f != winner]
        assert torch.equal(network.weight(2)[others], before[others])


def test_session_times_each_stage_and_takes_no_loss():
    session = CellTrainingSession(TrainingConfig(epochs=3, batch_size=10, warmup_batches=0), torch.device("cpu"),
                              torch.Generator().manual_seed(0))
    split = DataSplit(torch.zeros(30, 1), torch.arange(30) % 3)
    for _ in session.epochs(2, stage="layer 1 STDP"):
        for _batch in session.batches(split):
            pass
    for _ in session.epochs(stage="readout"):
        for _inputs, targets in session.batches(split):
            session.record(None, F.one_hot(targets, 3), targets)
    assert [len(session.epoch_seconds[s]) for s in ("layer 1 STDP", "readout")] == [2, 3]
    assert session.total_seconds >= sum(sum(v) for v in session.epoch_seconds.values()) > 0
    assert [(e.stage, e.loss, e.train_accuracy) for e in session.history] == [("readout", None, 1.0)] * 3


# --------------------------------------------------------------------------- end to end


def tiny_rstdp_run(tmp_path: Path, mnist_dir: Path) -> Path:
    """A store with one row of a small network (16, 32 and 10 maps), trained
    layer by layer on 200 real digits by STDP and then R-STDP (rates raised
    tenfold to learn from so few samples), its model kept."""
    suite = tmp_path / "rstdp.toml"
    suite.write_text(suite_toml("rstdp-tiny", dataset=("mnist",), encoder=("dog-latency",),
                                neuron=("spikingjelly-if-once",), architecture=("mozafari",),
                                learning_rule=("stdp-rstdp",), extra="""
        [params.dataset.mnist]
        download = false
        [params.architecture.mozafari]
        channels = [16, 32, 10]
        [params.learning_rule.stdp-rstdp]
        stdp_epochs = [3, 3]
        stdp_doubling = 50
        reward = [0.04, -0.03]
        punishment = [-0.04, 0.005]
        adapt_window = 200
        [training]
        epochs = 15
        batch_size = 25
        eval_batch_size = 100
        train_limit = 200
        test_limit = 150
        warmup_batches = 1
    """))
    db = tmp_path / "r.db"
    assert main(["run", str(suite), "--db", str(db), "--data-dir", str(mnist_dir), "--no-progress"]) == 0
    return db


def test_learns_real_mnist_without_backprop(tmp_path, mnist_dir):
    """The small network decides far above chance (10%) with no gradient anywhere."""
    db = tiny_rstdp_run(tmp_path, mnist_dir)
    (row,) = ok_rows(db)
    metrics = row["metrics"]
    assert metrics["accuracy"] > 0.3
    assert set(metrics["epoch_seconds"]) == {"layer 1 input", "layer 1 STDP", "layer 2 input", "layer 2 STDP",
                                             "layer 3 input", "layer 3 R-STDP"}
    assert len(metrics["epoch_seconds"]["layer 3 R-STDP"]) == 15 and metrics["epochs_trained"] == 15
    assert len(metrics["epoch_seconds"]["layer 2 STDP"]) == 3
    assert metrics["final_train_loss"] is None and metrics["final_train_accuracy"] > 0.3
    assert set(metrics["sparsity_per_layer"]) == {"network.simple.0.neuron", "network.complex.0.neuron",
                                                  "network.simple.1.neuron", "network.complex.1.neuron",
                                                  "network.simple.2.neuron"}
    assert 0 < metrics["encoder_density"] <= 1 / 15
    assert metrics["synops_ac"] > 0 and metrics["synops_mac"] == 0  # spikes into every conv
    assert metrics["train_samples_per_s"] > 0 and metrics["infer_samples_per_s"] > 0


def test_readout_study_trains_fresh_readouts_from_the_kept_hidden_layers(tmp_path, mnist_dir):
    """benchmarks/rstdp_readout.py checks that its test decisions equal the
    row's inference, then trains a fresh readout per batch size and writes
    each one's test accuracy after every epoch."""
    db = tiny_rstdp_run(tmp_path, mnist_dir)
    out = tmp_path / "readout.json"
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "rstdp_readout.py"), "--db", str(db), "--suite", "rstdp-tiny",
         "--data-dir", str(mnist_dir), "--epochs", "6", "--batch-size", "25", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    (row,) = ok_rows(db)
    assert f"{row['metrics']['accuracy']:.2%} in its row" in result.stdout
    content = read_benchmark_file(out)
    assert [r[0] for r in content["rows"]] == [25, 1]
    for batch_size, after_20, after_100, epochs, last, train, best, best_epoch, seconds in content["rows"]:
        curve = content["details"]["curves"][f"batch {batch_size}"]
        assert [point["epoch"] for point in curve] == [1, 2, 3, 4, 5, 6] and epochs == 6
        assert after_20 is None and after_100 is None  # not reached in 6 epochs
        assert last == curve[-1]["test"] and best == max(point["test"] for point in curve) and 1 <= best_epoch <= 6
        assert best > 0.2  # far above chance (10%) from the hidden layers alone, with a readout learnt afresh
        assert seconds > 0
