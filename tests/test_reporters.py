"""Experiment trackers as reporters: the smoke suite run with MLflow,
TensorBoard and W&B reporting, read back with each tracker's own reader
(MLflow's client on its SQLite store, TensorBoard's EventAccumulator,
``wandb leet inspect`` on the offline run files), every per-epoch value
against the row's history and every final metric against the row's. And
what must not happen: a raising reporter failing a cell or losing a row, a
missing library found only when the run starts, a misspelt param passing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, ok_rows, suite_toml

from snnbench.cli import main
from snnbench.results.store import ResultStore

SMOKE = REPO / "suites" / "smoke.toml"
#: a tracker's epoch values, from a row: its history and epoch_seconds, in order over the stages
EPOCH_KEYS = ("loss", "train_accuracy")


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def row_epochs(row: dict) -> list[dict[str, float]]:
    """The row's epochs as a tracker has them: loss, training accuracy, seconds."""
    seconds = [s for stage in row["metrics"]["epoch_seconds"].values() for s in stage]
    return [{"loss": epoch["loss"], "train_accuracy": epoch["train_accuracy"], "epoch_seconds": seconds[i]}
            for i, epoch in enumerate(row["metrics"]["history"])]


def final_metrics(row: dict) -> dict[str, float]:
    """What a tracker must hold of a row: its finite numbers, and whether its
    timings were taken on a busy machine (its contention record)."""
    values = {key: float(value) for key, value in row["metrics"].items()
              if isinstance(value, int | float) and np.isfinite(value)}
    machine = row["metrics"]["contention"]
    return values | {"timing_contended": float(machine["contended"]), "others_cores": machine["others_cores"]}


def verdict_tags(row: dict) -> dict[str, str]:
    """The row's at-chance and busy-machine flags as the tags a run list filters on."""
    return {"at_chance": str(row["metrics"]["at_chance"]).lower(),
            "timing_contended": str(row["metrics"]["contention"]["contended"]).lower()}


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    """The smoke suite (one seed, two epochs: 8 cells) run once with all three
    reporters at their defaults, in a fresh working folder."""
    folder = tmp_path_factory.mktemp("reported")
    environment = {"WANDB_CONFIG_DIR": str(folder / ".config"), "WANDB_CACHE_DIR": str(folder / ".cache")}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        for key, value in environment.items():
            patch.setenv(key, value)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv("WANDB_DIR", raising=False)
        code = main(["run", str(SMOKE), "--seeds", "0", "--epochs", "2", "--db", "r.db", "--no-progress",
                     "--report", "mlflow", "--report", "tensorboard", "--report", "wandb"])
    assert code == 0
    rows = ok_rows(folder / "r.db")
    assert len(rows) == 8 and all(len(row["metrics"]["history"]) == 2 for row in rows)
    return folder, rows


def test_mlflow_has_a_run_per_cell_under_the_suite_run_with_every_epoch_and_metric(reported):
    from mlflow.tracking import MlflowClient

    folder, rows = reported
    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("smoke")
    runs = client.search_runs([experiment.experiment_id])
    (suite_run,) = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    assert suite_run.info.status == "FINISHED" and suite_run.data.metrics["ok"] == 8
    assert suite_run.data.tags["snnbench.git_commit"] == rows[0]["environment"]["git_commit"]
    assert suite_run.data.tags["snnbench.libraries.torch"] == rows[0]["environment"]["libraries"]["torch"]
    cells = {run.data.tags["snnbench.config_hash"]: run for run in runs if run is not suite_run}
    assert len(cells) == 8
    for row in rows:
        run = cells[row["config_hash"]]
        assert run.data.tags["mlflow.parentRunId"] == suite_run.info.run_id
        assert run.info.status == "FINISHED" and run.info.run_name == f"{row['label']} seed=0"
        assert run.data.params["encoder"] == row["encoder"]
        assert run.data.params["encoder.timesteps"] == "10" and run.data.params["training.epochs"] == "2"
        for key, tracked in (("loss", "train_loss"), ("train_accuracy", "train_accuracy"),
                             ("epoch_seconds", "epoch_seconds")):
            history = client.get_metric_history(run.info.run_id, tracked)
            assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [
                (step, epoch[key]) for step, epoch in enumerate(row_epochs(row))]
        assert {key: run.data.metrics[key] for key in final_metrics(row)} == final_metrics(row)
        assert {key: run.data.tags[f"snnbench.{key}"] for key in verdict_tags(row)} == verdict_tags(row)
        assert run.data.metrics["energy_est_j"] == row["metrics"]["energy_est_j"] > 0


