"""Learned encoders (STAL, ConvSTAL, SPS, ConvSTAL-PS): shapes, true spikes or
sigmoid values, thresholds kept in range and trained by the gradient."""

from __future__ import annotations

import pytest
import torch

from snnbench.components import DatasetInfo, SpikingLayer, iter_spiking_layers
from snnbench_plugins.encoders.patch_splitting import (
    ConvSTALPSEncoder,
    ConvSTALPSParams,
    SPSEncoder,
    SPSParams,
)
from snnbench_plugins.encoders.stal import ConvSTALEncoder, ConvSTALParams, STALEncoder, STALParams

MNIST = DatasetInfo("mnist", "static", (1, 28, 28), 10)
CIFAR = DatasetInfo("cifar10", "static", (3, 32, 32), 10)


def _learned(output: str, info: DatasetInfo = MNIST):
    """Every encoder with learnable thresholds, small enough for a CPU test."""
    return {
        "stal": STALEncoder(STALParams(l1=64, l2=96, output=output), info),
        "convstal": ConvSTALEncoder(ConvSTALParams(l1=8, output=output), info),
        "convstal-ps": ConvSTALPSEncoder(ConvSTALPSParams(dim=32, output=output), info),
    }


@pytest.mark.parametrize("info, shapes", [
    (MNIST, {"stal": (5, 3, 96), "convstal": (5, 3, 1, 28, 28), "convstal-ps": (5, 3, 49, 32)}),
    (CIFAR, {"stal": (5, 3, 96), "convstal": (5, 3, 3, 32, 32), "convstal-ps": (5, 3, 64, 32)}),
])
def test_learned_encoders_are_time_first_with_the_promised_shapes(info, shapes):
    torch.manual_seed(0)
    images = torch.rand(3, *info.input_shape)
    for name, encoder in _learned("binary", info).items():
        assert encoder(images).shape == shapes[name], name


def test_stal_widths_default_to_the_input_size():
    assert STALEncoder(STALParams(), MNIST)(torch.rand(2, 1, 28, 28)).shape == (5, 2, 784)


def test_binary_output_is_exact_spikes_and_analog_is_the_sigmoid():
    torch.manual_seed(0)
    images = torch.rand(4, 1, 28, 28)
    for name, encoder in _learned("binary").items():
        spikes = encoder(images)
        assert set(spikes.unique().tolist()) == {0.0, 1.0}, name
    for name, encoder in _learned("analog").items():
        values = encoder(images)
        # sigmoid values: in (0, 1), where float32 rounds far-off ones to 0 or 1 exactly
        assert ((values >= 0) & (values <= 1)).all(), name
        assert ((values > 0.01) & (values < 0.99)).float().mean() > 0.01, name
        assert values.unique().numel() > 100, name  # graded values, not spikes


def test_binary_spikes_are_the_analog_values_rounded_at_one_half():
    """Same weights, two outputs: a spike exactly where the sigmoid is above 1/2."""
    torch.manual_seed(0)
    binary = STALEncoder(STALParams(l1=32, l2=48), MNIST).eval()
    analog = STALEncoder(STALParams(l1=32, l2=48, output="analog"), MNIST).eval()
    analog.load_state_dict(binary.state_dict())
    images = torch.rand(5, 1, 28, 28)
    assert torch.equal(binary(images), (analog(images) > 0.5).float())


def test_thresholds_start_in_the_middle_and_are_clamped_into_range():
    torch.manual_seed(0)
    encoder = ConvSTALEncoder(ConvSTALParams(l1=4, timesteps=3), MNIST)
    threshold = encoder.thresholds.threshold
    assert threshold.shape == (3, 1, 28, 28)  # one per timestep and feature
    assert 0.4 <= threshold.min() and threshold.max() <= 0.6
    with torch.no_grad():
        threshold[0].fill_(-3.0)
        threshold[1].fill_(7.0)
    encoder(torch.rand(2, 1, 28, 28))
    assert threshold[0].eq(0.001).all() and threshold[1].eq(1.0).all()


@pytest.mark.parametrize("output", ["binary", "analog"])
def test_gradients_reach_the_thresholds_and_the_features(output):
    torch.manual_seed(0)
    images = torch.rand(8, 1, 28, 28)
    for name, encoder in _learned(output).items():
        encoder(images).sum().backward()
        grad = encoder.thresholds.threshold.grad
        assert grad is not None and grad.abs().sum() > 0, name
        assert (grad <= 0).all(), name  # a higher threshold never gives more output
        first_layer = next(p for p in encoder.parameters() if p.dim() > 1)
        assert first_layer.grad is not None and first_layer.grad.abs().sum() > 0, name


def test_a_last_batch_of_one_trains_through_stal():
    encoder = STALEncoder(STALParams(l1=16, l2=16), MNIST).train()
    assert encoder(torch.rand(1, 1, 28, 28)).shape == (5, 1, 16)


def test_sps_is_a_spiking_patch_splitter():
    torch.manual_seed(0)
    encoder = SPSEncoder(SPSParams(dim=32, timesteps=4), MNIST)
    tokens = encoder(torch.rand(3, 1, 28, 28))
    assert tokens.shape == (4, 3, 49, 32)
    # spikes plus the relative-position stage's spikes: 0, 1 or 2
    assert set(tokens.unique().tolist()) <= {0.0, 1.0, 2.0} and tokens.max() > 0
    assert not torch.equal(tokens[0], tokens[-1])  # the LIFs make the constant image vary in time
    layers = dict(iter_spiking_layers(encoder))
    assert len(layers) == 5 and all(isinstance(layer, SpikingLayer) for layer in layers.values())
    assert all(layer.backend_used.startswith("spikingjelly") for layer in layers.values())
    tokens.sum().backward()
    assert encoder.splitter.stages[0].module.weight.grad.abs().sum() > 0
