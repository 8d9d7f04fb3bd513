"""Estimated energy: tiny networks counted by hand, agreement with
SpikingJelly 2.0's simple energy model on the memory traffic it defines, the
suite's ``[energy]`` table (its checks, and its place in a cell's identity),
and a real run's row priced at the table it names."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import ok_rows, suite_toml
from snnbench_plugins.neurons.parameters import LIFParams
from snnbench_plugins.neurons.snntorch_models import SnnTorchLIF
from torch import nn

from snnbench.api.contracts import SpikingLayer, SpikingModel
from snnbench.api.errors import SuiteError
from snnbench.api.sequence import TimeDistributed
from snnbench.cli import main
from snnbench.definition.energy_tables import BUILT_IN, DEFAULT
from snnbench.definition.suite import load_suite
from snnbench.running.energy_estimate import estimate_energy
from snnbench.running.metrics import ActivityMonitor

CPU = torch.device("cpu")
FP32, INT8 = BUILT_IN["horowitz-45nm-fp32"], BUILT_IN["horowitz-45nm-int8"]


class StoredSpikes(nn.Module):
    """An encoder that looks up stored ``[T, N, ...]`` spikes by sample index."""

    def __init__(self, spikes: torch.Tensor):
        super().__init__()
        self.register_buffer("spikes", spikes)

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        return self.spikes[:, index]


def measured(network: nn.Module, spikes: torch.Tensor):
    """The activity of one pass of ``spikes`` through ``network``, whose output
    need not be class scores (a lone conv layer's feature maps)."""
    samples = spikes.shape[1]
    model = SpikingModel(StoredSpikes(spikes), network.eval())
    with torch.no_grad(), ActivityMonitor(model, CPU) as monitor:
        model(torch.arange(samples))
        monitor.add_samples(samples)
        return monitor.summary()


def lif() -> SnnTorchLIF:
    return SnnTorchLIF(LIFParams(beta=0.8))


def linear_lif_activity():
    """One Linear layer (4 -> 3, no bias) into three Leaky neurons, two samples
    of three steps (tests/test_neurobench_agreement.py counts its membrane
    updates by hand: 7 a sample). Spikes: A's input 0 at step 0 (2 non-zero
    weights), B's input 1 at step 0 (none), B's input 2 at step 1 (2): 4 ACs,
    2 a sample. Each spike fans out to all 3 weights of its column (zeros
    too): 9 weight reads of 4 bytes; the 3 neurons keep one float32 each,
    read and written at each of 3 steps."""
    linear = nn.Linear(4, 3, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[0.9, 0.0, 0.7, 0.0],
                                          [0.0, 0.0, 1.2, 0.8],
                                          [1.1, 0.0, 0.0, 0.6]]))
    spikes = torch.zeros(3, 2, 4)
    spikes[0, 0, 0] = spikes[0, 1, 1] = spikes[1, 1, 2] = 1
    return measured(nn.Sequential(TimeDistributed(linear), lif()), spikes)


def conv_lif_activity():
    """A 2x2 convolution (1 -> 2 channels, bias 0.1) on a 3x3 image of two
    spikes, (0, 0) and (1, 1), then an empty step; 8 Leaky neurons.
    Channel 0's weights sit at kernel (0,0) and (1,1), channel 1's at (0,0)
    and (0,1). ACs, output by output: channel 0 2+0+0+1, channel 1 1+0+1+1:
    6. Fan-out: the spike at (0,0) lies in one window, the one at (1,1) in
    all four, each window read for both channels: 10 weight reads; the bias
    is read for each of 8 outputs at both steps. The bias drives every
    neuron at both steps: 16 membrane updates, 64 operations."""
    conv = nn.Conv2d(1, 2, 2)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]], [[[0.5, 0.5], [0.0, 0.0]]]]))
        conv.bias.fill_(0.1)
    spikes = torch.zeros(2, 1, 1, 3, 3)
    spikes[0, 0, 0, 0, 0] = spikes[0, 0, 0, 1, 1] = 1
    return measured(nn.Sequential(TimeDistributed(conv), lif()), spikes)


