"""The results store, the leaderboard and the regression gate, on hand-made
rows written to a throwaway SQLite file: no training, no data, fast."""

from __future__ import annotations

import io
import json
import math
import sqlite3
import statistics

import pandas as pd
import pytest

from snnbench.api.errors import SnnbenchError
from snnbench.api.records import ResultRow
from snnbench.definition.metric_specs import METRIC_VERSIONS
from snnbench.results.gate import (
    DEFAULT_TOLERANCES,
    compare,
    load_baseline,
    make_baseline,
    report,
)
from snnbench.results.leaderboard import (
    GROUP_COLUMNS,
    aggregate,
    latest_results,
    render,
)
from snnbench.results.store import ResultStore, has_result, make_store_folder
from snnbench.results.store_lock import LockPolicy

# ------------------------------------------------------------------ helpers

DENSITY = {"rate": 0.20, "latency": 0.05, "direct": 1.0, "delta": 0.10}


def make_row(encoder: str = "rate", seed: int | None = 0, accuracy: float = 0.9, *, status: str = "ok",
             suite: str = "s", throughput: float = 1000.0, config_hash: str | None = None,
             metric_versions: dict | None = None, reason: str | None = None, device_type: str = "cpu",
             **metrics) -> ResultRow:
    components = {"dataset": "digits", "encoder": encoder, "neuron": "snntorch-lif",
                  "architecture": "mlp", "learning_rule": "bptt"}
    values = {}
    if status == "ok":
        values = {"accuracy": accuracy, "sparsity": 0.8, "encoder_density": DENSITY.get(encoder, 0.5),
                  "train_samples_per_s": throughput, "infer_samples_per_s": 4 * throughput,
                  "synops_ac": 12345.0, "parameters": 4810, "energy_est_j": 3e-7, "energy_est_mem_j": 2.5e-6,
                  "infer_energy_j": 2e-6, "train_energy_j": 6e-6} | metrics
    return ResultRow(
        suite=suite, label="/".join(components.values()), config_hash=config_hash or f"hash-{encoder}",
        seed=seed, device_type=device_type, device_name="test cpu", status=status, components=components,
        config={kind: {"name": name, "params": {}} for kind, name in components.items()},
        metrics=values,
        metric_versions=dict(METRIC_VERSIONS) if metric_versions is None else metric_versions,
        environment={"python": "3.x", "torch": "test"}, reason=reason)


@pytest.fixture
def store(tmp_path):
    with ResultStore(tmp_path / "results.db") as opened:
        yield opened


def record(store: ResultStore, *rows: ResultRow) -> None:
    for row in rows:
        store.record(row)


def three_seeds(store: ResultStore, encoder: str, accuracies, **kwargs) -> None:
    record(store, *(make_row(encoder, seed, acc, **kwargs) for seed, acc in enumerate(accuracies)))


def ok_frame(store: ResultStore) -> pd.DataFrame:
    return latest_results(store.rows()).ok


# -------------------------------------------------------------------- store


def test_row_round_trips_with_json_columns_decoded(store):
    row = make_row("rate", 3, 0.875, peak_memory_mb=float("nan"))
    store.record(row)
    (back,) = store.rows()
    assert back["suite"] == "s" and back["label"] == row.label and back["config_hash"] == "hash-rate"
    assert back["seed"] == 3 and back["device_type"] == "cpu" and back["status"] == "ok"
    assert back["reason"] is None
    for kind, name in row.components.items():
        assert back[kind] == name
    # JSON columns come back as Python objects, equal to what went in
    assert back["config"] == row.config
    assert back["metric_versions"] == METRIC_VERSIONS
    assert back["environment"] == {"python": "3.x", "torch": "test"}
    assert isinstance(back["metrics"], dict)
    assert back["metrics"]["accuracy"] == 0.875
    assert math.isnan(back["metrics"]["peak_memory_mb"])  # NaN survives (allow_nan)
    assert back["started_at"] == row.started_at and back["finished_at"] == row.finished_at


