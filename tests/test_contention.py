"""Timings taken on a busy machine (snnbench.running.contention): recorded
with each row, flagged in the tables and the report, left out of the means
by default. The load is injected (tests/machine_load.py), never hoped for;
one test reads the real /proc for what this process itself did."""

from __future__ import annotations

import json
import os
import statistics
import time

import pytest
from conftest import ok_rows, suite_toml
from machine_load import FakeMachine, others_used
from test_cli import cli

from snnbench.running import contention
from snnbench.running.contention import is_contended, measuring

SUITE = suite_toml("busy", seeds=(0, 1), extra="""
    [params.encoder.rate]
    timesteps = 8
    [params.learning_rule.bptt]
    lr = 0.02
    [training]
    epochs = 2
    batch_size = 32
    train_limit = 600
    """)


def spin(cpu_seconds: float) -> None:
    """Use ``cpu_seconds`` of CPU time in this process (however long the
    machine's other jobs make that take)."""
    end = time.process_time() + cpu_seconds
    while time.process_time() < end:
        pass


@pytest.mark.parametrize("others, contended", [(0.0, False), (1.5, True)])
def test_what_other_processes_use_is_measured_apart_from_this_process(monkeypatch, others, contended):
    monkeypatch.setattr(contention, "SOURCE", FakeMachine(others, cores=2))
    with measuring(threads=2) as measured:
        spin(0.5)
    record = measured.record
    assert record["others_cores"] == pytest.approx(others, abs=0.1)
    assert record["own_cpu_s"] == pytest.approx(0.5, abs=0.1)  # the spinning, not the others' load
    assert record["contended"] is contended
    assert record["cores"] == 2 and record["threads"] == 2 and record["load_end"] == pytest.approx(others + 1)


def test_cores_left_free_absorb_other_processes():
    """A job of one thread on four cores is not slowed by others using two of
    the three it left free; one that asks for every core is."""
    assert not is_contended(others_cores=2.0, cores=4, threads=1)
    assert is_contended(others_cores=3.5, cores=4, threads=1)
    assert is_contended(others_cores=0.5, cores=4, threads=4)
    assert not is_contended(others_cores=0.2, cores=4, threads=4)  # a daemon's tick is no contention
    assert is_contended(others_cores=0.5, cores=2, threads=8)  # more threads than cores leave none free


def test_the_real_proc_is_read():
    with measuring(threads=1) as measured:
        spin(0.3)
    record = measured.record
    assert record is not None and record["cores"] == os.cpu_count()
    assert record["own_cpu_s"] >= 0.3 and record["wall_s"] >= 0.3 and record["others_cores"] >= 0


def test_no_proc_no_record(monkeypatch):
    def missing(name):
        raise FileNotFoundError(f"/proc/{name}")
    monkeypatch.setattr(contention, "SOURCE", missing)
    with measuring(threads=1) as measured:
        pass
    assert measured.record is None


def test_a_cell_timed_on_a_busy_machine_is_flagged_and_left_out_of_the_means(tmp_path, capsys, monkeypatch):
    suite, db = tmp_path / "busy.toml", tmp_path / "r.db"
    suite.write_text(SUITE)
    monkeypatch.setattr(contention, "SOURCE", FakeMachine(0.0))
    code, out, _ = cli(capsys, "run", suite, "--db", db, "--seeds", "0", "--no-progress")
    assert code == 0 and "BUSY" not in out
    monkeypatch.setattr(contention, "SOURCE", FakeMachine(1.5))  # another job takes one and a half cores
    code, out, _ = cli(capsys, "run", suite, "--db", db, "--seeds", "1", "--no-progress")
    assert code == 0 and others_used(out, "BUSY machine") == pytest.approx(1.5, abs=0.1)
    rows = {r["seed"]: r["metrics"] for r in ok_rows(db)}
    assert rows[0]["contention"]["contended"] is False and rows[1]["contention"]["contended"] is True
    assert rows[1]["contention"]["others_cores"] == pytest.approx(1.5, abs=0.1)
    quiet, busy = (rows[s]["train_samples_per_s"] for s in (0, 1))

    code, out, _ = cli(capsys, "leaderboard", "--db", db, "--metric", "accuracy", "--metric",
                       "train_samples_per_s", "--suites-dir", tmp_path)
    (line,) = [line for line in out.splitlines() if line.startswith("digits") or "(BUSY" in line]
    assert f"{quiet:,.0f} (BUSY: 1 of 2 left out)" in line  # the quiet seed's timing alone, no ± over one
    assert "1 run(s) were timed while other processes used the machine; their timings are left out" in out
    code, out, _ = cli(capsys, "leaderboard", "--db", db, "--format", "json", "--suites-dir", tmp_path)
    (row,) = json.loads(out)["rows"]
    assert row["contended"] == 1 and row["contended_left_out"] == 1
    assert row["metrics"]["train_samples_per_s"] == {"mean": pytest.approx(quiet), "std": None, "n": 1}
    assert row["metrics"]["accuracy"]["n"] == 2  # only timings are left out
    code, out, _ = cli(capsys, "leaderboard", "--db", db, "--format", "json", "--include-contended",
                       "--suites-dir", tmp_path)
    (row,) = json.loads(out)["rows"]
    assert row["metrics"]["train_samples_per_s"]["mean"] == pytest.approx(statistics.mean([quiet, busy]))
    assert row["contended"] == 1 and row["contended_left_out"] == 0

    code, _, _ = cli(capsys, "report", "--db", db, "--out", tmp_path / "site", "--suites-dir", tmp_path)
    assert code == 0
    assert "BUSY: 1 of 2 left out" in (tmp_path / "site" / "suite-busy.html").read_text()
    (cell_page,) = [p for p in (tmp_path / "site").glob("*.html") if p.name not in ("index.html", "suite-busy.html")]
    page = cell_page.read_text()
    assert others_used(page, "BUSY") == pytest.approx(1.5, abs=0.1)
    assert others_used(page, "quiet") == pytest.approx(0.0, abs=0.1)
