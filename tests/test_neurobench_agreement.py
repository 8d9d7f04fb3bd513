"""snnbench's activation sparsity, synaptic operations, membrane updates and
neuron operations agree with NeuroBench's.

The same snnTorch-neuron network runs under both tools on identical,
pre-encoded input: NeuroBench's ``Benchmark`` with ``ActivationSparsity`` and
``SynapticOperations``, ``MembraneUpdates`` and ``NeuronOperations`` on
batch-first data, and snnbench's ``evaluate`` on the
same data time-first. Both batchings leave a smaller last batch, so the
per-sample weighting is checked too. A fourth of every layer's weights is set
to zero, so that only multiplications with a non-zero weight count.

- rate coding: the plugins' ``RateEncoder`` draws the spikes once; snnbench
  reads them back through an encoder that looks samples up by index.
- direct coding: the plugins' ``DirectEncoder`` (an ``expand``, stride 0 over
  time); snnbench's first layer then runs once per image and counts T times,
  NeuroBench gets the materialised copy and runs every step: the counts must
  still match, with the analogue first layer counted as MACs.

NeuroBench is an optional test dependency, installed without its declared
dependencies (torchaudio would not match our torch):
``pip install --no-deps neurobench==2.3.0``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

_SKIP = "neurobench is not installed (pip install --no-deps neurobench==2.3.0)"
pytest.importorskip("neurobench.benchmarks", reason=_SKIP)
pytest.importorskip("neurobench.metrics.workload", reason=_SKIP)

import snntorch  # noqa: E402
from neurobench.benchmarks import Benchmark  # noqa: E402
from neurobench.metrics.workload import (  # noqa: E402
    ActivationSparsity,
    MembraneUpdates,
    NeuronOperations,
    SynapticOperations,
)
from neurobench.models import TorchModel  # noqa: E402
from snnbench_plugins.architectures.feedforward import CSNNParams, MLPParams  # noqa: E402
from snnbench_plugins.encoders.coding import (  # noqa: E402
    DirectEncoder,
    DirectParams,
    RateEncoder,
    RateParams,
)
from snnbench_plugins.neurons.parameters import LIFParams
from snnbench_plugins.neurons.snntorch_models import SnnTorchLIF  # noqa: E402

from snnbench.api.contracts import DatasetInfo, DataSplit, SpikingModel
from snnbench.api.records import Choice
from snnbench.api.sequence import TimeDistributed, is_constant_in_time
from snnbench.definition.plugins import load_plugins  # noqa: E402
from snnbench.running.assembly import build_network  # noqa: E402
from snnbench.running.metrics import evaluate  # noqa: E402

TIMESTEPS = 10
N_CLASSES = 10
MNIST_ROOT = Path(__file__).parents[2] / "shared" / "data"
CPU = torch.device("cpu")


def snntorch_neuron(features=(), **overrides) -> SnnTorchLIF:
    return SnnTorchLIF(LIFParams(beta=0.8, **overrides), features)


WORKLOAD = [ActivationSparsity, SynapticOperations, MembraneUpdates, NeuronOperations]


# --------------------------------------------------------------------------- the two tools


class BatchFirst(nn.Module):
    """NeuroBench's view of an snnbench network: ``[B, T, ...]`` in (it divides
    by ``data[0].size(0)``), output spike counts ``[B, classes]`` out."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x.transpose(0, 1)).sum(0)


class StoredEncoder(nn.Module):
    """An encoder whose spikes were drawn beforehand: maps sample indices to
    their stored ``[T, B, ...]`` spikes, so both tools see the same ones."""

    def __init__(self, spikes: torch.Tensor):
        super().__init__()
        self.register_buffer("spikes", spikes)

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        return self.spikes[:, index]


def run_neurobench(network: nn.Module, batch_first: torch.Tensor, batch_size: int) -> dict:
    targets = torch.zeros(len(batch_first), dtype=torch.long)
    loader = DataLoader(TensorDataset(batch_first, targets), batch_size=batch_size, shuffle=False)
    assert len(batch_first) % batch_size != 0, "the last batch must be smaller"
    model = TorchModel(BatchFirst(network))
    model.add_activation_module(snntorch.SpikingNeuron)
    benchmark = Benchmark(model, loader, [], [], [[], WORKLOAD])
    try:
        results = benchmark.run(quiet=True)
    finally:
        model.cleanup_hooks()  # the network is measured again by snnbench
    assert len(model.activation_layers()) == sum(isinstance(m, SnnTorchLIF) for m in network.modules())
    ops = results["SynapticOperations"]
    assert isinstance(ops, dict), f"NeuroBench's SynapticOperations failed: {ops!r}"
    neuron_ops = results["NeuronOperations"]
    return {"sparsity": results["ActivationSparsity"], "ac": ops["Effective_ACs"],
            "mac": ops["Effective_MACs"], "dense": ops["Dense"], "membrane_updates": results["MembraneUpdates"],
            "neuron_ops": neuron_ops["Effective Neuron Ops"], "neuron_ops_dense": neuron_ops["Neuron Dense Ops"]}


