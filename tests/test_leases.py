"""Claims on cells: processes that share a store share a suite's cells, with
no cell run twice, and a claim whose process died lapses (at once on this
host, after its lease elsewhere)."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
import torch
from conftest import ok_rows, suite_toml

from snnbench.api.records import ResultRow
from snnbench.definition.suite import load_suite
from snnbench.results.store import ResultStore
from snnbench.running.leases import CellKey, CellLeases, Outcome
from snnbench.running.runner import Runner
from snnbench.running.options import RunOptions

KEY = CellKey("s", "hash-rate", 0, "cpu")


def row_of(key: CellKey, status: str = "ok") -> ResultRow:
    components = {"dataset": "digits", "encoder": "rate", "neuron": "snntorch-lif", "architecture": "mlp",
                  "learning_rule": "bptt"}
    return ResultRow(suite=key.suite, label="/".join(components.values()), config_hash=key.config_hash,
                     seed=key.seed, device_type=key.device_type, device_name="test", status=status,
                     components=components, config={}, metrics={"accuracy": 0.9} if status == "ok" else {})


def claims(store: ResultStore) -> list[tuple]:
    return store.read("read it", lambda db: db.execute("SELECT owner, host, pid, expires_at FROM claims").fetchall())


def put_claim(store: ResultStore, key: CellKey, *, host: str, pid: int, expires_at: float) -> None:
    store.write("claim", lambda db: db.execute("INSERT INTO claims VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                               (*key.as_params(), f"{host}:{pid}:test", host, pid, expires_at)))


@pytest.fixture
def store(tmp_path):
    with ResultStore(tmp_path / "results.db") as opened:
        yield opened


def test_a_claimed_cell_is_held_for_others_until_its_row_is_written(store):
    first, second = CellLeases(store), CellLeases(store)
    try:
        assert first.claim(KEY).outcome is Outcome.CLAIMED
        held = second.claim(KEY)
        assert held.outcome is Outcome.HELD and held.holder == f"pid {first.pid} on {first.host}"
        store.record(row_of(KEY), also=first.release_in(KEY))
        assert claims(store) == []  # the row and the release are one transaction
        assert second.claim(KEY).outcome is Outcome.RECORDED_BY_OTHER
        assert CellLeases(store, since=store.last_row_id()).claim(KEY).outcome is Outcome.RECORDED
        assert CellLeases(store, rerun=True, since=store.last_row_id()).claim(KEY).outcome is Outcome.CLAIMED
    finally:
        first.release_all()
        second.release_all()


def test_a_failed_row_written_during_the_run_counts_as_done(store):
    other = CellLeases(store)
    store.record(row_of(KEY, "failed"))
    assert other.claim(KEY).outcome is Outcome.RECORDED_BY_OTHER  # not run a second time
    later = CellLeases(store, since=store.last_row_id())
    assert later.claim(KEY).outcome is Outcome.CLAIMED  # a later run retries a failed cell
    later.release_all()


def test_a_claim_of_a_dead_process_on_this_host_lapses_at_once(store):
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    leases = CellLeases(store)
    put_claim(store, KEY, host=leases.host, pid=finished.pid, expires_at=time.time() + 3600)
    assert leases.claim(KEY).outcome is Outcome.CLAIMED
    assert [c[0] for c in claims(store)] == [leases.owner]
    leases.release_all()
    assert claims(store) == []


def test_a_claim_from_another_host_holds_until_its_lease_expires(store):
    leases = CellLeases(store)
    put_claim(store, KEY, host="elsewhere", pid=1, expires_at=time.time() + 3600)
    assert leases.claim(KEY).holder == "pid 1 on elsewhere"
    other = CellKey("s", "hash-latency", 0, "cpu")
    put_claim(store, other, host="elsewhere", pid=1, expires_at=time.time() - 1)
    assert leases.claim(other).outcome is Outcome.CLAIMED
    leases.release_all()


def test_a_live_process_keeps_renewing_its_lease(store):
    leases = CellLeases(store, lease_seconds=0.3)
    assert leases.claim(KEY).outcome is Outcome.CLAIMED
    (first,) = [c[3] for c in claims(store)]
    deadline = time.monotonic() + 30
    while claims(store)[0][3] == first and time.monotonic() < deadline:
        time.sleep(0.05)
    leases.release_all()
    assert store.read("read it", lambda db: db.execute("SELECT count(*) FROM claims").fetchone()[0]) == 0
    assert time.monotonic() < deadline, "the lease was never renewed"


SUITE = suite_toml("shared", seeds=(0, 1, 2), encoder=("rate", "latency"), extra="""
    [params.encoder.rate]
    timesteps = 4
    [params.encoder.latency]
    timesteps = 4
    [training]
    train_limit = 300
    test_limit = 100
""")


def test_a_run_waits_for_a_cell_another_host_holds_and_takes_it_when_the_lease_lapses(tmp_path, plugins, capsys):
    path = tmp_path / "suite.toml"
    path.write_text(SUITE)
    suite = load_suite(path, plugins.registries)
    options = RunOptions(device=torch.device("cpu"), data_dir=tmp_path, progress=False, poll_seconds=0.1)
    taken = suite.cells[0]
    with ResultStore(tmp_path / "r.db") as store:
        put_claim(store, CellKey(suite.name, taken.config_hash, taken.seed, "cpu"), host="elsewhere", pid=1,
                  expires_at=time.time() + 2)
        summary = Runner(plugins, store, options).run(suite)
        assert claims(store) == []
    assert (summary.ok, summary.failed, summary.elsewhere) == (6, 0, 0)
    assert "waiting for 1 cell(s) other processes are running (pid 1 on elsewhere)" in capsys.readouterr().out
    cells = [(r["config_hash"], r["seed"]) for r in ok_rows(tmp_path / "r.db")]
    assert len(cells) == len(set(cells)) == 6
    assert cells[-1] == (taken.config_hash, taken.seed)  # run last, once its lease lapsed


def test_two_runs_of_one_suite_on_one_store_share_its_cells(tmp_path):
    path = tmp_path / "suite.toml"
    path.write_text(SUITE)
    db = tmp_path / "r.db"
    command = [sys.executable, "-m", "snnbench.cli", "run", str(path), "--db", str(db), "--no-progress"]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for _ in range(2)]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    cells = [(r["config_hash"], r["seed"]) for r in ok_rows(db)]
    assert len(cells) == len(set(cells)) == 6
    ran = [int(re.search(r"suite shared: (\d+) ok", out).group(1)) for out in outputs]
    assert sum(ran) == 6, outputs
