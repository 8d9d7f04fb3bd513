"""snnbench run --executor ray on a real local Ray cluster: a head (running
no cells) and one worker node with two CPUs, started once for the module.
The smoke suite (seed 0: eight cells) runs through it; its rows equal a
local run's, a worker killed mid-cell loses no finished row, and an address
nothing listens at is refused before anything is recorded."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import (
    REPO,
    SMOKE_SEED_ARGS,
    repeatable_metrics,
    rows_by_cell,
    run_smoke_here,
)

from snnbench.cli import main
from snnbench.results.models import ModelFolder, ModelRef
from snnbench.results.store import ResultStore

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

SMOKE = REPO / "suites" / "smoke.toml"
TITLE = "ray::snnbench "  # the process title of a worker running a cell (the task's name)


@pytest.fixture(scope="module")
def cluster():
    started = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    started.add_node(num_cpus=2)
    yield started.address
    if ray.is_initialized():
        ray.shutdown()
    started.shutdown()


def run_on(address: str, db: Path, *extra: str) -> int:
    return main(["run", str(SMOKE), *SMOKE_SEED_ARGS, "--db", str(db), "--no-progress", "--executor", "ray",
                 "--address", address, *extra])


@pytest.fixture(scope="module")
def smoke_local_one_thread(tmp_path_factory) -> Path:
    """The smoke suite run here with one torch thread, as each Ray worker runs
    its cells (--cpus-per-cell 1): on this project's AMD EPYC two threads train
    to other numbers."""
    return run_smoke_here(tmp_path_factory.mktemp("smoke-one-thread") / "local.db", threads=1)


def test_rows_equal_a_local_run(cluster, smoke_local_one_thread, tmp_path, capsys):
    db = tmp_path / "ray.db"
    assert run_on(cluster, db) == 0
    out = capsys.readouterr().out
    assert "Ray: 2 node(s), 2 cell(s) at a time, each on 1 CPU(s)" in out
    local, remote = rows_by_cell(smoke_local_one_thread), rows_by_cell(db)
    assert remote.keys() == local.keys() and len(remote) == 8 + 8  # eight cells, eight csnn skips
    for key, row in remote.items():
        assert row["status"] == local[key]["status"]
        assert repeatable_metrics(row) == repeatable_metrics(local[key]), row["label"]
    cells = [row for row in remote.values() if row["status"] == "ok"]
    assert {row["environment"]["host"] for row in cells} == {socket.gethostname()}
    assert {row["device_name"] for row in cells} == {local[key]["device_name"] for key in remote}
    workers = {row["environment"]["ray"]["worker_pid"] for row in cells}
    assert len(workers) == 2 and os.getpid() not in workers  # two workers, each kept for its cells
    for key, row in remote.items():  # each model came back with its row, kept beside the driver's store
        if row["status"] == "ok":
            ref = ModelRef.of_row(row)
            assert ref.sha256 == ModelRef.of_row(local[key]).sha256, row["label"]  # the same weights, byte for byte
            ModelFolder(db).read(ref)

    assert run_on(cluster, db) == 0  # resumed: everything recorded, nothing runs
    assert "0 ok, 0 failed, 8 already recorded" in capsys.readouterr().out
    with ResultStore(db, create=False) as store:
        assert len(store.rows()) == 16


def cell_processes() -> dict[int, str]:
    """pid -> title of every process running a cell for Ray right now."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").replace("\0", " ").strip()
        except OSError:
            continue
        if title.startswith(TITLE):
            found[int(pid)] = title[len(TITLE):]
    return found


def kill_the_first_cell(killed: list[str]) -> None:
    """SIGKILL the first worker seen running a cell; note which cell it was."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for pid, title in cell_processes().items():
            os.kill(pid, signal.SIGKILL)
            killed.append(title)  # "digits/rate/snntorch-lif/mlp/bptt seed=0"
            return
        time.sleep(0.02)


@pytest.mark.parametrize("retries", [1, 0])
def test_a_worker_killed_mid_cell_loses_no_finished_row(cluster, tmp_path, capsys, retries):
    db = tmp_path / "killed.db"
    killed: list[str] = []
    killer = threading.Thread(target=kill_the_first_cell, args=(killed,))
    killer.start()
    code = run_on(cluster, db, "--retries", str(retries))
    killer.join()
    assert len(killed) == 1
    rows = [row for row in ResultStore(db, create=False).rows() if row["status"] != "skipped"]
    assert len(rows) == 8 and len({(row["config_hash"], row["seed"]) for row in rows}) == 8  # each cell once
    by_label = {f"{row['label']} seed={row['seed']}": row for row in rows}
    interrupted = by_label[killed[0]]
    others = [row for label, row in by_label.items() if label != killed[0]]
    assert all(row["status"] == "ok" for row in others)
    if retries:
        assert code == 0 and interrupted["status"] == "ok"  # Ray restarted the worker and ran the cell again
    else:
        assert code == 1 and interrupted["status"] == "failed"
        assert interrupted["reason"].startswith("the Ray worker running this cell was lost with no retry")
        capsys.readouterr()
        assert run_on(cluster, db) == 0  # a rerun runs just that cell
        assert "1 ok, 0 failed, 7 already recorded" in capsys.readouterr().out


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_address_nothing_listens_at_is_refused_before_anything_is_recorded(tmp_path, capsys):
    db = tmp_path / "kept.db"
    address = f"127.0.0.1:{free_port()}"
    assert run_on(address, db) == 2
    err = capsys.readouterr().err
    assert f"--address {address}: no Ray cluster answers" in err and "Traceback" not in err
    assert not db.exists()


@pytest.mark.parametrize("address", ["nohost", "10.0.0.1:port", "ray://"])
def test_an_address_that_is_not_host_and_port_is_refused(tmp_path, capsys, address):
    assert run_on(address, tmp_path / "x.db") == 2
    assert "give the cluster's head as HOST:PORT" in capsys.readouterr().err