def test_tensorboard_has_a_folder_per_cell_with_scalars_and_hparams(reported):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    folder, rows = reported
    (run_root,) = (folder / "runs" / "smoke").iterdir()  # one folder per run of the suite
    for row in rows:
        cell = run_root.joinpath(*row["label"].split("/"), "seed=0")
        events = EventAccumulator(str(cell), size_guidance={"scalars": 0, "tensors": 0})
        events.Reload()
        for key in ("loss", "train_accuracy", "epoch_seconds"):
            tag = "train/" + key.removeprefix("train_")
            # TensorBoard keeps scalars as float32: equal to the row's values at that precision
            assert [(s.step, s.value) for s in events.Scalars(tag)] == [
                (step, float(np.float32(epoch[key]))) for step, epoch in enumerate(row_epochs(row))]
        for key, value in final_metrics(row).items():
            (scalar,) = events.Scalars(f"final/{key}")
            assert scalar.value == float(np.float32(value)), key
        content = events.PluginTagToContent("hparams")
        start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
        hparams = {key: value.string_value or value.number_value
                   for key, value in start.session_start_info.hparams.items()}
        assert hparams["encoder"] == row["encoder"] and hparams["training.epochs"] == 2
        assert {key: hparams[key] for key in verdict_tags(row)} == verdict_tags(row)
        experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
        assert {m.name.tag for m in experiment.experiment.metric_infos} == {f"final/{k}" for k in final_metrics(row)}


def wandb_records(run_folder: Path, *options: str):
    """``wandb leet inspect --json`` of an offline run: W&B's own reader of its files."""
    out = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--json", *options, str(run_folder)],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    return [json.loads(line) for line in out.splitlines()] if not options else json.loads(out)


def test_wandb_writes_an_offline_run_per_cell_with_history_and_summary(reported):
    folder, rows = reported
    runs = sorted((folder / "wandb").glob("offline-run-*"))
    assert len(runs) == 8
    by_hash = {}
    for run in runs:
        summary = wandb_records(run, "--summary")
        by_hash[summary["config"]["config_hash"]] = (run, summary)
    for row in rows:
        run, summary = by_hash[row["config_hash"]]
        assert summary["state"] == "finished" and summary["exit_code"] == 0
        assert summary["project"] == "smoke" and summary["name"] == f"{row['label']} seed=0"
        assert summary["config"]["encoder"]["name"] == row["encoder"]
        assert summary["config"]["provenance"]["git_commit"] == str(row["environment"]["git_commit"])
        history = [r["history"]["item"] for r in wandb_records(run) if r["type"] == "history"]
        assert [(item["_step"], item["train/loss"], item["train/accuracy"], item["train/epoch_seconds"])
                for item in history] == [(step, epoch["loss"], epoch["train_accuracy"], epoch["epoch_seconds"])
                                         for step, epoch in enumerate(row_epochs(row))]
        assert {key: summary["summary"][key] for key in final_metrics(row)} == final_metrics(row)
        assert summary["summary"]["status"] == "ok"


# --------------------------------------------------------------------------- what must not happen

FLAKY_REPORTERS = '''
from dataclasses import dataclass
from snnbench.api import hookimpl
from snnbench.api.contracts import Reporter, ReporterSpec

EVENTS = []

@dataclass(frozen=True)
class FlakyParams:
    fail_in: str = "epoch_closed"

class Flaky(Reporter):
    """Records every event; raises in the one its params name."""
    def __init__(self, params):
        self.fail_in = params.fail_in
    def _event(self, name, *details):
        EVENTS.append((self.fail_in, name, *details))
        if name == self.fail_in:
            raise ConnectionError(f"tracker unreachable in {name}")
    def suite_started(self, suite, environment):
        self._event("suite_started", suite.name)
    def epoch_closed(self, cell, stats):
        self._event("epoch_closed", cell.seed, stats.epoch)
    def cell_finished(self, cell, row):
        self._event("cell_finished", cell.seed, row.status)
    def suite_finished(self, suite, summary):
        self._event("suite_finished", summary.ok)
    def close(self):
        self._event("close")

def broken_build(params):
    raise RuntimeError("no token configured")

@hookimpl
def register_reporters(register):
    register(ReporterSpec("flaky", FlakyParams, Flaky))
    register(ReporterSpec("steady", FlakyParams, Flaky))
    register(ReporterSpec("unbuildable", FlakyParams, broken_build))
    register(ReporterSpec("needs-lib", FlakyParams, Flaky, requires=("snnbench_no_such_tracker",),
                          install="snnbench-no-such-tracker[client]"))
'''

