"""A stranger's plugin, installed for real, shows up and runs in a suite.

The example package ``examples/snnbench-phase-encoder`` is pip-installed
(offline, from a copy of its source) into a temporary directory that is put
on ``PYTHONPATH`` of a fresh ``python -m snnbench.cli`` process, so the only
way snnbench can find it is the ``snnbench`` entry-point group, exactly as
after ``pip install snnbench-phase-encoder``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO, suite_toml

from snnbench.definition.params import ParamError, parse_params

EXAMPLE = REPO / "examples" / "snnbench-phase-encoder"
PLUGIN = "phase-encoder"  # the entry-point name, which snnbench reports as the plugin

SUITE = suite_toml("third-party-phase", encoder=("phase", "rate"), neuron=("spikingjelly-lif",), extra="""
    [params.encoder.phase]
    timesteps = 8
    [params.encoder.rate]
    timesteps = 8

    [params.learning_rule.bptt]
    lr = 0.005

    [training]
    epochs = 2
    batch_size = 64
""")

# With these settings the phase cell reaches about 0.89 on CPU (rate: about
# 0.90). An encoder that carries no information about the image (all zeros,
# all ones, random bits, or codes of the wrong samples) stays at chance, about
# 0.11, so this bound separates a working encoder from a broken one with room
# on both sides. Bit order is checked exactly by the unit tests below.
MIN_ACCURACY = 0.7


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The example package pip-installed into a fresh target directory."""
    root = tmp_path_factory.mktemp("third_party")
    # build from a copy: an in-tree build would leave build/ and *.egg-info in examples/
    source = root / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__"))
    target = root / "site"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        pytest.fail(f"pip could not install {EXAMPLE.name} (exit {result.returncode}):\n"
                    f"{result.stdout}\n{result.stderr}", pytrace=False)
    assert (target / "snnbench_phase_encoder" / "__init__.py").is_file(), result.stdout
    return target