def test_linear_lif_counts_and_energy_by_hand():
    activity = linear_lif_activity()
    assert (activity.synops_ac, activity.synops_mac, activity.neuron_ops) == (2.0, 0.0, 28.0)
    # a sample: 9 / 2 weight reads of 4 bytes; 3 neurons x 3 steps x 4 bytes, read and written
    assert (activity.parameter_read_bytes, activity.neuron_state_bytes) == (18.0, 72.0)
    fp32 = estimate_energy(activity, FP32)
    assert fp32.compute_j == pytest.approx(27e-12, rel=1e-12)  # (2 ACs + 28 neuron operations) x 0.9 pJ
    assert fp32.memory_aware_j == pytest.approx(27e-12 + 90 * 24.96e-12, rel=1e-12)
    assert estimate_energy(activity, INT8).compute_j == pytest.approx(30 * 0.03e-12, rel=1e-12)


def test_conv_fed_spikes_counts_and_compute_energy_by_hand():
    activity = conv_lif_activity()
    assert (activity.synops_ac, activity.synops_mac) == (6.0, 0.0)
    assert (activity.membrane_updates, activity.neuron_ops) == (16.0, 64.0)
    # 10 weight reads and 16 bias reads of 4 bytes; 8 neurons x 2 steps x 4 bytes, read and written
    assert (activity.parameter_read_bytes, activity.neuron_state_bytes) == (104.0, 128.0)
    estimate = estimate_energy(activity, FP32)
    assert estimate.compute_j == pytest.approx((6 + 64) * 0.9e-12, rel=1e-12)
    assert estimate.parts == pytest.approx({"ac_j": 6 * 0.9e-12, "mac_j": 0.0, "neuron_j": 64 * 0.9e-12,
                                            "parameter_memory_j": 104 * 24.96e-12,
                                            "state_memory_j": 128 * 24.96e-12})
    assert estimate.memory_aware_j == pytest.approx((70 * 0.9 + 232 * 24.96) * 1e-12, rel=1e-12)


def test_analogue_input_is_priced_as_macs():
    """The same Linear layer fed 0.5 instead of 1: the 4 multiplications are MACs."""
    linear = nn.Linear(4, 3, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[0.9, 0.0, 0.7, 0.0], [0.0, 0.0, 1.2, 0.8], [1.1, 0.0, 0.0, 0.6]]))
    inputs = torch.zeros(3, 2, 4)
    inputs[0, 0, 0] = inputs[0, 1, 1] = inputs[1, 1, 2] = 0.5
    activity = measured(nn.Sequential(TimeDistributed(linear), lif()), inputs)
    assert (activity.synops_ac, activity.synops_mac) == (0.0, 2.0)
    estimate = estimate_energy(activity, FP32)
    assert estimate.compute_j == pytest.approx((2 * 4.6 + activity.neuron_ops * 0.9) * 1e-12, rel=1e-12)


def binary_copy_counts(layer: nn.Module, inputs: torch.Tensor) -> tuple[float, float]:
    """NeuroBench's definition run as written, per sample: the layer copied
    with 0/1 weights (non-zero ones, then all) applied to 0/1 inputs at every
    step, outputs summed, bias left out."""
    def run(weight):
        binary = (inputs != 0).double().flatten(0, 1)
        if isinstance(layer, nn.Linear):
            return float(nn.functional.linear(binary, weight).sum())
        conv = {nn.Conv1d: nn.functional.conv1d, nn.Conv2d: nn.functional.conv2d,
                nn.Conv3d: nn.functional.conv3d}[type(layer)]
        return float(conv(binary, weight, None, layer.stride, layer.padding, layer.dilation, layer.groups).sum())
    weight = layer.weight.detach().double()
    samples = inputs.shape[1]
    return run((weight != 0).double()) / samples, run(torch.ones_like(weight)) / samples


