"""Shared fixtures: the real data directory, the plugin set, GPU skipping."""

from __future__ import annotations

import getpass
import os
import tempfile
import textwrap
from pathlib import Path

import pytest
import torch

from snnbench.definition.plugins import load_plugins
from snnbench.results.store import ResultStore

REPO = Path(__file__).resolve().parents[1]

# Inductor's kernel cache is not keyed by the ISA the kernels were built for: a
# kernel of the compile backend built natively on AVX-512 and loaded again under
# ATEN_CPU_CAPABILITY=avx2 gave wrong spikes in half its lanes (lif-fused at
# T=25, 640 neurons; a fresh cache under avx2 gave the right ones). A cache per
# capability keeps "rerun the tests with another machine's kernels" honest.
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(
    Path(tempfile.gettempdir()) / f"torchinductor-{getpass.getuser()}-{os.environ.get('ATEN_CPU_CAPABILITY', 'native')}"))


def shared_data_dir() -> Path:
    """``$SNNBENCH_DATA`` if set, else the ``shared/data`` beside the checkout."""
    return Path(os.environ.get("SNNBENCH_DATA") or REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    root = shared_data_dir()
    if not (root / "MNIST" / "raw" / "train-images-idx3-ubyte").exists() and not (
            root / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST not found under {root}/MNIST/raw (set SNNBENCH_DATA to a folder holding it)")
    return root


@pytest.fixture(scope="session")
def plugins():
    return load_plugins()


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; none here")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def ok_rows(db) -> list[dict]:
    """The rows of ``db`` whose cells ran to the end."""
    with ResultStore(db) as store:
        return [r for r in store.rows() if r["status"] == "ok"]


def suite_toml(name: str = "t", *, seeds=(0,), dataset=("digits",), encoder=("rate",),
               neuron=("snntorch-lif",), architecture=("mlp",), learning_rule=("bptt",), extra: str = "") -> str:
    """The text of a suite file; ``extra`` is appended verbatim (params, training).

    Line 1 is blank and the matrix starts on line 6, which tests of error
    line numbers rely on."""
    names = lambda values: "[" + ", ".join(f'"{v}"' for v in values) + "]"  # noqa: E731
    return (f'\n[suite]\nname = "{name}"\nseeds = [{", ".join(map(str, seeds))}]\n\n[matrix]\n'
            f"dataset = {names(dataset)}\nencoder = {names(encoder)}\nneuron = {names(neuron)}\n"
            f"architecture = {names(architecture)}\nlearning_rule = {names(learning_rule)}\n"
            + textwrap.dedent(extra))


#: the smoke suite cut to one seed (eight cells): what the executor and shard tests run
SMOKE_SEED_ARGS = ("--seeds", "0")
#: the metrics a cell's row must repeat exactly when it runs again on this machine
REPEATABLE_METRICS = ("accuracy", "sparsity", "encoder_density", "synops_ac", "synops_mac", "final_train_loss",
                      "parameters", "confusion")


def run_smoke_here(db: Path, threads: int | None = None) -> Path:
    """``db`` with the smoke suite's seed-0 cells run in this process, one after
    another, with ``threads`` torch threads (default: as many as now). The
    thread count matters: on some CPUs it changes the order of float sums and
    so the trained numbers."""
    import torch

    from snnbench.cli import main

    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        assert main(["run", str(REPO / "suites" / "smoke.toml"), *SMOKE_SEED_ARGS, "--db", str(db),
                     "--no-progress"]) == 0
    finally:
        torch.set_num_threads(before)
    return db


@pytest.fixture(scope="session")
def smoke_local(tmp_path_factory) -> Path:
    """A store with the smoke suite's seed-0 cells run here, one after another."""
    return run_smoke_here(tmp_path_factory.mktemp("smoke-local") / "local.db")


def rows_by_cell(db) -> dict[tuple, dict]:
    """The newest row of each cell (and skip) in ``db``."""
    with ResultStore(db, create=False) as store:
        return {(row["suite"], row["config_hash"], row["seed"]): row for row in store.rows()}


def repeatable_metrics(row: dict) -> dict:
    return {key: row["metrics"].get(key) for key in REPEATABLE_METRICS}
