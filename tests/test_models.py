"""Kept models: every ok row keeps its trained network beside the store, as
safetensors checked against the row; merge carries them; a truncated or
changed file is an error naming it, and loading one never runs code."""

from __future__ import annotations

import json
import pickle
import sqlite3

import pytest
import safetensors.torch
import torch
from conftest import suite_toml

from snnbench.cli import main
from snnbench.results.models import ModelFileError, ModelFolder, ModelRef, models_folder
from snnbench.results.store import ResultStore
from snnbench.running.kept_models import rebuild

TINY = """
[params.encoder.rate]
timesteps = 6
[params.encoder.direct]
timesteps = 6
[params.neuron.snntorch-lif]
beta = 0.8
[params.architecture.mlp]
hidden = [16]
[training]
epochs = 1
batch_size = 64
train_limit = 300
test_limit = 120
"""


def run_tiny(tmp_path, db_name="r.db", *extra, encoders=("rate", "direct"), name="kept"):
    suite = tmp_path / f"{name}.toml"
    suite.write_text(suite_toml(name, encoder=encoders, extra=TINY))
    db = tmp_path / db_name
    assert main(["run", str(suite), "--db", str(db), "--no-progress", *extra]) == 0
    return db


def rows_of(db):
    with ResultStore(db, create=False) as store:
        return store.rows()


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    """A store of two tiny cells with their kept models."""
    return run_tiny(tmp_path_factory.mktemp("kept"))


def test_every_ok_row_keeps_its_model_and_names_it(kept, plugins, capsys):
    rows = rows_of(kept)
    assert len(rows) == 2
    folder = ModelFolder(kept)
    assert folder.path == kept.with_name("r.db.models")
    for row in rows:
        ref = ModelRef.of_row(row)
        assert ref.file.startswith(f"{row['config_hash']}-s0-cpu-") and ref.file.endswith(".safetensors")
        data = folder.read(ref)
        assert len(data) == ref.bytes
        # weights and the random state only: tensors, no code
        tensors = safetensors.torch.load(data)
        assert {"rng.torch", "model.network.1.module.weight"} <= set(tensors)
        rebuilt = rebuild(data, folder.file(ref), plugins, torch.device("cpu"))
        assert rebuilt.cell.config_hash == row["config_hash"] and rebuilt.cell.label == row["label"]
        assert rebuilt.step_shape == (1, 8, 8) and rebuilt.differences == []
    assert len(list(folder.path.iterdir())) == 2
    assert main(["ls", "models", "--db", str(kept)]) == 0
    out = capsys.readouterr().out
    assert "2 of 2 ok rows keep their model: 2 file(s)" in out and "kB in" in out
    assert all(ModelRef.of_row(row).file in out for row in rows)


def test_no_keep_models_keeps_none(tmp_path, capsys):
    db = run_tiny(tmp_path, "none.db", "--no-keep-models", encoders=("direct",))
    assert all("model" not in row["environment"] for row in rows_of(db))
    assert not models_folder(db).exists()
    assert main(["ls", "models", "--db", str(db)]) == 0
    assert "0 of 1 ok rows keep their model: 0 file(s)" in capsys.readouterr().out


def test_a_second_run_of_a_cell_never_leaves_two_files_for_one_row(tmp_path):
    db = run_tiny(tmp_path, encoders=("direct",))
    run_tiny(tmp_path, "r.db", "--rerun", encoders=("direct",))
    rows = rows_of(db)
    assert len(rows) == 2
    refs = [ModelRef.of_row(row) for row in rows]
    # the same cell trained twice on one machine: the same weights, one file both rows name
    assert refs[0] == refs[1]
    summary = ModelFolder(db).summary(rows)
    assert (summary.files, summary.kept, summary.missing, summary.unreferenced) == (1, 2, [], [])


def _copy_store(source, tmp_path):
    target = tmp_path / "copy.db"
    target.write_bytes(source.read_bytes())
    models = models_folder(target)
    models.mkdir()
    for file in models_folder(source).iterdir():
        (models / file.name).write_bytes(file.read_bytes())
    return target


