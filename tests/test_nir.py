"""snnbench export --nir and its round trip: trained networks as NIR graphs,
loaded back into snnTorch (and Norse and SpikingJelly), measured against
snnbench's own model; networks NIR cannot express name the layer that stops
them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import suite_toml
from torch import nn

from snnbench.api import DatasetInfo, TimeDistributed
from snnbench.api.records import Cell, Choice
from snnbench.api.training_config import TrainingConfig
from snnbench.cli import main
from snnbench.definition.params import parse_params
from snnbench.results.store import ResultStore
from snnbench.running.assembly import assemble
from snnbench.running.nir_export import DEFAULT_DT, NotExpressible, to_nir

nir = pytest.importorskip("nir")

MNIST = DatasetInfo("mnist", "static", (1, 28, 28), 10)
ZERO_RESET = """
[params.encoder.direct]
timesteps = 6
[params.neuron.snntorch-lif]
beta = 0.8
reset = "zero"
[params.neuron.lif-fused]
beta = 0.8
reset = "zero"
[params.neuron.spikingjelly-lif]
beta = 0.8
reset = "zero"
[params.architecture.mlp]
hidden = [32]
[training]
epochs = 1
batch_size = 32
train_limit = 400
test_limit = 200
"""


def network(plugins, architecture: str, neuron: str, architecture_params=None, neuron_params=None) -> nn.Module:
    """An untrained network of the cell, as a run builds it, for 28x28 images."""
    registries = plugins.registries

    def choice(kind, name, table=None):
        return Choice(name, parse_params(registries[kind].get(name).spec.params, table or {}))

    cell = Cell("t", choice("dataset", "mnist"), choice("encoder", "direct", {"timesteps": 4}),
                choice("neuron", neuron, neuron_params), choice("architecture", architecture, architecture_params),
                choice("learning_rule", "bptt"), TrainingConfig(), 0)
    return assemble(cell, registries, MNIST, torch.zeros(2, 1, 28, 28), torch.device("cpu")).network


@pytest.mark.parametrize("architecture, architecture_params, neuron, neuron_params, message", [
    ("csnn", None, "snntorch-lif", {"reset": "zero"},
     r"layer network\.1 \(MaxPool2d\): NIR has no max-pooling .* pooling = \"avg\""),
    ("csnn", {"pooling": "avg"}, "snntorch-lif", None,
     r"layer network\.2 \(SnnTorchLIF\): reset = 'subtract' .* reset = 'zero' to export it"),
    ("mlp", None, "snntorch-alif", {"reset": "zero"},
     r"layer network\.2 \(SnnTorchALIF\): its dynamics are none of NIR's LIF, CubaLIF or IF"),
    ("mlp", None, "snntorch-rleaky", {"reset": "zero"}, r"layer network\.2 \(SnnTorchRLeaky\)"),
])
def test_a_network_nir_cannot_express_names_the_layer(plugins, architecture, architecture_params, neuron,
                                                      neuron_params, message):
    with pytest.raises(NotExpressible, match=message):
        to_nir(network(plugins, architecture, neuron, architecture_params, neuron_params), (1, 28, 28))


def test_blocks_with_their_own_forward_and_batch_norm_are_named():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Linear(4, 4)

        def forward(self, x):
            return self.inner(x) * 2

    with pytest.raises(NotExpressible, match=r"layer network\.1 \(Block\): a block that runs its own forward"):
        to_nir(nn.Sequential(TimeDistributed(nn.Flatten()), Block()), (4,))
    with pytest.raises(NotExpressible, match=r"layer network\.0 \(BatchNorm1d\): NIR has no batch norm"):
        to_nir(nn.Sequential(TimeDistributed(nn.BatchNorm1d(4))), (4,))


def test_the_csnn_with_average_pooling_and_zero_reset_is_a_nir_graph(plugins, tmp_path):
    net = network(plugins, "csnn", "snntorch-lif", {"pooling": "avg"}, {"beta": 0.9, "reset": "zero",
                                                                         "threshold": 0.5})
    exported = to_nir(net, (1, 28, 28))
    assert [layer.kind for layer in exported.layers] == ["Conv2d", "AvgPool2d", "LIF", "Conv2d", "AvgPool2d", "LIF",
                                                         "Flatten", "Affine", "LIF"]
    path = tmp_path / "csnn.nir"
    nir.write(path, exported.graph)
    graph = nir.read(path)
    lif = graph.nodes["lif_2"]
    assert lif.tau.shape == (12, 12, 12)
    np.testing.assert_allclose(lif.tau, DEFAULT_DT / (1 - 0.9), rtol=1e-6)  # beta is a float32 buffer
    np.testing.assert_allclose(lif.r, lif.tau / DEFAULT_DT)  # the input enters unscaled: mem = beta mem + I
    np.testing.assert_allclose(lif.v_threshold, 0.5)
    np.testing.assert_array_equal(lif.v_reset, 0)
    np.testing.assert_array_equal(graph.nodes["conv2d_0"].weight, net[0].module.weight.detach().numpy())
    assert graph.nodes["flatten_6"].start_dim == 0  # NIR's dims leave out the batch


@pytest.fixture(scope="module")
def zero_reset(tmp_path_factory):
    """Tiny digits MLPs of three neuron models with zero reset, kept."""
    folder = tmp_path_factory.mktemp("nir")
    suite = folder / "zero.toml"
    suite.write_text(suite_toml("zero", encoder=("direct",), neuron=("snntorch-lif", "lif-fused", "spikingjelly-lif"),
                                extra=ZERO_RESET))
    db = folder / "r.db"
    assert main(["run", str(suite), "--db", str(db), "--no-progress"]) == 0
    return db


def test_export_check_snntorch_and_spikingjelly_spike_as_snnbench(zero_reset, tmp_path, capsys):
    db = tmp_path / "r.db"
    db.write_bytes(zero_reset.read_bytes())
    (tmp_path / "r.db.models").symlink_to(zero_reset.with_name("r.db.models"))
    assert main(["export", "digits/direct/snntorch-lif/mlp/bptt", "--db", str(db), "--nir", str(tmp_path / "m.nir"),
                 "--check"]) == 0
    out = capsys.readouterr().out
    assert "lif_2: LIF beta=0.8 -> tau=0.0005 s, r=tau/dt, v_threshold=1, v_reset=0  <- network.2" in out
    with ResultStore(db, create=False) as store:
        rows = store.rows()
    trained, checked = rows[0], rows[-1]
    metrics = checked["metrics"]
    assert checked["environment"]["remeasured"]["families"] == ["nir"] and checked["config_hash"] == \
        trained["config_hash"]
    # direct input is the same every run: snnbench's own pass is the row's accuracy
    assert metrics["nir_own_accuracy"] == trained["metrics"]["accuracy"]
    assert metrics["nir_accuracy"]["snntorch"] == metrics["nir_own_accuracy"]
    assert metrics["nir_agreement_per_layer"]["snntorch"] == {"lif_2": 1.0, "lif_4": 1.0}
    assert metrics["nir_accuracy"]["spikingjelly"] == metrics["nir_own_accuracy"]
    assert min(metrics["nir_agreement_per_layer"]["spikingjelly"].values()) > 0.999
    assert metrics["nir_agreement"] == min(min(layers.values())
                                           for layers in metrics["nir_agreement_per_layer"].values())
    assert checked["metric_versions"]["nir"] == 1
    if "norse" in metrics["nir_accuracy"]:  # Norse reads LIF without r: its inputs shrink by dt/tau
        assert metrics["nir_agreement_per_layer"]["norse"]["lif_2"] < 1.0
        assert "r" in " ".join(metrics["nir_frameworks"]["norse"]["notes"])
    assert main(["leaderboard", "--db", str(db), "--format", "json"]) == 0
    assert '"key": "nir_agreement"' in capsys.readouterr().out


def test_remeasure_fills_nir_agreement_and_says_why_a_network_has_none(zero_reset, tmp_path, capsys):
    db = tmp_path / "r.db"
    db.write_bytes(zero_reset.read_bytes())
    (tmp_path / "r.db.models").symlink_to(zero_reset.with_name("r.db.models"))
    suite = tmp_path / "subtract.toml"
    suite.write_text(suite_toml("subtract", encoder=("direct",), extra=ZERO_RESET.replace('reset = "zero"', "")))
    assert main(["run", str(suite), "--db", str(db), "--no-progress"]) == 0
    assert main(["remeasure", "--db", str(db), "--metric", "nir_agreement"]) == 0
    assert "remeasure: 4 new row(s)" in capsys.readouterr().out
    with ResultStore(db, create=False) as store:
        rows = store.rows()[-4:]
    by_suite = {(row["suite"], row["neuron"]): row for row in rows}
    for neuron in ("snntorch-lif", "lif-fused", "spikingjelly-lif"):
        metrics = by_suite[("zero", neuron)]["metrics"]
        assert metrics["nir_accuracy"]["snntorch"] == metrics["nir_own_accuracy"], neuron
        assert 0 < metrics["nir_agreement"] <= 1
    unexportable = by_suite[("subtract", "snntorch-lif")]["metrics"]
    assert unexportable["nir_agreement"] is None
    assert "reset = 'subtract'" in unexportable["unavailable"]["nir_agreement"]


def test_export_of_an_unexportable_row_is_a_clear_error(zero_reset, tmp_path, capsys):
    suite = tmp_path / "alif.toml"
    suite.write_text(suite_toml("alif", encoder=("direct",), neuron=("snntorch-alif",), extra="""
        [params.architecture.mlp]
        hidden = [16]
        [training]
        epochs = 1
        train_limit = 200
        test_limit = 100
        """))
    db = tmp_path / "alif.db"
    assert main(["run", str(suite), "--db", str(db), "--no-progress"]) == 0
    assert main(["export", "digits/direct/snntorch-alif/mlp/bptt", "--db", str(db), "--nir",
                 str(tmp_path / "a.nir")]) == 2
    err = capsys.readouterr().err
    assert "layer network.2 (SnnTorchALIF): its dynamics are none of NIR's" in err and "Traceback" not in err
    assert not (tmp_path / "a.nir").exists()
    assert main(["export", "digits/direct/snntorch-alf/mlp/bptt", "--db", str(db), "--nir", "x.nir"]) == 2
    assert "did you mean 'digits/direct/snntorch-alif/mlp/bptt'" in capsys.readouterr().err


@pytest.mark.slow
def test_a_csnn_trained_on_mnist_keeps_its_accuracy_through_snntorch(mnist_dir, tmp_path, capsys):
    """The issue's check: a CSNN trained briefly on real MNIST (1000 samples,
    one epoch), exported and re-imported by snnTorch, scores within 0.1 point
    of snnbench's own model on the same 1000 test images."""
    suite = tmp_path / "csnn.toml"
    suite.write_text(suite_toml("nir-csnn", dataset=("mnist",), encoder=("direct",), neuron=("lif-fused",),
                                architecture=("csnn",), extra="""
        [params.encoder.direct]
        timesteps = 25
        [params.neuron.lif-fused]
        beta = 0.8
        reset = "zero"
        [params.architecture.csnn]
        pooling = "avg"
        [params.learning_rule.bptt]
        lr = 0.005
        [training]
        epochs = 1
        batch_size = 32
        """))
    db = tmp_path / "mnist.db"
    assert main(["run", str(suite), "--db", str(db), "--data-dir", str(mnist_dir), "--limit", "1000",
                 "--no-progress"]) == 0
    assert main(["export", "mnist/direct/lif-fused/csnn/bptt", "--db", str(db), "--data-dir", str(mnist_dir),
                 "--nir", str(tmp_path / "csnn.nir"), "--check"]) == 0
    with ResultStore(db, create=False) as store:
        trained, checked = store.rows()
    own, snntorch = checked["metrics"]["nir_own_accuracy"], checked["metrics"]["nir_accuracy"]["snntorch"]
    assert own == trained["metrics"]["accuracy"] > 0.3  # it learnt something
    assert abs(snntorch - own) <= 0.001
    assert min(checked["metrics"]["nir_agreement_per_layer"]["snntorch"].values()) > 0.999


