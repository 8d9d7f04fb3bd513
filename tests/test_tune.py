"""`snnbench tune`: trials recorded as rows and scored on held-out training
data, a study that continues where it stopped (an interrupted trial with its
own values), pruning for one objective, and clear errors for a bad [tune]."""

from __future__ import annotations

import optuna
import pytest
import torch
from conftest import suite_toml
from optuna.trial import TrialState

from snnbench.cli import main
from snnbench.definition.plugins import load_plugins
from snnbench.definition.suite import read_suite
from snnbench.definition.tune_space import load_search
from snnbench.results.store import ResultStore, sqlalchemy_url
from snnbench.running.options import RunOptions
from snnbench.running.tune import objectives_for, open_study

PARAMS = """
[params.encoder.rate]
timesteps = 4
[params.architecture.mlp]
hidden = [32]
[params.learning_rule.bptt]
lr = 0.01
[training]
epochs = 1
batch_size = 32
train_limit = 300
"""
SPACE = """
[tune]
validation = 0.25
population_size = 2
"params.encoder.rate.gain" = {low = 0.2, high = 1.0}
"params.learning_rule.bptt.lr" = {low = 1e-3, high = 3e-2, log = true}
"""
GAIN, LR = "params.encoder.rate.gain", "params.learning_rule.bptt.lr"


def write(tmp_path, extra: str, name: str = "t", seeds=(0,)):
    path = tmp_path / f"{name}.toml"
    path.write_text(suite_toml(name, seeds=seeds, extra=PARAMS + extra))
    return path


def rows(db, suite):
    with ResultStore(db) as store:
        return store.rows([suite])


def study(db, name):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{db}")


def test_trials_are_rows_scored_on_held_out_training_data_and_the_study_resumes(tmp_path, capsys):
    suite, db = write(tmp_path, SPACE), tmp_path / "results.db"
    tune = ["tune", str(suite), "--db", str(db), "--no-progress",
            "--objective", "accuracy:max", "--objective", "encoder_density:min"]
    assert main([*tune, "--trials", "3"]) == 0
    out = capsys.readouterr().out
    assert "0 of 3 trials finished" in out and "Pareto front:" in out
    front = out[out.index("Pareto front:"):].splitlines()[1]
    assert front.split() == ["trial", "accuracy", "%", "↑", "enc.", "density", "↓", "rate.gain", "bptt.lr"]

    recorded = rows(db, "t-tune")
    assert [r["status"] for r in recorded] == ["ok"] * 3
    assert not rows(db, "t")  # the suite's own table gets no trial rows
    digits_train = 1797 - round(1797 * 0.2)
    for row in recorded:
        assert row["metrics"]["test_samples"] == round(0.25 * digits_train)  # held out, not the test split
        assert row["metrics"]["train_samples"] == 300
    trials = study(db, "t-tune").trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    for trial, row in zip(trials, recorded):
        assert row["config"]["encoder"]["params"]["gain"] == trial.params[GAIN]
        assert row["config"]["learning_rule"]["params"]["lr"] == trial.params[LR]
        assert 0.2 <= trial.params[GAIN] <= 1.0 and 1e-3 <= trial.params[LR] <= 3e-2
        assert trial.values == [row["metrics"]["accuracy"], row["metrics"]["encoder_density"]]
    front_trials = {t.number for t in study(db, "t-tune").best_trials}
    assert {int(line.split()[0]) for line in out.split("Pareto front:")[1].splitlines()[3:] if line} == front_trials

    # a killed tune leaves its trial running, with the values it drew
    interrupted = study(db, "t-tune")
    interrupted.enqueue_trial({GAIN: 0.5, LR: 0.005})
    trial = interrupted.ask()
    trial.suggest_float(GAIN, 0.2, 1.0)
    trial.suggest_float(LR, 1e-3, 3e-2, log=True)
    assert main([*tune, "--trials", "4"]) == 0
    out = capsys.readouterr().out
    assert "3 of 4 trials finished" in out and "trial 3: interrupted earlier" in out
    trials = study(db, "t-tune").trials
    assert len(trials) == 4 and trials[3].state == TrialState.COMPLETE
    assert rows(db, "t-tune")[-1]["config"]["encoder"]["params"]["gain"] == 0.5

    assert main([*tune, "--trials", "4"]) == 0  # nothing left to do: the front again
    assert "4 of 4 trials finished" in capsys.readouterr().out
    assert len(rows(db, "t-tune")) == 4

    assert main([*tune[:-2], "--trials", "5"]) == 2  # another objective is another study
    assert "optimises accuracy:max, encoder_density:min" in capsys.readouterr().err


