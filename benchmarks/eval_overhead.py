"""What measuring costs: the harness's pass over the test split (accuracy,
confusion, and the activity monitor's spike, SynOp and membrane counts) next
to a bare forward pass over the same samples with the same model, side by
side in one process.

Every row records both figures already (``eval_seconds`` and
``infer_samples_per_s``), but from one pass each, taken minutes apart; here
the two take turns ``--repeats`` times on the same samples, so a burst of
load on a shared machine hits them alike, and each figure is the median.

    python benchmarks/eval_overhead.py --data-dir ../shared/data
    python benchmarks/eval_overhead.py --suite stal-spikformer-mnist-cpu --samples 300

The models are the suites' cells as built, untrained: what the monitor
costs does not depend on what the weights learnt (its counts are dense
arithmetic over every input), only how many spikes the counts find.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch

from snnbench.definition.catalog import suite_path
from snnbench.definition.plugins import load_plugins
from snnbench.definition.suite import load_suite
from snnbench.results.benchmark_file import (
    benchmark_file,
    publish,
)
from snnbench.running.assembly import assemble
from snnbench.running.metrics import evaluate
from snnbench.running.options import RunOptions
from snnbench.running.runner import DatasetCache
from snnbench.runtime import data_root, device_name, resolve_device, synchronize


@torch.no_grad()
def bare_pass(model: torch.nn.Module, inputs: torch.Tensor, batch_size: int, device: torch.device) -> float:
    """Seconds of the least an evaluation can do: forward, count, argmax."""
    model.eval()
    synchronize(device)
    started = time.perf_counter()
    for begin in range(0, len(inputs), batch_size):
        model(inputs[begin:begin + batch_size]).sum(0).argmax(-1)
    synchronize(device)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", action="append", default=None,
                        help="a suite whose seed-0 cells to measure (repeatable; default: encoders-cpu)")
    parser.add_argument("--only", nargs="*", default=None, help="cells whose label contains one of these")
    parser.add_argument("--samples", type=int, default=1000, help="test samples per pass")
    parser.add_argument("--repeats", type=int, default=3, help="alternating passes of each")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="also write the table as a benchmark file (docs: {snnbench-benchmark})")
    args = parser.parse_args()

    device = resolve_device(args.device)
    plugins = load_plugins()
    data = DatasetCache(plugins, RunOptions(device=device, data_dir=data_root(args.data_dir), download=False,
                                            progress=False))
    load_before = os.getloadavg()
    rows, seconds = [], {}
    for suite_name in args.suite or ["encoders-cpu"]:
        suite = load_suite(suite_path(suite_name), plugins.registries)
        for cell in suite.cells:
            if cell.seed != suite.seeds[0] or (args.only and not any(part in cell.label for part in args.only)):
                continue
            loaded = data.get(cell.dataset)
            torch.manual_seed(0)
            model = assemble(cell, plugins.registries, loaded.info, loaded.train.head(64), device)
            test = loaded.test.head(args.samples)
            batch_size = cell.training.eval_batch_size
            bare_pass(model, test.inputs[:batch_size], batch_size, device)  # warm-up
            bare, measured = [], []
            for _ in range(args.repeats):
                bare.append(bare_pass(model, test.inputs, batch_size, device))
                measured.append(evaluate(model, test, batch_size, device).seconds)
            b, m = statistics.median(bare), statistics.median(measured)
            seconds[cell.label] = {"bare": bare, "measured": measured}
            rows.append([cell.label, round(len(test) / b, 1), round(len(test) / m, 1), round(m / b, 3)])
            print(f"{cell.label}: bare {len(test) / b:,.1f}/s, measured {len(test) / m:,.1f}/s, "
                  f"measured / bare {m / b:.2f}", flush=True)
    load_after = os.getloadavg()
    setting = (f"{args.samples} test samples per pass at each cell's eval batch size, untrained models, "
               f"{torch.get_num_threads()} thread(s); medians of {args.repeats} alternating passes")
    content = benchmark_file(
        "Evaluation with the activity monitor against a bare forward pass",
        [("cell", "{}"), ("bare samples/s", "{:,.1f}"), ("measured samples/s", "{:,.1f}"),
         ("measured / bare time", "{:.2f}×")], rows,
        notes=[setting + "."], load={"before": load_before[0], "after": load_after[0]},
        details={"pass_seconds": seconds})
    print(f"\n{device_name(device)}; {setting}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after\n")
    publish(content, args.json)


if __name__ == "__main__":
    main()