@pytest.mark.parametrize("layer, step_shape", [
    (nn.Conv2d(4, 6, 3, stride=2, padding=1), (4, 9, 7)),
    (nn.Conv2d(4, 6, (3, 2), padding="same", dilation=2, groups=2, bias=False), (4, 8, 8)),
    (nn.Conv1d(3, 5, 4, stride=3), (3, 17)),
    (nn.Conv3d(2, 4, 3, padding=1, groups=2), (2, 5, 4, 6)),
    (nn.Linear(7, 5), (6, 7)),
], ids=["strided", "same-dilated-grouped", "conv1d", "conv3d-grouped", "linear-on-tokens"])
@pytest.mark.parametrize("analog", [False, True], ids=["spikes", "analog"])
def test_synops_and_weight_reads_equal_the_binary_copy_of_the_layer(layer, step_shape, analog):
    """The monitor counts a layer's multiplications without running its
    binary copy (each input value's share is worked out once): the counts
    must be the copy's, whatever the stride, padding, dilation and groups."""
    torch.manual_seed(3)
    with torch.no_grad():
        layer.weight.mul_(torch.rand_like(layer.weight) >= 0.3)
    inputs = (torch.rand(3, 5, *step_shape) < 0.2).float()
    if analog:
        inputs *= torch.rand_like(inputs)
    operations, fanout = binary_copy_counts(layer, inputs)
    assert 0 < operations < fanout
    activity = measured(nn.Sequential(TimeDistributed(layer), lif()), inputs)
    assert (activity.synops_ac, activity.synops_mac) == ((0.0, operations) if analog else (operations, 0.0))
    dense = binary_copy_counts(layer, torch.ones_like(inputs))[1]
    assert activity.synops_dense == dense
    outputs = layer(inputs[0, :1]).numel() * inputs.shape[0]
    bias_reads = 0 if layer.bias is None else outputs
    assert activity.parameter_read_bytes == 4 * ((dense if analog else fanout) + bias_reads)


def test_a_layer_that_reports_no_membrane_leaves_the_estimate_null_with_the_reason():
    class Threshold(SpikingLayer):  # a third party's spiking layer that reports nothing
        def forward(self, current):
            return (current > 0.5).float()

    activity = measured(nn.Sequential(TimeDistributed(nn.Linear(4, 3)), Threshold()), torch.ones(2, 2, 4))
    estimate = estimate_energy(activity, FP32)
    assert activity.membrane_updates is None and estimate.compute_j is None and estimate.memory_aware_j is None
    assert "Threshold" in estimate.unavailable["energy_est_j"] and "Threshold" in estimate.unavailable["energy_est_mem_j"]
    assert "report_membrane" in estimate.unavailable["energy_est_j"]
    assert estimate.parts["ac_j"] == activity.synops_ac * 0.9e-12  # the known part is kept


def test_the_built_in_tables_are_horowitz_45nm():
    assert DEFAULT is FP32
    assert [(t.mac_pj, t.ac_pj) for t in BUILT_IN.values()] == [(4.6, 0.9), (1.5, 0.4), (0.23, 0.03)]
    assert all(t.byte_pj == 24.96 and "Horowitz" in t.source for t in BUILT_IN.values())


# --------------------------------------------------------------------------- SpikingJelly's simple model


def spikingjelly_memory(network: nn.Module, spikes: torch.Tensor) -> dict[str, float]:
    """SpikingJelly 2.0's ``estimate_simple_energy`` of one forward pass over
    all of ``spikes``, per sample: parameter bytes, neuron-state bytes, and
    the memory energy at its default 24.96 pJ a byte."""
    from spikingjelly.activation_based.op_counter import estimate_simple_energy

    report = estimate_simple_energy(network.eval(), spikes)
    counts, samples = report.counts, spikes.shape[1]
    return {"parameter_bytes": (counts["weight_read_bytes"] + counts["bias_read_bytes"]) / samples,
            "state_bytes": (counts["neuron_state_read_bytes"] + counts["neuron_state_write_bytes"]) / samples,
            "memory_j": report.energy_memory_pj * 1e-12 / samples}


