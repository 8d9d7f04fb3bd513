"""The runner on real data: the smoke suite trains every cell to a useful
accuracy, reruns resume instead of repeating, a killed run loses at most the
cell in flight, and failing cells are recorded while the suite goes on."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import torch
from conftest import REPO, ok_rows, suite_toml

from snnbench.cli import main
from snnbench.definition.suite import load_suite
from snnbench.results.store import ResultStore
from snnbench.running.runner import with_caps
from snnbench.running.options import RunOptions


def suite_file(tmp_path, text: str, name: str = "suite.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def smoke_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("smoke") / "results.db"
    assert main(["run", str(REPO / "suites" / "smoke.toml"), "--db", str(db), "--no-progress"]) == 0
    return db


def test_smoke_suite_trains_every_cell(smoke_db):
    rows = ok_rows(smoke_db)
    assert len(rows) == 40
    assert {r["seed"] for r in rows} == {0, 1, 2, 3, 4}
    accuracy = {(r["encoder"], r["neuron"]): r["metrics"]["accuracy"] for r in rows}
    assert min(accuracy.values()) > 0.6, accuracy  # 10 classes: chance is 0.1
    assert sum(accuracy.values()) / len(accuracy) > 0.8, accuracy
    for row in rows:
        metrics = row["metrics"]
        assert 0.0 < metrics["sparsity"] < 1.0
        assert metrics["train_samples_per_s"] > 0 and metrics["infer_samples_per_s"] > 0
        assert metrics["parameters"] == 64 * 64 + 64 + 64 * 10 + 10
        assert metrics["reported_epoch"] == "last" and metrics["epochs_trained"] == 3
        assert set(metrics["sparsity_per_layer"]) == {"network.2", "network.4"}
        expected_backend = "snntorch-loop" if row["neuron"] == "snntorch-lif" else "spikingjelly-cpu"
        assert set(metrics["neuron_backends"].values()) == {expected_backend}
        supplied = dict(row["environment"]["components"]["encoder"])
        assert len(supplied.pop("code")) == 16  # the fingerprint of its code (docs/first-run.md)
        assert supplied == {"plugin": "snnbench-encoders-coding", "distribution": "snnbench", "version": "0.1.0"}
        assert "torch" in row["environment"]["libraries"]
    density = {r["encoder"]: r["metrics"]["encoder_density"] for r in rows}
    assert density["latency"] < density["delta"] < density["rate"] < density["direct"]


def test_rerun_skips_recorded_cells_unless_forced(smoke_db, capsys):
    before = len(ok_rows(smoke_db))
    assert main(["run", str(REPO / "suites" / "smoke.toml"), "--db", str(smoke_db), "--no-progress"]) == 0
    assert "40 already recorded" in capsys.readouterr().out
    assert len(ok_rows(smoke_db)) == before


def test_leaderboard_of_the_smoke_run(smoke_db, capsys):
    assert main(["leaderboard", "--db", str(smoke_db), "--by", "encoder", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("encoder,accuracy_mean,accuracy_std")
    assert {line.split(",")[0] for line in lines[1:]} == {"rate", "latency", "direct", "delta"}


BROKEN_PLUGIN = '''
import torch
from snnbench.api import hookimpl
from snnbench.api.contracts import ArchitectureSpec, LearningRuleSpec, NoParams
from snnbench_plugins.architectures.feedforward import MLPParams, build_mlp

def build_wrong_width(params, ctx):
    return torch.nn.Sequential(torch.nn.Flatten(2), torch.nn.Linear(7, ctx.n_classes))  # 64 inputs, not 7

class Diverges:
    def __init__(self, params):
        pass
    def fit(self, model, train, session):
        for _ in session.epochs():
            for inputs, targets in session.batches(train):
                scores = model(inputs).sum(0)
                session.record(scores.sum() * float("nan"), scores, targets)

@hookimpl
def register_architectures(register):
    register(ArchitectureSpec("wrong-width", NoParams, build_wrong_width, frozenset({"static"})))

@hookimpl
def register_learning_rules(register):
    register(LearningRuleSpec("diverges", NoParams, Diverges))
'''


def test_failing_cells_are_recorded_and_the_suite_goes_on(tmp_path, monkeypatch, capsys):
    (tmp_path / "tplug_broken.py").write_text(BROKEN_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    suite = suite_file(tmp_path, suite_toml("failures", architecture=("wrong-width", "mlp"),
                                          learning_rule=("diverges", "bptt"), extra="""
        [params.encoder.rate]
        timesteps = 4
        [training]
        train_limit = 256
        test_limit = 128
    """))
    db = tmp_path / "r.db"
    assert main(["--plugin", "tplug_broken", "run", str(suite), "--db", str(db), "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert "1 ok, 3 failed" in captured.out
    with ResultStore(db) as store:
        rows = {(r["architecture"], r["learning_rule"]): r for r in store.rows()}
    assert rows[("mlp", "bptt")]["status"] == "ok"
    assert rows[("mlp", "diverges")]["status"] == "failed"
    assert "training loss became nan in epoch 1" in rows[("mlp", "diverges")]["reason"]
    wrong = rows[("wrong-width", "bptt")]
    assert wrong["status"] == "failed" and "RuntimeError" in wrong["reason"]
    assert "Traceback" in wrong["metrics"]["traceback"]
    assert "accuracy" not in wrong["metrics"]  # a failure never records a made-up metric


def test_a_cell_whose_parameters_blow_up_fails_naming_the_epoch_and_the_layer(tmp_path, capsys):
    suite = suite_file(tmp_path, suite_toml("blows-up", extra="""
        [params.encoder.rate]
        timesteps = 4
        [params.learning_rule.bptt]
        optimizer = "sgd"
        lr = 1.0
        weight_decay = 1e20  # each step multiplies the weights by about -1e20: inf by the third
        [training]
        batch_size = 64
        train_limit = 256
        test_limit = 128
    """))
    db = tmp_path / "r.db"
    assert main(["run", str(suite), "--db", str(db), "--no-progress"]) == 1
    with ResultStore(db) as store:
        (row,) = store.rows()
    assert row["status"] == "failed" and "accuracy" not in row["metrics"]
    assert "parameters became NaN or infinite in epoch 1: network." in row["reason"]
    assert ".weight (" in row["reason"]


def test_a_cell_at_chance_is_flagged_in_its_row_its_line_and_the_table(tmp_path, capsys):
    suite = suite_file(tmp_path, suite_toml("chance", learning_rule=("bptt", "bptt-still"), extra="""
        [params.encoder.rate]
        timesteps = 8
        [params.learning_rule.bptt]
        lr = 0.02
        [variants.learning_rule.bptt-still]
        of = "bptt"
        lr = 1e-12
        [training]
        epochs = 3
        batch_size = 32
        train_limit = 600
    """))
    db = tmp_path / "r.db"
    assert main(["run", str(suite), "--db", str(db), "--no-progress"]) == 0
    out = capsys.readouterr().out
    rows = {r["learning_rule"]: r["metrics"] for r in ok_rows(db)}
    assert rows["bptt-still"]["at_chance"] is True and rows["bptt"]["at_chance"] is False
    assert 0.1 <= rows["bptt-still"]["chance_accuracy"] < 0.15  # ten digits, nearly balanced
    assert "bptt-still seed=0: accuracy" in out and out.count("AT CHANCE") == 1
    assert main(["leaderboard", "--db", str(db)]) == 0
    table = capsys.readouterr().out
    (still,) = [line for line in table.splitlines() if "bptt-still" in line]
    assert "(AT CHANCE: 1 of 1)" in still and still.rstrip().endswith("AT CHANCE (1 of 1)")
    rows = [line for line in table.splitlines() if line.startswith("bptt")]  # the table, not its notes
    assert len(rows) == 2 and sum("AT CHANCE" in line for line in rows) == 1


def test_killed_run_resumes_without_duplicates(tmp_path):
    suite = suite_file(tmp_path, suite_toml("killed", seeds=(0, 1, 2), encoder=("rate", "latency"), extra="""
        [params.encoder.rate]
        timesteps = 8
        [params.encoder.latency]
        timesteps = 8
        [training]
        epochs = 2
    """))
    db = tmp_path / "r.db"
    command = [sys.executable, "-m", "snnbench.cli", "run", str(suite), "--db", str(db), "--no-progress"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    recorded = 0
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
        if db.exists():
            try:
                with sqlite3.connect(db) as connection:
                    recorded = connection.execute("SELECT count(*) FROM results WHERE status = 'ok'").fetchone()[0]
            except sqlite3.OperationalError:
                continue  # the table is not created yet
            if recorded >= 2:
                break
    assert process.poll() is None, "the run finished before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    interrupted = len(ok_rows(db))
    assert 2 <= interrupted < 6

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{interrupted} already recorded" in resumed.stdout
    rows = ok_rows(db)
    cells = [(r["config_hash"], r["seed"]) for r in rows]
    assert len(cells) == len(set(cells)) == 6


@pytest.mark.slow
def test_csnn_learns_real_mnist_on_cpu(tmp_path, mnist_dir):
    """The convolutional SNN on a slice of the real MNIST files: a few
    thousand images and one epoch are enough to be far from chance."""
    suite = suite_file(tmp_path, suite_toml("mnist-cpu", dataset=("mnist",), encoder=("direct",),
                                          architecture=("csnn",), extra="""
        [params.dataset.mnist]
        download = false
        [params.encoder.direct]
        timesteps = 5
        [params.learning_rule.bptt]
        lr = 0.005
        [training]
        epochs = 1
        batch_size = 64
        train_limit = 8000
        test_limit = 1000
    """))
    db = tmp_path / "r.db"
    assert main(["run", str(suite), "--db", str(db), "--data-dir", str(mnist_dir), "--no-progress"]) == 0
    (row,) = ok_rows(db)
    # one seed: 0.83 to 0.84 with AVX2 or AVX-512 kernels on an Intel Xeon, above 0.85
    # on an AMD EPYC; chance is 0.10
    assert row["metrics"]["accuracy"] > 0.75
    assert row["metrics"]["train_samples"] == 8000 and row["metrics"]["test_samples"] == 1000
    assert row["metrics"]["synops_mac"] > 0  # analogue input into the first conv


@pytest.mark.parametrize("isa", ["avx2", "avx512", "default"])
def test_smoke_results_pass_the_committed_baseline(isa, smoke_db, tmp_path, capsys):
    """The gate on real results, with each of torch's CPU kernel sets: other
    rounding sends training along other trajectories, which the statistical
    gate must take for the seed noise it is (the baseline pools all three)."""
    db = smoke_db
    if isa != torch.backends.cpu.get_cpu_capability().lower():
        db = tmp_path / f"smoke-{isa}.db"
        subprocess.run([sys.executable, "-m", "snnbench.cli", "run", str(REPO / "suites" / "smoke.toml"),
                        "--db", str(db), "--no-progress"], env=os.environ | {"ATEN_CPU_CAPABILITY": isa},
                       check=True, capture_output=True)
    ran_with = {row["environment"]["machine"]["isa"] for row in ok_rows(db)}
    if ran_with != {isa.upper()}:
        pytest.skip(f"this CPU cannot run torch's {isa} kernels (ran {', '.join(ran_with)})")
    code = main(["check", "--db", str(db), "--baseline", str(REPO / "leaderboard" / "baseline-smoke-cpu.json")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "24 checks passed" in out


def test_a_capped_run_is_a_different_cell_from_the_full_one(plugins):
    cell = load_suite(REPO / "suites" / "smoke.toml", plugins.registries).cells[0]
    capped = with_caps(cell, RunOptions(device=torch.device("cpu"), data_dir=REPO, limit=100, max_epochs=1))
    assert (capped.training.train_limit, capped.training.test_limit, capped.training.epochs) == (100, 100, 1)
    assert capped.config_hash != cell.config_hash
    assert with_caps(cell, RunOptions(device=torch.device("cpu"), data_dir=REPO)) is cell
