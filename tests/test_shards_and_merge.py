"""--shard K/N and snnbench merge: two shards of the smoke suite, run into
stores of their own and merged, hold exactly a single run's cells with its
numbers; the deal is stable; bad specs and mixed versions are refused with
nothing written."""

from __future__ import annotations

import dataclasses
import json
import sqlite3

import pytest
from conftest import REPO, SMOKE_SEED_ARGS, repeatable_metrics, rows_by_cell

from snnbench.api.records import ResultRow
from snnbench.cli import main
from snnbench.definition.suite import load_suite
from snnbench.results.result_file import FORMAT
from snnbench.results.store import ResultStore, encoded
from snnbench.running.shards import Shard

SMOKE = REPO / "suites" / "smoke.toml"


def test_two_shards_merged_equal_one_run(smoke_local, tmp_path, capsys):
    shards = [tmp_path / "shard-1.db", tmp_path / "shard-2.db"]
    for k, db in enumerate(shards, start=1):
        assert main(["run", str(SMOKE), *SMOKE_SEED_ARGS, "--shard", f"{k}/2", "--db", str(db),
                     "--no-progress"]) == 0
        assert f"shard {k}/2: 4 of the suite's 8 cells" in capsys.readouterr().out
    parts = [rows_by_cell(db) for db in shards]
    assert not parts[0].keys() & parts[1].keys()  # disjoint, the skip included

    merged = tmp_path / "all.db"
    assert main(["merge", *map(str, shards), "--into", str(merged)]) == 0
    out = capsys.readouterr().out
    assert f"{merged}: 16 rows" in out
    whole, local = rows_by_cell(merged), rows_by_cell(smoke_local)
    assert whole.keys() == local.keys()
    for key, row in whole.items():
        assert row["status"] == local[key]["status"]
        assert repeatable_metrics(row) == repeatable_metrics(local[key]), row["label"]

    assert main(["merge", *map(str, shards), str(merged), "--into", str(merged)]) == 0  # again: nothing new
    assert "0 new" in capsys.readouterr().out
    with ResultStore(merged, create=False) as store:
        assert len(store.rows()) == 16


def test_the_deal_depends_on_the_cells_alone(plugins):
    suite = load_suite(SMOKE, plugins.registries)
    parts = [Shard(k, 3).of(suite) for k in (1, 2, 3)]
    cells = [(cell.config_hash, cell.seed) for part in parts for cell in part.cells]
    assert sorted(cells) == sorted((cell.config_hash, cell.seed) for cell in suite.cells)  # cover, disjoint
    assert sorted(len(part.cells) for part in parts) == [13, 13, 14]  # 40 cells, as even as they go
    reversed_suite = dataclasses.replace(suite, cells=suite.cells[::-1], skipped=suite.skipped[::-1])
    assert [c.label for c in Shard(2, 3).of(reversed_suite).cells] == [c.label for c in parts[1].cells[::-1]]
    assert sum(len(part.skipped) for part in parts) == len(suite.skipped)


@pytest.mark.parametrize("spec, says", [
    ("3/2", "K must lie between 1 and N"), ("0/2", "K must lie between 1 and N"), ("1/0", "N must be at least 1"),
    ("half", "give it as K/N"), ("1/2/3", "give it as K/N")])
def test_a_bad_shard_spec_is_refused(tmp_path, capsys, spec, says):
    db = tmp_path / "s.db"
    with pytest.raises(SystemExit) as exit_:
        main(["run", str(SMOKE), "--shard", spec, "--db", str(db)])
    assert exit_.value.code == 2
    assert f"argument --shard: {spec!r}: {says}" in capsys.readouterr().err
    assert not db.exists()


def store_of_version(path, version: str, seed: int = 0) -> None:
    with ResultStore(path) as store:
        store.record(ResultRow(
            suite="s", label="digits/rate/snntorch-lif/mlp/bptt", config_hash="h", seed=seed, device_type="cpu",
            device_name="cpu", status="ok", components=dict(zip(
                ("dataset", "encoder", "neuron", "architecture", "learning_rule"),
                ("digits", "rate", "snntorch-lif", "mlp", "bptt"))),
            config={}, metrics={"accuracy": 0.5}, environment={"libraries": {"snnbench": version}}))


