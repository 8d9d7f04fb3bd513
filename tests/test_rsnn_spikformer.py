"""The RSNN and Spikformer classifiers: their shapes, the recurrence and the
attention they are built around, what Spikformer can take, and tiny models
of both learning on the bundled digits through the real runner."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from conftest import suite_toml

from snnbench.api.contracts import SpikingLayer, iter_spiking_layers
from snnbench.api.errors import SnnbenchError
from snnbench.api.records import Choice
from snnbench.cli import main
from snnbench.definition.params import parse_params
from snnbench.results.store import ResultStore
from snnbench.running.assembly import architecture_context

TINY = {"dim": 16, "heads": 2, "depth": 1, "mlp_hidden": 32, "patch_size": 2}


def build(plugins, architecture: str, input_shape, params=None, neuron="snntorch-lif", neuron_params=None,
          calls: list | None = None, layer=None, timesteps=4):
    """The architecture as the runner builds it, with the registered neuron
    model ``neuron``; ``calls`` records each neuron layer it asks for, and
    ``layer`` stands in for the neuron with a test's own (unregistered) one."""
    neuron_spec = plugins.registries["neuron"].get(neuron).spec
    ctx = architecture_context(plugins.registries, architecture,
                               Choice(neuron, parse_params(neuron_spec.params, neuron_params or {})),
                               input_shape, 10, timesteps)
    make = layer or ctx.neuron

    def neuron_layer(features, **overrides):
        if calls is not None:
            calls.append((tuple(features), overrides))
        return make(features, **overrides)

    spec = plugins.registries["architecture"].get(architecture).spec
    return spec.build(parse_params(spec.params, params or {}), dataclasses.replace(ctx, neuron=neuron_layer))


# ------------------------------------------------------------------------------- RSNN


def test_rsnn_layers_and_recurrent_parameters(plugins):
    calls = []
    network = build(plugins, "rsnn", (1, 8, 8), neuron="snntorch-rleaky",
                    neuron_params={"beta": 0.9, "surrogate": "atan"}, calls=calls)
    assert calls == [((56,), {}), ((10,), {})]
    linear = 64 * 56 + 56 + 56 * 10 + 10
    recurrent = 56 * 56 + 56 + 10 * 10 + 10  # all-to-all Linear per spiking layer
    assert sum(p.numel() for p in network.parameters()) == linear + recurrent
    spikes = network(torch.rand(5, 3, 1, 8, 8))
    assert spikes.shape == (5, 3, 10)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}


def test_rsnn_recurrence_is_used(plugins):
    """The hidden layer's spikes at t-1 reach it at t: its recurrent weights get
    gradients, and silencing them changes what the network emits."""
    torch.manual_seed(0)
    network = build(plugins, "rsnn", (64,), neuron="snntorch-rleaky",
                    neuron_params={"beta": 0.9, "surrogate": "atan"})
    hidden = dict(iter_spiking_layers(network))["2"]
    recurrent = [p for p in hidden.parameters() if p.dim() == 2]
    assert [tuple(p.shape) for p in recurrent] == [(56, 56)]
    inputs = (torch.rand(8, 16, 64) < 0.5).float() * 3
    out = network(inputs)
    out.sum().backward()
    assert recurrent[0].grad.abs().sum() > 0
    with torch.no_grad():
        for parameter in hidden.parameters():
            parameter.zero_()
        assert not torch.equal(network(inputs), out)


def test_rsnn_with_a_feedforward_neuron_has_no_recurrent_weights(plugins):
    network = build(plugins, "rsnn", (64,), params={"hidden": 20})
    assert sum(p.numel() for p in network.parameters()) == 64 * 20 + 20 + 20 * 10 + 10


# ------------------------------------------------------------------------- Spikformer


def test_spikformer_blocks_and_attention_threshold(plugins):
    calls = []
    network = build(plugins, "spikformer", (9, 16), params=TINY | {"depth": 2},
                    calls=calls)
    per_block = [((9, 16), {})] * 3 + [((9, 16), {"threshold": 0.5}), ((9, 16), {}),
                                       ((9, 32), {}), ((9, 16), {})]
    assert calls == per_block * 2  # dim-wide tokens enter the blocks as they are: no stem
    out = network((torch.rand(3, 2, 9, 16) < 0.3).float())
    assert out.shape == (3, 2, 10)


class Step(SpikingLayer):
    """A stateless spike: current >= threshold. Makes the attention checkable by hand."""

    def __init__(self, threshold: float):
        super().__init__()
        self.threshold = threshold

    def forward(self, current):
        return (current >= self.threshold).float()