def snnbench(site: Path, *args: str, cwd: Path, env: dict[str, str] | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SNNBENCH_")}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "snnbench.cli", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=timeout)


def listed(output: str) -> dict[str, str]:
    """``snnbench ls`` output as {component name: its block of lines}."""
    blocks: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        if line.startswith("  ") and not line[2].isspace():
            current = line.split()[0]
            blocks[current] = [line]
        elif current and line.startswith("  "):
            blocks[current].append(line)
        else:
            current = None
    return {name: "\n".join(lines) for name, lines in blocks.items()}


def ls_encoders(site: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    result = snnbench(site, "ls", "encoder", cwd=site.parent, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "failed to load" not in result.stderr, result.stderr
    encoders = listed(result.stdout)
    assert "rate" in encoders, f"built-in encoders missing from:\n{result.stdout}"
    return encoders


def test_ls_lists_the_plugin_with_its_params(site):
    encoders = ls_encoders(site)
    assert "phase" in encoders, f"phase not listed:\n{encoders}"
    block = encoders["phase"]
    assert f"plugin {PLUGIN} (0.1.0)" in block
    assert "accepts static" in block
    assert "timesteps = 16  (int, >= 1)" in block
    assert "bits = 8  (int, [1, 16])" in block
    assert "plugin snnbench-encoders-coding" in encoders["rate"]


@pytest.mark.parametrize("env, shown", [
    ({"SNNBENCH_DISABLE_PLUGIN_AUTOLOAD": "1"}, False),
    ({"SNNBENCH_LOAD_PLUGINS": ""}, False),
    ({"SNNBENCH_LOAD_PLUGINS": "some-other-plugin"}, False),
    ({"SNNBENCH_LOAD_PLUGINS": PLUGIN}, True),
    ({"SNNBENCH_LOAD_PLUGINS": "snnbench-phase-encoder"}, True),  # the distribution name works too
], ids=["autoload-off", "load-none", "load-other", "load-by-entry-point", "load-by-distribution"])
def test_environment_selects_third_party_plugins(site, env, shown):
    encoders = ls_encoders(site, env)
    assert ("phase" in encoders) is shown, f"{env}: {sorted(encoders)}"


def test_plugin_runs_in_a_suite_and_is_recorded(site, tmp_path):
    suite = tmp_path / "phase.toml"
    suite.write_text(SUITE)
    db = tmp_path / "r.db"
    result = snnbench(site, "run", str(suite), "--db", str(db), "--no-progress", cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr

    with sqlite3.connect(db) as connection:
        connection.row_factory = sqlite3.Row
        rows = {row["encoder"]: dict(row) for row in connection.execute("SELECT * FROM results")}
    assert sorted(rows) == ["phase", "rate"], result.stdout

    phase = rows["phase"]
    assert phase["status"] == "ok", phase["reason"]
    metrics = json.loads(phase["metrics"])
    assert metrics["accuracy"] > MIN_ACCURACY, f"phase accuracy {metrics['accuracy']:.3f}:\n{result.stdout}"
    assert metrics["timesteps"] == 8
    # 8x8 digits quantised to 8 bits: about 30% of the bits are set, never none or all
    assert 0.1 < metrics["encoder_density"] < 0.6, metrics["encoder_density"]
    supplied = json.loads(phase["environment"])["components"]
    assert {k: v for k, v in supplied["encoder"].items() if k != "code"} == {
        "plugin": PLUGIN, "distribution": "snnbench-phase-encoder", "version": "0.1.0"}
    assert len(supplied["encoder"]["code"]) == 16  # the fingerprint of the plugin's code (docs/first-run.md)
    assert supplied["neuron"]["plugin"] == "snnbench-neurons-spikingjelly"

    rate = rows["rate"]
    assert rate["status"] == "ok", rate["reason"]
    assert json.loads(rate["environment"])["components"]["encoder"]["plugin"] == "snnbench-encoders-coding"


def test_the_plugins_neuron_model_trains_a_cell_through_its_surrogate_gradient(site, tmp_path):
    """The example's neuron (params from snnbench.api.NeuronParams, spike from
    snnbench.api.spike) trains like a built-in: well above chance on digits."""
    suite = tmp_path / "refractory.toml"
    suite.write_text(suite_toml("third-party-neuron", neuron=("refractory-lif",), extra="""
        [params.encoder.rate]
        timesteps = 8
        [params.neuron.refractory-lif]
        refractory = 1
        [params.learning_rule.bptt]
        lr = 0.005
        [training]
        epochs = 2
        batch_size = 64
    """))
    db = tmp_path / "r.db"
    result = snnbench(site, "run", str(suite), "--db", str(db), "--no-progress", cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    with sqlite3.connect(db) as connection:
        (metrics, environment), = connection.execute("SELECT metrics, environment FROM results")
    metrics = json.loads(metrics)
    assert metrics["accuracy"] > MIN_ACCURACY, result.stdout
    assert metrics["neuron_backends"] and set(metrics["neuron_backends"].values()) == {"refractory-lif-torch"}
    assert json.loads(environment)["components"]["neuron"]["plugin"] == PLUGIN


# --------------------------------------------------------------------------- the encoder itself


@pytest.fixture(scope="module")
def phase(site):
    """The installed module, loaded from the install directory by path."""
    init = site / "snnbench_phase_encoder" / "__init__.py"
    spec = importlib.util.spec_from_file_location("snnbench_phase_encoder_under_test", init)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building the class
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def encode(phase, x, timesteps=8, bits=8) -> torch.Tensor:
    return phase.PhaseEncoder(phase.PhaseParams(timesteps=timesteps, bits=bits))(x)


def test_registers_one_static_encoder(phase):
    specs = []
    phase.register_encoders(register=specs.append)
    assert [spec.name for spec in specs] == ["phase"]
    spec = specs[0]
    assert spec.accepts == frozenset({"static"})
    assert spec.params is phase.PhaseParams
    assert not spec.trainable


def test_bright_dark_and_half_pixels(phase):
    x = torch.tensor([1.0, 0.0, 128 / 255]).view(3, 1, 1, 1)
    spikes = encode(phase, x, timesteps=8)
    assert spikes.shape == (8, 3, 1, 1, 1)
    assert spikes.dtype == torch.float32
    assert spikes[:, 0].flatten().tolist() == [1.0] * 8
    assert spikes[:, 1].flatten().tolist() == [0.0] * 8
    assert spikes[:, 2].flatten().tolist() == [1.0, 0, 0, 0, 0, 0, 0, 0]  # 128 = 0b10000000, MSB first


def test_matches_the_binary_expansion_and_repeats(phase):
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(5, 1, 4, 4, generator=generator)
    x[0, 0, 0, :] = torch.tensor([1 / 255, 2 / 255, 127 / 255, 254 / 255])
    spikes = encode(phase, x, timesteps=16)
    assert spikes.shape == (16, 5, 1, 4, 4)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(spikes[:8], spikes[8:]), "T=16 must repeat the 8-bit pattern twice"
    for b, pixel in ((0, (0, 0, 0)), (0, (0, 0, 1)), (0, (0, 0, 2)), (0, (0, 0, 3)), (3, (0, 2, 1)), (4, (0, 3, 3))):
        code = round(x[(b, *pixel)].item() * 255)
        expected = [float(bit) for bit in f"{code:08b}"] * 2
        assert spikes[(slice(None), b, *pixel)].tolist() == expected, (b, pixel, code)
    # spike counts per period are the popcounts of the codes, for every pixel
    codes = torch.round(x * 255).long()
    popcount = sum((codes >> k) & 1 for k in range(8)).float()
    assert torch.equal(spikes[:8].sum(0), popcount)


def test_partial_period_and_other_bit_depths(phase):
    x = torch.tensor([[1.0], [5 / 15]])  # 4 bits: 5 = 0b0101
    spikes = encode(phase, x, timesteps=6, bits=4)
    assert spikes[:, 1, 0].tolist() == [0.0, 1, 0, 1, 0, 1]
    assert spikes[:, 0, 0].tolist() == [1.0] * 6
    one_bit = encode(phase, torch.tensor([0.2, 0.7]), timesteps=3, bits=1)
    assert one_bit.tolist() == [[0.0, 1.0]] * 3


def test_out_of_range_input_is_clamped(phase):
    spikes = encode(phase, torch.tensor([-0.5, 1.5]))
    assert spikes[:, 0].sum() == 0 and spikes[:, 1].sum() == 8


@pytest.mark.parametrize("table, message", [({"timesteps": 0}, "must be >= 1"), ({"bits": 0}, "must lie in [1, 16]"),
                                            ({"timesteps": -3}, "must be >= 1"), ({"bits": 17}, "must lie in [1, 16]")])
def test_rejects_bad_params(phase, table, message):
    with pytest.raises(ParamError, match=re.escape(message)):
        parse_params(phase.PhaseParams, table)
