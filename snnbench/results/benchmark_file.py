"""Benchmark files: the table a benchmark script measured, committed as JSON
with where it came from.

Result files (:mod:`snnbench.results.result_file`) hold leaderboard rows; a
benchmark script (``benchmarks/*.py``) measures things that are not cells —
training loops of other frameworks side by side, a learning rule's readout
under several schedules — and prints a table. For that table to appear in
the docs it must be committed, like a result file, with what a reader needs
to trust it: the command, the machine (CPU, kernel set, threads, GPU), the
commit, the load the machine carried, and when it was written. The docs
render these files when they build (``{snnbench-benchmark}``), so no figure
is typed in by hand.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from snnbench import __version__
from snnbench.api.errors import SnnbenchError
from snnbench.results.result_file import read_committed_json
from snnbench.runtime import git_commit, machine

FORMAT = "snnbench-benchmark/1"
REQUIRED = ("title", "command", "machine", "columns", "formats", "rows", "written_at")


def benchmark_file(title: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]], *,
                   notes: Sequence[str] = (), load: dict[str, float] | None = None,
                   device: torch.device | None = None, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The content of a benchmark file for a table measured in this process.

    ``columns`` are (heading, format) pairs, the format a :meth:`str.format`
    pattern such as ``"{:,.0f}"`` or ``"{:.2f}×"`` (``"{}"`` for text);
    ``rows`` hold plain values (numbers stay numbers, so a reader can compute
    with them); ``notes`` are sentences printed under the table; ``load`` the
    load averages before and after, where the script measured them;
    ``details`` anything a later analysis needs that the table leaves out
    (per-round timings, learning curves)."""
    width = len(columns)
    for row in rows:
        if len(row) != width:
            raise ValueError(f"a row of {len(row)} values under {width} columns: {row!r}")
    return {
        "format": FORMAT,
        "title": title,
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "machine": machine(device) | {"cores": os.cpu_count()},
        "commit": git_commit(Path(__file__).resolve().parent),
        "load_average": load,
        "written_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "written_by": f"snnbench {__version__}",
        "columns": [heading for heading, _ in columns],
        "formats": [pattern for _, pattern in columns],
        "rows": [list(row) for row in rows],
        "notes": list(notes),
        "details": details or {},
    }


def write_benchmark_file(content: dict[str, Any], path: Path | str) -> None:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=1, allow_nan=False) + "\n")
    except OSError as error:
        raise SnnbenchError(f"cannot write the benchmark file {path}: {error.strerror or error}") from None


def publish(content: dict[str, Any], path: Path | str | None) -> None:
    """What every benchmark script ends with: print the table, and write it
    to ``path`` (its ``--json``) when one is given."""
    print(markdown_table(content))
    if path is not None:
        write_benchmark_file(content, path)
        print(f"\nwrote {path}")


def read_benchmark_file(path: Path | str) -> dict[str, Any]:
    return read_committed_json(path, FORMAT, "benchmark file", REQUIRED)


def describe_machine(described: dict[str, Any]) -> str:
    """One line: CPU, kernel set, threads, torch, and the GPU where there was one."""
    threads = described["threads"]
    text = (f"{described['cpu']}, torch {described['torch']} "
            f"({described['isa']}, {threads} thread{'' if threads == 1 else 's'})")
    return text + (f", {described['gpu']}, CUDA {described['cuda']}" if described.get("gpu") else "")


def formatted_rows(content: dict[str, Any]) -> list[list[str]]:
    """The rows as the script printed them and the docs show them (None: "–")."""
    return [["–" if value is None else pattern.format(value) for value, pattern in zip(row, content["formats"])]
            for row in content["rows"]]


def markdown_table(content: dict[str, Any]) -> str:
    lines = ["| " + " | ".join(content["columns"]) + " |", "|" + "---|" * len(content["columns"])]
    lines += ["| " + " | ".join(row) + " |" for row in formatted_rows(content)]
    return "\n".join(lines)