def test_spiking_self_attention_is_q_kt_v_times_scale_per_head(plugins):
    torch.manual_seed(0)
    network = build(plugins, "spikformer", (6, 16), params=TINY | {"scale": 0.25, "attention_threshold": 1.5},
                    layer=lambda features, threshold=0.0: Step(threshold))
    attention = network[0].attention.eval()
    x = (torch.rand(2, 3, 6, 16) < 0.5).float()
    q, k, v = ((layer(x) >= 0).float().unflatten(-1, (2, 8)) for layer in (attention.q, attention.k, attention.v))
    scores = torch.einsum("tbnhd,tbmhd->tbhnm", q, k)
    product = torch.einsum("tbhnm,tbmhd->tbnhd", scores, v).flatten(-2) * 0.25
    expected = (attention.project((product >= 1.5).float()) >= 0).float()
    assert torch.equal(attention(x), expected)


@pytest.mark.parametrize("input_shape, tokens", [
    ((1, 8, 8), 16),     # image: 2x2 patches
    ((3, 7, 5), 12),     # padded up to 8x6: 4x3 patches
    ((64,), 16),         # vector (STAL): runs of 4 features
    ((62,), 16),         # padded up to 64
    ((5, 24), 5),        # tokens of another width: embedded
])
def test_spikformer_tokenises_what_it_is_given(plugins, input_shape, tokens):
    calls = []
    network = build(plugins, "spikformer", input_shape, params=TINY,
                    calls=calls)
    assert calls[0] == ((tokens, 16), {})  # the stem's LIF over the embedded tokens
    assert network(torch.rand(2, 3, *input_shape)).shape == (2, 3, 10)


def test_spikformer_patches_are_image_blocks(plugins):
    from snnbench_plugins.architectures.spikformer import Tokenize

    image = torch.arange(2 * 4 * 4.0).view(1, 2, 4, 4)
    tokens = Tokenize((2, 4, 4), 2)(image)
    assert tokens.shape == (1, 4, 8)
    top_right = image[0, :, 0:2, 2:4]
    assert sorted(tokens[0, 1].tolist()) == sorted(top_right.flatten().tolist())


def test_spikformer_head_is_the_mean_over_tokens_and_time(plugins):
    network = build(plugins, "spikformer", (4, 16), params=TINY)
    head = network[-1]
    x = torch.rand(5, 2, 4, 16)
    assert torch.allclose(head(x).sum(0), head.linear(x.mean((0, 2))), atol=1e-6)


def test_spikformer_refuses_what_it_cannot_tokenise(plugins):
    with pytest.raises(SnnbenchError, match=r"emits \[2, 3, 4, 5\]"):
        build(plugins, "spikformer", (2, 3, 4, 5), params=TINY)


def test_spikformer_params_are_validated(plugins):
    from snnbench.definition.params import ParamError

    spec = plugins.registries["architecture"].get("spikformer").spec
    with pytest.raises(ParamError, match="heads"):
        parse_params(spec.params, {"dim": 30, "heads": 4})


# --------------------------------------------------------------------------- learning


@pytest.fixture
def one_thread():
    """Models this small train faster on one thread than on two that contend
    for a shared CPU (the ConvSTAL-PS cell: 11 s against 54 s on 2 busy cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_tiny_models_learn_on_digits(tmp_path, one_thread):
    """The RSNN on direct input, Spikformer on patches of direct input and on
    ConvSTAL-PS tokens: each well above chance after four short epochs
    (Spikformer with the paper's sigmoid surrogate of sharpness 4)."""
    suite = tmp_path / "tiny.toml"
    suite.write_text(suite_toml(
        "tiny", encoder=("direct", "convstal-ps"), neuron=("snntorch-rleaky", "spikingjelly-lif"),
        architecture=("rsnn", "spikformer"),
        extra="""
        [params.encoder.direct]
        timesteps = 2
        [params.encoder.convstal-ps]
        timesteps = 2
        dim = 16
        [params.neuron.snntorch-rleaky]
        beta = 0.9
        surrogate = "atan"
        [params.neuron.spikingjelly-lif]
        surrogate = "sigmoid"
        slope = 4.0
        [params.architecture.spikformer]
        dim = 16
        heads = 2
        depth = 1
        mlp_hidden = 32
        patch_size = 2
        [params.learning_rule.bptt]
        lr = 0.01
        [training]
        epochs = 4
        batch_size = 32
        train_limit = 500
        test_limit = 200
        [[exclude]]
        encoder = "convstal-ps"
        architecture = "rsnn"
        [[exclude]]
        neuron = "spikingjelly-lif"
        architecture = "rsnn"
        [[exclude]]
        neuron = "snntorch-rleaky"
        architecture = "spikformer"
        """))
    db = tmp_path / "results.db"
    assert main(["run", str(suite), "--db", str(db), "--no-progress"]) == 0
    with ResultStore(db) as store:
        accuracy = {(r["encoder"], r["architecture"]): r["metrics"]["accuracy"] for r in store.rows()}
    assert set(accuracy) == {("direct", "rsnn"), ("direct", "spikformer"), ("convstal-ps", "spikformer")}
    assert accuracy["direct", "rsnn"] > 0.8, accuracy  # chance: 0.1
    assert accuracy["direct", "spikformer"] > 0.4, accuracy
    assert accuracy["convstal-ps", "spikformer"] > 0.3, accuracy  # SPS stages leave 2x2 tokens of 8x8 digits
