"""The traps a new user met in the first hour (issue 27, items 6-11): missing
data, a store created where none was meant, a suite file's errors one at a
time, rows of edited plugin code served as current, compare refusing over
untracked files, and `make run` installing every extra."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import REPO, ok_rows, suite_toml

from snnbench.api import LoadContext
from snnbench.cli import main


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- 6. missing data


def test_missing_data_is_one_error_before_any_cell_trains(tmp_path, capsys):
    """Every cell of a suite on absent MNIST used to fail on its own with the
    same error, torchvision's "You can use download=True" included, under
    --no-download; now the run refuses once, before the first cell, and
    says which files go where."""
    suite = write(tmp_path / "suite.toml", suite_toml("no-data", seeds=(0, 1), dataset=("mnist",),
                                                      encoder=("rate", "latency")))
    db = tmp_path / "r.db"
    empty = tmp_path / "data"
    empty.mkdir()
    code = main(["run", str(suite), "--db", str(db), "--data-dir", str(empty), "--no-download", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 2
    assert "FAILED" not in captured.out
    error = captured.err
    assert error.count(str(empty / "MNIST" / "raw")) == 1
    assert "train-images-idx3-ubyte" in error and "t10k-labels-idx1-ubyte" in error
    assert "4 cells need it" in error and "no cell was run" in error
    assert "download=True" not in error
    assert not db.exists() or ok_rows(db) == []


def test_tune_on_missing_data_refuses_before_its_first_trial(tmp_path, capsys):
    """A study on absent data used to record a failed trial per try; it now
    meets the run's data check before Optuna starts."""
    suite = write(tmp_path / "tune-no-data.toml", suite_toml("tune-no-data", dataset=("mnist",), extra="""
        [tune]
        "params.learning_rule.bptt.lr" = {low = 1e-3, high = 3e-2, log = true}
        """))
    db, empty = tmp_path / "r.db", tmp_path / "data"
    empty.mkdir()
    code = main(["tune", str(suite), "--db", str(db), "--data-dir", str(empty), "--no-download",
                 "--trials", "2", "--objective", "accuracy:max", "--no-progress"])
    error = capsys.readouterr().err
    assert code == 2
    assert str(empty / "MNIST" / "raw") in error and "1 cell needs it" in error and "no cell was run" in error
    assert not db.exists()


def test_packed_mnist_files_are_named_to_unpack(tmp_path, plugins):
    """torchvision reads the unpacked files only, so offline .gz copies are not enough."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte.gz").write_bytes(b"")
    spec = plugins.registries["dataset"].get("mnist").spec
    problem = spec.requires(spec.params(), LoadContext(tmp_path, download=False))
    assert "gunzip train-images-idx3-ubyte.gz" in problem
    assert spec.requires(spec.params(), LoadContext(tmp_path, download=True)) is None  # it would download
    assert spec.requires(spec.params(download=False), LoadContext(tmp_path, download=True)) is not None


@pytest.mark.parametrize(("dataset", "files"), [("nmnist", ("NMNIST/Train", "NMNIST/Test")),
                                                 ("shd", ("SHD/shd_train.h5", "SHD/shd_test.h5")),
                                                 ("cifar10", ("data_batch_1", "test_batch"))])
def test_every_dataset_with_files_says_what_it_requires(tmp_path, plugins, dataset, files):
    spec = plugins.registries["dataset"].get(dataset).spec
    problem = spec.requires(spec.params(), LoadContext(tmp_path, download=False))
    assert all(file in problem for file in files), problem
    assert plugins.registries["dataset"].get("digits").spec.requires is None  # bundled: needs no files


# --------------------------------------------------------------------------- 7. a store where none was meant

ONE_DIGITS_CELL = suite_toml("first-hour", extra="""
    [params.encoder.rate]
    timesteps = 4
    [training]
    epochs = 1
