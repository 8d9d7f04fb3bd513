"""Whole-model training speed side by side: the CSNN 12C5-MP2-64C5-MP2-1024FC10
(LIF beta 0.5, direct input, Adam, snnTorch's rate loss) trained on real
MNIST batches the way users write it in snnTorch, SpikingJelly and Norse, and
as snnbench cells, all in one process.

Every contender trains ``--batches`` batches per round, the contenders take
turns within each round, and each one's figure is the median over
``--rounds`` rounds, so a burst of load on a shared machine hits them alike.
The machine's load average is printed before and after, beside the table.

    make bench-models                        # the README's table
    python benchmarks/model_speed.py --profile "lif-fused, bf16, channels-last"

``--profile NAME`` instead runs torch.profiler over a few training steps of
one contender and prints where the time goes, by operator.

The three framework loops are written here as each framework's own
tutorial or documentation writes them (a Python loop over t around the whole
network for snnTorch and Norse, a multi-step ``[T, B, ...]`` network for
SpikingJelly); they share nothing with snnbench but the data.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from snnbench_plugins.architectures.feedforward import CSNNParams
from snnbench_plugins.datasets.vision import TorchvisionImagesParams, load_mnist
from snnbench_plugins.encoders.coding import DirectEncoder, DirectParams
from snnbench_plugins.learning_rules.losses import ce_rate
from torch import nn

from snnbench.api.contracts import LoadContext, SpikingModel
from snnbench.api.errors import SnnbenchError
from snnbench.api.records import Choice
from snnbench.api.training_config import MemoryFormat, Precision
from snnbench.definition.plugins import load_plugins
from snnbench.results.benchmark_file import (
    benchmark_file,
    publish,
)
from snnbench.running import execution
from snnbench.running.assembly import build_network
from snnbench.runtime import data_root, device_name, synchronize

BETA, SLOPE, LEARNING_RATE = 0.5, 25.0, 2e-3

#: (images [B,1,28,28], targets [B]) -> loss of one training step, after the optimiser stepped
Step = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def trainer(model: nn.Module, forward: Callable[[torch.Tensor], torch.Tensor],
            context: Callable[[], object] = lambda: torch.autocast("cpu", enabled=False)) -> Step:
    """The one training step every contender shares: forward to output spikes
    ``[T, B, 10]``, rate loss, backward, Adam."""
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)

    def step(images, targets):
        with context():
            loss = ce_rate(forward(images), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


def snntorch_loop(timesteps: int, precision: Precision = "fp32", memory_format: MemoryFormat = "contiguous") -> Step:
    """snnTorch tutorial 7's CSNN: Leaky neurons with ``init_hidden``, one call
    of the whole network per time step, the records stacked. With ``bf16`` and
    ``channels_last`` it runs under the same autocast and layout as an
    snnbench cell given them, so every ratio compares equal precision."""
    import snntorch as snn
    from snntorch import surrogate, utils

    grad = surrogate.fast_sigmoid(slope=SLOPE)
    net = nn.Sequential(
        nn.Conv2d(1, 12, 5), nn.MaxPool2d(2), snn.Leaky(beta=BETA, spike_grad=grad, init_hidden=True),
        nn.Conv2d(12, 64, 5), nn.MaxPool2d(2), snn.Leaky(beta=BETA, spike_grad=grad, init_hidden=True),
        nn.Flatten(), nn.Linear(64 * 4 * 4, 10),
        snn.Leaky(beta=BETA, spike_grad=grad, init_hidden=True, output=True))

    def forward(images):
        utils.reset(net)
        spikes = []
        for _ in range(timesteps):
            spk, _mem = net(images)
            spikes.append(spk)
        return torch.stack(spikes)

    return _with_execution_options(net, forward, precision, memory_format)


def spikingjelly_multistep(timesteps: int) -> Step:
    """SpikingJelly's multi-step mode: layers over ``[T, B, ...]``, LIFNode with
    tau 2 and ``decay_input=False`` (beta 0.5), zero reset, detached reset,
    its default ATan surrogate; the input repeated over T as its tutorials do."""
    from spikingjelly.activation_based import functional, layer, neuron

    def lif():
        return neuron.LIFNode(tau=1 / (1 - BETA), decay_input=False, v_reset=0.0, detach_reset=True)

    net = nn.Sequential(layer.Conv2d(1, 12, 5), layer.MaxPool2d(2), lif(),
                        layer.Conv2d(12, 64, 5), layer.MaxPool2d(2), lif(),
                        layer.Flatten(), layer.Linear(64 * 4 * 4, 10), lif())
    functional.set_step_mode(net, "m")

    def forward(images):
        functional.reset_net(net)
        return net(images.unsqueeze(0).repeat(timesteps, 1, 1, 1, 1))

    return trainer(net, forward)


def norse_loop(timesteps: int) -> Step:
    """Norse's LIFBoxCell (a LIF without synaptic current) stepped in a Python
    loop, states threaded by hand as its documentation shows; dt * tau_mem_inv
    = 0.5 gives the decay of beta 0.5 (Norse scales the input by the same 0.5)."""
    import norse.torch as norse

    params = norse.LIFBoxParameters(tau_mem_inv=torch.tensor(500.0), alpha=torch.tensor(SLOPE))
    convs = nn.ModuleList([nn.Conv2d(1, 12, 5), nn.Conv2d(12, 64, 5)])
    fc = nn.Linear(64 * 4 * 4, 10)
    cells = [norse.LIFBoxCell(params, dt=1e-3) for _ in range(3)]
    net = nn.ModuleList([convs, fc, *cells])

    def forward(images):
        states = [None] * 3
        spikes = []
        for _ in range(timesteps):
            x = images
            for i, conv in enumerate(convs):
                x, states[i] = cells[i](nn.functional.max_pool2d(conv(x), 2), states[i])
            out, states[2] = cells[2](fc(x.flatten(1)), states[2])
            spikes.append(out)
        return torch.stack(spikes)

    return trainer(net, forward)


def snnbench_cell(neuron: str, timesteps: int, precision: Precision = "fp32",
                  memory_format: MemoryFormat = "contiguous") -> Step:
    """The CSNN as a cell builds it (plugins' encoder, architecture and neuron),
    under the execution options a cell's ``[training]`` table sets."""
    registries = load_plugins().registries
    params = dataclasses.replace(registries["neuron"].get(neuron).spec.params(), beta=BETA,
                                 surrogate="fast_sigmoid", slope=SLOPE)
    network = build_network(registries, Choice("csnn", CSNNParams()), Choice(neuron, params), (1, 28, 28), 10,
                            timesteps)
    model = SpikingModel(DirectEncoder(DirectParams(timesteps), None), network)
    return _with_execution_options(model, model, precision, memory_format)


def _with_execution_options(model: nn.Module, forward: Callable[[torch.Tensor], torch.Tensor], precision: Precision,
                            memory_format: MemoryFormat) -> Step:
    """The training step under a cell's execution options, as snnbench applies them."""
    device = torch.device("cpu")
    execution.check_precision(precision, device)
    execution.prepare_model(model, memory_format)
    return trainer(model, forward, lambda: execution.autocast(precision, device))


def contenders(timesteps: int) -> dict[str, Callable[[], Step]]:
    return {
        "snnTorch as its tutorial writes it (Python loop over t)": lambda: snntorch_loop(timesteps),
        "snnTorch's loop, bf16, channels-last": lambda: snntorch_loop(timesteps, "bf16", "channels_last"),
        "SpikingJelly multi-step, bare loop": lambda: spikingjelly_multistep(timesteps),
        "Norse, LIFBoxCell loop over t": lambda: norse_loop(timesteps),
        "snnbench cell, `spikingjelly-lif`": lambda: snnbench_cell("spikingjelly-lif", timesteps),
        "snnbench cell, `lif-fused`": lambda: snnbench_cell("lif-fused", timesteps),
        "snnbench cell, `lif-fused`, channels-last": lambda: snnbench_cell(
            "lif-fused", timesteps, memory_format="channels_last"),
        "snnbench cell, `lif-fused`, bf16": lambda: snnbench_cell("lif-fused", timesteps, precision="bf16"),
        "snnbench cell, `lif-fused`, bf16, channels-last": lambda: snnbench_cell(
            "lif-fused", timesteps, "bf16", "channels_last"),
    }


def build(factories: dict[str, Callable[[], Step]]) -> dict[str, Step]:
    """Every contender that can be built here; one that cannot is reported and left out."""
    steps = {}
    for name, factory in factories.items():
        torch.manual_seed(0)
        try:
            steps[name] = factory()
        except ImportError as error:
            print(f"left out {name}: {error}")
    return steps


def mnist_batches(data_dir, batch_size: int, count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    try:
        train, _test = load_mnist(TorchvisionImagesParams(), LoadContext(data_root(data_dir), download=False))
    except SnnbenchError as error:  # no MNIST there: say where to put it, without a traceback
        raise SystemExit(f"{Path(__file__).name}: {error}") from None
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
    return [(train.inputs[order[i:i + batch_size]], train.targets[order[i:i + batch_size]])
            for i in range(0, count * batch_size, batch_size)]


def time_round(step: Step, batches) -> float:
    synchronize(torch.device("cpu"))
    started = time.perf_counter()
    for images, targets in batches:
        step(images, targets)
    return time.perf_counter() - started


def profile(step: Step, batches, rows: int) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    for images, targets in batches[:2]:
        step(images, targets)  # warm-up: kernel compilation, buffer pools
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        seconds = time_round(step, batches)
    steps = len(batches)
    events = sorted(prof.key_averages(), key=lambda event: event.self_cpu_time_total, reverse=True)
    total = sum(event.self_cpu_time_total for event in events)
    print(f"{steps} steps, {1e3 * seconds / steps:.1f} ms a step under the profiler, "
          f"{total / 1e3 / steps:.1f} ms of it in operators\n")
    print("| operator | self ms a step | share | calls a step |")
    print("|---|---|---|---|")
    for event in events[:rows]:
        print(f"| `{event.key}` | {event.self_cpu_time_total / 1e3 / steps:.1f} | "
              f"{event.self_cpu_time_total / total:.0%} | {event.count / steps:g} |")
    rest = sum(event.self_cpu_time_total for event in events[rows:])
    print(f"| everything else | {rest / 1e3 / steps:.1f} | {rest / total:.0%} | |")


def contender_named(part: str, factories: dict[str, Callable[[], Step]]) -> str:
    """The one contender whose name (backticks aside) contains ``part``."""
    found = [name for name in factories if part.replace("`", "") in name.replace("`", "")]
    if len(found) != 1:
        listing = "\n  ".join(factories)
        raise SystemExit(f"--profile {part!r} names {'no' if not found else len(found)} contenders; "
                         f"give part of one of:\n  {listing}")
    return found[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--timesteps", type=int, default=25)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=3, help="timed batches per contender and round")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--only", nargs="*", default=None, help="contenders whose name contains one of these")
    parser.add_argument("--profile", default=None, metavar="NAME", help="profile the contender with this name")
    parser.add_argument("--profile-rows", type=int, default=8)
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="also write the table as a benchmark file (docs: {snnbench-benchmark})")
    args = parser.parse_args()

    factories = contenders(args.timesteps)
    if args.profile is not None:
        name = contender_named(args.profile, factories)
        batches = mnist_batches(args.data_dir, args.batch_size, args.batches + 2)
        print(f"profiling {name!r} on {device_name(torch.device('cpu'))}, "
              f"load {os.getloadavg()[0]:.2f}")
        profile(build({name: factories[name]})[name], batches, args.profile_rows)
        return
    if args.only:
        factories = {k: v for k, v in factories.items() if any(part in k for part in args.only)}
    steps = build(factories)
    batches = mnist_batches(args.data_dir, args.batch_size, args.batches * (args.rounds + 1))
    load_before = os.getloadavg()
    seconds: dict[str, list[float]] = {name: [] for name in steps}
    for round_ in range(args.rounds + 1):  # round 0 warms up and is not counted
        chunk = batches[round_ * args.batches:(round_ + 1) * args.batches]
        for name, step in steps.items():
            elapsed = time_round(step, chunk)
            if round_:
                seconds[name].append(elapsed)
    load_after = os.getloadavg()

    samples = args.batches * args.batch_size
    rate = {name: samples / statistics.median(values) for name, values in seconds.items()}
    reference = next((value for name, value in rate.items() if name.startswith("snnTorch")), None)
    setting = (f"CSNN on MNIST, T = {args.timesteps}, batch {args.batch_size}, fp32 unless named; "
               f"medians of {args.rounds} interleaved rounds of {args.batches} batches")
    print(f"{device_name(torch.device('cpu'))}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{setting}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after\n")
    rows = [[name, round(value, 1), round(value / reference, 3) if reference else None] for name, value in rate.items()]
    spread = {name: round(max(values) / min(values), 3) for name, values in seconds.items()}
    content = benchmark_file(
        "Whole-model training speed on the CPU",
        [("loop", "{}"), ("train samples/s", "{:,.0f}"), ("vs snnTorch loop", "{:.2f}×")], rows,
        notes=[setting + "."], load={"before": load_before[0], "after": load_after[0]},
        details={"round_seconds": seconds, "slowest_over_fastest_round": spread, "samples_per_round": samples})
    publish(content, args.json)


if __name__ == "__main__":
    main()
