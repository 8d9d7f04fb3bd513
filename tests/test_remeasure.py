"""snnbench remeasure on the smoke suite: rows measured again from their kept
models equal the fresh run's on this machine, a metric a row was written
without is filled in, and rows without a model (or needing training) are
listed, never guessed."""

from __future__ import annotations

import pytest
from conftest import REPO, REPEATABLE_METRICS, suite_toml

from snnbench.api.records import ResultRow
from snnbench.cli import main
from snnbench.definition import metric_specs
from snnbench.results.models import ModelRef
from snnbench.results.store import ResultStore
from snnbench.running.remeasure import NotReproduced, check_reproduced, family_keys, plan

SMOKE = REPO / "suites" / "smoke.toml"
#: what a test-split pass measures, equal to the fresh run's on one machine
MEASURED = (*REPEATABLE_METRICS[:5], "encoder_mean", "encoder_above_half", "sparsity_per_layer", "synops_dense",
            "chance_accuracy", "samples")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The smoke suite's seed-0 cells (eight, digits), each with its kept model."""
    db = tmp_path_factory.mktemp("remeasure") / "smoke.db"
    assert main(["run", str(SMOKE), "--seeds", "0", "--db", str(db), "--no-progress"]) == 0
    return db


def copy_of(db, tmp_path):
    target = tmp_path / "copy.db"
    target.write_bytes(db.read_bytes())
    (tmp_path / "copy.db.models").symlink_to(db.with_name(db.name + ".models"))
    return target


def ok_rows(db):
    with ResultStore(db, create=False) as store:
        return [row for row in store.rows() if row["status"] == "ok"]


def test_a_new_definition_of_a_metric_is_measured_again_equal_to_the_fresh_run(smoke, tmp_path, monkeypatch,
                                                                                capsys):
    db = copy_of(smoke, tmp_path)
    fresh = ok_rows(db)
    assert len(fresh) == 8
    monkeypatch.setitem(metric_specs.METRIC_VERSIONS, "sparsity", metric_specs.METRIC_VERSIONS["sparsity"] + 1)
    assert main(["remeasure", "--db", str(db), "--stale"]) == 0
    assert "remeasure: 8 new row(s)" in capsys.readouterr().out
    rows = ok_rows(db)
    again = {row["environment"]["remeasured"]["from_row"]: row for row in rows[8:]}
    assert sorted(again) == sorted(row["id"] for row in fresh)
    for old in fresh:
        new = again[old["id"]]
        assert new["metric_versions"]["sparsity"] == old["metric_versions"]["sparsity"] + 1
        assert new["environment"]["remeasured"]["families"] == ["sparsity"]
        assert new["environment"]["model"] == old["environment"]["model"]  # the same file, no new one
        assert {k: new["metrics"].get(k) for k in MEASURED} == {k: old["metrics"].get(k) for k in MEASURED}, \
            old["label"]
        assert new["metrics"]["history"] == old["metrics"]["history"]  # training is not touched
    assert main(["remeasure", "--db", str(db), "--stale"]) == 0  # now current: nothing to do
    assert "nothing to measure" in capsys.readouterr().out


def test_a_metric_a_row_was_written_without_is_filled_in(smoke, tmp_path, capsys):
    """Rows as an snnbench from before encoder_mean existed wrote them (its
    family at version 1) get it from their kept models, equal to a fresh run's."""
    db = copy_of(smoke, tmp_path)
    fresh = ok_rows(db)
    with ResultStore(db) as store:
        for row in fresh:
            metrics = {k: v for k, v in row["metrics"].items() if k not in ("encoder_mean", "encoder_above_half")}
            store.record(ResultRow.from_stored(row | {
                "metrics": metrics, "metric_versions": row["metric_versions"] | {"encoder_density": 1}}))
    assert main(["remeasure", "--db", str(db), "--suite", "smoke", "--metric", "encoder_mean"]) == 0
    assert "measuring encoder_density again" in capsys.readouterr().out
    filled = ok_rows(db)[16:]
    assert len(filled) == 8
    by_model = {row["environment"]["model"]["file"]: row for row in fresh}
    for row in filled:
        old = by_model[row["environment"]["model"]["file"]]
        assert row["metrics"]["encoder_mean"] == old["metrics"]["encoder_mean"]
        assert row["metrics"]["encoder_above_half"] == old["metrics"]["encoder_above_half"]
        assert row["metric_versions"]["encoder_density"] == metric_specs.METRIC_VERSIONS["encoder_density"]


