"""What the snnbench command's allocator setting buys on a CPU
(:mod:`snnbench.running.host_memory`): the same cells measured in processes
with glibc's default (blocks above 32 MiB are fresh mappings) and with the
setting (every block from the heap, freed memory kept), side by side.

The setting holds for a whole process, so each measurement is a child
process of this script; the two kinds take turns ``--repeats`` times, so a
burst of load on a shared machine hits both alike, and each figure is the
median. Per cell and batch size: a bare forward pass (what
``infer_samples_per_s`` times), the measuring pass (``evaluate``: accuracy
and the activity monitor's counts) and training steps at the suite's batch
size, precision and memory format (forward, cross-entropy, backward, AdamW).

    python benchmarks/host_memory.py --data-dir ../shared/data \\
        --suite stal-spikformer-mnist-bf16-cpu --only convstal-ps-analog --suite encoders-cpu --only direct

Models are the suites' cells as built, untrained.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SETTINGS = ("glibc default", "heap reuse")


def child(args: argparse.Namespace) -> None:
    """Measure in this process, under ``args.child``, and print the seconds as JSON."""
    if args.child == "heap reuse":
        from snnbench.running.host_memory import reuse_freed_host_memory
        assert reuse_freed_host_memory(), "this C library has no mallopt"

    import torch
    from eval_overhead import bare_pass  # this script's folder

    from snnbench.definition.catalog import suite_path
    from snnbench.definition.plugins import load_plugins
    from snnbench.definition.suite import load_suite
    from snnbench.running import execution
    from snnbench.running.assembly import assemble
    from snnbench.running.metrics import evaluate
    from snnbench.running.options import RunOptions
    from snnbench.running.runner import DatasetCache
    from snnbench.runtime import data_root

    device = torch.device("cpu")
    plugins = load_plugins()
    data = DatasetCache(plugins, RunOptions(device=device, data_dir=data_root(args.data_dir), download=False,
                                            progress=False))

    def timed(work) -> tuple[float, float]:
        """Wall and kernel seconds of ``work()``."""
        kernel, started = resource.getrusage(resource.RUSAGE_SELF).ru_stime, time.perf_counter()
        work()
        return time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_stime - kernel

    def train(model, split, training):
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        for begin in range(0, args.train_samples, training.batch_size):
            inputs = split.inputs[begin:begin + training.batch_size]
            with execution.autocast(training.precision, device):
                scores = model(inputs).sum(0)
            loss = torch.nn.functional.cross_entropy(scores.float(), split.targets[begin:begin + len(inputs)])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    seconds: dict[str, dict[str, list[float]]] = {}
    for suite_name, only in zip(args.suite, args.only):
        suite = load_suite(suite_path(suite_name), plugins.registries)
        cell = next(c for c in suite.cells if c.seed == suite.seeds[0] and only in c.label)
        loaded = data.get(cell.dataset)
        torch.manual_seed(0)
        model = assemble(cell, plugins.registries, loaded.info, loaded.train.head(64), device)
        test = loaded.test.head(args.samples)
        for batch_size in sorted({cell.training.eval_batch_size, args.small_batch}, reverse=True):
            bare_pass(model, test.inputs[:batch_size], batch_size, device)  # warm-up
            seconds[f"{cell.label} | eval batch {batch_size} | bare forward"] = timed(
                lambda: bare_pass(model, test.inputs, batch_size, device))
            seconds[f"{cell.label} | eval batch {batch_size} | measuring pass"] = timed(
                lambda: evaluate(model, test, batch_size, device))
        training = cell.training
        model = execution.prepare_model(model, training.memory_format)
        seconds[f"{cell.label} | train batch {training.batch_size} | training steps"] = timed(
            lambda: train(model, loaded.train.head(args.train_samples), training))
    print(json.dumps(seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", action="append", required=True,
                        help="a suite, with the --only after it naming its cell (repeatable, in pairs)")
    parser.add_argument("--only", action="append", required=True, help="part of the cell's label (seed 0)")
    parser.add_argument("--samples", type=int, default=500, help="test samples per pass")
    parser.add_argument("--small-batch", type=int, default=100, help="the eval batch to compare with the suite's")
    parser.add_argument("--train-samples", type=int, default=320, help="training samples per measurement")
    parser.add_argument("--repeats", type=int, default=2, help="alternating child processes of each setting")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="also write the table as a benchmark file (docs: {snnbench-benchmark})")
    parser.add_argument("--child", choices=SETTINGS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if len(args.suite) != len(args.only):
        parser.error("give one --only for every --suite")
    if args.child:
        return child(args)
    if platform.libc_ver()[0] != "glibc":
        print("host_memory: the allocator setting exists with glibc only; nothing to compare here")
        return

    import torch

    from snnbench.results.benchmark_file import benchmark_file, publish
    from snnbench.runtime import device_name

    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, list[float]]]] = {setting: [] for setting in SETTINGS}
    for repeat in range(args.repeats):
        for setting in SETTINGS:
            command = [sys.executable, __file__, *sys.argv[1:], "--child", setting]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"the {setting!r} process failed:\n{done.stderr}")
            runs[setting].append(json.loads(done.stdout.splitlines()[-1]))
            print(f"round {repeat + 1}, {setting}: done", flush=True)
    load_after = os.getloadavg()

    rows = []
    for key in runs[SETTINGS[0]][0]:
        cell, batch, work = key.split(" | ")
        samples = args.train_samples if work == "training steps" else args.samples
        wall = {s: statistics.median(run[key][0] for run in runs[s]) for s in SETTINGS}
        kernel = {s: statistics.median(run[key][1] for run in runs[s]) for s in SETTINGS}
        rows.append([cell, batch, work, samples / wall[SETTINGS[0]], kernel[SETTINGS[0]] / wall[SETTINGS[0]],
                     samples / wall[SETTINGS[1]], kernel[SETTINGS[1]] / wall[SETTINGS[1]],
                     wall[SETTINGS[0]] / wall[SETTINGS[1]]])
        print(f"{cell} {batch} {work}: {samples / wall[SETTINGS[0]]:.1f} -> {samples / wall[SETTINGS[1]]:.1f} "
              f"samples/s ({wall[SETTINGS[0]] / wall[SETTINGS[1]]:.2f}x)", flush=True)
    setting = (f"{args.samples} test samples per pass, {args.train_samples} training samples, untrained models, "
               f"{torch.get_num_threads()} thread(s); medians of {args.repeats} alternating processes of each")
    content = benchmark_file(
        "The allocator setting: glibc's default against heap reuse, on the CPU",
        [("cell", "{}"), ("batch", "{}"), ("work", "{}"), ("default samples/s", "{:,.1f}"),
         ("default time in kernel", "{:.0%}"), ("heap reuse samples/s", "{:,.1f}"),
         ("heap reuse time in kernel", "{:.0%}"), ("speed-up", "{:.2f}×")], rows,
        notes=[setting + "."], load={"before": load_before[0], "after": load_after[0]},
        details={"seconds": {s: runs[s] for s in SETTINGS}})
    print(f"\n{device_name(torch.device('cpu'))}; {setting}; load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after\n")
    publish(content, args.json)


if __name__ == "__main__":
    main()
