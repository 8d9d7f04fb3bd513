"""The event-driven S layer (``snnbench_plugins.rstdp.spike_time_conv``) against the
dense one it replaces on the CPU, a conv over every step followed by
SpikingJelly single-spike IF neurons, on real DoG-encoded MNIST digits: the
same firing steps and potentials, the same winners, and the same weights
after STDP."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
import torch.nn.functional as F
from snnbench_plugins.datasets.vision import TorchvisionImagesParams, load_mnist
from snnbench_plugins.rstdp.competition import potential_at
from snnbench_plugins.rstdp.dog_latency import DoGLatencyEncoder, DoGLatencyParams
from snnbench_plugins.rstdp.mozafari import MozafariNetwork
from snnbench_plugins.rstdp.spike_time_conv import fire_times
from snnbench_plugins.rstdp.spike_times import (
    earliest_in_window,
    first_spike_times,
    spikes_at,
)
from snnbench_plugins.rstdp.stdp import StdpRstdp, StdpRstdpParams
from test_rstdp import MNIST_INFO, NEVER, if_once, tiny_network

from snnbench.api.contracts import LoadContext, SpikingModel
from snnbench.running.metrics import evaluate


@pytest.fixture(scope="module")
def input_times(mnist_dir) -> torch.Tensor:
    """DoG latency spike times of 16 real digits, ``[16, 6, 28, 28]``."""
    train, _ = load_mnist(TorchvisionImagesParams(download=False), LoadContext(mnist_dir, download=False))
    with torch.no_grad():
        return first_spike_times(DoGLatencyEncoder(DoGLatencyParams(), MNIST_INFO)(train.inputs[:16]))


def dense_layer(times, weight, padding, threshold):
    """The dense path: conv of every step's spikes, then the neuron; its firing
    steps and the potential there."""
    neuron = if_once(threshold=threshold)
    neuron.record = True
    spikes = spikes_at(times, NEVER, weight.dtype)
    neuron(F.conv2d(spikes.flatten(0, 1), weight, padding=padding).unflatten(0, spikes.shape[:2]))
    return neuron.spike_times, potential_at(neuron.potentials, neuron.spike_times)


def learnt_weights(maps, channels, kernel, seed=0):
    """Weights as STDP leaves them: most saturated at exactly 0 or 1 (so
    potentials land exactly on integer thresholds), the rest in between."""
    generator = torch.Generator().manual_seed(seed)
    weight = torch.normal(0.8, 0.05, (maps, channels, kernel, kernel), generator=generator)
    saturated = torch.rand(weight.shape, generator=generator)
    weight[saturated < 0.4] = 1.0
    weight[saturated > 0.8] = 0.0
    return weight


@pytest.mark.parametrize("threshold", [15.0, 4.0, None])
def test_firing_steps_and_potentials_equal_the_dense_layer(input_times, threshold):
    weight = learnt_weights(12, 6, 5)
    dense_times, dense_potentials = dense_layer(input_times, weight, 2, threshold)
    times, potentials = fire_times(input_times, weight, 2, NEVER, threshold)
    assert times.dtype == input_times.dtype and times.shape == (16, 12, 28, 28)
    fired = dense_times < NEVER
    assert 0.02 < fired.float().mean() < 0.98  # the comparison covers neurons that fire and that do not
    assert torch.equal(times, dense_times)
    assert torch.allclose(potentials, dense_potentials, rtol=1e-5, atol=1e-4)


def test_c_layer_is_the_earliest_spike_of_each_window():
    times = torch.tensor([[[[3, 15, 7, 2, 9],
                            [15, 15, 1, 15, 0],
                            [4, 4, 4, 4, 4]]]], dtype=torch.uint8)
    assert earliest_in_window(times, 2).tolist() == [[[[3, 1]]]]  # the odd row and column are dropped
    assert earliest_in_window(times, 2).dtype == torch.uint8


def test_network_by_events_propagates_competes_and_learns_as_the_dense_network(input_times, monkeypatch):
    """Layer 1 then layer 2 of STDP over the digits, once by events and once
    densely (the path a GPU takes): the same C-layer times, the same winners
    and, after every update, bit-equal weights."""
    rule = StdpRstdp(StdpRstdpParams())
    networks = {"events": tiny_network(channels=(8, 16, 10)), "dense": None}
    networks["dense"] = copy.deepcopy(networks["events"])
    dense_only = MozafariNetwork._by_events
    results = {}
    for path, network in networks.items():
        if path == "dense":
            monkeypatch.setattr(MozafariNetwork, "_by_events", lambda self, layer, times: False)
        with torch.no_grad():
            times = input_times
            for layer in (0, 1):
                for sample in range(len(times)):
                    rule.hidden_step(network, layer, times[sample:sample + 1], sample)
                results[path, "winners", layer] = network.compete(layer, times).winners
                times = network.propagate(layer, times)
                results[path, "times", layer] = times
        monkeypatch.setattr(MozafariNetwork, "_by_events", dense_only)
    for layer in (0, 1):
        assert torch.equal(results["events", "times", layer], results["dense", "times", layer])
        events, dense = results["events", "winners", layer], results["dense", "winners", layer]
        assert dense.valid.any()
        for field in ("features", "rows", "cols", "times", "valid"):
            assert torch.equal(getattr(events, field), getattr(dense, field)), field
        assert torch.equal(networks["events"].weight(layer), networks["dense"].weight(layer))
        assert not torch.equal(networks["events"].weight(layer), tiny_network().weight(layer))  # it learnt


def test_a_layer_whose_neurons_leak_stays_dense(monkeypatch):
    network = tiny_network()
    times = torch.full((1, 6, 28, 28), NEVER)
    assert network._by_events(0, times)
    monkeypatch.setattr(type(network.simple[0].neuron), "integrates_without_leak", False)
    assert not network._by_events(0, times)


def test_refuses_tensors_off_the_cpu():
    with pytest.raises(ValueError, match="runs on the CPU"):
        fire_times(torch.zeros((1, 1, 4, 4), device="meta"), torch.ones(1, 1, 3, 3), 1, NEVER, 1.0)


def test_inference_by_events_decides_and_measures_as_the_dense_network(mnist_dir, monkeypatch):
    """Inference over real digits with learnt-looking weights, by events and
    densely (the path a GPU takes): the same outputs, and the same sparsity
    per layer and synaptic operations in the activity metrics, which the
    event path reports itself."""
    train, _ = load_mnist(TorchvisionImagesParams(download=False), LoadContext(mnist_dir, download=False))
    digits = train.head(24)
    network = tiny_network(channels=(8, 16, 10))
    with torch.no_grad():
        for layer in range(network.plastic_layers):
            weight = network.weight(layer)
            weight.copy_(learnt_weights(*weight.shape[:3], seed=layer))
    model = SpikingModel(DoGLatencyEncoder(DoGLatencyParams(), MNIST_INFO), network, NEVER)
    results = {}
    for path in ("events", "dense"):
        if path == "dense":
            monkeypatch.setattr(MozafariNetwork, "_by_events", lambda self, layer, times: False)
        with torch.no_grad():
            results[path, "output"] = model(digits.inputs)
        results[path, "metrics"] = evaluate(model, digits, 10, torch.device("cpu"))
    assert torch.equal(results["events", "output"], results["dense", "output"])
    assert results["dense", "output"].sum() > 0  # the readout decided
    events, dense = results["events", "metrics"], results["dense", "metrics"]
    assert events.accuracy == dense.accuracy
    per_layer = dense.activity.sparsity_per_layer
    assert len(per_layer) == 5 and all(0.0 < sparsity < 1.0 for sparsity in per_layer.values())  # all fire
    # the same activity but for the workload counts: layers run by events keep no membrane per step
    workload = {"membrane_updates": None, "neuron_ops": None, "unavailable": {}}
    assert dataclasses.replace(events.activity, **workload) == dataclasses.replace(dense.activity, **workload)
    assert events.activity.membrane_updates is None and dense.activity.membrane_updates > 0
    assert "did not report their membrane" in events.activity.unavailable["membrane_updates"]
    assert events.activity.synops_ac > 0
