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

from snnbench.errors import SnnbenchError
from snnbench.gate import DEFAULT_TOLERANCES, compare, load_baseline, make_baseline, report
from snnbench.leaderboard import GROUP_COLUMNS, aggregate, latest_results, render
from snnbench.metrics import METRIC_VERSIONS
from snnbench.store import ResultRow, ResultStore

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
                  "synops_ac": 12345.0, "parameters": 4810} | metrics
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


def test_has_ok_only_for_ok_rows_and_skipped_rows_have_no_seed(store):
    record(store,
           make_row("rate", 0),
           make_row("latency", 0, status="failed", reason="RuntimeError: boom"),
           make_row("direct", None, status="skipped", reason="incompatible"))
    assert store.has_ok("s", "hash-rate", 0, "cpu")
    assert not store.has_ok("s", "hash-rate", 1, "cpu")          # other seed
    assert not store.has_ok("s", "hash-rate", 0, "cuda")         # other device
    assert not store.has_ok("s", "hash-latency", 0, "cpu")       # failed
    assert not store.has_ok("s", "hash-direct", None, "cpu")     # skipped
    assert not store.has_ok("other-suite", "hash-rate", 0, "cpu")  # same cell, another suite
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
    path = tmp_path / "deep" / "er" / "r.db"  # parents are created
    with ResultStore(path) as first:
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
    assert note.startswith("≈ best: not significantly different")
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


@pytest.fixture
def baseline(two_encoders):
    return make_baseline(two_encoders)


def test_make_baseline_has_one_entry_per_cell(baseline):
    assert baseline["snnbench_baseline"] == 1
    assert baseline["tolerances"] == DEFAULT_TOLERANCES
    entries = {e["label"]: e for e in baseline["entries"]}
    assert set(entries) == {"digits/rate/snntorch-lif/mlp/bptt", "digits/latency/snntorch-lif/mlp/bptt"}
    rate = entries["digits/rate/snntorch-lif/mlp/bptt"]
    assert rate["seeds"] == 3 and rate["suite"] == "s" and rate["device_type"] == "cpu"
    assert rate["config_hash"] == "hash-rate"
    assert rate["metrics"]["accuracy"] == pytest.approx(0.92)
    # only metrics that have a tolerance are kept
    assert set(rate["metrics"]) == set(DEFAULT_TOLERANCES)
    json.dumps(baseline)  # JSON-ready


def test_identical_results_do_not_regress(two_encoders, baseline):
    findings = compare(two_encoders, baseline)
    assert len(findings) == 2 * len(DEFAULT_TOLERANCES)
    assert not any(f.regressed for f in findings)
    assert "REGRESSED" not in report(findings)


def test_accuracy_drop_beyond_tolerance_regresses(store, baseline):
    three_seeds(store, "rate", [0.85, 0.87, 0.89])  # 0.05 below, tolerance abs 0.02
    findings = compare(ok_frame(store), baseline)
    bad = [f for f in findings if f.regressed]
    assert [(f.label, f.metric) for f in bad] == [("digits/rate/snntorch-lif/mlp/bptt", "accuracy")]
    assert bad[0].baseline == pytest.approx(0.92) and bad[0].current == pytest.approx(0.87)
    text = report(findings)
    line = next(line for line in text.splitlines() if line.startswith("REGRESSED"))
    assert "digits/rate/snntorch-lif/mlp/bptt" in line and "accuracy" in line and "±0.02" in line


def test_accuracy_drop_within_tolerance_is_ok(store, baseline):
    three_seeds(store, "rate", [0.89, 0.91, 0.93])  # 0.01 below
    assert not any(f.regressed for f in compare(ok_frame(store), baseline))


def test_higher_accuracy_never_regresses(store, baseline):
    three_seeds(store, "rate", [0.99, 0.99, 0.99])
    three_seeds(store, "latency", [0.99, 0.99, 0.99])
    findings = compare(ok_frame(store), baseline)
    assert not any(f.regressed for f in findings)
    assert any("better" in f.note for f in findings if f.metric == "accuracy")


@pytest.mark.parametrize("factor, regressed", [(0.9, False), (0.6, True), (3.0, False)])
def test_throughput_uses_a_relative_tolerance(store, baseline, factor, regressed):
    three_seeds(store, "rate", [0.90, 0.92, 0.94], throughput=1000.0 * factor)
    bad = {(f.label, f.metric) for f in compare(ok_frame(store), baseline) if f.regressed}
    expected = {("digits/rate/snntorch-lif/mlp/bptt", "train_samples_per_s"),
                ("digits/rate/snntorch-lif/mlp/bptt", "infer_samples_per_s")} if regressed else set()
    assert bad == expected


def test_lower_is_better_metric_regresses_upwards(store, baseline):
    # encoder density: lower is better; rising by 0.1 against abs 0.05 regresses
    three_seeds(store, "rate", [0.90, 0.92, 0.94], encoder_density=0.30)
    bad = [(f.metric) for f in compare(ok_frame(store), baseline) if f.regressed]
    assert bad == ["encoder_density"]