def test_the_report_offers_each_cells_model_and_nir_graph(zero_reset, tmp_path):
    pytest.importorskip("vl_convert")
    db = tmp_path / "r.db"
    db.write_bytes(zero_reset.read_bytes())
    (tmp_path / "r.db.models").symlink_to(zero_reset.with_name("r.db.models"))
    suite = tmp_path / "subtract.toml"
    suite.write_text(suite_toml("subtract", encoder=("direct",), extra=ZERO_RESET.replace('reset = "zero"', "")))
    assert main(["run", str(suite), "--db", str(db), "--no-progress"]) == 0
    out = tmp_path / "site"
    assert main(["report", "--db", str(db), "--out", str(out)]) == 0
    with ResultStore(db, create=False) as store:
        rows = {(row["suite"], row["neuron"]): row for row in store.rows()}
    assert "kept models: 4 of 4 ok rows keep their model: 4 file(s)" in (out / "index.html").read_text()
    pages = {page.name: page.read_text() for page in out.glob("*bptt*.html")}
    zero = next(text for name, text in pages.items() if name.startswith("zero") and "snntorch-lif" in name)
    file = rows[("zero", "snntorch-lif")]["environment"]["model"]["file"]
    assert f'href="models/{file}"' in zero and f'href="models/{file[:-len(".safetensors")]}.nir"' in zero
    assert (out / "models" / file).read_bytes() == (zero_reset.with_name("r.db.models") / file).read_bytes()
    graph = nir.read(out / "models" / file.replace(".safetensors", ".nir"))
    assert {"lif_2", "lif_4"} <= set(graph.nodes)
    subtract = next(text for name, text in pages.items() if name.startswith("subtract"))
    assert "no NIR graph: layer network.2 (SnnTorchLIF): reset = &#x27;subtract&#x27;" in subtract
    assert ".safetensors\" download>" in subtract and ".nir\" download>" not in subtract