""")


def test_a_store_in_a_missing_folder_is_made_only_on_request(tmp_path, capsys):
    """A mistyped --db used to create its folders and take a whole suite's
    rows in silence; now a missing folder is an error unless --mkdir asks,
    and a new store says so in one line."""
    suite = write(tmp_path / "suite.toml", ONE_DIGITS_CELL)
    db = tmp_path / "no" / "such" / "r.db"
    assert main(["run", str(suite), "--db", str(db), "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert f"there is no folder {db.parent} for the store {db}" in error and "--mkdir" in error
    assert not (tmp_path / "no").exists()

    assert main(["run", str(suite), "--db", str(db), "--no-progress", "--mkdir"]) == 0
    error = capsys.readouterr().err
    assert f"created the folder {db.parent}" in error
    assert [line for line in error.splitlines() if "new results store" in line] == [f"snnbench: new results store {db}"]
    assert len(ok_rows(db)) == 1

    assert main(["run", str(suite), "--db", str(db), "--no-progress"]) == 0  # the store is there now
    assert "new results store" not in capsys.readouterr().err


# --------------------------------------------------------------------------- 9. edited plugin code

PLUGIN = '''
from dataclasses import dataclass

from torch import nn

from snnbench.api import EncoderSpec, hookimpl

GAIN = 1.0


@dataclass(frozen=True)
class RepeatParams:
    timesteps: int = 4


class Repeat(nn.Module):
    def __init__(self, timesteps):
        super().__init__()
        self.timesteps = timesteps

    def forward(self, x):
        return (x * GAIN).unsqueeze(0).expand(self.timesteps, *x.shape)


@hookimpl
def register_encoders(register):
    register(EncoderSpec("fh-repeat", RepeatParams, lambda params, info: Repeat(params.timesteps),
                         frozenset({"static"})))
'''


def run_plugin_suite(tmp_path, monkeypatch, capsys, module: str, source: str) -> tuple[int, str]:
    """``snnbench run`` as a fresh process would: the plugin module imported anew from ``source``."""
    (tmp_path / f"{module}.py").write_text(source)
    monkeypatch.delitem(sys.modules, module, raising=False)
    importlib.invalidate_caches()
    suite = write(tmp_path / "suite.toml", suite_toml("edited", encoder=("fh-repeat",), extra="[training]\nepochs = 1\n"))
    code = main(["--plugin", module, "run", str(suite), "--db", str(tmp_path / "r.db"), "--no-progress"])
    return code, capsys.readouterr().out


def test_a_cell_whose_plugin_code_changed_runs_again(tmp_path, monkeypatch, capsys):
    """Rows were keyed by names and params only: after an edit of the
    plugin's code the run said "1 already recorded" and kept the old row."""
    monkeypatch.syspath_prepend(str(tmp_path))
    module = "first_hour_edited_encoder"
    code, out = run_plugin_suite(tmp_path, monkeypatch, capsys, module, PLUGIN)
    assert code == 0 and "1 ok" in out
    code, out = run_plugin_suite(tmp_path, monkeypatch, capsys, module, PLUGIN)
    assert code == 0 and "1 already recorded" in out  # the same code: nothing to do

    code, out = run_plugin_suite(tmp_path, monkeypatch, capsys, module, PLUGIN.replace("GAIN = 1.0", "GAIN = 0.25"))
    assert code == 0
    assert ("rerun   digits/fh-repeat/snntorch-lif/mlp/bptt seed=0: the code of encoder 'fh-repeat' changed "
            "since its row was recorded") in out
    assert "1 ok, 0 failed, 1 of them run again as their code changed, 0 already recorded" in out
    first, second = ok_rows(tmp_path / "r.db")
    assert first["config_hash"] == second["config_hash"]  # the same cell, so existing stores keep their hashes
    assert first["environment"]["components"]["encoder"]["code"] != second["environment"]["components"]["encoder"]["code"]
    assert first["environment"]["components"]["neuron"]["code"] == second["environment"]["components"]["neuron"]["code"]
    assert first["metrics"]["encoder_mean"] != second["metrics"]["encoder_mean"]  # it really ran the new code


def test_a_fingerprint_covers_the_helper_modules_of_the_plugin_package_only(plugins):
    from snnbench.definition.fingerprints import _defining_objects, _own_modules

    spec = plugins.registries["dataset"].get("nmnist").spec
    modules = _own_modules(_defining_objects(spec), "snnbench_plugins")
    assert {"snnbench_plugins.datasets.nmnist", "snnbench_plugins.datasets.event_cache"} <= set(modules)
    assert not any(name.startswith("snnbench.") for name in modules)  # the core is recorded by its commit
    assert plugins.code_fingerprint("dataset", "nmnist") != plugins.code_fingerprint("dataset", "shd")