TWO_CELLS = suite_toml("flaky", seeds=(0, 1), extra="""
    [params.encoder.rate]
    timesteps = 4
    [params.architecture.mlp]
    hidden = [16]
    [training]
    epochs = 2
    batch_size = 64
    [report.flaky]
    [report.steady]
    fail_in = "nothing"
    """)


@pytest.fixture
def flaky_plugin(tmp_path, monkeypatch):
    (tmp_path / "flaky_reporters.py").write_text(FLAKY_REPORTERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "flaky_reporters"
    sys.modules.pop("flaky_reporters", None)


def test_a_raising_reporter_is_switched_off_once_and_every_row_and_other_reporter_carries_on(
        tmp_path, capsys, flaky_plugin):
    import flaky_reporters

    suite = tmp_path / "flaky.toml"
    suite.write_text(TWO_CELLS)
    code, _, err = cli(capsys, "--plugin", flaky_plugin, "run", suite, "--db", tmp_path / "r.db", "--no-progress",
                         "--report", "unbuildable")
    assert code == 0 and "Traceback" not in err
    assert err.count("reporter flaky") == 1 and "ConnectionError: tracker unreachable in epoch_closed" in err
    assert err.count("reporter unbuildable") == 1 and "RuntimeError: no token configured" in err
    flaky = [event[1:] for event in flaky_reporters.EVENTS if event[0] == "epoch_closed"]
    assert flaky == [("suite_started", "flaky"), ("epoch_closed", 0, 0), ("close",)]  # off after raising, closed
    steady = [event[1:] for event in flaky_reporters.EVENTS if event[0] == "nothing"]
    assert steady == [("suite_started", "flaky"), ("epoch_closed", 0, 0), ("epoch_closed", 0, 1),
                      ("cell_finished", 0, "ok"), ("epoch_closed", 1, 0), ("epoch_closed", 1, 1),
                      ("cell_finished", 1, "ok"), ("suite_finished", 2), ("close",)]
    assert sorted(row["seed"] for row in ok_rows(tmp_path / "r.db")) == [0, 1]


def test_a_reporter_whose_library_is_missing_is_refused_at_validate_naming_what_to_install(
        tmp_path, capsys, flaky_plugin, monkeypatch):
    suite = tmp_path / "needs.toml"
    suite.write_text(suite_toml("needs", extra="[report.needs-lib]\n"))
    code, _, err = cli(capsys, "--plugin", flaky_plugin, "validate", suite)
    assert code == 2 and "Traceback" not in err
    assert f"{suite}:12: [report.needs-lib]" in err
    assert "needs snnbench_no_such_tracker, which is not installed: pip install 'snnbench-no-such-tracker[client]'" in err
    # a built-in whose library is absent, named on the command line: refused before anything runs
    monkeypatch.setitem(sys.modules, "wandb", None)
    suite.write_text(suite_toml("needs"))
    code, _, err = cli(capsys, "run", suite, "--db", tmp_path / "r.db", "--report", "wandb")
    assert code == 2 and "pip install 'snnbench[wandb]'" in err and not (tmp_path / "r.db").exists()


@pytest.mark.parametrize(("table", "message"), [
    ('[report.mlflow]\ntracking_ur = "sqlite:///x.db"\n',
     "report.mlflow.tracking_ur = 'sqlite:///x.db': unknown key (did you mean 'tracking_uri'?)"),
    ('[report.wandb]\nmode = "ofline"\n',
     "report.wandb.mode = 'ofline': must be one of 'offline', 'online' (did you mean 'offline'?)"),
    ("[report.tensorbord]\n",
     "[report.tensorbord]: no reporter is registered under this name (did you mean [report.tensorboard]?)"),
    ("[report]\nmlflow = 1\n", "report.mlflow = 1: must be a table of the reporter's params"),
])
def test_bad_report_tables_are_errors_naming_the_key(tmp_path, capsys, table, message):
    suite = tmp_path / "bad.toml"
    suite.write_text(suite_toml("bad") + table)
    code, _, err = cli(capsys, "validate", suite)
    assert code == 2 and message in err, err


def test_a_misspelt_report_flag_suggests_the_name(tmp_path, capsys):
    suite = tmp_path / "ok.toml"
    suite.write_text(suite_toml("ok"))
    code, _, err = cli(capsys, "run", suite, "--db", tmp_path / "r.db", "--report", "tensorbord")
    assert code == 2 and "--report 'tensorbord': unknown reporter 'tensorbord'; did you mean 'tensorboard'?" in err


WRONG_WIDTH = '''
import torch
from snnbench.api import hookimpl
from snnbench.api.contracts import ArchitectureSpec, NoParams

def build_wrong_width(params, ctx):
    return torch.nn.Sequential(torch.nn.Flatten(2), torch.nn.Linear(7, ctx.n_classes))  # 64 inputs, not 7

@hookimpl
def register_architectures(register):
    register(ArchitectureSpec("wrong-width", NoParams, build_wrong_width, frozenset({"static"})))
'''


def test_a_failed_cell_is_a_failed_run_with_its_reason_where_the_report_tables_say(tmp_path, capsys, monkeypatch):
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (tmp_path / "wrong_width.py").write_text(WRONG_WIDTH)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")  # the tables say where the trackers write, not the working folder
    store = f"sqlite:///{tmp_path / 'tracked.db'}"
    suite = tmp_path / "failing.toml"
    suite.write_text(suite_toml("failing", architecture=("wrong-width",), extra=f"""
        [report.mlflow]
        tracking_uri = "{store}"
        experiment = "failing cells"
        [report.tensorboard]
        log_dir = "{tmp_path / 'events'}"
        """))
    code, _, _ = cli(capsys, "--plugin", "wrong_width", "run", suite, "--db", tmp_path / "r.db", "--no-progress")
    assert code == 1
    with ResultStore(tmp_path / "r.db") as results:
        (row,) = results.rows()
    assert row["status"] == "failed" and "RuntimeError" in row["reason"]

    client = MlflowClient(tracking_uri=store)
    runs = client.search_runs([client.get_experiment_by_name("failing cells").experiment_id])
    (cell,) = [run for run in runs if "mlflow.parentRunId" in run.data.tags]
    (suite_run,) = [run for run in runs if run is not cell]
    assert cell.info.status == "FAILED" and cell.data.tags["snnbench.reason"] == row["reason"]
    assert cell.data.metrics == {"wall_seconds": row["metrics"]["wall_seconds"]}  # no epoch, no made-up metric
    assert suite_run.info.status == "FINISHED" and suite_run.data.metrics["failed"] == 1

    (folder,) = (tmp_path / "events" / "failing").iterdir()
    events = EventAccumulator(str(folder.joinpath(*row["label"].split("/"), "seed=0")))
    events.Reload()
    assert events.Tags()["scalars"] == ["final/wall_seconds"]
    (text,) = events.Tensors("status/text_summary")
    assert text.tensor_proto.string_val[0].decode() == f"failed: {row['reason']}"
    assert not any((tmp_path / "work").iterdir())


def test_no_report_leaves_out_the_suites_reporters_and_report_keeps_their_params(tmp_path, capsys, flaky_plugin):
    import flaky_reporters

    suite = tmp_path / "flaky.toml"
    suite.write_text(TWO_CELLS.replace("seeds = [0, 1]", "seeds = [0]"))
    code, _, err = cli(capsys, "--plugin", flaky_plugin, "run", suite, "--db", tmp_path / "r.db", "--no-progress",
                       "--no-report", "--report", "steady")
    assert code == 0 and "raised in" not in err  # no reporter was switched off
    assert {event[0] for event in flaky_reporters.EVENTS} == {"nothing"}  # steady, with the suite's fail_in
    assert flaky_reporters.EVENTS[-1] == ("nothing", "close")
