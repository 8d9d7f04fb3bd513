"""Learned encoders (STAL, ConvSTAL, SPS, ConvSTAL-PS): shapes, true spikes or
sigmoid values, thresholds kept in range and trained by the gradient; the
spike-sparsity term (CE+SS) in BPTT; encoder pre-training with the STAL loss;
the encoder-density metrics of analogue output on the leaderboard."""

from __future__ import annotations

import copy
import textwrap

import pytest
import torch
from conftest import suite_toml
from snnbench_plugins.datasets.vision import DigitsParams, load_digits
from snnbench_plugins.encoders.patch_splitting import (
    ConvSTALPSEncoder,
    ConvSTALPSParams,
    SPSEncoder,
    SPSParams,
    spikformer_lif,
)
from snnbench_plugins.encoders.stal import (
    ConvSTALEncoder,
    ConvSTALParams,
    STALEncoder,
    STALParams,
)
from snnbench_plugins.learning_rules import losses
from snnbench_plugins.learning_rules.bptt import BPTT, BPTTParams
from snnbench_plugins.learning_rules.encoder_pretraining import (
    EncoderPretraining,
    EncoderPretrainingParams,
    FrozenEncoder,
)

from snnbench.api.contracts import (
    DatasetInfo,
    LoadContext,
    SpikingLayer,
    SpikingModel,
    iter_spiking_layers,
)
from snnbench.api.records import Choice
from snnbench.api.training_config import TrainingConfig
from snnbench.cli import main
from snnbench.results.store import ResultStore
from snnbench.running.assembly import build_network
from snnbench.running.metrics import evaluate
from snnbench.running.training import CellTrainingSession
from snnbench.runtime import seed_everything

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


def test_sps_lif_is_spikformers_lif():
    """tau 2 with the input decayed, reset to 0 and detached, sigmoid(4)
    surrogate: the same spikes and input gradients as SpikingJelly's LIFNode
    set up as Spikformer sets it up, also where the membrane lands exactly on
    the threshold (the currents in halves), which it reaches to fire."""
    from spikingjelly.activation_based import functional, neuron

    torch.manual_seed(0)
    current = torch.cat([torch.randn(8, 16, 25) + 0.8, torch.randint(0, 5, (8, 16, 25)) / 2], -1).requires_grad_()
    reference = neuron.LIFNode(tau=2.0, v_reset=0.0, detach_reset=True, step_mode="m")
    functional.reset_net(reference)
    expected = reference(current)
    above_only = neuron.LIFNode(tau=2.0, v_threshold=1.0 + 1e-6, v_reset=0.0, detach_reset=True, step_mode="m")
    assert not torch.equal(above_only(current[..., 25:].detach()), expected[..., 25:])  # membranes land on 1
    (expected * torch.linspace(0, 1, 50)).sum().backward()
    expected_grad, current.grad = current.grad.clone(), None
    ours = spikformer_lif()(current)
    (ours * torch.linspace(0, 1, 50)).sum().backward()
    assert torch.equal(ours, expected) and 0.05 < expected.mean() < 0.95
    assert torch.allclose(current.grad, expected_grad, atol=1e-6)


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
    assert all(layer.backend_used == "lif-fused-numba" for layer in layers.values())
    tokens.sum().backward()
    assert encoder.splitter.stages[0].module.weight.grad.abs().sum() > 0


# --------------------------------------------------------------------------- training on digits

DIGITS = DatasetInfo("digits", "static", (1, 8, 8), 10)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits():
    return load_digits(DigitsParams(), LoadContext(None))


def _stal_mlp(plugins, encoder_params: STALParams) -> SpikingModel:
    """STAL on digits into a one-hidden-layer MLP of snnTorch LIFs, built
    through the registries as the runner builds it."""
    encoder = STALEncoder(encoder_params, DIGITS)
    lif = plugins.registries["neuron"].get("snntorch-lif").spec.params()
    mlp = plugins.registries["architecture"].get("mlp").spec.params(hidden=(64,))
    network = build_network(plugins.registries, Choice("mlp", mlp), Choice("snntorch-lif", lif),
                            (encoder_params.l2 or 64,), 10, encoder_params.timesteps)
    return SpikingModel(encoder, network)


