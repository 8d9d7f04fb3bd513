"""The ``[compare]`` table of a suite file: the tolerances ``snnbench
compare`` judges the suite's metrics with, validated like any key (an unknown
metric or key names its line and the nearest name) and used by a real
compare, with ``--tolerance`` over it (docs/regression-power.md)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, suite_toml

from snnbench.api.errors import SuiteError
from snnbench.cli import main
from snnbench.comparison.checkout import snapshot
from snnbench.definition.compare_table import compare_tolerances
from snnbench.definition.plugins import load_plugins
from snnbench.definition.suite import read_suite

TINY = suite_toml("power", extra="""
    [params.encoder.rate]
    timesteps = 8

    [params.architecture.mlp]
    hidden = [32]

    [training]
    epochs = 1
    batch_size = 64
    """)

COMPARE_TABLE = """
[compare]
tolerance.train_samples_per_s = 0.05
tolerance.accuracy = "abs:0.005"
tolerance.synops_mac = "rel:0.01"
"""


def suite_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "power.toml"
    path.write_text(text)
    return path


def test_the_compare_table_gives_each_metric_its_tolerance(tmp_path):
    document = read_suite(suite_file(tmp_path, TINY + COMPARE_TABLE))
    document.build(load_plugins().registries)
    assert compare_tolerances(document.data, document.source) == {
        "train_samples_per_s": {"rel": 0.05},  # a bare number: the metric's own kind
        "accuracy": {"abs": 0.005}, "synops_mac": {"rel": 0.01}}


@pytest.mark.parametrize("table, said", [
    ('[compare]\ntolerance.train_sample_per_s = 0.1\n',
     "compare.tolerance.train_sample_per_s = 0.1: unknown metric (did you mean 'train_samples_per_s'?)"),
    ('[compare]\ntolerence.accuracy = 0.1\n', "compare.tolerence = {'accuracy': 0.1}: unknown key (did you mean "
                                              "'tolerance'?)"),
    ('[compare]\ntolerance.accuracy = "fast"\n', 'must be a number, or "abs:X" or "rel:X"'),
    ('[compare]\ntolerance.accuracy = "abs:x"\n', "must be a tolerance >= 0"),
    ('[compare]\ntolerance.train_samples_per_s = 1.5\n', "must be a tolerance >= 0 (a relative one below 1)"),
    ('[compare]\ntolerance = 0.1\n', "must be a table of metric = tolerance"),
    ('[compar]\ntolerance.accuracy = 0.1\n', "unknown table (did you mean [compare]?)"),
])
def test_a_bad_compare_table_is_an_error_of_the_file_with_its_line(tmp_path, capsys, table, said):
    text = TINY + "\n" + table
    path = suite_file(tmp_path, text)
    with pytest.raises(SuiteError) as raised:
        read_suite(path).build(load_plugins().registries)
    assert said in str(raised.value)
    wrong = table.splitlines()[0 if "compar]" in table else 1]
    assert raised.value.line == text.splitlines().index(wrong) + 1
    assert main(["validate", str(path)]) == 2
    assert said in capsys.readouterr().err


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=repo,
                          check=True, capture_output=True, text=True).stdout


def test_compare_judges_with_the_suites_table_and_the_command_line_over_it(monkeypatch, capsys, tmp_path):
    """A commit that halves the rate encoder's spikes fails compare's default
    encoder-density tolerance (tests/test_compare.py); a suite whose
    [compare] table allows it passes, with --tolerance merged over the table."""
    repo = snapshot(REPO, tmp_path / "repo")
    (repo / "suites" / "power.toml").write_text(TINY.replace("seeds = [0]", "seeds = [0, 1]") + """
[compare]
tolerance.encoder_density = "abs:0.9"
tolerance.sparsity = 0.9
""")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    coding = repo / "plugins" / "encoders" / "coding.py"
    old = "probability = (x * self.gain).clamp_(0.0, 1.0)"
    assert old in coding.read_text()
    coding.write_text(coding.read_text().replace(old, "probability = (x * self.gain * 0.5).clamp_(0.0, 1.0)"))
    git(repo, "commit", "-qam", "fewer spikes")
    monkeypatch.chdir(repo)
    code = main(["compare", "suites/power.toml", "--base", "HEAD~1", "--repeats", "0", "--no-progress",
                 "--tolerance", "accuracy=abs:0.5", "--json", str(tmp_path / "compare.json")])
    out = capsys.readouterr().out
    findings = {f["metric"]: f for f in json.loads((tmp_path / "compare.json").read_text())["paired"]}
    assert code == 0, out
    assert findings["encoder_density"]["allowed"] == "±0.9"
    assert findings["encoder_density"]["verdict"] == "changed, within tolerance"
    assert findings["encoder_density"]["head"][0] < findings["encoder_density"]["base"][0] * 0.6
    assert findings["accuracy"]["allowed"] == "±0.5"  # the command line, over compare's default 0.01
    assert findings["sparsity"]["allowed"] == "±0.9"  # a bare number: sparsity's own kind, abs
