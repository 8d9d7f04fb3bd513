"""The yardstick: the harness's training throughput for a cell next to a bare
PyTorch loop training the same model on the same device, measured side by
side in one process (DESIGN.md "Speed": the harness must cost under 5%).

The bare loop is written here on purpose, outside the harness: it shares
only the model (built by :func:`snnbench.running.assembly.assemble`, as the cell's)
and does the least a training loop can do: shuffle on the device, slice, forward, loss, backward,
step, with the device synchronised around the timed span.

    python benchmarks/harness_overhead.py --device cuda --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from snnbench_plugins.architectures.feedforward import CSNNParams
from snnbench_plugins.datasets.vision import TorchvisionImagesParams
from snnbench_plugins.encoders.coding import DirectParams
from snnbench_plugins.learning_rules.bptt import BPTTParams
from snnbench_plugins.learning_rules.losses import ce_count

from snnbench.api.records import Cell, Choice
from snnbench.api.training_config import TrainingConfig
from snnbench.definition.plugins import load_plugins
from snnbench.running.assembly import assemble
from snnbench.running.runner import DatasetCache, train_and_measure
from snnbench.running.options import RunOptions
from snnbench.runtime import data_root, device_name, resolve_device, synchronize

LEARNING_RATE = 2e-3  # the same for both loops


def bare_loop(model: torch.nn.Module, train_x, train_y, batch_size: int, epochs: int, warmup: int,
              device: torch.device) -> float:
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    samples, seconds, step = 0, 0.0, 0
    for _ in range(epochs):
        order = torch.randperm(len(train_y), device=device)
        synchronize(device)
        started = None
        for begin in range(0, len(train_y), batch_size):
            if step == warmup:
                synchronize(device)
                started = time.perf_counter()
            index = order[begin:begin + batch_size]
            loss = ce_count(model(train_x[index]), train_y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            if started is not None:
                samples += len(index)
        synchronize(device)
        if started is not None:
            seconds += time.perf_counter() - started
    return samples / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--neuron", default="spikingjelly-lif")
    parser.add_argument("--timesteps", type=int, default=25)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--limit", type=int, default=None, help="training samples (default: all 60,000)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="alternating measurements of each")
    args = parser.parse_args()

    device = resolve_device(args.device)
    plugins = load_plugins()
    options = RunOptions(device=device, data_dir=data_root(args.data_dir), progress=False)
    data = DatasetCache(plugins, options)
    lif = plugins.registries["neuron"].get(args.neuron).spec.params(beta=0.5)
    training = TrainingConfig(epochs=args.epochs, batch_size=args.batch_size, train_limit=args.limit,
                              test_limit=2000)
    cell = Cell(suite="overhead", dataset=Choice("mnist", TorchvisionImagesParams()),
                encoder=Choice("direct", DirectParams(args.timesteps)), neuron=Choice(args.neuron, lif),
                architecture=Choice("csnn", CSNNParams()), learning_rule=Choice("bptt", BPTTParams(lr=LEARNING_RATE)),
                training=training, seed=0)
    loaded = data.get(cell.dataset)
    train = loaded.train.head(args.limit)

    bare, harness = [], []
    for _ in range(args.repeats):
        torch.manual_seed(0)
        model = assemble(cell, plugins.registries, loaded.info, train, device)  # the cell's own model
        bare.append(bare_loop(model, train.inputs, train.targets, args.batch_size, args.epochs,
                              training.warmup_batches, device))
        metrics, _ = train_and_measure(cell, plugins, data, options)
        harness.append(metrics["train_samples_per_s"])
    b, h = statistics.median(bare), statistics.median(harness)
    print(f"device {device} ({device_name(device)}), CSNN on MNIST, {args.neuron}, T={args.timesteps}, "
          f"batch {args.batch_size}, {len(train)} training samples x {args.epochs} epoch(s), {args.repeats} repeats")
    print(f"bare PyTorch loop : {b:10,.0f} samples/s  (runs: {', '.join(f'{x:,.0f}' for x in bare)})")
    print(f"snnbench harness  : {h:10,.0f} samples/s  (runs: {', '.join(f'{x:,.0f}' for x in harness)})")
    print(f"harness / bare    : {h / b:.3f}  (overhead {100 * (1 - h / b):+.1f}%)")


if __name__ == "__main__":
    main()
