"""Forward + backward time of every registered neuron model, at a few layer
sizes, with pytest-benchmark. Parametrised over the registry at collection,
so a third party's neuron is benchmarked without new code.

    make bench-neurons        # runs this file and prints the README table

Each result's ``extra_info`` holds the sizes, the spike sparsity of the
layer's output, the backend that ran, and the memory-bandwidth floor: the
five ``[T, B, N]`` fp32 tensors a LIF must move at least (current and spikes
forward; the saved state, the incoming and the outgoing gradient backward)
divided by the device's copy bandwidth, measured again right after each
benchmark's rounds: on a shared host that bandwidth moved between 28 and 61
GB/s within an hour, so a floor from the start of the session would not
belong to a row measured minutes later.
"""

from __future__ import annotations

import dataclasses
import time
import typing

import pytest
import torch

from snnbench.api.errors import SnnbenchError
from snnbench.definition.plugins import load_plugins
from snnbench.running.injected_slowdown import Slowdown
from snnbench.runtime import machine, synchronize

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
#: (neurons, timesteps, batch); the largest is DESIGN.md's GPU reference size
SIZES = [(1024, 25, 32), (4096, 25, 64)] + ([(16384, 100, 128)] if DEVICE.type == "cuda" else [])
TENSORS_MOVED = 5

PLUGINS = load_plugins()


def neurons_and_backends() -> list[tuple[str, str | None]]:
    """Every registered neuron model that backpropagates (forward+backward is
    what is timed), once per named backend when its params offer a
    ``backend`` choice (``auto`` aside: it is one of the others)."""
    cases = []
    for name in PLUGINS.registries["neuron"].names():
        spec = PLUGINS.registries["neuron"].get(name).spec
        if not spec.differentiable:
            continue
        fields = {f.name for f in dataclasses.fields(spec.params)}
        choices = [c for c in typing.get_args(typing.get_type_hints(spec.params)["backend"])
                   if c != "auto"] if "backend" in fields else [None]
        cases += [(name, choice) for choice in choices]
    return cases


def copy_bandwidth() -> float:
    """Bytes per second the device sustains for a large copy (read + write)."""
    source = torch.empty(64 * 2**20, device=DEVICE)  # 256 MiB of fp32
    target = torch.empty_like(source)
    target.copy_(source)
    synchronize(DEVICE)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        target.copy_(source)
        synchronize(DEVICE)
        best = min(best, time.perf_counter() - started)
    return 2 * source.numel() * source.element_size() / best


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"N{s[0]}-T{s[1]}-B{s[2]}")
@pytest.mark.parametrize("name, backend", neurons_and_backends(),
                         ids=lambda case: case if isinstance(case, str) else "")
def test_forward_backward(benchmark, name, backend, size):
    neurons, steps, batch = size
    spec = PLUGINS.registries["neuron"].get(name).spec
    layer = spec.build(spec.params(**({"backend": backend} if backend else {})), (neurons,)).to(DEVICE)
    torch.manual_seed(0)
    current = (torch.rand(steps, batch, neurons, device=DEVICE) * 0.8).requires_grad_()
    grad = torch.randn_like(current)
    slowdown = Slowdown()  # test-only: benchmarks/gate_power.py's known regression

    def step():
        # autograd.grad, not backward(): accumulating into current.grad is an
        # extra pass over a [T, B, N] tensor that belongs to no neuron. Nothing
        # is returned: a training step holds no output of the previous one.
        started = time.perf_counter()
        torch.autograd.grad(layer(current), current, grad)
        synchronize(DEVICE)
        slowdown.after_step(time.perf_counter() - started)

    try:
        step()  # compiles kernels, warms caches
    except SnnbenchError as error:  # a backend this device cannot run
        pytest.skip(str(error))
    with torch.no_grad():
        spiking = float(layer(current).count_nonzero())
    benchmark.pedantic(step, rounds=10, iterations=1, warmup_rounds=1)
    elements = steps * batch * neurons
    benchmark.extra_info.update({
        "neuron": name if backend is None else f"{name} ({backend})", "backend": layer.backend_used, "device": DEVICE.type,
        "neurons": neurons, "timesteps": steps, "batch": batch,
        "sparsity": 1.0 - spiking / elements,
        "bandwidth_bound_s": TENSORS_MOVED * elements * 4 / copy_bandwidth(),
        "machine": machine(DEVICE),  # torch's threads and kernels in this process, not its caller's
    })
