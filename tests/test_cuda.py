"""The CUDA path: cells train on the GPU with data resident there, the
backend that really ran is recorded, and results land in the store.
Skipped without a CUDA device."""

from __future__ import annotations

import pytest
import torch
from conftest import REPO, ok_rows
from snnbench_plugins.architectures.feedforward import CSNNParams
from snnbench_plugins.datasets.vision import TorchvisionImagesParams
from snnbench_plugins.encoders.coding import DirectParams, RateParams
from snnbench_plugins.learning_rules.bptt import BPTTParams
from snnbench_plugins.neurons.lif_fused import FusedLIFParams
from snnbench_plugins.neurons.parameters import LIFParams
from snnbench_plugins.neurons.spikingjelly_models import SJLIFParams
from test_neurons import (
    assert_fused_lif_equals_snntorch_leaky,
    assert_fused_lif_spikes_equal_snntorch_leaky_at_benchmark_size,
)

from snnbench.api.records import Cell, Choice
from snnbench.api.training_config import TrainingConfig
from snnbench.cli import main
from snnbench.running.runner import DatasetCache, train_and_measure
from snnbench.running.options import RunOptions

pytestmark = pytest.mark.gpu


def _cell(encoder: Choice, neuron: str) -> Cell:
    """One epoch over all 60,000 training images: seconds on a GPU."""
    return Cell(suite="cuda", dataset=Choice("mnist", TorchvisionImagesParams(download=False)), encoder=encoder,
                neuron=Choice(neuron, {"spikingjelly-lif": SJLIFParams, "lif-fused": FusedLIFParams}.get(neuron, LIFParams)(beta=0.5)), architecture=Choice("csnn", CSNNParams()),
                learning_rule=Choice("bptt", BPTTParams(lr=5e-3)),
                training=TrainingConfig(epochs=1, batch_size=128, test_limit=5000), seed=0)


@pytest.mark.parametrize("neuron, backend", [("spikingjelly-lif", "spikingjelly-triton"), ("lif-fused", "lif-fused-triton"),
                                             ("snntorch-lif", "snntorch-loop")])
def test_csnn_trains_on_cuda(plugins, mnist_dir, neuron, backend):
    options = RunOptions(device=torch.device("cuda"), data_dir=mnist_dir, progress=False)
    metrics, _ = train_and_measure(_cell(Choice("direct", DirectParams(timesteps=10)), neuron), plugins,
                                   DatasetCache(plugins, options), options)
    # one epoch of direct coding at T=10: seeds vary by several points (see the encoders table)
    assert metrics["accuracy"] > 0.85
    assert set(metrics["neuron_backends"].values()) == {backend}
    assert metrics["peak_memory_mb"] > 0
    assert metrics["train_samples_per_s"] > 1000


@pytest.mark.parametrize("backend", ["triton", "compile"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "atan", "sigmoid"])
def test_fused_lif_kernels_on_cuda_equal_snntorch_leaky(backend, reset, surrogate):
    assert_fused_lif_equals_snntorch_leaky(surrogate, reset, backend, device="cuda")


@pytest.mark.parametrize("backend", ["triton", "compile"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_fused_lif_kernels_on_cuda_spike_as_snntorch_leaky_at_benchmark_size(backend, reset):
    assert_fused_lif_spikes_equal_snntorch_leaky_at_benchmark_size(reset, backend, device="cuda")


def test_rate_coding_draws_on_the_gpu(plugins, mnist_dir):
    options = RunOptions(device=torch.device("cuda"), data_dir=mnist_dir, progress=False)
    metrics, _ = train_and_measure(_cell(Choice("rate", RateParams(timesteps=10)), "spikingjelly-lif"), plugins,
                                   DatasetCache(plugins, options), options)
    assert metrics["accuracy"] > 0.85
    assert 0.05 < metrics["encoder_density"] < 0.3
    assert metrics["synops_mac"] == 0 and metrics["synops_ac"] > 0


def test_rstdp_network_learns_on_cuda_without_autograd(tmp_path, mnist_dir):
    """Mozafari et al.'s network, as suites/rstdp_mnist-cpu.toml trains it (6,000
    real digits, STDP then 20 R-STDP epochs), learns on the GPU with the
    hidden layers' winners chosen 16 samples at a time, as a GPU should run
    them. On a CPU that setting gave 85.2% (README, R-STDP section)."""
    text = (REPO / "suites" / "rstdp_mnist-cpu.toml").read_text()
    assert "stdp_batch_size = 1 " in text
    suite = tmp_path / "rstdp.toml"
    suite.write_text(text.replace("stdp_batch_size = 1 ", "stdp_batch_size = 16 ")
                     .replace('name = "rstdp-mnist-cpu"', 'name = "rstdp-mnist-cuda"'))
    db = tmp_path / "r.db"
    assert main(["run", str(suite), "--db", str(db), "--data-dir", str(mnist_dir), "--device", "cuda",
                 "--no-download", "--no-progress"]) == 0
    (row,) = ok_rows(db)
    metrics = row["metrics"]
    assert row["device_type"] == "cuda"
    assert metrics["accuracy"] > 0.7, metrics["accuracy"]  # chance: 0.1
    assert metrics["synops_mac"] == 0 and metrics["peak_memory_mb"] > 0
    assert len(metrics["epoch_seconds"]["layer 3 R-STDP"]) == 20