def test_has_result_only_for_ok_rows_and_skipped_rows_have_no_seed(store):
    record(store,
           make_row("rate", 0),
           make_row("latency", 0, status="failed", reason="RuntimeError: boom"),
           make_row("direct", None, status="skipped", reason="incompatible"))

    def has_ok(*cell, after_id=0):
        return store.read("read it", lambda db: has_result(db, *cell, ok_only=True, after_id=after_id))

    assert has_ok("s", "hash-rate", 0, "cpu")
    assert not has_ok("s", "hash-rate", 0, "cpu", after_id=1)  # not newer than row 1
    assert not has_ok("s", "hash-rate", 1, "cpu")          # other seed
    assert not has_ok("s", "hash-rate", 0, "cuda")         # other device
    assert not has_ok("s", "hash-latency", 0, "cpu")       # failed
    assert store.read("read it", lambda db: has_result(db, "s", "hash-latency", 0, "cpu", ok_only=False))
    assert not has_ok("s", "hash-direct", None, "cpu")     # skipped
    assert not has_ok("other-suite", "hash-rate", 0, "cpu")  # same cell, another suite
    assert store.has_skip("s", "hash-direct") and not store.has_skip("other", "hash-direct")

    rows = {r["encoder"]: r for r in store.rows()}
    assert rows["direct"]["seed"] is None and rows["direct"]["status"] == "skipped"
    assert rows["direct"]["metrics"] == {}
    assert rows["latency"]["reason"] == "RuntimeError: boom"


def test_rows_filter_by_suite_and_keep_insertion_order(store):
    record(store, make_row("rate", suite="a"), make_row("latency", suite="b"), make_row("delta", suite="a"))
    assert [r["encoder"] for r in store.rows()] == ["rate", "latency", "delta"]
    assert [r["encoder"] for r in store.rows(["a"])] == ["rate", "delta"]
    assert store.suites() == ["a", "b"]


def test_record_rejects_unknown_status(store):
    with pytest.raises(ValueError, match="status"):
        store.record(make_row(status="done"))


def test_store_survives_reopening(tmp_path):
    path = tmp_path / "deep" / "er" / "r.db"
    with pytest.raises(SnnbenchError, match="there is no folder"):  # folders are made only on request
        ResultStore(path)
    make_store_folder(path)
    with ResultStore(path) as first:
        assert first.created
        first.record(make_row())
    with ResultStore(path, create=False) as second:
        assert len(second.rows()) == 1


def test_garbage_file_is_not_a_store(tmp_path):
    path = tmp_path / "garbage.db"
    path.write_bytes(b"\x00\x01\xffthis is not sqlite at all" * 50)
    with pytest.raises(SnnbenchError, match="not a usable snnbench results store") as info:
        ResultStore(path)
    assert str(path) in str(info.value)


def test_missing_store_with_create_false(tmp_path):
    path = tmp_path / "nowhere.db"
    with pytest.raises(SnnbenchError) as info:
        ResultStore(path, create=False)
    assert str(path) in str(info.value)
    assert not path.exists()  # asking did not create it


def test_store_from_newer_snnbench_is_refused(tmp_path):
    path = tmp_path / "future.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(SnnbenchError, match="newer snnbench"):
        ResultStore(path)


def test_a_row_is_kept_and_written_when_another_process_releases_its_lock(tmp_path):
    """Another connection holds the write lock past SQLite's busy timeout: the
    row waits, the wait is reported, and the row lands once the lock goes."""
    path = tmp_path / "results.db"
    messages = []
    holder = sqlite3.connect(path, isolation_level=None)

    def say(message):
        messages.append(message)
        if len(messages) == 3:  # three waits, then the other process commits
            holder.execute("COMMIT")

    with ResultStore(path, lock_policy=LockPolicy(busy_timeout=0.01, first_pause=0.01), say=say) as store:
        holder.execute("BEGIN IMMEDIATE")
        store.record(make_row("rate", 0, 0.75))
        assert [r["metrics"]["accuracy"] for r in store.rows()] == [0.75]
    holder.close()
    assert len(messages) == 3
    assert str(path) in messages[0] and "locked by another process" in messages[0]
    assert "digits/rate/snntorch-lif/mlp/bptt seed=0" in messages[0] and "kept" in messages[0]


