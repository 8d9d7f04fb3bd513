"""A cell killed between epochs resumes from its last finished epoch, and its
row equals the row of the same cell run without interruption."""

from __future__ import annotations

import importlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import REPEATABLE_METRICS, ok_rows, suite_toml
from test_cli import cli
from test_first_hour import PLUGIN

from snnbench.api import SnnbenchError
from snnbench.definition.catalog import suite_path
from snnbench.definition.suite import load_suite, read_suite
from snnbench.results.store import ResultStore
from snnbench.running import checkpoints, runner
from snnbench.running.checkpoints import read_checkpoint
from snnbench.running.in_flight import named, unfinished_cells
from snnbench.running.leases import CellKey, CellLeases

#: a watcher that stops the run in the second epoch, once the first epoch's
#: checkpoint is on disk, so the test can kill the process between epochs
STALL_IN_SECOND_EPOCH = '''
import time
from pathlib import Path

from snnbench.api import hookimpl

@hookimpl
def snnbench_epoch_closed(cell, stats):
    if stats.epoch == 1:
        Path(__file__).with_name("stalled").touch()
        time.sleep(600)
'''

THREE_EPOCHS = """
[params.encoder.rate]
timesteps = 4
[params.architecture.mlp]
hidden = [32]
[params.learning_rule.bptt]
lr = 0.01
[training]
epochs = 3
batch_size = 64
lr_schedule = "step"
lr_step_size = 1
lr_gamma = 0.5
"""


def _snnbench(*args: str, cwd: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "snnbench.cli", *args, "--no-progress"], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _stalled_run(suite: Path, db: Path, env: dict) -> subprocess.Popen:
    """A run of ``suite`` with STALL_IN_SECOND_EPOCH, once it stalls: the first
    epoch's checkpoint is on disk and the process waits to be signalled."""
    (suite.parent / "stall_plugin.py").write_text(STALL_IN_SECOND_EPOCH)
    run = _snnbench("--plugin", "stall_plugin", "run", str(suite), "--db", str(db), cwd=suite.parent, env=env)
    deadline = time.monotonic() + 300
    while not (suite.parent / "stalled").exists():
        assert run.poll() is None, run.stdout.read()
        assert time.monotonic() < deadline, "the run never reached its second epoch"
        time.sleep(0.2)
    return run


def test_a_cell_killed_between_epochs_resumes_and_records_the_uninterrupted_row(tmp_path):
    suite = tmp_path / "suite.toml"
    suite.write_text(suite_toml("resumed", extra=THREE_EPOCHS))
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "OMP_NUM_THREADS": "1"}

    whole = _snnbench("run", str(suite), "--db", str(tmp_path / "whole.db"), cwd=tmp_path, env=env)
    assert whole.wait(timeout=300) == 0, whole.stdout.read()

    killed = _stalled_run(suite, tmp_path / "resumed.db", env)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    (checkpoint,) = (tmp_path / "resumed.db.checkpoints").iterdir()
    assert ok_rows(tmp_path / "resumed.db") == []

    resumed = _snnbench("run", str(suite), "--db", str(tmp_path / "resumed.db"), cwd=tmp_path, env=env)
    output = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, output
    assert "resumed from" in output and "after epoch 1" in output
    assert not checkpoint.exists(), "the checkpoint is removed once the row is written"

    (expected,), (got,) = ok_rows(tmp_path / "whole.db"), ok_rows(tmp_path / "resumed.db")
    assert got["config_hash"] == expected["config_hash"]
    for key in REPEATABLE_METRICS:
        assert got["metrics"][key] == expected["metrics"][key], key
    assert [(h["loss"], h["train_accuracy"]) for h in got["metrics"]["history"]] == [
        (h["loss"], h["train_accuracy"]) for h in expected["metrics"]["history"]]
    assert len(got["metrics"]["epoch_seconds"]["train"]) == 3


def test_sigterm_stops_a_run_as_ctrl_c_does_keeping_the_saved_epochs(tmp_path):
    """A scheduler preempting the job sends SIGTERM: the run says what it
    keeps, releases its claim at once and exits 143, instead of dying silently."""
    suite = tmp_path / "suite.toml"
    suite.write_text(suite_toml("terminated", extra=THREE_EPOCHS))
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "OMP_NUM_THREADS": "1"}
    run = _stalled_run(suite, tmp_path / "r.db", env)
    run.send_signal(signal.SIGTERM)
    output = run.communicate(timeout=60)[0]
    assert run.returncode == 128 + signal.SIGTERM, output
    assert "stopped by SIGTERM; every finished cell is recorded" in output and "Traceback" not in output
    (checkpoint,) = (tmp_path / "r.db.checkpoints").iterdir()
    assert read_checkpoint(checkpoint)["epochs_done"] == 1
    with sqlite3.connect(tmp_path / "r.db") as db:
        assert db.execute("SELECT count(*) FROM claims").fetchone()[0] == 0, "the claim is released"