def _fit(rule, model, train, epochs: int, seed: int = 0) -> CellTrainingSession:
    session = CellTrainingSession(TrainingConfig(epochs=epochs, batch_size=64), CPU, seed_everything(seed))
    rule.fit(model, train, session)
    return session


def test_stal_with_an_mlp_learns_digits_by_bptt(plugins, digits):
    train, test = digits
    seed_everything(0)
    model = _stal_mlp(plugins, STALParams())
    before = evaluate(model, test, 500, CPU)
    thresholds = model.encoder.thresholds.threshold.detach().clone()
    _fit(BPTT(BPTTParams(lr=5e-3)), model, train, epochs=3)
    after = evaluate(model, test, 500, CPU)
    assert before.accuracy < 0.3 and after.accuracy > 0.75, (before.accuracy, after.accuracy)
    assert not torch.equal(model.encoder.thresholds.threshold, thresholds)  # the thresholds learned too
    assert after.activity.encoder_density == after.activity.encoder_mean == after.activity.encoder_above_half


# --------------------------------------------------------------------------- spike sparsity (SS)


def test_spike_sparsity_on_hand_computed_counts():
    # two samples, two steps, three units; per-unit counts over time:
    #   sample 0: [2, 0, 1], sample 1: [0, 0, 1] -> batch mean s = [1, 0, 1]
    encoded = torch.tensor([[[1., 0., 1.], [0., 0., 0.]],
                            [[1., 0., 0.], [0., 0., 1.]]])
    # sum s = 2, sum s^2 = 2: SS = omega * weight * (2 - c * 2 / 2)
    assert losses.spike_sparsity(encoded, omega=0.5, c=0.0).item() == pytest.approx(1.0)
    assert losses.spike_sparsity(encoded, omega=0.5, c=0.5).item() == pytest.approx(0.75, rel=1e-5)
    assert losses.spike_sparsity(encoded, omega=0.5, c=0.5, weight=0.2).item() == pytest.approx(0.15, rel=1e-5)
    # concentrating the same spikes on one unit lowers the term: s = [2, 0, 0], sum s^2 = 4
    concentrated = torch.tensor([[[1., 0., 0.], [1., 0., 0.]],
                                 [[1., 0., 0.], [1., 0., 0.]]])
    assert losses.spike_sparsity(concentrated, omega=0.5, c=0.5).item() == pytest.approx(0.5, rel=1e-5)
    # per-sample normalised: the same samples twice over give the same value
    assert losses.spike_sparsity(torch.cat([encoded, encoded], 1), 0.5, 0.5).item() == pytest.approx(0.75, rel=1e-5)


