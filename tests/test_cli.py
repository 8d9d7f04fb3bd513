"""The ``snnbench`` command line, run in-process through ``snnbench.cli.main``:
user errors are one line naming the file, key and value, exit 2, never a
traceback; ``check`` exits 1 on a regression. Nothing here trains."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, ok_rows, suite_toml

from snnbench.api.contracts import KINDS
from snnbench.api.records import ResultRow
from snnbench.cli import main
from snnbench.definition.metric_specs import METRIC_VERSIONS
from snnbench.results.store import ResultStore

COMMANDS = ("run", "validate", "ls", "leaderboard", "check", "status")

VALID_SUITE = suite_toml("tiny", seeds=(0, 1), encoder=("rate", "latency"),
                         extra="[params.encoder.rate]\ntimesteps = 5\n\n[training]\nepochs = 1\n")


def make_row(encoder: str = "rate", seed: int = 0, accuracy: float = 0.9, *, suite: str = "tiny",
             status: str = "ok", reason: str | None = None, versions: dict | None = None) -> ResultRow:
    components = {"dataset": "digits", "encoder": encoder, "neuron": "snntorch-lif",
                  "architecture": "mlp", "learning_rule": "bptt"}
    return ResultRow(
        suite=suite, label="/".join(components.values()), config_hash=f"hash-{encoder}", seed=seed,
        device_type="cpu", device_name="test cpu", status=status, components=components,
        config={kind: {"name": name, "params": {}} for kind, name in components.items()},
        metrics={"accuracy": accuracy, "sparsity": 0.8, "encoder_density": 0.1,
                 "train_samples_per_s": 1000.0, "infer_samples_per_s": 4000.0} if status == "ok" else {},
        metric_versions=dict(METRIC_VERSIONS) if versions is None else versions, reason=reason)


def cli(capsys, *argv) -> tuple[int, str, str]:
    """Run ``snnbench argv`` in-process: (exit code, stdout, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit:  # argparse
        code = exit.code
    out, err = capsys.readouterr()
    return code, out, err


def user_error(capsys, *argv) -> str:
    """Run a command that must fail on bad input; return its one-line message."""
    code, out, err = cli(capsys, *argv)
    assert "Traceback" not in out + err
    assert code == 2, (code, out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("snnbench: error: ")
    return lines[0]


def line_of(text: str, start: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if line.startswith(start))


@pytest.fixture
def suite_file(tmp_path):
    def write(text: str = VALID_SUITE, name: str = "suite.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path
    return write


@pytest.fixture
def db(tmp_path) -> Path:
    """A store with two encoders x three seeds, one failed and one skipped cell."""
    path = tmp_path / "results.db"
    with ResultStore(path) as store:
        for seed, acc in enumerate([0.90, 0.92, 0.94]):
            store.record(make_row("rate", seed, acc))
        for seed, acc in enumerate([0.80, 0.82, 0.84]):
            store.record(make_row("latency", seed, acc))
    return path


# --------------------------------------------------------------- help, parsing


def test_help_in_a_subprocess_lists_every_command():
    done = subprocess.run([sys.executable, "-m", "snnbench.cli", "--help"], capture_output=True, text=True,
                          timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    for command in COMMANDS:
        assert command in done.stdout
    assert "examples:" in done.stdout


def test_no_command_is_an_argparse_error(capsys):
    code, _, err = cli(capsys)
    assert code == 2 and "Traceback" not in err and "COMMAND" in err


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_run_limit_must_be_a_positive_integer(capsys, suite_file, tmp_path, value):
    code, out, err = cli(capsys, "run", suite_file(), "--limit", value, "--db", tmp_path / "r.db")
    assert code == 2
    assert "Traceback" not in out + err
    assert "argument --limit" in err
    assert ("is not an integer" if value == "many" else f"{value} must be at least 1") in err
    assert not (tmp_path / "r.db").exists()


# ------------------------------------------------------------- suite errors


def test_missing_suite_file(capsys, tmp_path):
    path = tmp_path / "nosuch.toml"
    message = user_error(capsys, "validate", path)
    assert str(path) in message and "cannot read" in message


def test_typo_in_encoder_name_suggests_and_points_at_the_line(capsys, suite_file):
    text = VALID_SUITE.replace('encoder = ["rate", "latency"]', 'encoder = ["rat", "latency"]')
    path = suite_file(text)
    message = user_error(capsys, "validate", path)
    assert f"{path}:{line_of(text, 'encoder =')}:" in message
    assert "matrix.encoder = 'rat'" in message
    assert "did you mean 'rate'" in message


def test_unknown_params_key(capsys, suite_file):
    text = VALID_SUITE.replace("timesteps = 5", "timestepz = 5")
    path = suite_file(text)
    message = user_error(capsys, "validate", path)
    assert f"{path}:{line_of(text, 'timestepz')}:" in message
    assert "params.encoder.rate.timestepz = 5" in message
    assert "unknown key" in message and "did you mean 'timesteps'" in message


def test_params_value_of_the_wrong_type(capsys, suite_file):
    path = suite_file(VALID_SUITE.replace("timesteps = 5", 'timesteps = "five"'))
    message = user_error(capsys, "validate", path)
    assert str(path) in message and "timesteps" in message and "'five'" in message


@pytest.mark.parametrize("table, key, value", [
    ("[params.learning_rule.bptt]", "lr", "inf"),
    ("[params.learning_rule.bptt]", "lr", "nan"),
    ("[params.encoder.rate]", "gain", "-inf"),
    ("[training]", "lr_gamma", "nan"),
    ("[params.learning_rule.bptt]", "lr", "1e300"),  # finite, but overflows torch's float32
    ('[variants.encoder.rate-hot]\nof = "rate"', "gain", "+inf"),
])
def test_non_finite_numbers_are_refused_for_every_param(capsys, suite_file, table, key, value):
    path = suite_file(suite_toml("tiny") + f"\n{table}\n{key} = {value}\n")
    message = user_error(capsys, "validate", path)
    assert f"{key} = {float(value)!r}: must be a finite number, within float32's ±3.403e+38" in message
    assert str(path) in message


def test_suite_that_is_not_toml(capsys, suite_file):
    path = suite_file(VALID_SUITE.replace('[matrix]', '[matrix'))
    message = user_error(capsys, "validate", path)
    assert str(path) in message and "not valid TOML" in message


def test_run_validates_every_suite_before_touching_the_store(capsys, suite_file, tmp_path):
    good = suite_file(name="good.toml")
    bad = suite_file(VALID_SUITE.replace('"mlp"', '"mpl"'), name="bad.toml")
    message = user_error(capsys, "run", good, bad, "--db", tmp_path / "r.db", "--no-download")
    assert str(bad) in message and "did you mean 'mlp'" in message
    assert not (tmp_path / "r.db").exists()


# -------------------------------------------------------------------- validate


def test_validate_smoke_suite(capsys):
    code, out, err = cli(capsys, "validate", REPO / "suites" / "smoke.toml")
    assert code == 0, err
    assert "suite 'smoke', 40 cells (8 combinations x 5 seeds)" in out
    assert "8 skipped" in out
    assert out.count("  skip ") == 8


def test_validate_counts_combinations_and_seeds(capsys, suite_file):
    code, out, _ = cli(capsys, "validate", suite_file())
    assert code == 0
    assert "4 cells (2 combinations x 2 seeds), 0 skipped" in out


# -------------------------------------------------------------------------- ls


def test_ls_lists_every_kind(capsys):
    code, out, _ = cli(capsys, "ls")
    assert code == 0
    for kind in KINDS:
        assert f"{kind}s:" in out.splitlines()
    for name in ("digits", "mnist", "rate", "snntorch-lif", "spikingjelly-lif", "mlp", "csnn", "bptt"):
        assert f"  {name} " in out


@pytest.mark.parametrize("kind", ["encoders", "encoder"])
def test_ls_encoders(capsys, kind):
    code, out, _ = cli(capsys, "ls", kind)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "encoders:"
    names = [line.split()[0] for line in lines if line.startswith("  ") and not line.startswith("   ")]
    coding = ["delta", "direct", "events", "latency", "rate"]
    assert set(coding) <= set(names) and names == sorted(names)
    assert out.count("plugin snnbench-encoders-coding") == len(coding)
    assert out.count("timesteps = ") >= 4
    assert "datasets:" not in out and "neurons:" not in out


def test_ls_misspelt_kind(capsys):
    message = user_error(capsys, "ls", "encodrs")
    assert "'encodrs'" in message and "did you mean 'encoders'" in message


# ----------------------------------------------------------------- leaderboard


def test_leaderboard_table(capsys, db):
    with ResultStore(db) as store:
        store.record(make_row("delta", 0, status="failed", reason="RuntimeError: boom"))
        store.record(make_row("direct", 0, 0.99, versions={}))  # stale
    code, out, err = cli(capsys, "leaderboard", "--db", db)
    assert code == 0
    assert "92.00 ± 2.00" in out and "82.00 ± 2.00" in out
    assert out.index("92.00") < out.index("82.00")
    assert "dataset: digits" in out  # constant columns stated once
    assert "99.00" not in out
    assert "1 result(s) computed with an older metric definition" in err
    assert "failed: digits/delta/snntorch-lif/mlp/bptt seed=0: RuntimeError: boom" in out


def test_leaderboard_csv_and_md(capsys, db):
    code, out, err = cli(capsys, "leaderboard", "--db", db, "--by", "encoder", "--format", "csv")
    assert code == 0 and err == ""
    assert out.splitlines()[0].startswith("encoder,accuracy_mean,accuracy_std")
    code, out, _ = cli(capsys, "leaderboard", "--db", db, "--by", "encoder", "--format", "md",
                       "--metric", "accuracy", "--sort", "accuracy")
    assert code == 0
    table, note = out.strip().split("\n\n")
    table = table.splitlines()
    assert all(line.startswith("|") for line in table) and len(table) == 4
    assert "accuracy % ↑" in table[0] and "density" not in out
    assert "vs best" in table[0] and "α = 0.05" in note  # what the marks mean, under the table


def test_leaderboard_empty_suite_says_so(capsys, tmp_path):
    path = tmp_path / "r.db"
    with ResultStore(path) as store:
        store.record(make_row("rate", 0, status="failed", reason="boom"))
    code, out, _ = cli(capsys, "leaderboard", "--db", path)
    assert code == 0 and "No successful results yet" in out
    assert "failed: digits/rate/snntorch-lif/mlp/bptt seed=0: boom" in out


def test_leaderboard_missing_db(capsys, tmp_path):
    path = tmp_path / "missing.db"
    message = user_error(capsys, "leaderboard", "--db", path)
    assert str(path) in message and "no results store" in message
    assert not path.exists()


def test_leaderboard_db_that_is_not_sqlite(capsys, tmp_path):
    path = tmp_path / "garbage.db"
    path.write_bytes(b"\x89garbage\x00\xff" * 100)
    message = user_error(capsys, "leaderboard", "--db", path)
    assert str(path) in message and "not a usable snnbench results store" in message


def _fingerprint(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def test_reading_commands_leave_the_store_unchanged(capsys, db, tmp_path):
    before = _fingerprint(db)
    assert cli(capsys, "leaderboard", "--db", db)[0] == 0
    assert cli(capsys, "check", "--db", db, "--write", "--baseline", tmp_path / "b.json")[0] == 0
    assert _fingerprint(db) == before


@pytest.mark.parametrize("command", [("leaderboard",), ("check", "--baseline", "b.json"), ("run", "SUITE")])
def test_a_sqlite_file_of_another_application_is_refused_and_left_alone(capsys, tmp_path, suite_file, command):
    path = tmp_path / "contacts.db"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE people (name TEXT)")
    other.execute("INSERT INTO people VALUES ('Ada')")
    other.commit()
    other.close()
    before = _fingerprint(path)
    argv = [str(suite_file()) if a == "SUITE" else a for a in command]
    message = user_error(capsys, *argv, "--db", path)
    assert str(path) in message and "not an snnbench results store" in message and "people" in message
    assert _fingerprint(path) == before
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 0


def test_leaderboard_misspelt_group_column(capsys, db):
    message = user_error(capsys, "leaderboard", "--db", db, "--by", "encodr")
    assert "'encodr'" in message and "did you mean 'encoder'" in message


def test_leaderboard_unknown_suite(capsys, db):
    message = user_error(capsys, "leaderboard", "--db", db, "--suite", "nosuch")
    assert "'nosuch'" in message and str(db) in message and "recorded: tiny" in message
    message = user_error(capsys, "leaderboard", "--db", db, "--suite", "tinny")
    assert "did you mean 'tiny'" in message


def test_leaderboard_misspelt_sort_metric(capsys, db):
    message = user_error(capsys, "leaderboard", "--db", db, "--sort", "acuracy")
    assert "did you mean 'accuracy'" in message


# ----------------------------------------------------------------------- check


MACHINE = {"cpu": "Test CPU (2 cores)", "isa": "AVX2", "threads": 2, "gpu": None, "torch": "2.14.1", "cuda": None}


def record(db, rows) -> None:
    with ResultStore(db) as store:
        for row in rows:
            store.record(row)


def on_machine(row: ResultRow, **changes) -> ResultRow:
    row.environment = {"machine": MACHINE | changes}
    return row


def findings(out: str, verdict: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(verdict)]


def test_check_write_then_check_then_regress(capsys, db, tmp_path):
    baseline = tmp_path / "gate" / "baseline.json"
    code, out, _ = cli(capsys, "check", "--db", db, "--baseline", baseline, "--write")
    assert code == 0 and f"wrote {baseline}: 2 cells from 6 rows" in out
    written = json.loads(baseline.read_text())
    assert written["snnbench_baseline"] == 2 and written["alpha"] == 0.05
    rate = next(e for e in written["entries"] if e["label"].startswith("digits/rate/"))
    assert rate["metrics"]["accuracy"] == pytest.approx({"mean": 0.92, "std": 0.02, "n": 3})

    code, out, _ = cli(capsys, "check", "--db", db, "--baseline", baseline)
    assert code == 0, out
    assert "REGRESSED" not in out and "no regression" in out and "Welch" in out

    record(db, [make_row("rate", seed, acc) for seed, acc in enumerate([0.80, 0.81, 0.83])])
    code, out, err = cli(capsys, "check", "--db", db, "--baseline", baseline)
    assert code == 1
    assert "Traceback" not in out + err
    regressed = findings(out, "REGRESSED")
    assert len(regressed) == 1
    assert "digits/rate/snntorch-lif/mlp/bptt" in regressed[0] and "accuracy" in regressed[0]
    assert "-0.1067 [" in regressed[0] and "significant (p=" in regressed[0]
    assert "1 regression(s)" in err


def test_one_bad_seed_in_a_noisy_cell_is_not_significant(capsys, db, tmp_path):
    """Worse by more than the tolerance, but within what the seeds' spread
    allows: the gate reports it and passes."""
    baseline = tmp_path / "baseline.json"
    assert cli(capsys, "check", "--db", db, "--baseline", baseline, "--write")[0] == 0
    record(db, [make_row("rate", 1, 0.40)])
    code, out, _ = cli(capsys, "check", "--db", db, "--baseline", baseline)
    assert code == 0, out
    line = next(line for line in out.splitlines() if "digits/rate/" in line and "accuracy" in line)
    assert line.startswith("ok") and "beyond tolerance, but not significant" in line


def test_pooled_stores_make_one_baseline_with_every_machine(capsys, tmp_path):
    a, b = tmp_path / "avx2.db", tmp_path / "avx512.db"
    record(a, [on_machine(make_row("rate", seed, acc)) for seed, acc in enumerate([0.90, 0.92, 0.94])])
    record(b, [on_machine(make_row("rate", seed, acc), isa="AVX512") for seed, acc in enumerate([0.91, 0.93, 0.95])])
    baseline = tmp_path / "baseline.json"
    code, out, _ = cli(capsys, "check", "--db", a, "--db", b, "--baseline", baseline, "--write")
    assert code == 0 and "1 cells from 6 rows on 2 machine(s)" in out
    written = json.loads(baseline.read_text())
    assert [m["isa"] for m in written["machines"]] == ["AVX2", "AVX512"]
    assert written["entries"][0]["metrics"]["accuracy"]["n"] == 6
    code, out, _ = cli(capsys, "check", "--db", b, "--baseline", baseline)
    assert code == 0 and "same machine as the baseline" in out


def test_timings_are_judged_only_on_the_baseline_machine(capsys, tmp_path):
    base, slow, elsewhere = tmp_path / "base.db", tmp_path / "slow.db", tmp_path / "elsewhere.db"
    rows = lambda speeds, **machine: [  # noqa: E731
        on_machine(make_row("rate", seed, 0.9), **machine) for seed in range(len(speeds))]
    def with_speed(rows, speeds):
        for row, speed in zip(rows, speeds):
            row.metrics["train_samples_per_s"] = speed
        return rows
    record(base, with_speed(rows([1]*5), [1000, 1010, 990, 1005, 995]))
    record(slow, with_speed(rows([1]*5), [600, 610, 590, 605, 595]))
    record(elsewhere, with_speed(rows([1]*5, cpu="Other CPU (64 cores)"), [600, 610, 590, 605, 595]))
    baseline = tmp_path / "baseline.json"
    assert cli(capsys, "check", "--db", base, "--baseline", baseline, "--write")[0] == 0

    code, out, _ = cli(capsys, "check", "--db", slow, "--baseline", baseline)
    assert code == 1 and "train_samples_per_s" in findings(out, "REGRESSED")[0]

    code, out, _ = cli(capsys, "check", "--db", elsewhere, "--baseline", baseline)
    assert code == 0, out
    assert "train_samples_per_s" in findings(out, "not judged")[0]
    assert "machine differs from the baseline's (cpu: Test CPU (2 cores) -> Other CPU (64 cores))" in out


def test_timings_taken_on_a_busy_machine_are_left_out_of_the_gate(capsys, tmp_path):
    """A neighbour's load is not a regression: a busy run's timings are left
    out of the baseline and of the check; a cell with no quiet timing has its
    timings not judged, and its accuracy is judged as always."""
    quiet, busy, base_busy = tmp_path / "quiet.db", tmp_path / "busy.db", tmp_path / "base-busy.db"
    def timed(speeds, contended):
        rows = [on_machine(make_row("rate", seed, 0.9)) for seed in range(len(speeds))]
        for row, speed, flag in zip(rows, speeds, contended):
            row.metrics["train_samples_per_s"] = speed
            row.metrics["contention"] = {"contended": flag, "others_cores": 1.5 if flag else 0.0, "cores": 2}
        return rows
    record(quiet, timed([1000, 1010, 990, 1005, 995], [False] * 5))
    record(busy, timed([500, 510, 490, 505, 495], [True] * 5))
    record(base_busy, timed([1000, 1010, 990, 300, 200], [False, False, False, True, True]))
    baseline = tmp_path / "baseline.json"
    code, out, _ = cli(capsys, "check", "--db", base_busy, "--baseline", baseline, "--write")
    assert code == 0 and "the timings of 2 row(s) are not in it" in out
    stored = json.loads(baseline.read_text())["entries"][0]["metrics"]["train_samples_per_s"]
    assert stored == {"mean": pytest.approx(1000.0), "std": pytest.approx(10.0), "n": 3}

    code, out, _ = cli(capsys, "check", "--db", busy, "--baseline", baseline)
    assert code == 0, out
    (speed,) = [line for line in out.splitlines() if "train_samples_per_s" in line]
    assert speed.startswith("not judged") and "every run was timed while other processes used" in speed
    (accuracy,) = [line for line in out.splitlines() if " accuracy " in line]
    assert accuracy.startswith("ok")

    record(busy, timed([500, 510, 490], [False] * 3))  # the same cell, quiet now and slower: judged
    code, out, _ = cli(capsys, "check", "--db", busy, "--baseline", baseline)
    assert code == 1 and "train_samples_per_s" in findings(out, "REGRESSED")[0]


def test_an_encoder_density_change_fails_either_way(capsys, db, tmp_path):
    """Fewer spikes from an encoder is no improvement: it encodes differently."""
    baseline = tmp_path / "baseline.json"
    assert cli(capsys, "check", "--db", db, "--baseline", baseline, "--write")[0] == 0
    sparser = [make_row("rate", seed, acc) for seed, acc in enumerate([0.90, 0.92, 0.94])]
    for row in sparser:
        row.metrics["encoder_density"] = 0.02
    record(db, sparser)
    code, out, _ = cli(capsys, "check", "--db", db, "--baseline", baseline)
    assert code == 1 and "encoder_density" in findings(out, "REGRESSED")[0] and "changed" in out


def test_check_fails_when_a_baseline_cell_has_no_result(capsys, db, tmp_path):
    baseline = tmp_path / "baseline.json"
    assert cli(capsys, "check", "--db", db, "--baseline", baseline, "--write")[0] == 0
    other = tmp_path / "other.db"
    record(other, [make_row("rate", seed, acc) for seed, acc in enumerate([0.90, 0.92, 0.94])])
    code, out, _ = cli(capsys, "check", "--db", other, "--baseline", baseline)
    assert code == 1 and "no current result on cpu" in out


def test_check_write_with_no_results(capsys, tmp_path):
    path = tmp_path / "r.db"
    record(path, [make_row("rate", 0, status="failed", reason="boom")])
    message = user_error(capsys, "check", "--db", path, "--baseline", tmp_path / "b.json", "--write")
    assert "no successful results" in message
    assert not (tmp_path / "b.json").exists()


def test_check_garbage_baseline(capsys, db, tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text("this is not json {")
    message = user_error(capsys, "check", "--db", db, "--baseline", path)
    assert str(path) in message and "not valid JSON" in message


def test_check_missing_baseline(capsys, db, tmp_path):
    path = tmp_path / "nope.json"
    message = user_error(capsys, "check", "--db", db, "--baseline", path)
    assert str(path) in message and "cannot read baseline" in message


def test_check_baseline_of_another_format(capsys, db, tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"results": []}))
    message = user_error(capsys, "check", "--db", db, "--baseline", path)
    assert str(path) in message and "not an snnbench baseline" in message


def test_check_baseline_of_the_older_format(capsys, db, tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"snnbench_baseline": 1, "tolerances": {}, "entries": []}))
    message = user_error(capsys, "check", "--db", db, "--baseline", path)
    assert "baseline format 1" in message and "snnbench check --write" in message


def test_check_binary_garbage_baseline(capsys, db, tmp_path):
    path = tmp_path / "baseline.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe garbage")
    message = user_error(capsys, "check", "--db", db, "--baseline", path)
    assert str(path) in message


def test_check_unknown_suite(capsys, db, tmp_path):
    message = user_error(capsys, "check", "--db", db, "--baseline", tmp_path / "b.json", "--suite", "nosuch")
    assert "'nosuch'" in message and str(db) in message


ENTRY = {"suite": "tiny", "label": "digits/rate/snntorch-lif/mlp/bptt", "config_hash": "hash-rate",
         "device_type": "cpu", "metrics": {"accuracy": {"mean": 0.92, "std": 0.02, "n": 3}}}


def baseline_file(tmp_path, **changes) -> Path:
    path = tmp_path / "baseline.json"
    data = {"snnbench_baseline": 2, "alpha": 0.05, "tolerances": {"accuracy": {"abs": 0.02}},
            "machines": [MACHINE], "entries": [ENTRY]} | changes
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("changes, expected", [
    ({"entries": [{"label": "digits/rate/snntorch-lif/mlp/bptt"}]}, "entries[0] lacks suite, config_hash"),
    ({"entries": []}, "entries must be a non-empty list"),
    ({"entries": [ENTRY | {"metrics": {"accuracy": {"mean": float("nan"), "std": 0.0, "n": 3}}}]},
     "entries[0].metrics.accuracy.mean = nan: must be a finite number"),
    ({"entries": [ENTRY | {"metrics": {"acuracy": {"mean": 0.9, "std": 0.0, "n": 3}}}]},
     "entries[0].metrics.acuracy: unknown metric 'acuracy'; did you mean 'accuracy'?"),
    ({"entries": [ENTRY | {"metrics": {"accuracy": {"mean": "0.9", "std": 0.0, "n": 3}}}]},
     "entries[0].metrics.accuracy.mean = '0.9'"),
    ({"entries": [ENTRY | {"metrics": {"accuracy": {"mean": None, "std": 0.0, "n": 3}}}]},
     "entries[0].metrics.accuracy.mean = None"),
    ({"entries": [ENTRY | {"metrics": {"accuracy": 0.9}}]}, "entries[0].metrics.accuracy = 0.9: give"),
    ({"entries": [ENTRY | {"metrics": {"sparsity": {"mean": 0.8, "std": 0.0, "n": 3}}}]},
     "entries[0].metrics.sparsity has no tolerance"),
    ({"tolerances": {"accuracy": {"abs": float("nan")}}}, "tolerances.accuracy = {'abs': nan}"),
    ({"tolerances": {"acc": {"abs": 0.1}}}, "tolerances.acc: unknown metric 'acc'"),
    ({"alpha": 1.5}, "alpha = 1.5"),
    ({"machines": "here"}, "machines must be a list"),
])
def test_check_refuses_a_baseline_it_cannot_judge(capsys, db, tmp_path, changes, expected):
    message = user_error(capsys, "check", "--db", db, "--baseline", baseline_file(tmp_path, **changes))
    assert expected in message, message


def test_run_only_some_cells_records_the_suites_own_rows(capsys, tmp_path):
    """--only keeps the cells with a component; they are the suite's cells
    (same hashes), so a later run of the whole suite skips them as recorded."""
    db = tmp_path / "only.db"
    code, out, _ = cli(capsys, "run", "smoke", "--only", "encoder=rate", "--only", "neuron=spikingjelly-lif",
                       "--seeds", "0", "--db", db, "--no-progress")
    assert code == 0 and "suite smoke: 1 ok, 0 failed" in out
    (row,) = ok_rows(db)
    assert row["label"] == "digits/rate/spikingjelly-lif/mlp/bptt"
    code, out, _ = cli(capsys, "run", "smoke", "--only", "encoder=rate", "--seeds", "0", "--db", db, "--no-progress")
    assert code == 0 and "1 ok, 0 failed, 1 already recorded" in out  # snntorch-lif ran, spikingjelly-lif was there


@pytest.mark.parametrize(("term", "said"), [
    ("encoder=rat", ("--only encoder=rat: suite smoke has no cell with that encoder; its encoders: "
                     "delta, direct, latency, rate")),
    ("enc=rate", "write KIND=NAME with KIND one of dataset, encoder, neuron, architecture, learning_rule"),
    ("encoder", "write KIND=NAME"),
])
def test_run_only_names_what_it_cannot_match(capsys, tmp_path, term, said):
    assert said in user_error(capsys, "run", "smoke", "--only", term, "--db", tmp_path / "x.db")
    assert not (tmp_path / "x.db").exists()