def assert_memory_agrees(network: nn.Module, spikes: torch.Tensor) -> None:
    ours = measured(network, spikes)
    theirs = spikingjelly_memory(network, spikes)
    estimate = estimate_energy(ours, FP32)
    assert ours.parameter_read_bytes == pytest.approx(theirs["parameter_bytes"], rel=1e-9)
    assert ours.neuron_state_bytes == pytest.approx(theirs["state_bytes"], rel=1e-9)
    assert estimate.memory_aware_j - estimate.compute_j == pytest.approx(theirs["memory_j"], rel=1e-9)


def sj_lif():
    from snnbench_plugins.neurons.spikingjelly_models import (
        SJLIFParams,
        SpikingJellyLIF,
    )

    return SpikingJellyLIF(SJLIFParams(beta=0.8))


def test_memory_traffic_agrees_with_spikingjelly_on_the_conv_by_hand():
    conv = nn.Conv2d(1, 2, 2)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]], [[[0.5, 0.5], [0.0, 0.0]]]]))
        conv.bias.fill_(0.1)
    spikes = torch.zeros(2, 1, 1, 3, 3)
    spikes[0, 0, 0, 0, 0] = spikes[0, 0, 0, 1, 1] = 1
    network = nn.Sequential(TimeDistributed(conv), sj_lif())
    assert spikingjelly_memory(network, spikes)["parameter_bytes"] == 104  # the hand count above
    assert_memory_agrees(network, spikes)


def test_memory_traffic_agrees_with_spikingjelly_on_the_csnn(plugins):
    """The CSNN with SpikingJelly's LIF on rate-coded digits (its binary
    inputs read weights by fan-out, its biases at every output and step)."""
    from sklearn.datasets import load_digits
    from snnbench_plugins.architectures.feedforward import CSNNParams
    from snnbench_plugins.neurons.spikingjelly_models import SJLIFParams

    from snnbench.api.records import Choice
    from snnbench.running.assembly import build_network

    torch.manual_seed(0)
    images = torch.tensor(load_digits().images[:24] / 16.0, dtype=torch.float32).unsqueeze(1)
    images = nn.functional.interpolate(images, size=(16, 16))
    spikes = (torch.rand(6, *images.shape) < images).float()
    network = build_network(plugins.registries, Choice("csnn", CSNNParams()), Choice("spikingjelly-lif",
                            SJLIFParams(beta=0.8)), (1, 16, 16), 10, 6)
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                module.weight.mul_(4.0)  # every layer fires
    ours = measured(network, spikes)
    assert all(s < 1.0 for s in ours.sparsity_per_layer.values()), ours.sparsity_per_layer
    assert_memory_agrees(network, spikes)


# --------------------------------------------------------------------------- [energy] in a suite


def suite_with(tmp_path, energy: str):
    path = tmp_path / "suite.toml"
    path.write_text(suite_toml(extra=energy))
    return path


def cells(plugins, tmp_path, energy: str):
    return load_suite(suite_with(tmp_path, energy), plugins.registries).cells


def test_the_default_table_leaves_a_cell_as_it_was_and_another_table_makes_another_cell(plugins, tmp_path):
    plain = cells(plugins, tmp_path, "")[0]
    named_default = cells(plugins, tmp_path, '[energy]\ntable = "horowitz-45nm-fp32"\n')[0]
    int8 = cells(plugins, tmp_path, '[energy]\ntable = "horowitz-45nm-int8"\n')[0]
    assert plain.energy is None and named_default.energy is None
    assert plain.config_hash == named_default.config_hash and "energy" not in plain.config()
    assert int8.energy == INT8 and int8.config()["energy"]["ac_pj"] == 0.03
    assert int8.config_hash != plain.config_hash


def test_a_table_of_ones_own(plugins, tmp_path):
    cell = cells(plugins, tmp_path, '[energy]\ntable = "chip-28nm"\nmac_pj = 1\nac_pj = 0.1\n'
                 'neuron_op_pj = 0.2\nbyte_pj = 5\nsource = "synthesis"\n')[0]
    assert cell.energy.as_config() == {"name": "chip-28nm", "mac_pj": 1.0, "ac_pj": 0.1, "neuron_op_pj": 0.2,
                                       "byte_pj": 5.0, "source": "synthesis"}


