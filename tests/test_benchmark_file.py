"""Benchmark files: a benchmark script's table committed with its provenance,
written by a real (tiny) run of benchmarks/model_speed.py and read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from snnbench.api.errors import SnnbenchError
from snnbench.results.benchmark_file import (
    benchmark_file,
    formatted_rows,
    markdown_table,
    read_benchmark_file,
    write_benchmark_file,
)

REPO = Path(__file__).resolve().parents[1]


def test_model_speed_writes_the_like_for_like_pair_it_printed(tmp_path, mnist_dir):
    out = tmp_path / "speed.json"
    result = subprocess.run(
        [sys.executable, "-W", "ignore", str(REPO / "benchmarks" / "model_speed.py"), "--data-dir", str(mnist_dir),
         "--only", "snnTorch as its", "bf16, channels-last", "--rounds", "1", "--batches", "1",
         "--batch-size", "8", "--timesteps", "3", "--json", str(out)],
        capture_output=True, text=True, timeout=600, check=False, env=os.environ | {"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    content = read_benchmark_file(out)
    names = [row[0] for row in content["rows"]]
    assert names == ["snnTorch as its tutorial writes it (Python loop over t)",
                     "snnTorch's loop, bf16, channels-last", "snnbench cell, `lif-fused`, bf16, channels-last"]
    rates = {row[0]: row[1] for row in content["rows"]}
    assert all(rate > 0 for rate in rates.values())
    assert content["rows"][0][2] == 1.0  # the fp32 snnTorch loop is what every ratio divides by
    for name, rate, ratio in content["rows"]:
        assert ratio == pytest.approx(rate / content["rows"][0][1], rel=2e-3)
    assert "model_speed.py" in content["command"] and "--json" in content["command"]
    assert content["machine"]["isa"] and content["machine"]["threads"] == 1
    assert set(content["details"]["round_seconds"]) == set(names)
    # what the script printed is the table the docs render from the file
    assert markdown_table(content) in result.stdout


def test_rows_must_fit_their_columns_and_none_shows_as_a_dash(tmp_path):
    with pytest.raises(ValueError, match="2 values under 3 columns"):
        benchmark_file("t", [("a", "{}"), ("b", "{}"), ("c", "{}")], [[1, 2]])
    content = benchmark_file("t", [("name", "{}"), ("rate", "{:,.0f}"), ("ratio", "{:.2f}×")],
                             [["x", 1234.5, None], ["y", 10.0, 1.5]])
    assert formatted_rows(content) == [["x", "1,234", "–"], ["y", "10", "1.50×"]]
    path = tmp_path / "deep" / "b.json"
    write_benchmark_file(content, path)
    assert read_benchmark_file(path)["rows"] == [["x", 1234.5, None], ["y", 10.0, 1.5]]


def test_a_file_that_is_not_a_benchmark_file_is_named(tmp_path):
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "snnbench-results/1"}))
    with pytest.raises(SnnbenchError, match="other.json: not a benchmark file"):
        read_benchmark_file(other)
    with pytest.raises(SnnbenchError, match="cannot read the benchmark file .*missing.json"):
        read_benchmark_file(tmp_path / "missing.json")


def test_every_committed_benchmark_file_reads_and_is_shown_in_the_docs():
    files = sorted((REPO / "benchmarks" / "results").glob("*.json"))
    pages = "\n".join(page.read_text() for page in (REPO / "docs").rglob("*.md"))
    for path in files:
        read_benchmark_file(path)
        assert f"{{snnbench-benchmark}} {path.relative_to(REPO).as_posix()}" in pages, \
            f"{path.name} is committed but no docs page renders it"
