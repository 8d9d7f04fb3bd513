"""The reproduced systems (README "Reproduced systems"): the CSNN on MNIST and
N-MNIST frames, the spiking CNN and ResNet for N-MNIST, the two-layer SHD
network. Their suites validate and build every cell at the data's real
shapes; each architecture trains through the runner on small fake N-MNIST
and SHD files, read by the real loaders, to well above chance."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from conftest import REPO, ok_rows, suite_toml
from event_data import write_fake_nmnist, write_fake_shd
from snnbench_plugins.neurons.snntorch_models import SnnTorchALIF, SnnTorchSynaptic
from torch import nn

from snnbench.api.contracts import iter_spiking_layers
from snnbench.api.records import Choice
from snnbench.cli import main
from snnbench.definition.suite import load_suite
from snnbench.running.assembly import architecture_context

SUITES = ("csnn_mnist", "csnn_mnist-cpu", "nmnist", "shd")


def context(plugins, input_shape, timesteps, n_classes=10, neuron="spikingjelly-lif", neuron_params=None):
    """The ArchitectureContext the runner makes, for the named neuron model."""
    params = neuron_params or plugins.registries["neuron"].get(neuron).spec.params()
    return architecture_context(plugins.registries, "test", Choice(neuron, params), input_shape, n_classes, timesteps)


def architecture(plugins, name, ctx, **params):
    spec = plugins.registries["architecture"].get(name).spec
    return spec.build(spec.params(**params), ctx)


@pytest.mark.parametrize("name", SUITES)
def test_suite_validates_with_no_skipped_cell(name, capsys):
    assert main(["validate", str(REPO / "suites" / f"{name}.toml")]) == 0
    out = capsys.readouterr().out
    assert "ok: suite" in out and ", 0 skipped" in out


@pytest.mark.parametrize("name", SUITES)
def test_every_suite_cell_builds_at_the_data_shape(name, plugins):
    """Each cell's network, as its suite configures it, maps one batch of the
    dataset's real sample shape (as the encoder emits it) to class outputs."""
    suite = load_suite(REPO / "suites" / f"{name}.toml", plugins.registries)
    for cell in suite.cells:
        registries = plugins.registries
        info = registries["dataset"].get(cell.dataset.component).spec.describe(cell.dataset.params)
        if cell.encoder.component == "events":
            steps, *step_shape = info.input_shape
        else:
            steps, step_shape = cell.encoder.params.timesteps, info.input_shape
        ctx = context(plugins, step_shape, steps, info.n_classes, cell.neuron.component, cell.neuron.params)
        spec = registries["architecture"].get(cell.architecture.component).spec
        network = spec.build(cell.architecture.params, ctx).eval()
        with torch.no_grad():
            out = network(torch.rand(steps, 2, *step_shape).round())
        assert out.shape == (steps, 2, info.n_classes), cell.label


def test_csnn_fc_is_sized_from_static_images_and_from_event_frames(plugins):
    static = architecture(plugins, "csnn", context(plugins, (1, 28, 28), 3))
    frames = architecture(plugins, "csnn", context(plugins, (2, 34, 34), 3))
    linear = lambda net: [m for m in net.modules() if isinstance(m, nn.Linear)][0]  # noqa: E731
    assert linear(static).in_features == 64 * 4 * 4 == 1024
    assert linear(frames).in_features == 64 * 5 * 5
    assert frames(torch.ones(3, 4, 2, 34, 34)).shape == (3, 4, 10)


def test_nmnist_cnn_layers_follow_the_reference(plugins):
    net = architecture(plugins, "nmnist-cnn", context(plugins, (2, 34, 34), 2))
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0]) for c in convs] == [(2, 16, 5), (16, 32, 5), (32, 64, 3)]
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(64 * 4 * 4, 256), (256, 10)]
    assert [m.p for m in net.modules() if isinstance(m, nn.Dropout)] == [0.2]
    assert len(list(iter_spiking_layers(net))) == 5
    on_mnist = architecture(plugins, "nmnist-cnn", context(plugins, (1, 28, 28), 2))
    assert on_mnist(torch.ones(2, 3, 1, 28, 28)).shape == (2, 3, 10)


def test_nmnist_resnet_has_an_alif_stem_residual_blocks_and_a_synaptic_layer(plugins):
    base = context(plugins, (2, 34, 34), 2)
    asked = []  # (neuron model, params the architecture set) of every spiking layer it asked for
    ctx = dataclasses.replace(
        base, neuron=lambda features, **o: asked.append(("cell", o)) or base.neuron(features, **o),
        neuron_model=lambda name, features, **o: asked.append((name, o)) or base.neuron_model(name, features, **o))
    net = architecture(plugins, "nmnist-resnet", ctx)
    layers = list(dict(iter_spiking_layers(net)).values())
    assert isinstance(layers[0], SnnTorchALIF) and isinstance(layers[-2], SnnTorchSynaptic)
    assert [name for name, _ in asked] == ["snntorch-alif"] + ["cell"] * 5 + ["snntorch-synaptic", "cell"]
    assert len(layers) == len(asked)  # 2 per block, the 1x1 shortcut of the widening block, the output
    assert all(params["slope"] == 75.0 for _, params in asked)  # the reference's slope, in every layer
    assert asked[0][1] == {"beta": 0.5, "adaptation_decay": 0.9, "slope": 75.0}
    assert asked[-2][1] == {"alpha": 0.8, "beta": 0.5, "slope": 75.0}
    linear = [m for m in net.modules() if isinstance(m, nn.Linear)][0]
    assert linear.in_features == 64 * 8 * 8
    x = (torch.rand(2, 3, 2, 34, 34) < 0.2).float()
    assert net(x).shape == (2, 3, 10)
    # the first block adds its input back: silencing its body leaves exactly the stem's pooled spikes
    block = net[4]
    with torch.no_grad():
        for module in block.body.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.zero_()
                module.bias.fill_(-10.0)
        stem = net[:4](x)
        assert torch.equal(block(stem), stem)