@pytest.mark.parametrize("energy, expected", [
    ('table = "horowitz-45nm-fp23"', ["energy.table = 'horowitz-45nm-fp23'", "unknown energy table",
                                      "did you mean 'horowitz-45nm-fp32'?"]),
    ('table = "chip"\nmac_pj = 1\nac_pj = 0.1', ["energy table 'chip' lacks neuron_op_pj, byte_pj"]),
    ('table = "horowitz-45nm-int8"\nac_pj = 0.01', ["energy.ac_pj = 0.01", "built-in table",
                                                    "its own name"]),
    ('table = "chip"\nmac_pj = 1\nac_pj = -0.1\nneuron_op_pj = 0.2\nbyte_pj = 5',
     ["energy.ac_pj = -0.1", "picojoules >= 0"]),
    ('table = "chip"\nmac_pJ = 1', ["energy.mac_pJ = 1", "unknown key", "did you mean 'mac_pj'?"]),
    ("mac_pj = 1", ["[energy.table]", "needs a name"]),
    ("table = 3", ["energy.table = 3", "non-empty string"]),
])
def test_a_bad_energy_table_is_refused_naming_the_key(plugins, tmp_path, energy, expected):
    with pytest.raises(SuiteError) as caught:
        cells(plugins, tmp_path, f"[energy]\n{energy}\n")
    message = str(caught.value)
    assert "suite.toml:" in message
    for text in expected:
        assert text in message, message


# --------------------------------------------------------------------------- a real run and its readers


@pytest.fixture(scope="module")
def int8_run(tmp_path_factory):
    """digits, one epoch of a small MLP with rate and latency input, priced at
    the int8 table: the store every reader of an estimate is tested on."""
    folder = tmp_path_factory.mktemp("energy-run")
    path = folder / "suite.toml"
    path.write_text(suite_toml(encoder=("rate", "latency"), extra='[training]\nepochs = 1\ntrain_limit = 300\n'
                               'test_limit = 100\n[energy]\ntable = "horowitz-45nm-int8"\n'))
    db = folder / "results.db"
    assert main(["run", str(path), "--db", str(db), "--no-progress"]) == 0
    return db


def test_a_run_records_its_estimate_at_the_suites_table(int8_run):
    """Each row's estimate is its own counts priced at the int8 table it
    names, and the table is recorded with it, in its metrics and its config."""
    rows = ok_rows(int8_run)
    assert len(rows) == 2
    for row in rows:
        metrics = row["metrics"]
        assert metrics["energy_table"]["name"] == "horowitz-45nm-int8"
        assert row["config"]["energy"] == {k: v for k, v in metrics["energy_table"].items() if k != "source"}
        assert "Horowitz" in metrics["energy_table"]["source"]
        priced = (metrics["synops_ac"] * 0.03 + metrics["synops_mac"] * 0.23 + metrics["neuron_ops"] * 0.03) * 1e-12
        assert metrics["energy_est_j"] == pytest.approx(priced, rel=1e-12)
        parts = metrics["energy_est_parts"]
        memory = parts["parameter_memory_j"] + parts["state_memory_j"]
        assert memory > 0 and metrics["energy_est_mem_j"] == pytest.approx(priced + memory, rel=1e-12)
        assert metrics["synops_ac"] > 0 and metrics["neuron_ops"] > 0


def test_the_leaderboard_shows_the_estimates_next_to_accuracy(int8_run, capsys):
    capsys.readouterr()
    assert main(["leaderboard", "--db", str(int8_run), "--by", "encoder"]) == 0
    out = capsys.readouterr().out
    assert out.index("accuracy %") < out.index("est. energy/sample ↓") < out.index("est. energy+mem/sample ↓") \
        < out.index("sparsity")
    assert " nJ" in out or " pJ" in out or " µJ" in out


