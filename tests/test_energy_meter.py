"""Measured energy: the window logic against a fake device whose counter
steps like NVML's, RAPL's files (wrap-around, package domains only), the
reasons a reading is null, and on a GPU NVML itself."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import ok_rows, suite_toml
from torch import nn

from snnbench.api.contracts import DataSplit
from snnbench.running.energy_meter import MIN_WINDOW_S, Meter, RaplCounter, counter_for

CPU = torch.device("cpu")


class FakeDevice:
    """A clock and a power draw: ``busy_w`` while a batch runs, ``idle_w`` otherwise."""

    def __init__(self, idle_w: float = 50.0, busy_w: float = 300.0):
        self.now, self.idle_w, self.busy_w = 0.0, idle_w, busy_w
        self._segments: list[tuple[float, float, float]] = []

    def run(self, seconds: float, watts: float) -> None:
        self._segments.append((self.now, self.now + seconds, watts))
        self.now += seconds

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.run(seconds, self.idle_w)

    def energy_at(self, moment: float) -> float:
        return sum(watts * max(0.0, min(end, moment) - start) for start, end, watts in self._segments)


class SteppedCounter:
    """NVML-like: the energy as of the counter's last update, every ``period`` s."""

    name = "fake stepped counter"

    def __init__(self, device: FakeDevice, period: float = 0.1):
        self.device, self.update_period_s = device, period

    def joules(self) -> float:
        return self.device.energy_at(math.floor(self.device.now / self.update_period_s) * self.update_period_s)


class FakeModel(nn.Module):
    """Each batch keeps the fake device busy for ``seconds``."""

    def __init__(self, device: FakeDevice, seconds: float):
        super().__init__()
        self.device, self.seconds = device, seconds

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        self.device.run(self.seconds, self.device.busy_w)
        return inputs


def meter_on(device: FakeDevice, counter) -> Meter:
    return Meter(CPU, counter, clock=device.clock, sleep=device.sleep)


def split(samples: int) -> DataSplit:
    return DataSplit(torch.zeros(samples, 3), torch.zeros(samples, dtype=torch.long))


@pytest.mark.parametrize("batch_seconds", [0.013, 0.07, 0.25])
def test_inference_reads_whole_counter_steps_over_at_least_a_second(batch_seconds):
    """300 W while each batch runs, 100 samples in batches of 32, 32, 32 and 4:
    the reading is 300 W x 4 batch times / 100 J a sample, within one batch's
    share of the window, although the counter only moves every 0.1 s and
    the measurement starts halfway between two of its steps (a window that
    did not start and end on steps would be off by up to a step: 4-5% here
    with 13 ms batches, against under 1%)."""
    device = FakeDevice()
    device.sleep(0.05)
    reading = meter_on(device, SteppedCounter(device)).inference(FakeModel(device, batch_seconds), split(100), 32)
    assert reading.reason is None and reading.seconds >= MIN_WINDOW_S
    exact = device.busy_w * 4 * batch_seconds / 100
    assert reading.joules_per_sample == pytest.approx(exact, rel=0.01 + batch_seconds / reading.seconds)


def test_a_counter_that_never_moves_gives_null_with_the_reason():
    class Frozen:
        name, update_period_s = "frozen counter", 0.1

        def joules(self) -> float:
            return 1234.0

    device = FakeDevice()
    reading = meter_on(device, Frozen()).inference(FakeModel(device, 0.05), split(64), 32)
    assert reading.joules_per_sample is None and "frozen counter did not advance" in reading.reason


def test_a_training_window_spans_the_work_inside_it():
    device = FakeDevice(busy_w=200.0)
    meter = meter_on(device, SteppedCounter(device))
    with meter.window() as window:
        device.run(3.0, 200.0)  # three seconds of training on 600 samples
    reading = window.reading(600)
    assert reading.joules_per_sample == pytest.approx(200.0 * 3.0 / 600, rel=0.1 / 3.0)


def test_a_window_under_a_second_gives_null_with_the_reason():
    device = FakeDevice()
    with meter_on(device, SteppedCounter(device)).window() as window:
        device.run(0.4, 300.0)
    reading = window.reading(100)
    assert reading.joules_per_sample is None
    assert "lasted 0.4" in reading.reason and "under the 1 s" in reading.reason


def test_without_a_counter_every_reading_is_null_with_the_reason_in_the_row():
    meter = Meter(CPU, "no RAPL here: /sys/class/powercap does not exist")
    metrics = {"unavailable": {}}
    meter.inference(FakeModel(FakeDevice(), 0.01), split(8), 4).record(metrics, "infer_energy_j")
    with meter.window() as window:
        pass
    window.reading(8).record(metrics, "train_energy_j")
    assert metrics["infer_energy_j"] is None and metrics["train_energy_j"] is None
    assert metrics["unavailable"] == {"infer_energy_j": "no RAPL here: /sys/class/powercap does not exist",
                                      "train_energy_j": "no RAPL here: /sys/class/powercap does not exist"}
    assert meter.name is None


# --------------------------------------------------------------------------- RAPL's files


def rapl_zone(root, name: str, label: str, energy_uj: int, max_uj: int = 262143328850):
    zone = root / name
    zone.mkdir()
    (zone / "name").write_text(f"{label}\n")
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return zone