def test_a_cell_whose_measuring_fails_keeps_its_training_for_the_next_run(tmp_path, capsys):
    """Hours of training must not go with a measuring pass that fails (a
    metric's bug, too little memory): the failed row leaves the saved epochs,
    and the next run only measures, recording the row a clean run records."""
    suite = tmp_path / "suite.toml"
    suite.write_text(suite_toml("measured-again", extra=THREE_EPOCHS))
    assert cli(capsys, "run", suite, "--db", tmp_path / "whole.db", "--no-progress")[0] == 0

    def failing_evaluate(*args, **kwargs):
        raise MemoryError("the test split did not fit")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "evaluate", failing_evaluate)
        code, out, _ = cli(capsys, "run", suite, "--db", tmp_path / "failed.db", "--no-progress")
    assert code != 0 and "FAILED" in out and "the test split did not fit" in out
    (checkpoint,) = (tmp_path / "failed.db.checkpoints").iterdir()
    assert f"its saved epochs stay in {checkpoint}" in out
    assert read_checkpoint(checkpoint)["epochs_done"] == 3

    code, out, _ = cli(capsys, "run", suite, "--db", tmp_path / "failed.db", "--no-progress")
    assert code == 0 and "after epoch 3" in out
    assert not checkpoint.exists(), "the checkpoint is removed once an ok row is written"
    (expected,), (got,) = ok_rows(tmp_path / "whole.db"), ok_rows(tmp_path / "failed.db")
    for key in REPEATABLE_METRICS:
        assert got["metrics"][key] == expected["metrics"][key], key
    assert len(got["metrics"]["epoch_seconds"]["train"]) == 3, "no epoch trained twice"


def test_a_damaged_checkpoint_is_a_clear_error_naming_it(tmp_path):
    path = tmp_path / "cell.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(SnnbenchError, match="cell.pt.*delete it"):
        read_checkpoint(path)


#: first_hour's editable encoder, renamed, with a hook that stops the run
EDITABLE_PLUGIN = PLUGIN.replace('"fh-repeat"', '"ck-repeat"') + '''
from pathlib import Path

#: while this file exists, the run stops (as Ctrl-C would) when the second epoch closes
STOP = Path(__file__).with_name("stop-in-second-epoch")


@hookimpl
def snnbench_epoch_closed(cell, stats):
    if stats.epoch == 1 and STOP.exists():
        STOP.unlink()
        raise KeyboardInterrupt
'''


class EditablePluginRuns:
    """``snnbench run`` in this process of a three-epoch suite on the encoder
    of EDITABLE_PLUGIN, imported anew from the source given each time."""

    module = "checkpoint_edited_encoder"

    def __init__(self, tmp_path, monkeypatch, capsys):
        self.tmp_path, self.monkeypatch, self.capsys = tmp_path, monkeypatch, capsys
        monkeypatch.syspath_prepend(str(tmp_path))
        self.suite = tmp_path / "suite.toml"
        self.suite.write_text(suite_toml("edited-mid-run", encoder=("ck-repeat",), extra=THREE_EPOCHS))
        self.stop = tmp_path / "stop-in-second-epoch"

    def run(self, source: str, db: str, *args) -> tuple[int, str]:
        (self.tmp_path / f"{self.module}.py").write_text(source)
        self.monkeypatch.delitem(sys.modules, self.module, raising=False)
        importlib.invalidate_caches()
        code, out, err = cli(self.capsys, "--plugin", self.module, *args, "run", self.suite,
                             "--db", self.tmp_path / db, "--no-progress")
        return code, out + err


def test_epochs_saved_by_other_plugin_code_are_not_resumed_from(tmp_path, monkeypatch, capsys):
    """Interrupted in its second epoch, the cell resumes after the first while
    its code is unchanged; once the encoder is edited, the saved epoch is old
    code's work, so the cell trains from its first epoch and records the row
    an uninterrupted run of the new code records."""
    runs = EditablePluginRuns(tmp_path, monkeypatch, capsys)
    runs.stop.touch()
    code, output = runs.run(EDITABLE_PLUGIN, "r.db")
    assert code == 130 and "interrupted" in output
    (checkpoint,) = (tmp_path / "r.db.checkpoints").iterdir()
    runs.stop.touch()
    code, output = runs.run(EDITABLE_PLUGIN, "r.db")
    assert code == 130 and f"resumed from {checkpoint.name} after epoch 1" in output

    edited = EDITABLE_PLUGIN.replace("GAIN = 1.0", "GAIN = 0.25")
    code, output = runs.run(edited, "r.db")
    assert code == 0, output
    assert (f"not resuming from {checkpoint.name}: the code of encoder 'ck-repeat' changed since it was saved; "
            "training from the first epoch") in output
    assert not checkpoint.exists()
    assert runs.run(edited, "uninterrupted.db")[0] == 0
    (got,), (expected,) = ok_rows(tmp_path / "r.db"), ok_rows(tmp_path / "uninterrupted.db")
    for key in REPEATABLE_METRICS:
        assert got["metrics"][key] == expected["metrics"][key], key
    assert len(got["metrics"]["history"]) == 3