def test_rows_without_a_kept_model_are_listed_not_guessed(smoke, tmp_path, monkeypatch, capsys):
    db = copy_of(smoke, tmp_path)
    suite = tmp_path / "unkept.toml"
    suite.write_text(suite_toml("unkept", encoder=("direct",), extra="""
        [params.architecture.mlp]
        hidden = [16]
        [training]
        epochs = 1
        train_limit = 200
        test_limit = 100
        """))
    assert main(["run", str(suite), "--db", str(db), "--no-progress", "--no-keep-models"]) == 0
    monkeypatch.setitem(metric_specs.METRIC_VERSIONS, "synops", metric_specs.METRIC_VERSIONS["synops"] + 1)
    assert main(["remeasure", "--db", str(db), "--stale", "--suite", "unkept"]) == 0
    out = capsys.readouterr().out
    assert "no kept model: digits/direct/snntorch-lif/mlp/bptt seed=0" in out and "synops not measured" in out
    assert "0 new row(s)" in out and "1 row(s) without a kept model" in out
    assert len(ok_rows(db)) == 9  # nothing recorded for it


def test_families_measured_while_training_are_left_to_a_new_run(smoke, tmp_path, monkeypatch, capsys):
    db = copy_of(smoke, tmp_path)
    monkeypatch.setitem(metric_specs.METRIC_VERSIONS, "throughput", 99)
    assert main(["remeasure", "--db", str(db), "--stale", "--suite", "smoke"]) == 0
    out = capsys.readouterr().out
    assert out.count("still stale:") == 8 and "throughput is measured while training" in out
    assert "0 new row(s)" in out


def test_remeasure_needs_to_be_told_what(smoke, tmp_path, capsys):
    assert main(["remeasure", "--db", str(smoke)]) == 2
    assert "--stale" in capsys.readouterr().err
    assert main(["remeasure", "--db", str(smoke), "--metric", "acuracy"]) == 2
    assert "did you mean 'accuracy'" in capsys.readouterr().err
    assert main(["remeasure", "--db", str(tmp_path / "none.db"), "--stale"]) == 2
    assert "no results store" in capsys.readouterr().err


def test_a_model_that_does_not_reproduce_its_row_is_refused():
    row = {"samples": [{"output_counts": [1.0, 4.0]}], "detail_version": 1}
    check_reproduced(row, {"samples": [{"output_counts": [1.0, 4.0]}], "detail_version": 1})
    with pytest.raises(NotReproduced, match=r"test sample 0's output spike counts were \[1.0, 4.0\], now \[2.0"):
        check_reproduced(row, {"samples": [{"output_counts": [2.0, 4.0]}], "detail_version": 1})


def test_every_key_a_run_measures_belongs_to_a_family_or_to_training(smoke):
    """So a new metric can never be left out of remeasure by accident."""
    from snnbench.running.remeasure import TRAINING_KEYS

    row = ok_rows(smoke)[0]
    known = set().union(*(family_keys(f) for f in {m.family for m in metric_specs.METRICS}))
    run_only = {"wall_seconds", "contention", "unavailable"}  # added by run_cell, or merged by key
    assert set(row["metrics"]) - known - TRAINING_KEYS - run_only == set()


def test_plan_takes_only_the_newest_ok_row_of_a_cell(smoke):
    rows = ok_rows(smoke)
    stale = [row | {"metric_versions": {}} for row in rows]
    assert len(plan(stale, stale=True)) == 8
    assert plan(rows + [row | {"status": "failed"} for row in rows], stale=True) == []
    assert all(ModelRef.of_row(wanted.row) for wanted in plan(stale, ["accuracy"]))


def test_a_family_measured_while_training_that_a_row_lacks_does_not_hide_it(monkeypatch):
    """A training-only family added after a row ran cannot be filled without
    training again: the row stays on the board with it missing; a row holding
    an older version of it is stale."""
    monkeypatch.setitem(metric_specs.METRIC_VERSIONS, "new_training_family", 1)
    monkeypatch.setattr(metric_specs, "TRAINING_FAMILIES",
                        metric_specs.TRAINING_FAMILIES | {"new_training_family"})
    current = dict(metric_specs.METRIC_VERSIONS)
    assert metric_specs.stale_families({k: v for k, v in current.items() if k != "new_training_family"}) == []
    assert metric_specs.stale_families(current | {"new_training_family": 0}) == ["new_training_family"]
    assert metric_specs.stale_families({k: v for k, v in current.items() if k != "sparsity"}) == ["sparsity"]