def test_a_lock_that_blocks_readers_is_waited_out_too(tmp_path):
    path = tmp_path / "results.db"
    with ResultStore(path) as store:
        store.record(make_row("rate", 0))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    with ResultStore(path, create=False, lock_policy=LockPolicy(busy_timeout=0.01, first_pause=0.01),
                     say=lambda message: holder.execute("COMMIT")) as store:
        assert len(store.rows()) == 1
    holder.close()


def test_other_database_errors_are_not_retried(tmp_path):
    with ResultStore(tmp_path / "results.db", say=pytest.fail) as store:
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            store.read("read it", lambda db: db.execute("SELECT * FROM nowhere"))


# ------------------------------------------------------------ latest_results


def test_only_the_newest_row_of_a_cell_and_seed_counts(store):
    record(store, make_row("rate", 0, 0.50), make_row("rate", 1, 0.60), make_row("rate", 0, 0.90))
    results = latest_results(store.rows())
    assert len(results.ok) == 2
    by_seed = dict(zip(results.ok["seed"], results.ok["accuracy"]))
    assert by_seed == {0: 0.90, 1: 0.60}
    assert results.stale == 0 and results.failed.empty and results.skipped.empty


def test_same_cell_on_another_device_or_suite_is_another_result(store):
    record(store, make_row("rate", 0, 0.5), make_row("rate", 0, 0.6, device_type="cuda"),
           make_row("rate", 0, 0.7, suite="other"))
    assert sorted(latest_results(store.rows()).ok["accuracy"]) == [0.5, 0.6, 0.7]


def test_newer_failure_makes_the_cell_failed(store):
    record(store, make_row("rate", 0, 0.9), make_row("rate", 0, status="failed", reason="CUDA OOM"))
    results = latest_results(store.rows())
    assert results.ok.empty
    assert list(results.failed["label"]) == ["digits/rate/snntorch-lif/mlp/bptt"]
    assert list(results.failed["reason"]) == ["CUDA OOM"]
    # ... and a newer ok row makes it ok again
    store.record(make_row("rate", 0, 0.91))
    results = latest_results(store.rows())
    assert list(results.ok["accuracy"]) == [0.91] and results.failed.empty


def test_skipped_rows_are_listed_apart(store):
    record(store, make_row("rate", 0), make_row("direct", None, status="skipped", reason="too small"))
    results = latest_results(store.rows())
    assert len(results.ok) == 1
    assert list(results.skipped["reason"]) == ["too small"]
    assert results.skipped["seed"].isna().all()


@pytest.mark.parametrize("versions", [
    {**METRIC_VERSIONS, "accuracy": METRIC_VERSIONS["accuracy"] + 1},   # a newer definition
    {**METRIC_VERSIONS, "synops": 0},                                    # an older one
    {k: v for k, v in METRIC_VERSIONS.items() if k != "sparsity"},      # written before it existed
    {},
])
def test_stale_metric_versions_are_counted_and_left_out(store, versions):
    record(store, make_row("rate", 0, 0.9), make_row("latency", 0, 0.8, metric_versions=versions))
    results = latest_results(store.rows())
    assert results.stale == 1
    assert list(results.ok["encoder"]) == ["rate"]


def test_a_stale_row_is_not_replaced_by_an_older_current_one(store):
    """Newest wins first, then staleness: the old current row does not come back."""
    record(store, make_row("rate", 0, 0.9), make_row("rate", 0, 0.95, metric_versions={}))
    results = latest_results(store.rows())
    assert results.ok.empty and results.stale == 1


# --------------------------------------------------------- aggregate + render


@pytest.fixture
def two_encoders(store):
    three_seeds(store, "latency", [0.80, 0.82, 0.84])
    three_seeds(store, "rate", [0.90, 0.92, 0.94])
    return ok_frame(store)


def test_aggregate_mean_sample_std_and_seed_count(two_encoders):
    table = aggregate(two_encoders, ["encoder"]).set_index("encoder")
    assert table.loc["rate", "accuracy_mean"] == pytest.approx(0.92)
    # the sample std (ddof=1) of 0.90, 0.92, 0.94 is 0.02; the population std would be 0.0163
    assert table.loc["rate", "accuracy_std"] == pytest.approx(statistics.stdev([0.90, 0.92, 0.94]))
    assert table.loc["rate", "accuracy_std"] == pytest.approx(0.02)
    assert table.loc["rate", "n"] == 3 and table.loc["latency", "n"] == 3
    assert table.loc["latency", "encoder_density_mean"] == pytest.approx(0.05)
    assert table.loc["rate", "peak_memory_mb_mean"] != table.loc["rate", "peak_memory_mb_mean"]  # NaN