def test_the_report_draws_accuracy_against_estimated_energy_with_its_pareto_front(int8_run):
    from snnbench.results.report import charts
    from snnbench.results.report.model import PageNames, suite_view
    from snnbench.results.store import ResultStore

    with ResultStore(int8_run, create=False) as store:
        view = suite_view("t", store.rows(), page_names=PageNames())
    front = view.fronts()["energy_est_j"]
    spec = charts.trade_off(view.cells, "energy_est_j", front)
    points = spec["layer"][-1]["encoding"]
    assert points["x"]["title"] == "est. energy/sample ↓ (J)" and points["x"]["axis"] == {"format": "~s"}
    values = {v["cell"]: v for v in spec["data"]["values"]}
    assert len(values) == 2 and front and front <= set(values)
    cheapest = min(values.values(), key=lambda v: v["x"])
    assert cheapest["front"] == "Pareto front"  # the least energy is never dominated


def test_check_gates_the_estimates_and_judges_measured_energy_only_on_its_machine(int8_run):
    """A baseline holds the estimates (seed noise, judged anywhere); a
    measured energy is a timing, not judged on another machine."""
    from snnbench.results import gate
    from snnbench.results.leaderboard import latest_results
    from snnbench.results.store import ResultStore

    with ResultStore(int8_run, create=False) as store:
        rows = store.rows()
    # as measured on a quiet machine (this one may be busy: timings of a busy one are left out)
    quiet = {"contention": None}
    measured = [row | {"metrics": row["metrics"] | quiet | {"infer_energy_j": 2e-6}} for row in rows]
    ok = latest_results(measured).ok
    baseline = gate.make_baseline(ok, [{"cpu": "machine A"}])
    assert {"energy_est_j", "energy_est_mem_j", "infer_energy_j"} <= set(baseline["entries"][0]["metrics"])
    costlier = [row | {"metrics": row["metrics"] | quiet | {"infer_energy_j": 4e-6}} for row in rows]
    findings = gate.compare(latest_results(costlier).ok, baseline, [{"cpu": "machine B"}])
    verdicts = {(f.label, f.metric): f for f in findings}
    assert all(f.note.startswith("not judged") for (_, key), f in verdicts.items() if key == "infer_energy_j")
    assert sum(key == "infer_energy_j" for _, key in verdicts) == 2
    assert all(f.verdict == "ok" for (_, key), f in verdicts.items() if key == "energy_est_j")


def test_compare_pairs_estimates_only_at_one_table_and_judges_energy_as_a_cost(int8_run):
    from snnbench.comparison.compare import (
        CompareOptions,
        Comparison,
        _pair_cells,
        judge_timing,
    )
    from snnbench.results.leaderboard import latest_results
    from snnbench.results.store import ResultStore

    with ResultStore(int8_run, create=False) as store:
        results = latest_results(store.rows())
    records = results.ok.to_dict("records")
    versions = {(row["label"], row["seed"]): row["metric_versions"] for row in results.rows}
    default = [r | {"config": {k: v for k, v in r["config"].items() if k != "energy"}} for r in records]
    options = CompareOptions(repository=Path("."), base_ref="HEAD")

    def compared(base, head) -> Comparison:
        comparison = Comparison({}, {}, "suite", {}, 1, 0.05)
        _pair_cells({"base": (base, []), "head": (head, [])}, options, comparison,
                    {"base": versions, "head": versions})
        return comparison

    same = compared(records, records)
    assert {f.metric for f in same.paired} >= {"energy_est_j", "energy_est_mem_j"}
    assert all(f.verdict == "identical" for f in same.paired if f.metric.startswith("energy"))
    other = compared(default, records)
    assert not any(f.metric.startswith("energy") for f in other.paired)
    assert any("est. energy/sample not compared" in note and "other energy tables" in note for note in other.notes)

    rounds = [1e-6, 1.02e-6, 0.98e-6, 1.01e-6]
    assert judge_timing("c", "infer_energy_j", rounds, [1.5 * r for r in rounds], {"rel": 0.1}).regressed
    assert not judge_timing("c", "infer_energy_j", rounds, [0.6 * r for r in rounds], {"rel": 0.1}).regressed
    assert judge_timing("c", "infer_energy_j", rounds, [0.6 * r for r in rounds], {"rel": 0.1}).verdict == "better"
    assert judge_timing("c", "infer_samples_per_s", rounds, [0.6 * r for r in rounds], {"rel": 0.1}).regressed