def test_warmup_ramps_from_zero_to_one():
    assert [losses.warmup_weight(e, 4) for e in range(6)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert losses.warmup_weight(0, 0) == 1.0


def test_ce_plus_ss_lowers_encoder_density(plugins, digits):
    train, test = digits
    densities = {}
    for omega in (0.0, 0.002):
        seed_everything(0)
        model = _stal_mlp(plugins, STALParams())
        _fit(BPTT(BPTTParams(lr=5e-3, sparsity_omega=omega, sparsity_warmup_epochs=0)), model, train, epochs=2)
        evaluation = evaluate(model, test, 500, CPU)
        densities[omega] = (evaluation.activity.encoder_density, evaluation.accuracy)
    (plain, plain_accuracy), (sparse, sparse_accuracy) = densities[0.0], densities[0.002]
    assert sparse < 0.6 * plain, densities
    assert sparse_accuracy > 0.25, densities  # fewer spikes, still a classifier (chance: 0.1)


# --------------------------------------------------------------------------- encoder pre-training


def _encoder_loss(encoder, images) -> float:
    encoder.eval()
    with torch.no_grad():
        return losses.stal_encoder_loss(images, encoder(images)).item()


def test_pretraining_lowers_the_encoder_loss_then_freezes_the_encoder(plugins, digits):
    train, test = digits
    seed_everything(0)
    model = _stal_mlp(plugins, STALParams())
    fresh = copy.deepcopy(model.encoder)
    rule = EncoderPretraining(EncoderPretrainingParams(lr=5e-3, pretrain_epochs=3, pretrain_lr=5e-3))
    _fit(rule, model, train, epochs=2)
    assert isinstance(model.encoder, FrozenEncoder)
    trained = model.encoder.encoder
    assert _encoder_loss(trained, test.inputs) < 0.8 * _encoder_loss(fresh, test.inputs)
    assert rule.pretrain_history[-1] < rule.pretrain_history[0]
    # frozen: no gradients, eval mode whatever the model is told, outside the graph
    assert not any(p.requires_grad for p in trained.parameters())
    model.train()
    assert not model.encoder.training and not trained.training
    assert model.encoder(train.inputs[:4]).grad_fn is None
    assert evaluate(model, test, 500, CPU).accuracy > 0.6
    # another round of BPTT leaves the encoder exactly as pre-training left it
    state = copy.deepcopy(trained.state_dict())
    _fit(BPTT(BPTTParams(lr=5e-3)), model, train, epochs=1, seed=1)
    assert all(torch.equal(state[k], v) for k, v in trained.state_dict().items())


def test_pretraining_uses_the_per_channel_loss_for_convstal(digits):
    train, _ = digits
    encoded = torch.rand(5, 3, 2, 4, 4)
    images = torch.rand(3, 2, 4, 4)
    whole = losses.stal_encoder_loss(images, encoded)
    per_channel = losses.stal_encoder_loss(images, encoded, per_channel=True)
    halves = [losses.stal_encoder_loss(images[:, c:c + 1], encoded[:, :, c:c + 1]) for c in range(2)]
    assert per_channel.item() == pytest.approx(sum(h.item() for h in halves) / 2, rel=1e-5)
    assert per_channel.item() != pytest.approx(whole.item(), rel=1e-3)


def test_pretraining_an_encoder_of_another_size_fails_with_a_message(plugins, digits):
    train, _ = digits
    model = _stal_mlp(plugins, STALParams(l2=32))
    rule = EncoderPretraining(EncoderPretrainingParams(pretrain_epochs=1))
    with pytest.raises(Exception, match="one output per input value"):
        _fit(rule, model, train, epochs=1)


# --------------------------------------------------------------------------- leaderboard


def test_analog_output_shows_its_mean_and_share_above_half(tmp_path, capsys):
    suite = tmp_path / "s.toml"
    suite.write_text(suite_toml("learned", encoder=("stal", "stal-analog"), extra=textwrap.dedent("""
        [variants.encoder.stal-analog]
        of = "stal"
        output = "analog"
        [params.architecture.mlp]
        hidden = [32]
        [training]
        epochs = 1
        batch_size = 64
        train_limit = 400
        test_limit = 200
    """)))
    db = tmp_path / "r.db"
    assert main(["run", str(suite), "--db", str(db), "--no-progress"]) == 0
    with ResultStore(db) as store:
        rows = {row["encoder"]: row["metrics"] for row in store.rows(["learned"])}
    binary, analog = rows["stal"], rows["stal-analog"]
    assert binary["encoder_density"] == binary["encoder_mean"] == binary["encoder_above_half"] < 1
    assert analog["encoder_density"] > 0.99  # a sigmoid is almost never exactly 0 ...
    assert analog["encoder_above_half"] < 0.9 and analog["encoder_mean"] < 0.9  # ... and not 1 either
    capsys.readouterr()
    assert main(["leaderboard", "--db", str(db), "--by", "encoder"]) == 0
    header = capsys.readouterr().out.splitlines()
    assert any("enc. mean" in line and "enc. > 0.5" in line for line in header)
    assert main(["leaderboard", "--db", str(db), "--by", "encoder", "--metric", "encoder_above_half",
                 "--format", "csv"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].startswith("encoder,encoder_above_half_mean,encoder_above_half_std,n,at_chance,")
    assert f"{analog['encoder_above_half']}" in table
