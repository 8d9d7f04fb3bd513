"""What measuring a trained model costs: the test split goes through the model
once for every test-split figure (accuracy, activity, confusion), and the
inference-throughput probe stops once it has timed enough, so a slow model
(seconds a batch, a Spikformer on a CPU) is not run over its test split
three times over."""

from __future__ import annotations

import pytest
import torch
from snnbench_plugins.datasets.vision import DigitsParams, load_digits
from snnbench_plugins.encoders.coding import DirectEncoder, DirectParams
from snnbench_plugins.neurons.parameters import LIFParams
from snnbench_plugins.neurons.snntorch_models import SnnTorchLIF
from torch import nn

from snnbench.api.contracts import LoadContext, SpikingModel
from snnbench.api.sequence import TimeDistributed
from snnbench.running import cell_detail
from snnbench.running.metrics import evaluate, inference_throughput

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def trained():
    """A one-layer spiking classifier trained for four epochs on the real digits."""
    torch.manual_seed(0)
    train, test = load_digits(DigitsParams(), LoadContext(None))
    network = nn.Sequential(TimeDistributed(nn.Flatten()), TimeDistributed(nn.Linear(64, 10)),
                            SnnTorchLIF(LIFParams(beta=0.8)))
    model = SpikingModel(DirectEncoder(DirectParams(8), None), network)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for start in [*range(0, len(train), 50)] * 4:
        counts = model(train.inputs[start:start + 50]).sum(0)
        loss = nn.functional.cross_entropy(counts, train.targets[start:start + 50])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model, test


def counting(model: nn.Module) -> list[int]:
    """Samples that go through ``model`` from now on, call by call."""
    seen: list[int] = []
    model.register_forward_pre_hook(lambda module, args: seen.append(len(args[0])))
    return seen


def test_one_pass_gives_accuracy_activity_and_the_confusion_matrix(trained):
    model, test = trained
    seen = counting(model)
    samples = cell_detail.first_samples(model, test, 100, CPU)
    evaluation = evaluate(model, test, 100, CPU)
    assert sum(seen) == 100 + len(test)  # the rasters' first batch, then the split once
    confusion = torch.tensor(evaluation.confusion)
    assert confusion.shape == (10, 10) and int(confusion.sum()) == len(test)
    assert evaluation.accuracy == int(confusion.trace()) / len(test) > 0.5  # it learnt: far above chance
    # the rasters' predictions are those the evaluation counted for the same samples
    counts = model(test.inputs[:3]).sum(0)
    assert [s["predicted"] for s in samples] == counts.argmax(-1).tolist()
    assert [s["label"] for s in samples] == test.targets[:3].tolist()


def test_the_throughput_probe_stops_once_it_has_timed_enough(trained):
    model, test = trained
    seen = counting(model)
    assert inference_throughput(model, test, 10, CPU, enough_seconds=0.0) > 0
    assert seen == [10, 10, 10]  # two warm-up batches, one timed
    seen.clear()
    inference_throughput(model, test, 10, CPU, enough_seconds=3600.0)
    assert seen == [10] * 22  # a fast model: every batch of the probe
