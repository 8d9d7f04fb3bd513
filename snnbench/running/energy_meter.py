"""Measured energy: the device's own energy counter, read around the work.

- CUDA: NVML's total-energy counter of the GPU that ran the cell
  (``nvidia-ml-py``, the ``energy`` extra; Volta or newer), found by the
  GPU's UUID, so that ``CUDA_VISIBLE_DEVICES`` cannot make it another GPU's.
- CPU: RAPL through ``/sys/class/powercap``, summed over the package
  domains (cores, caches, memory controller of every socket), where the
  files are readable (root only since Linux 5.10).

A device's counter is read only for work on that device: a CPU run on a
machine with a GPU gets RAPL or nothing, never the GPU's reading. Where no
counter can be read, the metric is None with the reason, never 0.

Both counters advance in steps (NVML's every few tens of milliseconds,
RAPL's every millisecond or so), so a window starts on a step of the
counter, the device is synchronised at both ends, and inference batches
repeat until the window lasts at least :data:`MIN_WINDOW_S` and then until
the counter steps again: the reading spans whole steps, its error one
batch. Training cannot be repeated, so its window is the whole of
``fit``; one shorter than :data:`MIN_WINDOW_S` gives None with the reason.

What is measured is the whole device (the whole CPU package, other
processes included): joules per sample of the workload as it ran there,
not of the network in isolation (docs/energy.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from snnbench.api.contracts import DataSplit
from snnbench.runtime import synchronize

#: the shortest window a reading is taken over: many counter steps long
MIN_WINDOW_S = 1.0
POWERCAP = Path("/sys/class/powercap")
_NVML_HINT = "pip install 'snnbench[energy]'"


class EnergyCounter(Protocol):
    #: what is counted, recorded with the row ("nvml: NVIDIA H100 80GB HBM3 (GPU-...)")
    name: str
    #: the longest the counter stays unchanged while the device draws power
    update_period_s: float

    def joules(self) -> float:
        """Energy used since some fixed moment, in joules."""


@dataclass(frozen=True)
class Reading:
    """Joules per sample over a window, or None with the reason."""

    joules_per_sample: float | None
    reason: str | None = None
    seconds: float = 0.0
    samples: int = 0

    def record(self, metrics: dict[str, Any], key: str) -> None:
        """Put the reading in a row's metrics under ``key``, its reason in ``metrics["unavailable"]``."""
        metrics[key] = self.joules_per_sample
        if self.reason is not None:
            metrics.setdefault("unavailable", {})[key] = self.reason


# --------------------------------------------------------------------------- the counters


class NvmlCounter:
    update_period_s = 0.1

    def __init__(self, device: torch.device):
        import pynvml

        self._nvml = pynvml
        pynvml.nvmlInit()
        index = device.index if device.index is not None else torch.cuda.current_device()
        uuid = f"GPU-{torch.cuda.get_device_properties(index).uuid}"
        self._handle = pynvml.nvmlDeviceGetHandleByUUID(uuid)
        self.name = f"nvml: {pynvml.nvmlDeviceGetName(self._handle)} ({uuid})"
        self.joules()  # a GPU older than Volta has no total-energy counter: NotSupported here

    def joules(self) -> float:
        return self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) / 1000.0  # mJ


class RaplCounter:
    """The package domains of ``root`` (``intel-rapl:0``, ``intel-rapl:1``, ...;
    AMD's are named the same way), their wrap-arounds undone."""

    update_period_s = 0.01

    def __init__(self, root: Path = POWERCAP):
        self.zones = [zone for zone in sorted(root.glob("*-rapl:*")) if zone.name.count(":") == 1
                      and (zone / "name").read_text().strip().startswith("package")]
        if not self.zones:
            raise FileNotFoundError(f"no RAPL package domain under {root}")
        self._ranges = [int((zone / "max_energy_range_uj").read_text()) for zone in self.zones]
        self._last = [self._raw(zone) for zone in self.zones]
        self._total_uj = 0
        names = ", ".join(f"{(zone / 'name').read_text().strip()}" for zone in self.zones)
        self.name = f"rapl: {names}"

    @staticmethod
    def _raw(zone: Path) -> int:
        return int((zone / "energy_uj").read_text())

    def joules(self) -> float:
        for i, zone in enumerate(self.zones):
            raw = self._raw(zone)
            self._total_uj += (raw - self._last[i]) % (self._ranges[i] + 1)
            self._last[i] = raw
        return self._total_uj * 1e-6


