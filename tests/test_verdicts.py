"""What a leaderboard may claim (docs/verdicts.md): equivalent, worse or
cannot tell against the best; a row at chance never "≈ best" and flagged in
every place it appears; a suite mostly at chance called too short for
conclusions; failed and skipped cells listed in every format, even when no
cell has an ok result.

Hand-made rows reproduce the tables that misled (issue 27); a real run on
digits, with a learning rule whose rate is too small to learn anything,
gives rows at chance the way a too-short training does.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json

import pytest
from conftest import REPO, ok_rows, suite_toml
from test_cli import cli
from test_report import seeds, store_with
from test_store_and_leaderboard import make_row

from snnbench.api import final_metrics, verdict_tags
from snnbench.api.records import ResultRow
from snnbench.cli import build_parser, main
from snnbench.definition.metric_specs import metric
from snnbench.results.leaderboard import aggregate, build_board, latest_results
from snnbench.results.store import ResultStore

#: bptt learns digits in seconds; bptt-still, at a rate of 1e-12, stays at chance
CHANCE_SUITE = """
    [params.encoder.rate]
    timesteps = 8
    [params.learning_rule.bptt]
    lr = 0.02
    [variants.learning_rule.bptt-still]
    of = "bptt"
    lr = 1e-12
    [training]
    epochs = 3
    batch_size = 32
    train_limit = 600
    """


def run_quietly(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def chance_run(tmp_path_factory):
    """Two seeds of a rule that learns and of one that stays at chance, on digits."""
    folder = tmp_path_factory.mktemp("chance")
    suite = folder / "chance.toml"
    suite.write_text(suite_toml("chance", seeds=(0, 1), learning_rule=("bptt", "bptt-still"), extra=CHANCE_SUITE))
    code, out, err = run_quietly("run", suite, "--db", folder / "r.db", "--no-progress")
    assert code == 0, out + err
    return folder / "r.db", out, err


def board_of(tmp_path, rows, **options):
    """The leaderboard of ``rows`` grouped by encoder."""
    with ResultStore(store_with(tmp_path / "r.db", rows)) as store:
        ok = latest_results(store.rows()).ok
    return build_board(aggregate(ok, ["encoder"]), ["encoder"], **options)


def verdicts_of(tmp_path, rows) -> dict:
    board = board_of(tmp_path, rows)
    return {row["encoder"]: row["verdict"] for _, row in board.table.iterrows()}


# ------------------------------------------------------------------ 1. the three answers


def test_a_row_at_chance_is_never_about_as_good_as_the_best(tmp_path):
    # issue 27: "latency 8.75 ± 0.00 (AT CHANCE: 3 of 3) ... ≈ best" beside "rate 34.88 ± 19.50 best"
    rows = (seeds("rate", [0.5375, 0.3875, 0.1213])
            + seeds("latency", [0.0875, 0.0875, 0.0875], at_chance=True))
    verdicts = verdicts_of(tmp_path, rows)
    assert verdicts["rate"].kind == "best"
    assert verdicts["latency"].kind == "at_chance" and verdicts["latency"].at_chance_runs == 3


def test_two_noisy_seeds_cannot_tell_and_say_how_many_seeds_would(tmp_path):
    # issue 27: with two seeds, 58.64 ± 4.53 was "≈ best" against 94.85 ± 0.20
    rows = seeds("rate", [0.9471, 0.9499]) + seeds("direct", [0.6184, 0.5544])
    verdict = verdicts_of(tmp_path, rows)["direct"]
    assert verdict.kind == "cannot_tell"
    assert verdict.detectable > 0.3627  # these seeds could not reliably detect even this difference
    assert 2 < verdict.seeds_needed <= 5
    assert verdict.mark(metric("accuracy")) == (f"? (could detect ≥ {100 * verdict.detectable:.2f}; "
                                                f"~{verdict.seeds_needed} seeds each)")


def test_equivalent_worse_and_cannot_tell_are_told_apart(tmp_path):
    rows = (seeds("rate", [0.950, 0.952, 0.948]) + seeds("delta", [0.949, 0.951, 0.947])
            + seeds("latency", [0.80, 0.81, 0.82]) + seeds("direct", [0.93, 0.96, 0.90]))
    board = board_of(tmp_path, rows)
    verdicts = {row["encoder"]: row["verdict"] for _, row in board.table.iterrows()}
    assert {k: v.kind for k, v in verdicts.items()} == {
        "rate": "best", "delta": "equivalent", "latency": "worse", "direct": "cannot_tell"}
    delta = verdicts["delta"]
    assert -0.01 < delta.low < delta.high < 0.01 and delta.margin == 0.01  # the 90% interval inside ±1 point
    assert verdicts["latency"].p_value < 0.05 and verdicts["direct"].p_value > 0.05
    # direct's interval (about -7 to +3 points) lies inside a margin of ±20 points
    wide = build_board(board.table.drop(columns=["verdict", "vs_best", "gaps"]), ["encoder"],
                       margins={"accuracy": {"abs": 0.2}})
    assert dict(zip(wide.table["encoder"], wide.table["vs_best"]))["direct"] == "equivalent"


def test_one_seed_cannot_tell(tmp_path, capsys):
    db = store_with(tmp_path / "r.db", [make_row("rate", 0, 0.9), make_row("latency", 0, 0.7)])
    code, out, _ = cli(capsys, "leaderboard", "--db", db, "--by", "encoder", "--suites-dir", tmp_path)
    assert code == 0 and "? (1 seed: an interval needs two or more on each side)" in out
    assert "No row could be told apart from the best" in out


def test_the_leaderboard_marks_and_explains_each_answer(chance_run, capsys, tmp_path):
    db, _, _ = chance_run
    code, out, _ = cli(capsys, "leaderboard", "--db", db, "--by", "learning_rule", "--metric", "accuracy",
                       "--suites-dir", tmp_path)
    assert code == 0
    (still,) = [line for line in out.splitlines() if line.startswith("bptt-still")]
    assert "AT CHANCE (2 of 2)" in still and "≈ best" not in still
    (learnt,) = [line for line in out.splitlines() if line.startswith("bptt ")]
    assert learnt.rstrip().endswith("best")
    assert "AT CHANCE: a run learnt nothing" in out and "docs/verdicts.md" in out
    code, out, _ = cli(capsys, "leaderboard", "--db", db, "--by", "learning_rule", "--format", "json",
                       "--suites-dir", tmp_path)
    rows = {r["group"]["learning_rule"]: r for r in json.loads(out)["rows"]}
    assert rows["bptt-still"]["vs_best"] == "at_chance" and rows["bptt-still"]["verdict"]["at_chance_runs"] == 2
    assert rows["bptt"]["vs_best"] == "best"


def test_a_bad_margin_is_one_line(capsys, chance_run, tmp_path):
    db, _, _ = chance_run
    code, _, err = cli(capsys, "leaderboard", "--db", db, "--margin", "accuracy=0.01", "--suites-dir", tmp_path)
    assert code == 2 and "--margin 'accuracy=0.01': write METRIC=abs:X or METRIC=rel:X" in err
    code, _, err = cli(capsys, "leaderboard", "--db", db, "--margin", "acuracy=abs:0.01", "--suites-dir", tmp_path)
    assert code == 2 and "did you mean 'accuracy'" in err


# ------------------------------------------------------------------ 2. at chance wherever a row appears


def test_at_chance_shows_in_json_csv_report_and_trackers(chance_run, capsys, tmp_path):
    db, out, _ = chance_run
    assert out.count("AT CHANCE") == 2  # the two bptt-still cells' lines
    code, out, _ = cli(capsys, "leaderboard", "--db", db, "--format", "json", "--suites-dir", tmp_path)
    rows = {r["group"]["learning_rule"]: r for r in json.loads(out)["rows"]}
    assert rows["bptt-still"]["at_chance"] == 2 and rows["bptt"]["at_chance"] == 0
    code, out, _ = cli(capsys, "leaderboard", "--db", db, "--by", "learning_rule", "--format", "csv",
                       "--suites-dir", tmp_path)
    table = {r["learning_rule"]: r for r in csv.DictReader(io.StringIO(out))}
    assert table["bptt-still"]["at_chance"] == "2" and table["bptt-still"]["vs_best"] == "at_chance"
    code, out, _ = cli(capsys, "report", "--db", db, "--out", tmp_path / "site", "--suites-dir", tmp_path)
    assert code == 0
    suite_page = (tmp_path / "site" / "suite-chance.html").read_text()
    assert "AT CHANCE: 2 of 2" in suite_page and "AT CHANCE (2 of 2)" in suite_page  # the accuracy and the mark
    (still_page,) = [p for p in (tmp_path / "site").glob("*bptt-still*.html")]
    assert "AT CHANCE: 2 of 2 run(s) of this cell learnt nothing" in still_page.read_text()
    (learnt_page,) = [p for p in (tmp_path / "site").glob("*.html") if p.name.endswith("_bptt_cpu.html")]
    assert "learnt nothing" not in learnt_page.read_text()
    stored = {(r["learning_rule"], r["seed"]): ResultRow.from_stored(r) for r in ok_rows(db)}
    assert final_metrics(stored["bptt-still", 0])["at_chance"] == 1.0
    assert final_metrics(stored["bptt", 0])["at_chance"] == 0.0
    assert verdict_tags(stored["bptt-still", 0])["at_chance"] == "true"
    assert verdict_tags(stored["bptt", 1])["at_chance"] == "false"


# ------------------------------------------------------------------ 3. too short for conclusions


def test_a_suite_mostly_at_chance_is_called_too_short(tmp_path, capsys):
    suite = tmp_path / "stuck.toml"
    suite.write_text(suite_toml("stuck", seeds=(0, 1), learning_rule=("bptt-still",), extra=CHANCE_SUITE))
    code, out, err = cli(capsys, "run", suite, "--db", tmp_path / "r.db", "--no-progress")
    assert code == 0
    assert "suite stuck: training too short for conclusions: 2 of 2 cells at chance" in err
    code, out, _ = cli(capsys, "leaderboard", "--db", tmp_path / "r.db", "--suites-dir", tmp_path)
    assert "WARNING: training too short for conclusions: 2 of 2 cells at chance" in out


def test_a_suite_with_a_minority_at_chance_gets_no_warning(chance_run):
    _, _, err = chance_run
    assert "too short for conclusions" not in err  # 2 of 4 at chance is no majority


def test_no_recommended_reduction_gives_an_at_chance_table(capsys):
    """The reductions recommended for a CPU are the ones that were run and
    learnt (encoders-cpu, its measured accuracy in its header); `--limit 2000
    --epochs 1` left 5 of 12 cells of encoders.toml at chance and is recommended
    nowhere."""
    help_text = build_parser().format_help() + cli(capsys, "run", "--help")[1]
    header = (REPO / "suites" / "encoders.toml").read_text()
    for text in (help_text, header):
        assert "--limit 2000 --epochs 1" not in text
        assert "snnbench run encoders-cpu" in text
    cpu_header = (REPO / "suites" / "encoders-cpu.toml").read_text()
    assert "Measured" in cpu_header and "no cell at chance" in cpu_header


# ------------------------------------------------------------------ 5. failures never vanish


FAILURES = [make_row("rate", 0, status="failed", reason="RuntimeError: boom"),
            make_row("latency", 1, status="failed", reason="ValueError: bad shape"),
            make_row("delta", None, status="skipped", reason="delta cannot feed mlp")]


def test_with_no_successful_row_every_format_lists_the_failures(tmp_path, capsys):
    db = store_with(tmp_path / "r.db", FAILURES)
    code, out, _ = cli(capsys, "leaderboard", "--db", db, "--suites-dir", tmp_path)
    assert code == 0 and "No successful results yet" in out
    assert "failed: digits/rate/snntorch-lif/mlp/bptt seed=0: RuntimeError: boom" in out
    assert "failed: digits/latency/snntorch-lif/mlp/bptt seed=1: ValueError: bad shape" in out
    assert "skipped: digits/delta/snntorch-lif/mlp/bptt: delta cannot feed mlp" in out
    code, out, _ = cli(capsys, "leaderboard", "--db", db, "--format", "md", "--suites-dir", tmp_path)
    assert "- failed: `digits/rate/snntorch-lif/mlp/bptt` seed=0: RuntimeError: boom" in out
    code, out, _ = cli(capsys, "leaderboard", "--db", db, "--format", "json", "--suites-dir", tmp_path)
    document = json.loads(out)
    assert document["rows"] == []
    assert [(f["label"], f["seed"], f["reason"]) for f in document["failed"]] == [
        ("digits/rate/snntorch-lif/mlp/bptt", 0, "RuntimeError: boom"),
        ("digits/latency/snntorch-lif/mlp/bptt", 1, "ValueError: bad shape")]
    assert document["skipped"] == [{"suite": "s", "label": "digits/delta/snntorch-lif/mlp/bptt",
                                    "reason": "delta cannot feed mlp"}]
    code, out, _ = cli(capsys, "leaderboard", "--db", db, "--format", "csv", "--suites-dir", tmp_path)
    listed = list(csv.DictReader(io.StringIO(out)))
    assert [(r["status"], r["encoder"], r["seed"], r["reason"]) for r in listed] == [
        ("failed", "rate", "0", "RuntimeError: boom"), ("failed", "latency", "1", "ValueError: bad shape"),
        ("skipped", "delta", "", "delta cannot feed mlp")]
    code, out, _ = cli(capsys, "leaderboard", "--db", db, "--format", "html", "--suites-dir", tmp_path)
    assert "No successful results yet" in out and "RuntimeError: boom" in out and "delta cannot feed mlp" in out


def test_failures_are_listed_beside_a_table_in_every_format(tmp_path, capsys):
    db = store_with(tmp_path / "r.db", seeds("direct", [0.9, 0.91]) + FAILURES)
    code, out, err = cli(capsys, "leaderboard", "--db", db, "--by", "encoder", "--suites-dir", tmp_path)
    assert code == 0 and "Cells without a result (2 failed, 1 skipped):" in out and "RuntimeError: boom" in out
    assert "RuntimeError" not in err  # on stdout, with the table, where a redirect keeps it
    code, out, _ = cli(capsys, "leaderboard", "--db", db, "--by", "encoder", "--format", "csv",
                       "--suites-dir", tmp_path)
    statuses = [(r["status"], r["encoder"]) for r in csv.DictReader(io.StringIO(out))]
    assert statuses == [("ok", "direct"), ("failed", "rate"), ("failed", "latency"), ("skipped", "delta")]
    code, out, _ = cli(capsys, "leaderboard", "--db", db, "--by", "encoder", "--format", "html",
                       "--suites-dir", tmp_path)
    assert "ValueError: bad shape" in out and "delta cannot feed mlp" in out
