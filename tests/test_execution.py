"""Execution options of a cell ([training] precision and memory_format): they
leave every existing config hash alone, are validated like every other key,
are refused where they cannot run or would be ignored, and a bf16,
channels-last cell trains and records them in its row."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import REPO, ok_rows, suite_toml
from snnbench_plugins.neurons.lif_fused import FusedLIF, FusedLIFParams

from snnbench.api.errors import SnnbenchError, SuiteError
from snnbench.api.sequence import flatten_steps
from snnbench.api.training_config import TrainingConfig
from snnbench.cli import main
from snnbench.definition.plugins import load_plugins
from snnbench.definition.suite import load_suite
from snnbench.running import execution
from snnbench.running.training import CellTrainingSession


def test_options_at_their_defaults_leave_the_committed_baseline_hashes_unchanged():
    baseline = json.loads((REPO / "leaderboard" / "baseline-smoke-cpu.json").read_text())
    recorded = {entry["label"]: entry["config_hash"] for entry in baseline["entries"]}
    suite = load_suite(REPO / "suites" / "smoke.toml", load_plugins().registries)
    assert {cell.label: cell.config_hash for cell in suite.cells} == recorded


def test_an_option_away_from_its_default_enters_the_config_and_hash():
    plain, bf16 = TrainingConfig(), TrainingConfig(precision="bf16")
    assert "precision" not in plain.as_config() and "memory_format" not in plain.as_config()
    assert bf16.as_config()["precision"] == "bf16"
    assert bf16.as_config() == plain.as_config() | {"precision": "bf16"}


@pytest.mark.parametrize("table, message", [
    ('precision = "fp16"', "must be one of 'fp32', 'bf16'"),
    ('memory_format = "nhwc"', "must be one of 'contiguous', 'channels_last'"),
])
def test_a_bad_value_names_file_key_and_choices(tmp_path, table, message):
    path = tmp_path / "bad.toml"
    path.write_text(suite_toml(extra=f"[training]\n{table}\n"))
    with pytest.raises(SuiteError) as caught:
        load_suite(path, load_plugins().registries)
    text = str(caught.value)
    assert "bad.toml" in text and f"training.{table.split()[0]}" in text and message in text


def test_bf16_without_bf16_kernels_is_an_error(monkeypatch):
    monkeypatch.setattr(execution, "native_bf16", lambda device: False)
    with pytest.raises(execution.PrecisionUnavailable, match="precision = 'fp32'"):
        execution.check_precision("bf16", torch.device("cpu"))
    execution.check_precision("fp32", torch.device("cpu"))


def test_a_rule_that_never_prepares_the_model_cannot_ignore_the_options():
    session = CellTrainingSession(TrainingConfig(memory_format="channels_last"), torch.device("cpu"),
                              torch.Generator())
    with pytest.raises(SnnbenchError, match="memory_format = 'channels_last'.*does not support"):
        next(session.epochs())


def test_autocast_runs_convolutions_in_bf16_and_prepare_stores_conv_weights_nhwc():
    device = torch.device("cpu")
    conv = execution.prepare_model(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3)), "channels_last")
    assert conv[0].weight.is_contiguous(memory_format=torch.channels_last)
    with execution.autocast("bf16", device):
        assert conv(torch.rand(2, 3, 8, 8)).dtype == torch.bfloat16
    with execution.autocast("fp32", device):
        assert conv(torch.rand(2, 3, 8, 8)).dtype == torch.float32


@pytest.mark.parametrize("layout", ["channels_last", "expanded"])
def test_lif_fused_gives_the_same_spikes_and_gradients_in_any_layout(layout):
    torch.manual_seed(0)
    reference = 1.5 * torch.rand(6, 4, 3, 5, 5)
    if layout == "channels_last":
        current = reference.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, (6, 4))
    else:
        reference = reference[:1].expand_as(reference)
        current = reference
    grad = torch.randn(reference.shape)
    layer = FusedLIF(FusedLIFParams(beta=0.8, backend="numba"))
    plain, in_layout = reference.contiguous().requires_grad_(), current.detach().requires_grad_()
    plain_spikes, layout_spikes = layer(plain), layer(in_layout)
    assert torch.equal(plain_spikes, layout_spikes)
    if layout == "channels_last":
        assert layout_spikes.stride() == current.stride()  # handed on as it came, no transposing copy
    torch.testing.assert_close(torch.autograd.grad(layout_spikes, in_layout, grad)[0],
                               torch.autograd.grad(plain_spikes, plain, grad)[0])


def test_flatten_steps_reads_a_channels_last_step_without_copying():
    x = torch.rand(8, 3, 4, 4).contiguous(memory_format=torch.channels_last).unflatten(0, (2, 4))
    flat, restore = flatten_steps(x)
    assert flat.data_ptr() == x.data_ptr() and flat.shape == (2, 4 * 3 * 4 * 4)
    assert torch.equal(restore(flat), x) and restore(flat).stride() == x.stride()


@pytest.mark.skipif(not execution.native_bf16(torch.device("cpu")), reason="no bf16 kernels on this CPU")
def test_a_bf16_channels_last_cell_trains_and_records_its_options(tmp_path):
    suite = tmp_path / "bf16.toml"
    suite.write_text(suite_toml("bf16", neuron=("lif-fused",), architecture=("csnn",), encoder=("direct",), extra="""
        [params.encoder.direct]
        timesteps = 6

        [params.architecture.csnn]
        channels = [16]
        kernel_size = 3

        [params.learning_rule.bptt]
        lr = 5e-3

        [training]
        epochs = 3
        batch_size = 32
        precision = "bf16"
        memory_format = "channels_last"
        """))
    db = tmp_path / "results.db"
    assert main(["run", str(suite), "--db", str(db), "--no-progress"]) == 0
    (row,) = ok_rows(db)
    assert row["config"]["training"]["precision"] == "bf16"
    assert row["config"]["training"]["memory_format"] == "channels_last"
    assert row["metrics"]["accuracy"] > 0.6  # digits, 10 classes: chance is 0.1
    assert set(row["metrics"]["neuron_backends"].values()) == {"lif-fused-numba"}


def test_every_neuron_keeps_its_membrane_in_fp32_under_bf16_autocast(plugins):
    """Under ``precision = "bf16"`` the layers before a neuron hand it bf16
    currents; its state must still be fp32 (snnbench.api.fp32_current), so
    under the same autocast its spikes are those of the same currents given
    in fp32 (a recurrent weight runs in bf16 either way). A membrane kept in
    bf16 (8 bits of mantissa) fires differently within a few dozen steps:
    SpikingJelly's nodes and three of snnTorch's (ALIF, Alpha, Synaptic) did, before widening. Slow
    bf16 kernels compute the same, so this runs on any CPU."""
    torch.manual_seed(0)
    current = (torch.rand(40, 8, 64) * 1.2).to(torch.bfloat16)
    checked = []
    for name in plugins.registries["neuron"].names():
        spec = plugins.registries["neuron"].get(name).spec
        if not spec.differentiable:
            continue
        layer = spec.build(spec.params(), (64,))
        with execution.autocast("bf16", torch.device("cpu")):
            from_bf16, from_fp32 = layer(current), layer(current.float())
        assert torch.equal(from_bf16.float(), from_fp32.float()), f"{name}: its membrane is not fp32 under autocast"
        checked.append(name)
    assert "spikingjelly-lif" in checked and "lif-fused" in checked