def test_baseline_cell_with_no_current_result_regresses(tmp_path, baseline):
    with ResultStore(tmp_path / "current.db") as current:
        three_seeds(current, "rate", [0.90, 0.92, 0.94])  # latency is gone
        findings = compare(ok_frame(current), baseline)
    missing = [f for f in findings if f.label == "digits/latency/snntorch-lif/mlp/bptt"]
    assert missing and all(f.regressed and f.current is None for f in missing)
    assert all("no current result on cpu" in f.note for f in missing)
    assert not any(f.regressed for f in findings if f.label.startswith("digits/rate"))
    assert "no current result" in report(findings)


def test_nothing_at_all_regresses_everything(baseline):
    empty = latest_results([]).ok
    findings = compare(empty, baseline)
    assert findings and all(f.regressed for f in findings)


def test_metric_missing_from_current_results_regresses(store, baseline):
    # rows written without encoder_density (a plugin stopped reporting it)
    for seed, acc in enumerate([0.90, 0.92, 0.94]):
        row = make_row("rate", seed, acc)
        del row.metrics["encoder_density"]
        store.record(row)
    bad = [f for f in compare(ok_frame(store), baseline) if f.regressed]
    assert [(f.metric, f.note) for f in bad] == [("encoder_density", "metric missing in current results")]


def test_compare_matches_cells_within_their_own_suite(tmp_path):
    """The same config in two suites has a baseline entry per suite; each is judged
    against its own suite's results."""
    with ResultStore(tmp_path / "r.db") as store:
        three_seeds(store, "rate", [0.90, 0.92, 0.94], suite="a")
        three_seeds(store, "rate", [0.70, 0.72, 0.74], suite="b")
        baseline = make_baseline(ok_frame(store))
        assert {e["suite"] for e in baseline["entries"]} == {"a", "b"}
        three_seeds(store, "rate", [0.40, 0.42, 0.44], suite="b")  # suite b collapses
        findings = compare(ok_frame(store), baseline)
    bad = [(f.metric, round(f.baseline, 2), round(f.current, 2)) for f in findings if f.regressed]
    assert bad == [("accuracy", 0.72, 0.42)]


# ------------------------------------------------------------- load_baseline


def write_json(path, data) -> None:
    path.write_text(json.dumps(data))


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
    path.write_text('{"snnbench_baseline": 1, "entries": [}')
    with pytest.raises(SnnbenchError, match="not valid JSON") as info:
        load_baseline(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("data", [{"snnbench_baseline": 2, "entries": []}, {"entries": []}, [1, 2], "text"])
def test_load_baseline_wrong_format_marker(tmp_path, data):
    path = tmp_path / "other.json"
    write_json(path, data)
    with pytest.raises(SnnbenchError, match="not an snnbench baseline") as info:
        load_baseline(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("tolerance", [{"foo": 1}, {}, 0.02, {"abs": 0.02, "fudge": 1}])
def test_load_baseline_bad_tolerance_shape(tmp_path, tolerance):
    path = tmp_path / "tol.json"
    write_json(path, {"snnbench_baseline": 1, "tolerances": {"accuracy": tolerance}, "entries": []})
    with pytest.raises(SnnbenchError, match="tolerances.accuracy") as info:
        load_baseline(path)
    assert str(path) in str(info.value)


def test_load_baseline_entries_must_be_a_list(tmp_path):
    path = tmp_path / "entries.json"
    write_json(path, {"snnbench_baseline": 1, "tolerances": {}, "entries": {"a": 1}})
    with pytest.raises(SnnbenchError, match="entries must be a list") as info:
        load_baseline(path)
    assert str(path) in str(info.value)


def test_load_baseline_unknown_metric_names_the_file(tmp_path):
    path = tmp_path / "tol.json"
    write_json(path, {"snnbench_baseline": 1, "tolerances": {"acuracy": {"abs": 0.02}}, "entries": []})
    with pytest.raises(SnnbenchError, match="did you mean 'accuracy'") as info:
        load_baseline(path)
    assert str(path) in str(info.value)


def test_load_baseline_rejects_non_numeric_tolerance(tmp_path):
    path = tmp_path / "tol.json"
    write_json(path, {"snnbench_baseline": 1, "tolerances": {"accuracy": {"abs": "0.02"}}, "entries": []})
    with pytest.raises(SnnbenchError, match="tolerances.accuracy") as info:
        load_baseline(path)
    assert str(path) in str(info.value)


def test_baseline_without_tolerances_loads_or_is_rejected_cleanly(tmp_path, two_encoders, baseline):
    path = tmp_path / "notol.json"
    write_json(path, {"snnbench_baseline": 1, "entries": baseline["entries"]})
    try:
        loaded = load_baseline(path)
    except SnnbenchError as error:
        assert str(path) in str(error)
        return
    compare(two_encoders, loaded)  # must not raise KeyError