def test_render_table_shows_mean_std_and_direction_arrows(two_encoders):
    text = render(aggregate(two_encoders, GROUP_COLUMNS), GROUP_COLUMNS)
    assert "92.00 ± 2.00" in text
    assert "82.00 ± 2.00" in text
    assert "accuracy % ↑" in text
    assert "enc. density ↓" in text
    assert "train samples/s ↑" in text
    # a metric no row has (peak memory) gets no column
    assert "peak MB" not in text


def test_render_sorts_by_accuracy_then_by_lower_density(two_encoders):
    table = aggregate(two_encoders, ["encoder"])
    lines = render(table, ["encoder"], sort="accuracy").splitlines()
    body = [line for line in lines if line.startswith(("rate", "latency"))]
    assert [line.split()[0] for line in body] == ["rate", "latency"]
    # encoder density: lower is better, so latency (0.05) leads rate (0.20)
    lines = render(table, ["encoder"], sort="encoder_density").splitlines()
    body = [line for line in lines if line.startswith(("rate", "latency"))]
    assert [line.split()[0] for line in body] == ["latency", "rate"]


def test_render_states_constant_columns_once_above_the_table(two_encoders):
    text = render(aggregate(two_encoders, GROUP_COLUMNS), GROUP_COLUMNS)
    above, table = text.split("\n\n", 1)
    assert "dataset: digits" in above and "neuron: snntorch-lif" in above and "device_type: cpu" in above
    header = table.splitlines()[0]
    assert "encoder" in header
    for constant in ("dataset", "neuron", "architecture", "learning_rule", "device_type"):
        assert constant not in header
    assert "digits" not in table  # never repeated on the rows


def test_render_markdown_is_a_github_table(two_encoders):
    text = render(aggregate(two_encoders, GROUP_COLUMNS), GROUP_COLUMNS, fmt="md")
    above, table, note = text.split("\n\n")  # shared columns, the table, the significance note
    assert above.startswith("*") and above.endswith("*") and "dataset: digits" in above
    assert note.startswith("vs best, on accuracy %") and "≈ best: equivalent" in note
    lines = table.splitlines()
    assert len(lines) == 4  # header, separator, two rows
    assert all(line.startswith("|") and line.endswith("|") for line in lines)
    assert set(lines[1]) <= set("|-: ")
    assert "92.00 ± 2.00" in table


def test_render_csv_parses_back_into_the_means(two_encoders):
    text = render(aggregate(two_encoders, GROUP_COLUMNS), GROUP_COLUMNS, fmt="csv")
    frame = pd.read_csv(io.StringIO(text)).set_index("encoder")
    assert list(frame.index) == ["rate", "latency"]  # sorted by accuracy
    assert frame.loc["rate", "accuracy_mean"] == pytest.approx(0.92)
    assert frame.loc["rate", "accuracy_std"] == pytest.approx(0.02)
    assert frame.loc["latency", "accuracy_mean"] == pytest.approx(0.82)
    assert frame.loc["latency", "encoder_density_mean"] == pytest.approx(0.05)
    assert (frame["n"] == 3).all()
    assert (frame["dataset"] == "digits").all()  # csv keeps every group column
    assert "±" not in text


def test_render_one_seed_has_no_std(store):
    store.record(make_row("rate", 0, 0.9))
    text = render(aggregate(ok_frame(store), ["encoder"]), ["encoder"])
    assert "90.00" in text and "±" not in text


def test_render_only_chosen_metrics(two_encoders):
    text = render(aggregate(two_encoders, ["encoder"]), ["encoder"], metrics=["accuracy"])
    assert "accuracy % ↑" in text and "enc. density" not in text and "samples/s" not in text