# --------------------------------------------------------------------------- 11. what `make run` installs


def make_plan(target: str, venv: Path) -> list[str]:
    """The pip installs ``make TARGET`` would run into the environment ``venv`` (make -n runs nothing)."""
    planned = subprocess.run(["make", "-n", target, f"VENV={venv}"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout
    return [line for line in planned.splitlines() if "pip install" in line]


def test_make_run_installs_the_main_job_and_make_test_every_extra(tmp_path):
    """`make run` used to install every extra (MLflow, W&B, Ray, Playwright,
    the test tools): 7 GB for a job that needs none of them."""
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    venv = tmp_path / "venv"
    run = " ".join(make_plan("run", venv))
    assert "-e ." in run and "torch==" in run
    assert "[" not in run and "neurobench" not in run, run

    test = make_plan("test", venv)
    installed = {extra for line in test for found in re.findall(r'-e "\.\[([^]]+)\]"', line)
                 for extra in found.split(",")}
    assert installed == set(extras), installed  # every extra, each of which some test uses
    assert any("neurobench" in line for line in test)

    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "snnbench").touch()  # the main job's environment is there: the tests add only theirs
    assert not any("torch==" in line for line in make_plan("test", venv))
    assert make_plan("extra-mlflow", venv) == [f'{venv}/bin/python -m pip install -q -e ".[mlflow]"']


def test_report_without_its_extra_names_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "vl_convert", None)  # as if not installed
    assert main(["report", "--db", str(tmp_path / "r.db"), "--out", str(tmp_path / "site")]) == 2
    assert "pip install 'snnbench[report]'" in capsys.readouterr().err


# --------------------------------------------------------------------------- 8. a suite file's errors

SEVERAL_ERRORS = suite_toml("two words", seeds=(0, 0), encoder=("rate", "ratte", "rate-half"), extra="""
    [params.encoder.rate]
    timesteps = 0

    [variants.encoder.rate-half]
    of = "rate"
    gain = 2.0

    [training]
    epochs = "two"

    [[exclude]]
    encodr = "rate"
    """)


def test_every_error_of_a_suite_file_is_reported_at_once(tmp_path, capsys):
    """Only the first error used to be reported: a file with seven took seven rounds."""
    path = write(tmp_path / "suite.toml", SEVERAL_ERRORS)
    assert main(["validate", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"snnbench: error: {path}: 7 errors:"] + [f"  {path}:{line}: {message}" for line, message in [
        (3, "suite.name = 'two words': a name may hold only letters, digits, '.', '_' and '-', starting with a "
            "letter or digit ([A-Za-z0-9][A-Za-z0-9._-]*) (e.g. 'two-words')"),
        (4, "suite.seeds = [0, 0]: lists a seed twice"),
        (8, "matrix.encoder = 'ratte': unknown encoder (did you mean 'rate'?)"),
        (14, "params.encoder.rate.timesteps = 0: must be >= 1"),
        # the variant's own error only, not also "unknown encoder 'rate-half'" in the matrix
        (18, "variants.encoder.rate-half.gain = 2.0: must lie in (0, 1]"),
        (21, "training.epochs = 'two': must be an integer"),
        (24, "exclude.encodr = 'rate': unknown key in exclude entry 1 (did you mean 'encoder'?)"),
    ]]


def test_params_and_variants_that_apply_to_nothing_are_warned_about(tmp_path, capsys):
    """A params table for a component left out of the matrix was accepted in silence."""
    path = write(tmp_path / "suite.toml", suite_toml("unused", encoder=("rate", "rate-half"), extra="""
        [params.encoder.latency]
        timesteps = 5

        [params.encoder.rate]
        timesteps = 5

        [variants.encoder.rate-half]
        of = "rate"
        gain = 0.5

        [variants.encoder.rate-quarter]
        of = "rate"
        gain = 0.25

        [params.neuron.snntorch-lif]
        beta = 0.9
        """))
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().err.splitlines() == [
        f"snnbench: warning: {path}:13: [params.encoder.latency]: applies to nothing: no combination of the suite "
        "uses encoder 'latency' (directly or through a variant)",
        f"snnbench: warning: {path}:23: [variants.encoder.rate-quarter]: applies to nothing: no combination of the "
        "suite uses encoder 'rate-quarter'"]