def test_one_objective_prunes_a_trial_between_its_cells(tmp_path, capsys):
    suite = write(tmp_path, """
        [tune]
        validation = 0.25
        prune_after = 2
        "params.learning_rule.bptt.lr" = {choices = [0.02, 0.01, 1e-7]}
        """, name="p", seeds=(0, 1))
    db = tmp_path / "results.db"
    search = load_search(read_suite(suite), load_plugins().registries)
    options = RunOptions(device=torch.device("cpu"), data_dir=tmp_path)
    started = open_study(search, objectives_for(search, ["accuracy"]), options, db, "p-tune")
    for lr in (0.02, 0.01, 1e-7):  # two good trials, then one that cannot learn
        started.enqueue_trial({LR: lr})
    assert main(["tune", str(suite), "--db", str(db), "--no-progress", "--trials", "3",
                 "--objective", "accuracy", "--sampler", "random"]) == 0
    out = capsys.readouterr().out
    assert "pruning by median between cells" in out and "best trial:" in out
    assert [t.state for t in study(db, "p-tune").trials] == [TrialState.COMPLETE] * 2 + [TrialState.PRUNED]
    assert [r["seed"] for r in rows(db, "p-tune")] == [0, 1, 0, 1, 0]  # the pruned trial ran one seed


@pytest.mark.parametrize("tune_table, message", [
    ('sampeler = "tpe"\n"params.encoder.rate.gain" = {low = 0.2, high = 1.0}',
     "t.toml:{line}: tune.sampeler = 'tpe': unknown key (did you mean 'sampler'?)"),
    ('"params.encoder.rate" = {low = 0.2, high = 1.0}', "not a path to a param"),
    ('"params.encoder.latency.timesteps" = {low = 2, high = 8}',
     "no cell of the suite uses encoder 'latency' (the suite's: rate)"),
    ('"params.encoder.rate.gian" = {low = 0.2, high = 1.0}', "unknown key (did you mean 'gain'?)"),
    ('"params.learning_rule.bptt.lr" = {low = -1.0, high = 0.1}',
     "-1.0 does not fit there: params.learning_rule.bptt.lr = -1.0: must be > 0"),
    ('"params.encoder.rate.timesteps" = {low = 2.5, high = 8.0}', "2.5 does not fit there"),
    ('"params.encoder.rate.gain" = {low = 0.0, high = 1.0, log = true}', "a log range needs low > 0"),
    ('"params.encoder.rate.gain" = {low = 1.0, high = 0.5}', "low (1.0) must be below high (0.5)"),
    ('"params.encoder.rate.gain" = {low = 0.2, high = 1.0, step = 0.0}', "step: must be > 0"),
    ('"params.encoder.rate.gain" = {lo = 0.2, high = 1.0}', "lo: unknown key (did you mean 'low'?)"),
    ('"training.batch_size" = {choices = []}', "choices must not be empty"),
    ('objectives = ["acuracy:max"]\n"training.epochs" = {low = 1, high = 2}', "did you mean 'accuracy'?"),
    ('trials = 3', "declares no search dimension"),
])
def test_bad_tune_entries_name_file_line_key_and_value(tmp_path, capsys, tune_table, message):
    suite = write(tmp_path, "")
    text = suite.read_text()
    suite.write_text(text + "[tune]\n" + tune_table + "\n")
    assert main(["validate", str(suite)]) == 2
    error = capsys.readouterr().err
    message = message.replace("{line}", str(len(text.splitlines()) + 2))  # the first line under [tune]
    assert error.startswith(f"snnbench: error: {suite}:") and message in error, error


def test_validate_describes_the_search_and_tune_refuses_a_suite_without_one(tmp_path, capsys):
    suite = write(tmp_path, SPACE)
    assert main(["validate", str(suite)]) == 0
    assert "tune: 2 dimensions: params.encoder.rate.gain [0.2, 1.0]; params.learning_rule.bptt.lr " \
           "[0.001, 0.03] log" in capsys.readouterr().out
    plain = write(tmp_path, "", name="plain")
    assert main(["tune", str(plain), "--trials", "1", "--db", str(tmp_path / "r.db")]) == 2
    assert "has no [tune] table" in capsys.readouterr().err
    assert main(["tune", str(suite), "--trials", "1", "--objective", "accuracy:up",
                 "--db", str(tmp_path / "r.db")]) == 2
    assert "the direction must be max or min" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["results.db?mode=memory", "results {SCHEMA_VERSION} #1%20.db"])
def test_rows_and_study_go_to_the_one_file_the_store_path_names(tmp_path, capsys, name):
    suite, db = write(tmp_path, SPACE), tmp_path / name
    assert main(["tune", str(suite), "--db", str(db), "--no-progress", "--trials", "1",
                 "--objective", "accuracy"]) == 0
    # the store's one file, beside the folder of its kept models (docs/models.md)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([suite.name, name, f"{name}.models"])
    assert len(rows(db, "t-tune")) == 1
    assert len(optuna.load_study(study_name="t-tune", storage=sqlalchemy_url(db)).trials) == 1
