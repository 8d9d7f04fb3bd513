"""What the R-STDP network's readout needs to close the gap to the paper:
its test accuracy after every readout epoch, under several readout
schedules, all from the same trained hidden layers.

Mozafari et al. 2019 report 97.2% on MNIST; snnbench's reproduction
(``rstdp-mnist-long``, 100 readout epochs) gave 96.03 +- 0.13%, its readout's
training accuracy still rising. The hidden layers (STDP) take most of a
run's hour and do not change with the readout's schedule, so this script
takes them from a kept model (``snnbench run ... --epochs 1`` keeps one),
draws the readout's weights afresh, and trains only the readout, through the
``stdp-rstdp`` rule itself (its STDP epochs set to 0) and a training session
of the harness's, testing on all 10,000 test digits after every epoch.

What it can tell: how far more epochs take the last epoch (what snnbench
reports) and the best epoch on test (what SpykeTorch's ``MozafariDeep.py``
prints and keeps, a selection on the test set), and what the readout's
batch (samples decided with the same weights; SpykeTorch: 1) costs.

    snnbench run rstdp-mnist-long --epochs 1 --seeds 0 --db runs/rstdp-hidden.db
    python benchmarks/rstdp_readout.py --db runs/rstdp-hidden.db --epochs 150 --batch-size 100 \\
        --json benchmarks/results/rstdp-readout-b100.json
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

import torch
from snnbench_plugins.rstdp.spike_times import first_spike_times
from snnbench_plugins.rstdp.stdp import StdpRstdp
from torch import nn

from snnbench.api.contracts import DataSplit
from snnbench.api.errors import SnnbenchError
from snnbench.api.records import EpochStats
from snnbench.definition.plugins import load_plugins
from snnbench.results.benchmark_file import (
    benchmark_file,
    publish,
    read_benchmark_file,
)
from snnbench.results.models import ModelRef
from snnbench.results.store import ResultStore
from snnbench.running.remeasure import Remeasurer
from snnbench.running.training import CellTrainingSession
from snnbench.runtime import data_root

CPU = torch.device("cpu")


def readout_inputs(network, encoder: nn.Module, split: DataSplit, batch_size: int = 500) -> torch.Tensor:
    """The spike times reaching the readout, through the frozen hidden layers."""
    outputs = []
    with torch.no_grad():
        for start in range(0, len(split), batch_size):
            times = first_spike_times(encoder(split.inputs[start:start + batch_size]))
            for layer in range(network.plastic_layers - 1):
                times = network.propagate(layer, times)
            outputs.append(times)
    return torch.cat(outputs)


def test_accuracy(network, times: torch.Tensor, targets: torch.Tensor, batch_size: int = 1000) -> float:
    """The share of test digits whose earliest readout map stands for their class
    (a silent readout counts as wrong), as the network's inference decides."""
    right = 0
    with torch.no_grad():
        for start in range(0, len(times), batch_size):
            winners = network.compete(network.plastic_layers - 1, times[start:start + batch_size]).winners
            classes = network.classes(winners.features[:, 0])
            right += int((winners.valid[:, 0] & (classes == targets[start:start + batch_size])).sum())
    return right / len(times)