def assert_agree(snnbench_activity, neurobench: dict) -> None:
    assert snnbench_activity.sparsity == pytest.approx(neurobench["sparsity"], abs=1e-9, rel=0)
    assert snnbench_activity.synops_ac == pytest.approx(neurobench["ac"], rel=1e-6, abs=0)
    assert snnbench_activity.synops_mac == pytest.approx(neurobench["mac"], rel=1e-6, abs=0)
    assert snnbench_activity.synops_dense == pytest.approx(neurobench["dense"], rel=1e-6, abs=0)
    for key in ("membrane_updates", "neuron_ops", "neuron_ops_dense"):
        assert getattr(snnbench_activity, key) == pytest.approx(neurobench[key], rel=1e-9, abs=0), key


# --------------------------------------------------------------------------- models and data


def seeded_network(architecture: str, input_shape: tuple[int, ...], gain: float) -> nn.Module:
    """Seeded snnTorch-neuron network; weights scaled by ``gain`` so every layer
    fires, a fourth of them zeroed so the non-zero-weight rule matters, and
    no bias, so that a neuron with no input rests and its membrane is not updated."""
    torch.manual_seed(0)
    params = MLPParams(hidden=(32,)) if architecture == "mlp" else CSNNParams()
    network = build_network(load_plugins().registries, Choice(architecture, params),
                            Choice("snntorch-lif", LIFParams(beta=0.8)), input_shape, N_CLASSES, TIMESTEPS)
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                module.weight.mul_(gain * (torch.rand_like(module.weight) >= 0.25))
                if module.bias is not None:
                    module.bias.zero_()
    return network.eval()