def _first(db):
    row = rows_of(db)[0]
    ref = ModelRef.of_row(row)
    return row, ref, ModelFolder(db).file(ref)


def test_a_truncated_file_is_an_error_naming_it(kept, tmp_path, capsys):
    db = _copy_store(kept, tmp_path)
    row, ref, path = _first(db)
    path.write_bytes(path.read_bytes()[: ref.bytes // 2])
    with pytest.raises(ModelFileError, match=f"{path.name}: truncated: {ref.bytes // 2} of the {ref.bytes} bytes"):
        ModelFolder(db).read(ref)
    assert main(["export", str(row["id"]), "--db", str(db), "--nir", str(tmp_path / "x.nir")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "truncated" in err and "Traceback" not in err


def test_a_changed_file_is_an_error_naming_it(kept, tmp_path):
    db = _copy_store(kept, tmp_path)
    _, ref, path = _first(db)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x40  # one bit of the last tensor
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=f"{path.name}: changed since it was written: .* its row recorded "
                                             f"{ref.bytes} bytes with sha256 {ref.sha256[:12]}"):
        ModelFolder(db).read(ref)


def test_a_missing_file_is_an_error_naming_it(kept, tmp_path):
    db = _copy_store(kept, tmp_path)
    _, ref, path = _first(db)
    path.unlink()
    with pytest.raises(ModelFileError, match=f"{path.name}: the kept model of this row is missing"):
        ModelFolder(db).read(ref)
    assert ModelFolder(db).summary(rows_of(db)).missing


def test_loading_never_runs_code(tmp_path, plugins):
    """A pickle put where a model should be (its row even agreeing with it)
    is refused as not a safetensors file, and its payload never runs."""
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    data = pickle.dumps(Payload())
    with pytest.raises(ModelFileError, match="not a safetensors file|not an snnbench model file"):
        rebuild(data, "evil.safetensors", plugins, torch.device("cpu"))
    assert not marker.exists()
    foreign = safetensors.torch.save({"w": torch.zeros(2)}, {"format": "pt"})
    with pytest.raises(ModelFileError, match="not an snnbench model file \\(format 'pt'"):
        rebuild(foreign, "other.safetensors", plugins, torch.device("cpu"))


def test_merge_carries_the_models_of_its_rows(tmp_path, capsys):
    suite = tmp_path / "sharded.toml"
    suite.write_text(suite_toml("sharded", encoder=("rate", "direct"), extra=TINY))
    for k in (1, 2):
        assert main(["run", str(suite), "--shard", f"{k}/2", "--db", str(tmp_path / f"s{k}.db"), "--no-progress"]) == 0
    into = tmp_path / "all.db"
    assert main(["merge", str(tmp_path / "s1.db"), str(tmp_path / "s2.db"), "--into", str(into)]) == 0
    assert "1 new, 1 kept model(s)" in capsys.readouterr().out
    rows = rows_of(into)
    assert len(rows) == 2
    for row in rows:
        ModelFolder(into).read(ModelRef.of_row(row))  # there, and checked
    assert main(["merge", str(tmp_path / "s1.db"), "--into", str(into)]) == 0  # again: nothing new
    assert ModelFolder(into).summary(rows_of(into)).files == 2


def test_merge_refuses_a_changed_model_before_writing_a_row(kept, tmp_path, capsys):
    db = _copy_store(kept, tmp_path)
    _, ref, path = _first(db)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    into = tmp_path / "into.db"
    assert main(["merge", str(db), "--into", str(into)]) == 2
    assert f"{path.name}: changed since it was written" in capsys.readouterr().err
    assert not into.exists() or not sqlite3.connect(into).execute(
        "SELECT name FROM sqlite_master WHERE name = 'results'").fetchall() or not rows_of(into)
    assert not models_folder(into).exists()


def test_a_row_names_its_file_in_its_environment_not_its_metrics(kept):
    for row in rows_of(kept):
        assert set(row["environment"]["model"]) == {"file", "sha256", "bytes"}
        assert "model" not in row["metrics"]
        assert json.loads(json.dumps(row["environment"]["model"])) == row["environment"]["model"]
