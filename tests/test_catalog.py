"""The built-in suites and baselines by name, in this checkout (tests/test_wheel.py
does the same from an installed wheel)."""

from __future__ import annotations

import json

from conftest import REPO, suite_toml
from test_cli import cli, user_error
from test_store_and_leaderboard import make_row

from snnbench.definition.catalog import BASELINES, SUITES, builtin_baselines, builtin_suites
from snnbench.results.store import ResultStore


def test_every_shipped_suite_file_is_listed_once_by_its_name_with_its_description(capsys):
    files = sorted(SUITES.glob("*.toml"))
    suites = builtin_suites()
    assert sorted(document.path for document in suites.values()) == files  # no two files share a name
    code, out, _ = cli(capsys, "ls", "--suites")
    assert code == 0
    for name, document in suites.items():
        description = document.data["suite"]["description"]
        assert description.strip(), f"{document.path.name} has no description for snnbench ls --suites"
        assert f"  {name:<22} {description}" in out.splitlines()
    assert "smoke.toml; baseline ships: snnbench check --baseline smoke" in out


def test_the_repository_paths_lead_to_the_shipped_files():
    """suites/ and leaderboard/baseline-smoke-cpu.json are links into the package,
    so the commands of the docs and the Makefile's baseline-smoke write and read
    the files that ship."""
    assert (REPO / "suites").resolve() == SUITES
    assert (REPO / "leaderboard" / "baseline-smoke-cpu.json").resolve() == BASELINES / "smoke.json"
    assert builtin_baselines() == {"smoke": BASELINES / "smoke.json"}
    entries = json.loads((BASELINES / "smoke.json").read_text())["entries"]
    assert {entry["suite"] for entry in entries} == {"smoke"}


def test_a_file_comes_before_a_built_in_suite_of_that_name(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "smoke").write_text(suite_toml("my-smoke"))
    code, out, _ = cli(capsys, "validate", "smoke", "encoders-cpu")
    assert code == 0
    assert "smoke: ok: suite 'my-smoke', 1 cells" in out
    assert "encoders-cpu: ok: suite 'encoders-cpu', 8 cells" in out


def test_unknown_names_get_did_you_mean(capsys, tmp_path):
    assert user_error(capsys, "validate", "encoders-cup") == (
        "snnbench: error: encoders-cup: cannot read the suite file: no such file, and no built-in suite of that "
        "name; did you mean 'encoders-cpu'?")
    # a path to a file that is not there: the nearest built-in by the file's stem
    assert "did you mean 'csnn-mnist'?" in user_error(capsys, "run", "suites/csnn_mnist.tml")
    assert "snnbench ls --suites lists them" in user_error(capsys, "tune", "no-such-suite-anywhere")
    db = tmp_path / "r.db"
    with ResultStore(db) as store:
        store.record(make_row("rate", 0, 0.9, suite="smoke"))
    assert user_error(capsys, "check", "--db", db, "--baseline", "smok") == (
        "snnbench: error: cannot read baseline smok: no such file, and no built-in baseline of that name; "
        "did you mean 'smoke'?")