def digits(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8x8 digits (shipped with the package), scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = torch.tensor(data.images[:n] / 16.0, dtype=torch.float32).unsqueeze(1)
    return images, torch.tensor(data.target[:n], dtype=torch.long)


def mnist(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    if not (MNIST_ROOT / "MNIST" / "raw").is_dir():
        pytest.skip(f"MNIST not found under {MNIST_ROOT / 'MNIST' / 'raw'}; the random-image case still runs")
    import torchvision

    data = torchvision.datasets.MNIST(root=str(MNIST_ROOT), train=False, download=False)
    return data.data[:n].float().div(255.0).unsqueeze(1), data.targets[:n].long()


def random_images(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(2)
    return torch.rand((n, 1, 28, 28), generator=generator), torch.zeros(n, dtype=torch.long)


CASES = {
    # id: (architecture, data, samples, weight gain, NeuroBench batch, snnbench batch)
    "mlp-digits": ("mlp", digits, 150, 4.0, 32, 64),
    "csnn-mnist": ("csnn", mnist, 60, 4.0, 25, 16),
    "csnn-random": ("csnn", random_images, 60, 2.0, 25, 16),
}


@pytest.mark.parametrize("encoding", ["rate", "direct"])
@pytest.mark.parametrize("case", list(CASES))
def test_sparsity_and_synops_agree_with_neurobench(case, encoding):
    architecture, load, n, gain, neurobench_batch, snnbench_batch = CASES[case]
    images, targets = load(n)
    input_shape = tuple(images.shape[1:])
    info = DatasetInfo(case, "static", input_shape, N_CLASSES)
    network = seeded_network(architecture, input_shape, gain)

    if encoding == "rate":
        torch.manual_seed(1)
        spikes = RateEncoder(RateParams(timesteps=TIMESTEPS), info)(images)
        assert set(spikes.unique().tolist()) <= {0.0, 1.0}
        model = SpikingModel(StoredEncoder(spikes), network)
        split = DataSplit(torch.arange(n), targets)
        batch_first = spikes.transpose(0, 1).contiguous()
    else:
        encoder = DirectEncoder(DirectParams(timesteps=TIMESTEPS), info)
        encoded = encoder(images)
        assert is_constant_in_time(encoded)  # snnbench's run-once-count-T-times path
        model = SpikingModel(encoder, network)
        split = DataSplit(images, targets)
        batch_first = encoded.transpose(0, 1).contiguous()

    ours = evaluate(model, split, snnbench_batch, CPU).activity
    theirs = run_neurobench(network, batch_first, neurobench_batch)

    # the network really does something, in every spiking layer
    assert 0.0 < ours.sparsity < 1.0
    assert all(s < 1.0 for s in ours.sparsity_per_layer.values()), ours.sparsity_per_layer
    assert ours.synops_ac > 0
    assert (ours.synops_mac > 0) == (encoding == "direct")
    assert ours.membrane_updates > 0 and ours.unavailable == {}
    assert ours.encoder_density == pytest.approx(float((batch_first != 0).double().mean()), abs=1e-12)

    assert_agree(ours, theirs)


# --------------------------------------------------------------------------- by hand


@pytest.mark.parametrize("analog", [False, True], ids=["spikes", "analog"])
def test_single_linear_layer_counts_by_hand(analog):
    """One Linear layer (4 -> 3, bias, zeros in the weights) on a known input:
    both tools give the hand count. A non-zero input i costs one operation per
    non-zero weight in column i; binary input makes them ACs, analogue MACs."""
    weight = torch.tensor([[0.9, 0.0, 0.7, 0.0],
                           [0.0, 0.0, 1.2, 0.8],
                           [1.1, 0.0, 0.0, 0.6]])
    linear = nn.Linear(4, 3)
    with torch.no_grad():
        linear.weight.copy_(weight)
        linear.bias.fill_(0.1)
    network = nn.Sequential(TimeDistributed(linear), snntorch_neuron()).eval()

    spikes = torch.tensor([  # [T=2, N=3, 4]
        [[1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 1, 1]],
        [[0, 0, 1, 1], [0, 0, 0, 0], [1, 0, 0, 1]],
    ], dtype=torch.float32)
    inputs = spikes * 0.5 if analog else spikes
    samples = inputs.shape[1]
    # non-zero weights per input column: [2, 0, 2, 2]
    # per (t, n) row: [4,0,6] at t=0, [4,0,4] at t=1 -> 18 operations over 3 samples
    expected_ops = 18 / samples
    expected_dense = 2 * 3 * 4  # T * out * in, per sample
    with torch.no_grad():
        out = network(inputs)
    expected_sparsity = 1.0 - int(torch.count_nonzero(out)) / out.numel()

    ours = evaluate(SpikingModel(StoredEncoder(inputs), network),
                    DataSplit(torch.arange(samples), torch.zeros(samples, dtype=torch.long)), 2, CPU).activity
    theirs = run_neurobench(network, inputs.transpose(0, 1).contiguous(), batch_size=2)

    # the bias drives all 3 neurons at both steps: 6 membrane updates a sample, 4 operations each (Leaky)
    expected = {"sparsity": expected_sparsity, "ac": 0.0 if analog else expected_ops,
                "mac": expected_ops if analog else 0.0, "dense": expected_dense,
                "membrane_updates": 6.0, "neuron_ops": 24.0, "neuron_ops_dense": 24.0}
    for name, value in expected.items():
        assert theirs[name] == pytest.approx(value, abs=1e-12), f"NeuroBench {name}"
    assert_agree(ours, expected)
    assert math.isclose(ours.sparsity, theirs["sparsity"], abs_tol=1e-9)


def test_membrane_updates_by_hand():
    """One Linear layer (no bias) into three Leaky neurons (beta 0.8,
    threshold 1, subtract reset one step late), two samples of three steps.
    Currents: sample A [0.9, 0, 1.1] then nothing; sample B nothing, then
    [0.7, 1.2, 0], then nothing. Every neuron counts at the first step; after
    it, a membrane that stays at rest (A's neuron 1, B's neuron 2) is not
    updated, any other is (decay, a spike's reset): 3 + 2 + 2 updates a
    sample, 4 operations each, of 9 dense updates."""
    linear = nn.Linear(4, 3, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[0.9, 0.0, 0.7, 0.0],
                                          [0.0, 0.0, 1.2, 0.8],
                                          [1.1, 0.0, 0.0, 0.6]]))
    network = nn.Sequential(TimeDistributed(linear), snntorch_neuron()).eval()
    spikes = torch.zeros(3, 2, 4)  # [T, samples, inputs]
    spikes[0, 0, 0] = 1  # A: input 0 at step 0
    spikes[0, 1, 1] = 1  # B: input 1 (all its weights zero) at step 0
    spikes[1, 1, 2] = 1  # B: input 2 at step 1

    ours = evaluate(SpikingModel(StoredEncoder(spikes), network),
                    DataSplit(torch.arange(2), torch.zeros(2, dtype=torch.long)), 2, CPU).activity
    theirs = run_neurobench(network, spikes.transpose(0, 1).contiguous(), batch_size=3)

    for tool in ({"membrane_updates": ours.membrane_updates, "neuron_ops": ours.neuron_ops,
                  "neuron_ops_dense": ours.neuron_ops_dense}, theirs):
        assert tool["membrane_updates"] == pytest.approx(7.0, abs=1e-12)
        assert tool["neuron_ops"] == pytest.approx(28.0, abs=1e-12)
        assert tool["neuron_ops_dense"] == pytest.approx(36.0, abs=1e-12)