def test_shd_mlp_is_xavier_uniform_with_zero_biases(plugins):
    torch.manual_seed(0)
    net = architecture(plugins, "shd-mlp", context(plugins, (700,), 5, n_classes=20))
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(700, 256), (256, 20)]
    for layer in linears:
        bound = math.sqrt(6 / (layer.in_features + layer.out_features))
        assert (layer.bias == 0).all()
        assert layer.weight.abs().max() <= bound
        assert abs(layer.weight.std().item() - bound / math.sqrt(3)) < 0.05 * bound
    assert net(torch.ones(5, 3, 700)).shape == (5, 3, 20)


FAKE_NMNIST_SUITE = suite_toml("fake-nmnist", dataset=("nmnist",), encoder=("events",), neuron=("spikingjelly-lif",),
                               architecture=("csnn", "nmnist-resnet"), extra="""
    [[include]]               # as in suites/nmnist.toml: at threshold 1 its deeper layers start silent
    dataset = "nmnist"
    encoder = "events"
    neuron = "lif-threshold-half"
    architecture = "nmnist-cnn"
    learning_rule = "bptt"

    [params.dataset.nmnist]
    n_time_bins = 4
    denoise = 0.0

    [params.neuron.spikingjelly-lif]
    beta = 0.5
    threshold = 1.0

    [variants.neuron.lif-threshold-half]
    of = "spikingjelly-lif"
    threshold = 0.5

    [params.architecture.nmnist-cnn]
    channels = [8, 8, 16]     # small networks keep the test fast; the shape tests build the full ones
    hidden = 64

    [params.architecture.nmnist-resnet]
    channels = [8, 16]
    hidden = 64
    dropout = 0.0

    [params.learning_rule.bptt]
    lr = 0.01

    [training]
    epochs = 6
    batch_size = 10
    warmup_batches = 0
""")

FAKE_SHD_SUITE = suite_toml("fake-shd", dataset=("shd",), encoder=("events",), neuron=("spikingjelly-lif",),
                            architecture=("shd-mlp",), extra="""
    [params.dataset.shd]
    n_time_bins = 20
    time_window = 45000.0     # 20 x 45 ms cover the fake recordings' 0.9 s

    [params.neuron.spikingjelly-lif]
    beta = 0.95

    [params.learning_rule.bptt]
    lr = 0.005
    loss = "ce_count"

    [training]
    epochs = 8
    batch_size = 20
    warmup_batches = 0
    lr_schedule = "step"
    lr_step_size = 5
    lr_gamma = 0.5
""")


def run_suite(tmp_path, text: str, data_dir) -> dict[str, dict]:
    suite = tmp_path / "suite.toml"
    suite.write_text(text)
    db = tmp_path / "results.db"
    assert main(["run", str(suite), "--db", str(db), "--data-dir", str(data_dir), "--no-download",
                 "--no-progress", "--device", "cpu"]) == 0
    return {row["architecture"]: row["metrics"] for row in ok_rows(db)}


def test_nmnist_architectures_learn_fake_nmnist(tmp_path):
    data = write_fake_nmnist(tmp_path / "data", per_class=(4, 2), n_events=1500)
    metrics = run_suite(tmp_path, FAKE_NMNIST_SUITE, data)
    assert set(metrics) == {"csnn", "nmnist-cnn", "nmnist-resnet"}
    for name, row in metrics.items():
        assert row["accuracy"] >= 0.5, (name, row["accuracy"])  # 10 classes: chance is 0.1
        assert row["epochs_trained"] == 6 and row["train_samples"] == 40 and row["test_samples"] == 20
        assert 0.0 < row["sparsity"] < 1.0
    backends = metrics["nmnist-resnet"]["neuron_backends"]
    assert backends["network.2"] == "snntorch-loop" and backends["network.11"] == "snntorch-loop"


def test_shd_mlp_learns_fake_shd(tmp_path):
    data = write_fake_shd(tmp_path / "data", per_class=(3, 1))
    metrics = run_suite(tmp_path, FAKE_SHD_SUITE, data)["shd-mlp"]
    assert metrics["accuracy"] >= 0.5, metrics["accuracy"]  # 20 classes: chance is 0.05
    assert metrics["train_samples"] == 60 and metrics["test_samples"] == 20
    assert metrics["parameters"] == 700 * 256 + 256 + 256 * 20 + 20
