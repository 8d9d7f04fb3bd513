"""What the driver's SQLite store costs at scale: the store traffic of a run
of N cells (a claim, then the row written with its claim released, one
transaction each, as :class:`snnbench.running.runner.Runner` does), reading
every row back for the leaderboard, and merging the stores of shards.

The rows are copies of one real row: the first smoke-suite cell, trained
here (a few seconds), so each carries a real cell's metrics and detail.

    python benchmarks/store_scale.py --cells 10000 --shards 10
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from snnbench.definition.plugins import load_plugins
from snnbench.definition.suite import load_suite
from snnbench.results.leaderboard import latest_results
from snnbench.results.merge import merge_stores
from snnbench.results.store import ResultStore
from snnbench.running.leases import CellKey, CellLeases
from snnbench.running.runner import DatasetCache, run_cell, run_environment
from snnbench.running.options import RunOptions
from snnbench.runtime import data_root, device_name

REPO = Path(__file__).resolve().parents[1]


def real_row():
    plugins = load_plugins()
    options = RunOptions(device=torch.device("cpu"), data_dir=data_root(), progress=False)
    cell = load_suite(REPO / "suites" / "smoke.toml", plugins.registries).cells[0]
    return run_cell(cell, plugins, DatasetCache(plugins, options), options, run_environment(plugins, options))


def record_cells(path: Path, template, cells: range) -> float:
    """Seconds to claim and record ``cells`` as a run does."""
    with ResultStore(path) as store:
        leases = CellLeases(store, since=store.last_row_id())
        started = time.perf_counter()
        for number in cells:
            row = dataclasses.replace(template, config_hash=f"{number:016x}", seed=number % 3)
            key = CellKey(row.suite, row.config_hash, row.seed, row.device_type)
            leases.claim(key)
            store.record(row, also=leases.release_in(key))
        seconds = time.perf_counter() - started
        leases.release_all()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=10_000)
    parser.add_argument("--shards", type=int, default=10)
    args = parser.parse_args()
    template = real_row()
    size = sum(len(str(value)) for value in dataclasses.asdict(template).values())
    print(f"machine: {device_name(torch.device('cpu'))}; one row ~{size / 1000:.1f} kB of text")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        whole = folder / "whole.db"
        seconds = record_cells(whole, template, range(args.cells))
        print(f"claim + record {args.cells:,} cells, one transaction each: {seconds:.1f} s "
              f"({seconds / args.cells * 1000:.2f} ms a cell); file {whole.stat().st_size / 2**20:.0f} MiB")
        with ResultStore(whole, create=False) as store:
            started = time.perf_counter()
            rows = store.rows()
            read = time.perf_counter() - started
            latest_results(rows)
            board = time.perf_counter() - started
            started = time.perf_counter()
            for number in range(0, args.cells, args.cells // 100):
                store.newest_row(template.suite, f"{number:016x}", number % 3, template.device_type)
            lookup = (time.perf_counter() - started) / 100
        print(f"read all {len(rows):,} rows: {read:.1f} s; with the leaderboard's newest-row pass: {board:.1f} s; "
              f"one cell's newest row: {lookup * 1000:.2f} ms")
        per_shard = args.cells // args.shards
        shards = [folder / f"shard-{k}.db" for k in range(args.shards)]
        for k, path in enumerate(shards):
            record_cells(path, template, range(k * per_shard, (k + 1) * per_shard))
        started = time.perf_counter()
        summary = merge_stores(shards, folder / "merged.db")
        print(f"merge {args.shards} shard stores of {per_shard:,} rows: {time.perf_counter() - started:.1f} s "
              f"({summary.total:,} rows)")


if __name__ == "__main__":
    main()