@pytest.mark.parametrize("kwargs, expected", [
    ({"sort": "acuracy"}, "did you mean 'accuracy'"),
    ({"metrics": ["sparsty"]}, "did you mean 'sparsity'"),
])
def test_render_misspelt_metric(two_encoders, kwargs, expected):
    with pytest.raises(SnnbenchError, match=expected):
        render(aggregate(two_encoders, ["encoder"]), ["encoder"], **kwargs)


# ---------------------------------------------------------------------- gate

MACHINE = {"cpu": "test cpu", "isa": "AVX2", "threads": 2, "gpu": None, "torch": "test", "cuda": None}


@pytest.fixture
def baseline(two_encoders):
    return make_baseline(two_encoders, [MACHINE])


def judge(frame: pd.DataFrame, baseline: dict) -> list:
    """The gate on results from the baseline's own machine."""
    return compare(frame, baseline, [MACHINE])


def test_make_baseline_has_one_entry_per_cell(baseline):
    assert baseline["snnbench_baseline"] == 2 and baseline["alpha"] == 0.05
    assert baseline["tolerances"] == DEFAULT_TOLERANCES and baseline["machines"] == [MACHINE]
    entries = {e["label"]: e for e in baseline["entries"]}
    assert set(entries) == {"digits/rate/snntorch-lif/mlp/bptt", "digits/latency/snntorch-lif/mlp/bptt"}
    rate = entries["digits/rate/snntorch-lif/mlp/bptt"]
    assert rate["suite"] == "s" and rate["device_type"] == "cpu" and rate["config_hash"] == "hash-rate"
    assert rate["metrics"]["accuracy"] == pytest.approx({"mean": 0.92, "std": 0.02, "n": 3})
    assert rate["metrics"]["sparsity"] == pytest.approx({"mean": 0.8, "std": 0.0, "n": 3})
    # only metrics that have a tolerance are kept
    assert set(rate["metrics"]) == set(DEFAULT_TOLERANCES)
    json.dumps(baseline)  # JSON-ready


def test_identical_results_do_not_regress(two_encoders, baseline):
    findings = judge(two_encoders, baseline)
    assert len(findings) == 2 * len(DEFAULT_TOLERANCES)
    assert not any(f.regressed for f in findings)
    assert "REGRESSED" not in report(findings, baseline, [MACHINE])


def test_accuracy_drop_beyond_tolerance_regresses(store, baseline):
    three_seeds(store, "rate", [0.85, 0.87, 0.89])  # 0.05 below, tolerance abs 0.02
    findings = judge(ok_frame(store), baseline)
    bad = [f for f in findings if f.regressed]
    assert [(f.label, f.metric) for f in bad] == [("digits/rate/snntorch-lif/mlp/bptt", "accuracy")]
    assert bad[0].baseline.mean == pytest.approx(0.92) and bad[0].current.mean == pytest.approx(0.87)
    # Welch: difference -0.05, standard error 0.0163 on 4 degrees of freedom
    assert bad[0].difference.p_value == pytest.approx(0.0187, abs=1e-3)
    text = report(findings, baseline, [MACHINE])
    line = next(line for line in text.splitlines() if line.startswith("REGRESSED"))
    assert "digits/rate/snntorch-lif/mlp/bptt" in line and "accuracy" in line and "±0.02" in line


def test_accuracy_drop_within_tolerance_is_ok(store, baseline):
    three_seeds(store, "rate", [0.89, 0.91, 0.93])  # 0.01 below
    assert not any(f.regressed for f in judge(ok_frame(store), baseline))


def test_higher_accuracy_never_regresses(store, baseline):
    three_seeds(store, "rate", [0.99, 0.99, 0.99])
    three_seeds(store, "latency", [0.99, 0.99, 0.99])
    findings = judge(ok_frame(store), baseline)
    assert not any(f.regressed for f in findings)
    assert any("better" in f.note for f in findings if f.metric == "accuracy")


@pytest.mark.parametrize("factor, regressed", [(0.9, False), (0.6, True), (3.0, False)])
def test_throughput_uses_a_relative_tolerance(store, baseline, factor, regressed):
    three_seeds(store, "rate", [0.90, 0.92, 0.94], throughput=1000.0 * factor)
    bad = {(f.label, f.metric) for f in judge(ok_frame(store), baseline) if f.regressed}
    expected = {("digits/rate/snntorch-lif/mlp/bptt", "train_samples_per_s"),
                ("digits/rate/snntorch-lif/mlp/bptt", "infer_samples_per_s")} if regressed else set()
    assert bad == expected