def test_rapl_sums_the_packages_and_undoes_wrap_around(tmp_path):
    package0 = rapl_zone(tmp_path, "intel-rapl:0", "package-0", 999_000_000, max_uj=1_000_000_000)
    package1 = rapl_zone(tmp_path, "intel-rapl:1", "package-1", 5_000_000)
    core = rapl_zone(tmp_path, "intel-rapl:0:0", "core", 7)  # inside package-0: not counted twice
    mmio = rapl_zone(tmp_path, "intel-rapl-mmio:0", "package-0", 3)  # package-0 again, through MMIO
    counter = counter_for(CPU, powercap=tmp_path)
    assert isinstance(counter, RaplCounter)
    assert counter.zones == [package0, package1] and counter.name == "rapl: package-0, package-1"
    assert counter.joules() == 0.0
    (package0 / "energy_uj").write_text("2000000\n")  # wrapped: 1_000_001 uJ later, past 999_999_999 + 1
    (package1 / "energy_uj").write_text("6500000\n")
    (core / "energy_uj").write_text("900000000\n")
    (mmio / "energy_uj").write_text("900000000\n")
    assert counter.joules() == pytest.approx(3.0 + 1.5)


def test_no_rapl_is_a_reason_and_a_cpu_run_never_reads_nvml(tmp_path):
    missing = counter_for(CPU, powercap=tmp_path / "absent")
    assert isinstance(missing, str) and "no RAPL here" in missing
    (tmp_path / "empty").mkdir()
    none = counter_for(CPU, powercap=tmp_path / "empty")
    assert isinstance(none, str) and "no RAPL package domain" in none
    here = counter_for(CPU)
    assert "nvml" not in (here if isinstance(here, str) else here.name).lower()


def test_unreadable_rapl_says_so(tmp_path, monkeypatch):
    rapl_zone(tmp_path, "intel-rapl:0", "package-0", 1)

    def refuse(zone):
        raise PermissionError(13, "Permission denied", str(zone / "energy_uj"))

    monkeypatch.setattr(RaplCounter, "_raw", staticmethod(refuse))
    reason = counter_for(CPU, powercap=tmp_path)
    assert isinstance(reason, str) and "RAPL is not readable" in reason and "energy_uj" in reason


# --------------------------------------------------------------------------- a real run


def test_a_cpu_run_records_its_counter_or_why_there_is_none(tmp_path):
    from snnbench.cli import main

    path = tmp_path / "suite.toml"
    path.write_text(suite_toml(extra="[training]\nepochs = 1\ntrain_limit = 200\ntest_limit = 64\n"))
    assert main(["run", str(path), "--db", str(tmp_path / "r.db"), "--no-progress"]) == 0
    (row,) = ok_rows(tmp_path / "r.db")
    metrics, counter = row["metrics"], counter_for(CPU)
    if isinstance(counter, str):
        assert metrics["infer_energy_j"] is None and metrics["energy_counter"] is None
        assert metrics["unavailable"]["infer_energy_j"] == counter
        assert metrics["unavailable"]["train_energy_j"] == counter
    else:
        assert metrics["infer_energy_j"] > 0 and metrics["energy_counter"].startswith("rapl")


@pytest.mark.gpu
def test_nvml_measures_inference_and_training_on_the_gpu(tmp_path):
    """The GPU's own counter over a CSNN on MNIST-sized random input, and a
    digits run whose row holds the readings (or why training was too short)."""
    from snnbench_plugins.architectures.feedforward import CSNNParams
    from snnbench_plugins.neurons.parameters import LIFParams

    from snnbench.api.records import Choice
    from snnbench.cli import main
    from snnbench.definition.plugins import load_plugins
    from snnbench.running.assembly import build_network

    pytest.importorskip("pynvml", reason="nvidia-ml-py is not installed (pip install 'snnbench[energy]')")
    cuda = torch.device("cuda")
    meter = Meter.for_device(cuda)
    assert meter.reason is None, meter.reason
    assert meter.name.startswith("nvml: ") and "GPU-" in meter.name
    network = build_network(load_plugins().registries, Choice("csnn", CSNNParams()),
                            Choice("snntorch-lif", LIFParams()), (1, 28, 28), 10, 10).to(cuda)

    class BatchFirst(nn.Module):  # the meter batches along the first dimension
        def forward(self, x):
            return network(x.transpose(0, 1))

    inputs = (torch.rand(512, 10, 1, 28, 28, device=cuda) < 0.2).float()
    reading = meter.inference(BatchFirst(), DataSplit(inputs, torch.zeros(512, dtype=torch.long, device=cuda)), 128)
    assert reading.reason is None and reading.seconds >= MIN_WINDOW_S
    watts = reading.joules_per_sample * reading.samples / reading.seconds
    assert 10 < watts < 2000, watts  # a working GPU draws tens to hundreds of watts

    path = tmp_path / "suite.toml"
    path.write_text(suite_toml(extra="[training]\nepochs = 3\n"))
    assert main(["run", str(path), "--db", str(tmp_path / "r.db"), "--device", "cuda", "--no-progress"]) == 0
    (row,) = ok_rows(tmp_path / "r.db")
    metrics = row["metrics"]
    assert metrics["infer_energy_j"] > 0 and metrics["energy_counter"] == meter.name
    assert metrics["train_energy_j"] > 0 or "under the 1 s" in metrics["unavailable"]["train_energy_j"]