def counter_for(device: torch.device, powercap: Path = POWERCAP) -> EnergyCounter | str:
    """The energy counter of ``device``, or why there is none."""
    if device.type == "cuda":
        try:
            import pynvml
        except ImportError:
            return f"no NVML: nvidia-ml-py is not installed ({_NVML_HINT})"
        try:
            return NvmlCounter(device)
        except (pynvml.NVMLError, RuntimeError, AttributeError) as error:  # no driver, pre-Volta, no UUID
            return f"NVML cannot read {device}'s total-energy counter: {type(error).__name__}: {error}"
    if device.type == "cpu":
        if not powercap.is_dir():
            return f"no RAPL here: {powercap} does not exist (not Linux on an Intel or AMD CPU, or a VM)"
        try:
            return RaplCounter(powercap)
        except PermissionError as error:
            return (f"RAPL is not readable: {error.filename} ({error.strerror}; root only since Linux 5.10: "
                    f"sudo chmod o+r {powercap}/*/energy_uj)")
        except (OSError, ValueError) as error:
            return f"no RAPL counter to read: {error}"
    return f"no energy counter is known for {device.type} devices"


# --------------------------------------------------------------------------- windows


@dataclass
class Window:
    """A window of :meth:`Meter.window`; its joules and seconds are set when it closes."""

    meter: Meter
    reason: str | None = None
    start: float = 0.0
    started: float = 0.0
    joules: float | None = None
    seconds: float | None = None

    def reading(self, samples: int) -> Reading:
        """Joules per sample of the ``samples`` processed in the window."""
        if self.reason is not None:
            return Reading(None, self.reason)
        if self.seconds is None:
            raise RuntimeError("an energy window was read before it closed")
        return self.meter._reading(self.joules, self.seconds, samples)


class Meter:
    """Reads one device's counter around work on that device."""

    def __init__(self, device: torch.device, counter: EnergyCounter | str,
                 clock: Callable[[], float] = time.perf_counter, sleep: Callable[[float], None] = time.sleep):
        self.device, self.clock, self.sleep = device, clock, sleep
        self.counter = None if isinstance(counter, str) else counter
        self.reason = counter if isinstance(counter, str) else None

    @classmethod
    def for_device(cls, device: torch.device) -> Meter:
        return cls(device, counter_for(device))

    @property
    def name(self) -> str | None:
        return None if self.counter is None else self.counter.name

    def _on_a_step(self) -> float:
        """The counter's value just after it steps (so a window spans whole
        steps); its current value if it does not step within two periods."""
        start = self.counter.joules()
        deadline = self.clock() + 2 * self.counter.update_period_s
        while self.clock() < deadline:
            self.sleep(self.counter.update_period_s / 20)
            value = self.counter.joules()
            if value != start:
                return value
        return start

    def _reading(self, joules: float, seconds: float, samples: int) -> Reading:
        if seconds < MIN_WINDOW_S:
            return Reading(None, f"the window lasted {seconds:.2f} s, under the {MIN_WINDOW_S:g} s a reading of "
                                 f"{self.counter.name} needs", seconds, samples)
        if joules <= 0:
            return Reading(None, f"{self.counter.name} did not advance in {seconds:.2f} s of work", seconds, samples)
        if samples == 0:
            return Reading(None, "no sample was processed in the window", seconds, samples)
        return Reading(joules / samples, None, seconds, samples)

    @contextmanager
    def window(self) -> Iterator[Window]:
        """Measure the work inside; the window's ``reading(samples)`` after it."""
        if self.counter is None:
            yield Window(self, reason=self.reason)
            return
        synchronize(self.device)
        window = Window(self, start=self._on_a_step(), started=self.clock())
        yield window
        synchronize(self.device)
        window.joules, window.seconds = self.counter.joules() - window.start, self.clock() - window.started

    @torch.no_grad()
    def inference(self, model: nn.Module, split: DataSplit, batch_size: int, warmup_batches: int = 2) -> Reading:
        """Joules per sample of the bare forward pass (no hooks, no grad): the
        test split's batches over and over, until at least :data:`MIN_WINDOW_S`
        has passed and the counter has stepped once more."""
        if self.counter is None:
            return Reading(None, self.reason)
        model.eval()
        batches = [split.inputs[i:i + batch_size] for i in range(0, len(split), batch_size)]
        for inputs in batches[:warmup_batches]:
            model(inputs)
        synchronize(self.device)
        start, started = self._on_a_step(), self.clock()
        samples, last, ran = 0, None, 0
        while True:
            inputs = batches[ran % len(batches)]
            model(inputs)
            samples += len(inputs)
            ran += 1
            if self.clock() - started < MIN_WINDOW_S:
                continue
            synchronize(self.device)
            value = self.counter.joules()
            if last is None:
                last = value  # the window is long enough: run on until the counter steps again
            elif value != last or self.clock() - started > MIN_WINDOW_S + 2 * self.counter.update_period_s:
                return self._reading(value - start, self.clock() - started, samples)