def test_stores_of_different_snnbench_versions_are_not_merged(tmp_path, capsys):
    old, new, into = tmp_path / "old.db", tmp_path / "new.db", tmp_path / "all.db"
    store_of_version(old, "0.0.9")
    store_of_version(new, "0.1.0", seed=1)
    assert main(["merge", str(old), str(new), "--into", str(into)]) == 2
    err = capsys.readouterr().err
    assert "different snnbench versions" in err and "0.0.9" in err and "nothing was written" in err
    assert not into.exists()

    assert main(["merge", str(new), "--into", str(into)]) == 0  # the target holds 0.1.0 now
    before = into.read_bytes()
    assert main(["merge", str(old), "--into", str(into)]) == 2
    assert into.read_bytes() == before

    old_file = tmp_path / "old.json"  # nor are the rows of a result file
    with ResultStore(old, create=False) as store:
        rows = [{key: value for key, value in row.items() if key != "id"} for row in store.rows()]
    old_file.write_text(json.dumps({"format": FORMAT, "command": "by hand", "exported_at": "2026-12-08", "rows": rows}))
    assert main(["merge", str(old_file), "--into", str(into)]) == 2
    assert "0.0.9" in capsys.readouterr().err
    assert into.read_bytes() == before


def test_a_result_file_merged_back_is_a_store_that_a_later_run_adds_to(smoke_local, tmp_path, capsys):
    """Machines lent for a sitting keep only what is committed: a suite's
    result file, merged into a new store, is its rows again, and a run of the
    suite there runs only what is missing."""
    file, store = tmp_path / "smoke.json", tmp_path / "next-sitting.db"
    assert main(["export-results", "--db", str(smoke_local), "--command", "snnbench run smoke",
                 "--out", str(file)]) == 0
    assert main(["merge", str(file), "--into", str(store)]) == 0
    local = rows_by_cell(smoke_local)
    assert f"{file}: {len(local)} rows, {len(local)} new, a result file: no kept models" in capsys.readouterr().out

    back = rows_by_cell(store)
    assert back.keys() == local.keys()
    for key, row in back.items():  # as stored, less the id and the rasters a result file leaves out
        kept = local[key] | {"id": row["id"], "metrics": {m: v for m, v in local[key]["metrics"].items()
                                                         if m != "samples"}}
        assert encoded(row) == encoded(kept), row["label"]

    ok = sum(row["status"] == "ok" for row in local.values())
    assert main(["run", str(SMOKE), *SMOKE_SEED_ARGS, "--db", str(store), "--no-progress"]) == 0
    assert f": 0 ok, 0 failed, {ok} already recorded, " in capsys.readouterr().out
    rate = sum(row["status"] == "ok" and row["encoder"] == "rate" for row in local.values())
    assert main(["run", str(SMOKE), "--seeds", "0,1", "--only", "encoder=rate", "--db", str(store),
                 "--no-progress"]) == 0
    assert f": {rate} ok, 0 failed, {rate} already recorded, " in capsys.readouterr().out  # seed 1 only
    assert main(["merge", str(file), "--into", str(store)]) == 0
    assert " 0 new, " in capsys.readouterr().out


def test_a_store_of_a_newer_schema_is_not_merged(tmp_path, capsys):
    newer, into = tmp_path / "newer.db", tmp_path / "all.db"
    store_of_version(newer, "0.1.0")
    with sqlite3.connect(newer) as db:
        db.execute("PRAGMA user_version = 2")
    assert main(["merge", str(newer), "--into", str(into)]) == 2
    assert "newer snnbench (schema 2)" in capsys.readouterr().err and not into.exists()


def test_merging_a_missing_or_foreign_file_is_refused(tmp_path, capsys):
    foreign = tmp_path / "other.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    assert main(["merge", str(tmp_path / "absent.db"), "--into", str(tmp_path / "all.db")]) == 2
    assert "no results store at" in capsys.readouterr().err
    assert main(["merge", str(foreign), "--into", str(tmp_path / "all.db")]) == 2
    assert "another application" in capsys.readouterr().err and not (tmp_path / "all.db").exists()
