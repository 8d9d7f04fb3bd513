"""snnbench as a stranger installs it: a wheel, in a fresh environment, used
from a folder that has nothing to do with this repository.

The wheel of this working tree (built from a copy of it, as a commit would
hold it) and the wheel of the example plugin (examples/snnbench-phase-encoder)
are installed with pip into a new virtual environment. That environment
reaches torch and the other dependencies through a ``.pth`` file naming this
environment's site-packages: a folder added that way is only put on
``sys.path``, its own ``.pth`` files are not run, so the editable install of
the checkout stays invisible and ``import snnbench`` is the wheel's (checked
first). From another folder, the built-in suites run by name, the shipped
baseline gates them by name, and the example plugin's encoder and neuron
train a cell.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO, suite_toml

from snnbench.comparison.checkout import snapshot

EXAMPLE = REPO / "examples" / "snnbench-phase-encoder"


@dataclass(frozen=True)
class Installed:
    bin: Path
    site_packages: Path
    #: a folder outside the checkout, where the commands run
    elsewhere: Path

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("SNNBENCH_") and k != "PYTHONPATH"}
        return subprocess.run([str(self.bin / "snnbench"), *args], cwd=self.elsewhere, env=environ,
                              capture_output=True, text=True, timeout=timeout)


def _pip(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"pip {' '.join(args)}:\n{done.stdout}\n{done.stderr}"


def _wheel(source: Path, into: Path) -> Path:
    """The wheel of ``source``, built offline with this environment's setuptools."""
    _pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "--quiet", "--wheel-dir", str(into),
         str(source))
    (wheel,) = into.glob("*.whl")
    return wheel


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    # from copies: an in-tree build would leave build/ and *.egg-info in the checkout
    snnbench_wheel = _wheel(snapshot(REPO, root / "snnbench-src"), root / "wheel")
    example = root / "example-src"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__"))
    example_wheel = _wheel(example, root / "example-wheel")

    venv = root / "venv"
    done = subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    python = venv / "bin" / "python"
    _pip("--python", str(python), "install", "--no-deps", "--no-index", "--quiet", str(snnbench_wheel),
         str(example_wheel))
    site_packages = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip())
    (site_packages / "dependencies-of-the-test-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    return Installed(venv / "bin", site_packages, elsewhere)


def test_the_wheel_is_what_runs_not_the_checkout(installed):
    done = subprocess.run([str(installed.bin / "python"), "-c",
                           "import snnbench, snnbench_plugins, snnbench_phase_encoder, torch\n"
                           "for module in (snnbench, snnbench_plugins, snnbench_phase_encoder):\n"
                           "    print(module.__file__)"],
                          cwd=installed.elsewhere, capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert done.returncode == 0, done.stderr
    for path in done.stdout.split():
        assert Path(path).is_relative_to(installed.site_packages), path


def test_the_built_in_suites_are_listed_and_validate_by_name(installed):
    listed = installed.run("ls", "--suites")
    assert listed.returncode == 0, listed.stderr
    assert f"their files are in {installed.site_packages / 'snnbench' / 'suites'}" in listed.stdout
    lines = listed.stdout.splitlines()
    assert "  smoke                  every encoder and both LIF backends on the bundled 8x8 digits" in lines
    assert "                         smoke.toml; baseline ships: snnbench check --baseline smoke" in lines
    assert any(line.startswith("  encoders-cpu ") for line in lines), listed.stdout

    validated = installed.run("validate", "encoders", "encoders-cpu")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "encoders: ok: suite 'encoders', 12 cells (4 combinations x 3 seeds)" in validated.stdout
    assert "encoders-cpu: ok: suite 'encoders-cpu', 8 cells (4 combinations x 2 seeds)" in validated.stdout

    typo = installed.run("run", "smok")
    assert typo.returncode == 2 and typo.stderr == (
        "snnbench: error: smok: cannot read the suite file: no such file, and no built-in suite of that name; "
        "did you mean 'smoke'?\n")


def test_smoke_runs_by_name_and_passes_the_shipped_baseline(installed):
    """The smoke suite's seed 0 (eight cells) from the package, judged by the
    baseline that ships beside it: the cells are the baseline's (same config
    hashes), and the gate passes on this machine, as it does for a checkout."""
    db = installed.elsewhere / "smoke.db"
    ran = installed.run("run", "smoke", "--seeds", "0", "--db", str(db), "--no-progress")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    with sqlite3.connect(db) as connection:
        connection.row_factory = sqlite3.Row
        rows = [dict(row) for row in connection.execute("SELECT * FROM results WHERE status = 'ok'")]
    assert len(rows) == 8 and {row["seed"] for row in rows} == {0}
    assert {row["encoder"] for row in rows} == {"rate", "latency", "direct", "delta"}
    for row in rows:
        assert json.loads(row["metrics"])["accuracy"] > 0.5, row  # chance is 0.1; the lowest seen is 0.67
        assert json.loads(row["environment"])["components"]["encoder"]["distribution"] == "snnbench"
    shipped = json.loads((installed.site_packages / "snnbench" / "baselines" / "smoke.json").read_text())
    assert {row["config_hash"] for row in rows} == {entry["config_hash"] for entry in shipped["entries"]}

    checked = installed.run("check", "--db", str(db), "--baseline", "smoke")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "no regression against smoke (24 checks passed, 0 not judged)" in checked.stdout


def test_the_example_plugin_runs_against_the_wheel(installed):
    suite = installed.elsewhere / "phase.toml"
    suite.write_text(suite_toml("phase-and-refractory", encoder=("phase",), neuron=("refractory-lif",), extra="""
        [params.encoder.phase]
        timesteps = 8
        [params.neuron.refractory-lif]
        refractory = 1
        [params.learning_rule.bptt]
        lr = 0.005
        [training]
        epochs = 2
        batch_size = 64
    """))
    db = installed.elsewhere / "phase.db"
    ran = installed.run("run", suite.name, "--db", str(db), "--no-progress")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    with sqlite3.connect(db) as connection:
        (status, metrics, environment), = connection.execute("SELECT status, metrics, environment FROM results")
    assert status == "ok"
    assert json.loads(metrics)["accuracy"] > 0.5  # chance is 0.1
    components = json.loads(environment)["components"]
    for kind in ("encoder", "neuron"):
        assert components[kind]["plugin"] == "phase-encoder", components[kind]
        assert components[kind]["distribution"] == "snnbench-phase-encoder", components[kind]
    assert components["architecture"]["distribution"] == "snnbench"


def test_compare_neurons_says_it_needs_a_checkout(installed):
    refused = installed.run("compare", "--neurons")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "--neurons compares snnbench's neuron benchmarks (benchmarks/test_neuron_speed.py)" in refused.stderr
    assert "needs a git checkout of snnbench" in refused.stderr
    assert f"{installed.elsewhere} is not inside a git repository" in refused.stderr