def test_throughput_from_another_machine_is_not_judged(store, baseline):
    three_seeds(store, "rate", [0.90, 0.92, 0.94], throughput=100.0)
    findings = compare(ok_frame(store), baseline, [MACHINE | {"isa": "AVX512"}])
    timings = [f for f in findings if f.metric.endswith("_samples_per_s")]
    assert timings and all(not f.regressed and f.verdict == "not judged" for f in timings)


@pytest.mark.parametrize("density", [0.30, 0.10])
def test_an_encoder_density_change_regresses_either_way(store, baseline, density):
    # rate's density is 0.20; moving by 0.1 either way against abs 0.05 regresses
    three_seeds(store, "rate", [0.90, 0.92, 0.94], encoder_density=density)
    bad = [(f.metric) for f in judge(ok_frame(store), baseline) if f.regressed]
    assert bad == ["encoder_density"]


def test_baseline_cell_with_no_current_result_regresses(tmp_path, baseline):
    with ResultStore(tmp_path / "current.db") as current:
        three_seeds(current, "rate", [0.90, 0.92, 0.94])  # latency is gone
        findings = judge(ok_frame(current), baseline)
    missing = [f for f in findings if f.label == "digits/latency/snntorch-lif/mlp/bptt"]
    assert missing and all(f.regressed and f.current is None for f in missing)
    assert all("no current result on cpu" in f.note for f in missing)
    assert not any(f.regressed for f in findings if f.label.startswith("digits/rate"))
    assert "no current result" in report(findings, baseline, [MACHINE])


def test_nothing_at_all_regresses_everything(baseline):
    empty = latest_results([]).ok
    findings = judge(empty, baseline)
    assert findings and all(f.regressed for f in findings)


def test_metric_missing_from_current_results_regresses(store, baseline):
    # rows written without encoder_density (a plugin stopped reporting it)
    for seed, acc in enumerate([0.90, 0.92, 0.94]):
        row = make_row("rate", seed, acc)
        del row.metrics["encoder_density"]
        store.record(row)
    bad = [f for f in judge(ok_frame(store), baseline) if f.regressed]
    assert [(f.metric, f.note) for f in bad] == [("encoder_density", "metric missing in current results")]


def test_compare_matches_cells_within_their_own_suite(tmp_path):
    """The same config in two suites has a baseline entry per suite; each is judged
    against its own suite's results."""
    with ResultStore(tmp_path / "r.db") as store:
        three_seeds(store, "rate", [0.90, 0.92, 0.94], suite="a")
        three_seeds(store, "rate", [0.70, 0.72, 0.74], suite="b")
        baseline = make_baseline(ok_frame(store), [MACHINE])
        assert {e["suite"] for e in baseline["entries"]} == {"a", "b"}
        three_seeds(store, "rate", [0.40, 0.42, 0.44], suite="b")  # suite b collapses
        findings = judge(ok_frame(store), baseline)
    bad = [(f.metric, round(f.baseline.mean, 2), round(f.current.mean, 2)) for f in findings if f.regressed]
    assert bad == [("accuracy", 0.72, 0.42)]


# ------------------------------------------------------------- load_baseline


def write_json(path, data) -> None:
    path.write_text(json.dumps(data))


def baseline_data(**changes) -> dict:
    entry = {"suite": "s", "label": "digits/rate/snntorch-lif/mlp/bptt", "config_hash": "hash-rate",
             "device_type": "cpu", "metrics": {"accuracy": {"mean": 0.92, "std": 0.02, "n": 3}}}
    return {"snnbench_baseline": 2, "alpha": 0.05, "tolerances": {"accuracy": {"abs": 0.02}},
            "machines": [MACHINE], "entries": [entry]} | changes


def test_load_baseline_round_trips(tmp_path, baseline):
    path = tmp_path / "baseline.json"
    write_json(path, baseline)
    assert load_baseline(path) == json.loads(json.dumps(baseline))


