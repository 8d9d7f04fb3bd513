"""Result files: a store's rows exported with where they came from, and
rendered to exactly the table `snnbench leaderboard` prints for the store."""

from __future__ import annotations

import json

import pytest
from conftest import suite_toml

from snnbench.cli import main
from snnbench.results.leaderboard import aggregate, render
from snnbench.results.result_file import FORMAT, read_result_file


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Two seeds of two encoders on the bundled digits, one short epoch each."""
    root = tmp_path_factory.mktemp("results")
    suite = root / "tiny.toml"
    suite.write_text(suite_toml("tiny", encoder=("rate", "direct"), seeds=(0, 1), extra="""
        [training]
        epochs = 1
        train_limit = 300
        test_limit = 120
        """))
    db = root / "tiny.db"
    assert main(["run", str(suite), "--db", str(db), "--no-progress"]) == 0
    return db


def test_export_keeps_the_rows_and_says_where_they_came_from(store, tmp_path, capsys):
    out = tmp_path / "tiny.json"
    command = f"snnbench run tiny.toml --db {store.name}"
    assert main(["export-results", "--db", str(store), "--command", command, "--out", str(out)]) == 0
    assert "wrote 4 row(s) of tiny" in capsys.readouterr().out
    content = json.loads(out.read_text())
    assert content["format"] == FORMAT and content["command"] == command and content["suites"] == ["tiny"]
    assert content["first_row_finished"] <= content["last_row_finished"]
    assert {row["encoder"] for row in content["rows"]} == {"rate", "direct"}
    for row in content["rows"]:
        assert row["environment"]["machine"]["cpu"]
        assert "samples" not in row["metrics"]  # the report's rasters stay in the store
        assert 0 <= row["metrics"]["accuracy"] <= 1


def test_the_rendered_table_is_the_leaderboard_of_the_store(store, tmp_path, capsys):
    out = tmp_path / "tiny.json"
    assert main(["export-results", "--db", str(store), "--command", "snnbench run tiny.toml", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["leaderboard", "--db", str(store), "--by", "encoder", "--format", "md"]) == 0
    printed = capsys.readouterr().out
    _, results = read_result_file(out)
    rendered = render(aggregate(results.ok, ["encoder"]), ["encoder"], fmt="md")
    assert rendered.strip() in printed
    assert "rate" in rendered and "direct" in rendered


def test_bad_input_is_one_line_naming_what_is_wrong(store, tmp_path, capsys):
    out = tmp_path / "x.json"
    assert main(["export-results", "--db", str(store), "--command", " ", "--out", str(out)]) == 2
    assert "--command" in capsys.readouterr().err
    assert main(["export-results", "--db", str(store), "--suite", "tiny-typo", "--command", "x",
                 "--out", str(out)]) == 2
    assert "tiny-typo" in capsys.readouterr().err
    not_a_result_file = tmp_path / "baseline.json"
    not_a_result_file.write_text('{"snnbench_baseline": 2}')
    with pytest.raises(Exception, match="not a result file"):
        read_result_file(not_a_result_file)