def print_blocks(content: dict, size: int = 20) -> None:
    """Whether a curve still rises: its means over consecutive blocks of epochs."""
    for name, curve in content["details"]["curves"].items():
        for first in range(1, len(curve) + 1, size):
            block = [point for point in curve if first <= point["epoch"] < first + size]
            print(f"{name}, epochs {first}-{block[-1]['epoch']}: "
                  f"test {sum(p['test'] for p in block) / len(block):.2%}, "
                  f"train {sum(p['train'] for p in block) / len(block):.2%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, help="a store whose R-STDP row kept its model")
    parser.add_argument("--suite", default="rstdp-mnist-long")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=150, help="readout epochs")
    parser.add_argument("--batch-size", type=int, nargs="+", default=[100],
                        help="readout batch sizes, one schedule each (SpykeTorch: 1)")
    parser.add_argument("--readout-seed", type=int, default=0, help="seed of the readout's fresh weights")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write a benchmark file")
    parser.add_argument("--blocks", type=Path, default=None, metavar="FILE",
                        help="instead, print the mean test and training accuracy of every 20 epochs of a "
                             "benchmark file this script wrote")
    args = parser.parse_args()
    if args.blocks:
        print_blocks(read_benchmark_file(args.blocks))
        return
    if args.db is None:
        parser.error("--db is needed to train (or --blocks FILE to read a written curve)")

    load_before = os.getloadavg()[0]
    store = ResultStore(args.db)
    rows = [row for row in store.rows([args.suite]) if row["status"] == "ok" and ModelRef.of_row(row)]
    if not rows:
        raise SystemExit(f"{args.db}: no ok row of {args.suite} with a kept model")
    row = rows[-1]
    measuring = Remeasurer(store, load_plugins(), data_root(args.data_dir), download=False)
    rebuilt = measuring.rebuilt(row, CPU)
    _, train, test = measuring.data(rebuilt, CPU)
    model, cell = rebuilt.model, rebuilt.cell
    network = model.network
    started = time.perf_counter()
    test_times = readout_inputs(network, model.encoder, test)
    kept = test_accuracy(network, test_times, test.targets)
    print(f"{cell.label}, seed {cell.seed}: hidden layers from {ModelRef.of_row(row).file}; the kept readout "
          f"scores {kept:.2%} on test here, {row['metrics']['accuracy']:.2%} in its row "
          f"({time.perf_counter() - started:.0f} s to compute the test digits' readout input)")
    if abs(kept - row["metrics"]["accuracy"]) > 1e-9:
        raise SystemExit("the readout's test decisions here differ from the row's inference: stopping")

    rule = StdpRstdp(dataclasses.replace(cell.learning_rule.params,
                                         stdp_epochs=(0,) * (network.plastic_layers - 1)))
    table, curves = [], {}
    for batch_size in args.batch_size:
        torch.manual_seed(args.readout_seed)
        with torch.no_grad():
            nn.init.normal_(network.weight(-1), network.params.weight_mean, network.params.weight_std)
        curve: list[dict[str, float]] = []

        def after_epoch(stats: EpochStats, curve=curve, batch_size=batch_size) -> None:
            if stats.stage and "R-STDP" in stats.stage:
                accuracy = test_accuracy(network, test_times, test.targets)
                curve.append({"epoch": stats.epoch + 1, "train": stats.train_accuracy, "test": accuracy,
                              "seconds": stats.seconds})
                print(f"batch {batch_size}, epoch {stats.epoch + 1}: train {stats.train_accuracy:.2%}, "
                      f"test {accuracy:.2%} ({stats.seconds:.1f} s)", flush=True)

        config = dataclasses.replace(cell.training, epochs=args.epochs, batch_size=batch_size)
        session = CellTrainingSession(config, CPU, torch.Generator().manual_seed(cell.seed), on_epoch=after_epoch)
        network.train()
        rule.fit(model, train, session)
        network.eval()
        curves[f"batch {batch_size}"] = curve
        best = max(curve, key=lambda point: (point["test"], -point["epoch"]))
        at = {n: next((p["test"] for p in curve if p["epoch"] == n), None) for n in (20, 100)}
        seconds = sorted(p["seconds"] for p in curve)
        table.append([batch_size, at[20], at[100], len(curve), curve[-1]["test"], curve[-1]["train"],
                      best["test"], best["epoch"], seconds[len(seconds) // 2]])

    columns = [("readout batch", "{}"), ("test after 20", "{:.2%}"), ("after 100", "{:.2%}"),
               ("epochs", "{}"), ("test, last epoch", "{:.2%}"), ("train, last epoch", "{:.2%}"),
               ("best test", "{:.2%}"), ("at epoch", "{}"), ("s an epoch", "{:.1f}")]
    content = benchmark_file(
        "The R-STDP readout's test accuracy by epoch, from fixed hidden layers", columns, table,
        notes=[(f"{cell.label}, seed {cell.seed}: hidden layers trained by `snnbench run {args.suite} --epochs 1`, "
               f"readout drawn afresh (seed {args.readout_seed}) and trained on all {len(train):,} training digits, "
               f"tested on all {len(test):,} after every epoch. 'best test' selects an epoch on the test set, as "
               "SpykeTorch's example does; snnbench reports the last epoch.")],
        load={"before": load_before, "after": os.getloadavg()[0]}, details={"curves": curves})
    publish(content, args.json)


if __name__ == "__main__":
    try:
        main()
    except SnnbenchError as error:
        raise SystemExit(f"{Path(__file__).name}: {error}") from None