def test_load_baseline_missing_file(tmp_path):
    path = tmp_path / "nope.json"
    with pytest.raises(SnnbenchError, match="cannot read baseline") as info:
        load_baseline(path)
    assert str(path) in str(info.value)


def test_load_baseline_invalid_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"snnbench_baseline": 2, "entries": [}')
    with pytest.raises(SnnbenchError, match="not valid JSON") as info:
        load_baseline(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("data", [{"entries": []}, [1, 2], "text"])
def test_load_baseline_wrong_format_marker(tmp_path, data):
    path = tmp_path / "other.json"
    write_json(path, data)
    with pytest.raises(SnnbenchError, match="not an snnbench baseline") as info:
        load_baseline(path)
    assert str(path) in str(info.value)


def test_load_baseline_of_a_newer_format(tmp_path):
    path = tmp_path / "newer.json"
    write_json(path, baseline_data(snnbench_baseline=3))
    with pytest.raises(SnnbenchError, match="baseline format 3, this snnbench reads format 2"):
        load_baseline(path)


@pytest.mark.parametrize("tolerance", [{"foo": 1}, {}, 0.02, {"abs": 0.02, "fudge": 1}, {"abs": "0.02"},
                                       {"abs": 0.02, "rel": 0.1}])
def test_load_baseline_bad_tolerance_shape(tmp_path, tolerance):
    path = tmp_path / "tol.json"
    write_json(path, baseline_data(tolerances={"accuracy": tolerance}))
    with pytest.raises(SnnbenchError, match="tolerances.accuracy") as info:
        load_baseline(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("entries", [{"a": 1}, []])
def test_load_baseline_entries_must_be_a_non_empty_list(tmp_path, entries):
    path = tmp_path / "entries.json"
    write_json(path, baseline_data(entries=entries))
    with pytest.raises(SnnbenchError, match="entries must be a non-empty list") as info:
        load_baseline(path)
    assert str(path) in str(info.value)


def test_load_baseline_unknown_metric_names_the_file(tmp_path):
    path = tmp_path / "tol.json"
    write_json(path, baseline_data(tolerances={"acuracy": {"abs": 0.02}}))
    with pytest.raises(SnnbenchError, match="did you mean 'accuracy'") as info:
        load_baseline(path)
    assert str(path) in str(info.value)


def test_baseline_without_tolerances_is_rejected(tmp_path, baseline):
    path = tmp_path / "notol.json"
    write_json(path, {key: value for key, value in baseline.items() if key != "tolerances"})
    with pytest.raises(SnnbenchError, match="tolerances must be an object") as info:
        load_baseline(path)
    assert str(path) in str(info.value)


def _configured(row: ResultRow, timesteps: int, training: dict) -> ResultRow:
    row.config = row.config | {"encoder": {"name": "rate", "params": {"timesteps": timesteps}},
                               "training": {"batch_size": 32} | training}
    return row


def test_rows_of_different_configs_under_the_same_names_are_never_averaged(store):
    """Two suites run one combination with other params: two rows, each
    saying how its config differs, not one mean over both."""
    for seed, accuracy in enumerate([0.95, 0.97]):
        store.record(_configured(make_row("rate", seed, accuracy, suite="long", config_hash="h-long"),
                                 25, {"epochs": 4}))
    store.record(_configured(make_row("rate", 0, 0.12, suite="short", config_hash="h-short"),
                             5, {"epochs": 1, "train_limit": 200}))
    table = aggregate(ok_frame(store), GROUP_COLUMNS)
    assert sorted(zip(table["accuracy_mean"].round(4), table["n"])) == [(0.12, 1), (0.96, 2)]
    setup = dict(zip(table["n"], table["setup"]))
    assert setup[2] == 'encoder.timesteps=25, training.epochs=4, training.train_limit=–'
    assert setup[1] == 'encoder.timesteps=5, training.epochs=1, training.train_limit=200'
    text = render(table, GROUP_COLUMNS)
    assert "setup" in text and "96.00 ± 1.41" in text and "12.00" in text


def test_one_config_per_set_of_names_has_no_setup_column(two_encoders):
    table = aggregate(two_encoders, GROUP_COLUMNS)
    assert (table["setup"] == "").all()
    assert "setup" not in render(table, GROUP_COLUMNS)