def test_status_lists_cells_saved_mid_training_and_cells_running_now(tmp_path, monkeypatch, capsys, plugins):
    def unfinished_cells_of(db, held):
        with ResultStore(db) as store:
            leases = CellLeases(store)
            leases.claim(held)
            try:
                return unfinished_cells(store)
            finally:
                leases.release_all()

    runs = EditablePluginRuns(tmp_path, monkeypatch, capsys)
    db = tmp_path / "r.db"
    runs.stop.touch()
    assert runs.run(EDITABLE_PLUGIN, "r.db")[0] == 130
    code, out, _ = cli(capsys, "status", "--db", db)
    assert code == 0
    (line,) = [line for line in out.splitlines() if line.startswith("stopped")]
    assert "edited-mid-run" in line and "digits/ck-repeat/snntorch-lif/mlp/bptt" in line and " 1/3 " in line
    assert re.search(r"loss \d\.\d{4}, train \d+\.\d\d%", line)
    assert f"snnbench run edited-mid-run --db {db}" in out

    (checkpoint,) = (tmp_path / "r.db.checkpoints").iterdir()
    seed_one = CellKey("edited-mid-run", read_checkpoint(checkpoint)["cell"]["config_hash"], 1, "cpu")
    with ResultStore(db) as store:
        leases = CellLeases(store)
        leases.claim(seed_one)
        code, out, _ = cli(capsys, "status", "--db", db)
        leases.release_all()
    (running,) = [line for line in out.splitlines() if line.startswith("running")]
    assert f"pid {os.getpid()}" in running and f"config {seed_one.config_hash[:12]}" in running  # no suite here
    assert "2 cell(s) in flight" in out
    named_cells = named(unfinished_cells_of(db, seed_one), lambda suite: {seed_one.config_hash: "a/b/c/d/e"})
    assert [cell.label for cell in named_cells if cell.key == seed_one] == ["a/b/c/d/e"]

    (tmp_path / "r.db.checkpoints" / "damaged.pt").write_bytes(b"not a checkpoint")
    code, out, _ = cli(capsys, "status", "--db", db)
    assert code == 0 and "cannot resume from checkpoint" in out and "damaged.pt: it is damaged" in out
    old_format = read_checkpoint(checkpoint) | {"format": 1}
    torch.save(old_format, tmp_path / "r.db.checkpoints" / "old.pt")
    code, out, _ = cli(capsys, "status", "--db", db)
    assert code == 0 and "old.pt: it is of checkpoint format 1, this snnbench writes format 2" in out
    (tmp_path / "r.db.checkpoints" / "old.pt").unlink()

    smoke = read_suite(suite_path("smoke")).build(plugins.registries).cells[0]  # a built-in suite names its cells
    with ResultStore(tmp_path / "smoke.db") as store:
        leases = CellLeases(store)
        leases.claim(CellKey("smoke", smoke.config_hash, smoke.seed, "cpu"))
        code, out, _ = cli(capsys, "status", "--db", tmp_path / "smoke.db")
        leases.release_all()
    (running,) = [line for line in out.splitlines() if line.startswith("running")]
    assert code == 0 and smoke.label in running

    runs.stop.unlink(missing_ok=True)
    assert runs.run(EDITABLE_PLUGIN, "r.db")[0] == 0
    (tmp_path / "r.db.checkpoints" / "damaged.pt").unlink()
    code, out, _ = cli(capsys, "status", "--db", db)
    assert code == 0 and "no cell in flight" in out


def test_runs_sharing_a_store_never_trip_over_its_checkpoint_folder(tmp_path, monkeypatch, plugins):
    """Two runs on one store: one removes the folder as its last file goes,
    just as the other is about to write into it; CI lost a cell to that."""
    folder = tmp_path / "r.db.checkpoints"
    folder.mkdir()
    (folder / "other-run.pt").write_bytes(b"")
    checkpoints.remove_checkpoint(folder / "mine.pt")  # the other run's file keeps the folder
    assert (folder / "other-run.pt").exists()
    checkpoints.remove_checkpoint(folder / "other-run.pt")
    assert not folder.exists()
    checkpoints.remove_checkpoint(folder / "gone.pt")  # nothing left to remove: no error

    (tmp_path / "s.toml").write_text(suite_toml("race"))
    (cell,) = load_suite(tmp_path / "s.toml", plugins.registries).cells
    checkpoint = checkpoints.EpochCheckpoint(folder, cell, "cpu", {})
    real_mkdir, raced = type(folder).mkdir, []
    def mkdir_then_lose_it_to_the_other_run(path, *args, **kwargs):
        real_mkdir(path, *args, **kwargs)
        if path == folder and not raced:
            raced.append(path)
            path.rmdir()
    monkeypatch.setattr(type(folder), "mkdir", mkdir_then_lose_it_to_the_other_run)
    checkpoint.save(epochs_done=1, epochs=2, model=torch.nn.Linear(2, 2), optimizers=[], schedulers=[],
                    generator=torch.Generator(), history=[], timing={})
    assert raced and checkpoints.read_checkpoint(checkpoint.path)["epochs_done"] == 1
