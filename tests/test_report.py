"""snnbench report, the leaderboard's new formats, references and significance marks.

Hand-made rows check values (the JSON equals the table, the Pareto front of
known points, the marks, the gaps); a real smoke run is rendered and opened
in headless Chromium, as a person would open it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, suite_toml
from test_cli import cli, user_error
from test_store_and_leaderboard import make_row

from snnbench.api.errors import SuiteError
from snnbench.definition.suite import read_suite
from snnbench.results.leaderboard import (
    GROUP_COLUMNS,
    aggregate,
    build_board,
    latest_results,
)
from snnbench.results.report.model import pareto_front
from snnbench.results.store import ResultStore

CHROMIUM = Path("/usr/bin/chromium")
SNNBENCH = Path(sys.executable).with_name("snnbench")


def store_with(path: Path, rows) -> Path:
    with ResultStore(path) as store:
        for row in rows:
            store.record(row)
    return path


def seeds(encoder: str, accuracies, **kwargs):
    return [make_row(encoder, seed, accuracy, **kwargs) for seed, accuracy in enumerate(accuracies)]


# ------------------------------------------------------------------ Pareto front


def test_pareto_front_of_known_points():
    points = {"a": (0.9, 0.95), "b": (0.8, 0.97), "c": (0.7, 0.90), "d": (0.95, 0.80), "e": (0.9, 0.94)}
    # higher is better on both: c is beaten by a, e by a (same x, lower y)
    assert pareto_front(points, x_higher_is_better=True, y_higher_is_better=True) == {"a", "b", "d"}
    # lower x is better (SynOps, say): c (lowest x) and b (best y below a's x) lead
    assert pareto_front(points, x_higher_is_better=False, y_higher_is_better=True) == {"b", "c"}
    # equal points do not dominate each other
    assert pareto_front({"p": (1, 1), "q": (1, 1)}, x_higher_is_better=True, y_higher_is_better=True) == {"p", "q"}


# ------------------------------------------------------------------ significance


def test_rows_equivalent_to_the_best_are_marked(tmp_path):
    rows = (seeds("rate", [0.910, 0.911, 0.912]) + seeds("delta", [0.909, 0.912, 0.910])
            + seeds("latency", [0.70, 0.71, 0.72]))
    db = store_with(tmp_path / "r.db", rows)
    with ResultStore(db) as store:
        ok = latest_results(store.rows()).ok
    board = build_board(aggregate(ok, ["encoder"]), ["encoder"])
    verdicts = dict(zip(board.table["encoder"], board.table["vs_best"]))
    assert verdicts == {"rate": "best", "delta": "equivalent", "latency": "worse"}
    assert "α = 0.05" in board.significance_note and "Welch" in board.significance_note


def test_a_table_of_one_seed_rows_says_it_cannot_tell(tmp_path, capsys):
    db = store_with(tmp_path / "r.db", [make_row("rate", 0, 0.9), make_row("latency", 0, 0.7)])
    code, out, _ = cli(capsys, "leaderboard", "--db", db, "--by", "encoder", "--suites-dir", tmp_path)
    assert code == 0 and "No row could be told apart from the best" in out
    assert "? (1 seed" in out.split("\n\n")[0]  # latency's mark


def test_leaderboard_compare_prints_the_difference_with_its_interval(tmp_path, capsys):
    db = store_with(tmp_path / "r.db", seeds("rate", [0.90, 0.91, 0.92]) + seeds("latency", [0.70, 0.72, 0.74]))
    code, out, _ = cli(capsys, "leaderboard", "--db", db, "--by", "encoder", "--metric", "accuracy",
                       "--compare", "rate", "latency", "--suites-dir", tmp_path)
    assert code == 0
    line = next(line for line in out.splitlines() if "accuracy" in line)
    assert "+19.00" in line and "95% interval" in line  # 0.91 - 0.72
    low, high = (float(x) for x in line.split("interval ")[1].split(",")[0].split(" to "))
    assert low < 19.0 < high and low > 0
    message = user_error(capsys, "leaderboard", "--db", db, "--by", "encoder", "--compare", "rate", "latncy",
                         "--suites-dir", tmp_path)
    assert "did you mean 'latency'" in message


# ------------------------------------------------------------------ references


def test_references_give_a_gap_column(tmp_path, capsys):
    (tmp_path / "s.toml").write_text(suite_toml("s", encoder=("rate", "latency")) + (
        '\n[[reference]]\nencoder = "rate"\nmetric = "accuracy"\nvalue = 0.95\nsource = "a paper, 2024"\n'))
    db = store_with(tmp_path / "r.db", seeds("rate", [0.90, 0.92]) + seeds("latency", [0.8, 0.82]))
    code, out, _ = cli(capsys, "leaderboard", "--db", db, "--by", "encoder", "--suites-dir", tmp_path)
    assert code == 0 and "gap to reference" in out
    rate = next(line for line in out.splitlines() if line.startswith("rate"))
    assert "accuracy % -4.00 vs 95.00 [1]" in rate
    assert "[1] a paper, 2024" in out
    code, out, _ = cli(capsys, "leaderboard", "--db", db, "--by", "encoder", "--format", "json",
                       "--suites-dir", tmp_path)
    rows = {r["group"]["encoder"]: r for r in json.loads(out)["rows"]}
    assert rows["rate"]["references"] == [{"metric": "accuracy", "value": 0.95, "gap": pytest.approx(-0.04),
                                           "source": "a paper, 2024"}]
    assert rows["latency"]["references"] == []


def test_a_reference_two_suites_share_is_listed_once(tmp_path, capsys):
    """A suite's bf16 twin copies its [[reference]] entries; a table over both
    gave each gap twice and numbered the same source [1] to [4]."""
    reference = '\n[[reference]]\nencoder = "rate"\nmetric = "accuracy"\nvalue = 0.95\nsource = "a paper, 2024"\n'
    for name in ("plain", "twin"):
        (tmp_path / f"{name}.toml").write_text(suite_toml(name) + reference)
    db = store_with(tmp_path / "r.db",
                    seeds("rate", [0.90, 0.92], suite="plain") + seeds("rate", [0.91, 0.93], suite="twin"))
    code, out, _ = cli(capsys, "leaderboard", "--db", db, "--by", "encoder", "--suites-dir", tmp_path)
    assert code == 0
    (rate,) = [line for line in out.splitlines() if line.startswith("rate")]
    assert rate.count("vs 95.00 [1]") == 1 and "[2]" not in out
    assert out.count("a paper, 2024") == 1


@pytest.mark.parametrize("entry, message", [
    ('encodr = "rate"\nmetric = "accuracy"\nvalue = 0.9\nsource = "x"', "did you mean 'encoder'"),
    ('encoder = "rate"\nmetric = "accuracy"\nvalue = 99.12\nsource = "x"', "write 99.12% as 0.9912"),
    ('encoder = "rate"\nmetric = "acuracy"\nvalue = 0.9\nsource = "x"', "did you mean 'accuracy'"),
    ('encoder = "rate"\nmetric = "accuracy"\nvalue = 0.9', "reference.source"),
    ('metric = "accuracy"\nvalue = 0.9\nsource = "x"', "names no component"),
    ('encoder = "rate"\nmetric = "accuracy"\nvalue = "high"\nsource = "x"', "must be a number"),
])
def test_bad_reference_entries_name_the_file_and_key(tmp_path, entry, message):
    path = tmp_path / "s.toml"
    path.write_text(suite_toml("s") + f"\n[[reference]]\n{entry}\n")
    with pytest.raises(SuiteError) as error:
        read_suite(path).references()
    assert str(path) in str(error.value) and message in str(error.value)


def test_a_reference_must_match_a_cell_of_its_suite(tmp_path, plugins):
    path = tmp_path / "s.toml"
    path.write_text(suite_toml("s") + '\n[[reference]]\nencoder = "latency"\nmetric = "accuracy"\n'
                    'value = 0.9\nsource = "x"\n')
    with pytest.raises(SuiteError, match="matches no combination"):
        read_suite(path).build(plugins.registries)


def test_every_reproduction_suite_carries_its_published_accuracy(plugins):
    """And the encoder density where the paper gives one (the thesis's Spikformer + ConvSTAL-PS)."""
    spikformer_mnist = [("accuracy", 0.9822), ("encoder_mean", 0.082)]
    expected = {"csnn-mnist": [0.9912], "csnn-mnist-cpu": [0.9912], "csnn-mnist-bf16-cpu": [0.9912],
                "nmnist": [0.9705], "stal-rsnn": [0.9611, 0.5148], "rstdp-mnist": [0.972], "rstdp-mnist-cpu": [0.972]}
    expected = {name: [("accuracy", value) for value in values] for name, values in expected.items()} | {
        "stal-spikformer": [("accuracy", 0.9822), ("accuracy", 0.7457), ("encoder_mean", 0.082),
                            ("encoder_mean", 0.167)],
        "stal-spikformer-mnist-cpu": spikformer_mnist, "stal-spikformer-mnist-bf16-cpu": spikformer_mnist}
    for path in sorted((REPO / "suites").glob("*.toml")):
        suite = read_suite(path).build(plugins.registries)  # validates each against its cells
        if suite.name in expected:
            assert [(r.metric, r.value) for r in suite.references] == expected.pop(suite.name), path
            assert all(r.source for r in suite.references)
    assert not expected


# ------------------------------------------------------------------ formats


def test_json_holds_the_leaderboards_values(tmp_path, capsys):
    rows = seeds("rate", [0.90, 0.92, 0.94], throughput=1200.0) + seeds("latency", [0.80, 0.82])
    rows.append(make_row("delta", 0, status="failed", reason="RuntimeError: boom"))
    db = store_with(tmp_path / "r.db", rows)
    code, out, _ = cli(capsys, "leaderboard", "--db", db, "--format", "json", "--suites-dir", tmp_path)
    assert code == 0
    document = json.loads(out)
    with ResultStore(db) as store:
        table = aggregate(latest_results(store.rows()).ok, list(GROUP_COLUMNS))
    assert document["schema"] == "snnbench-leaderboard/2" and document["group_by"] == list(GROUP_COLUMNS)
    assert [r["group"]["encoder"] for r in document["rows"]] == ["rate", "latency"]  # best first
    for row in document["rows"]:
        expected = table[table["encoder"] == row["group"]["encoder"]].iloc[0]
        for key, stats in row["metrics"].items():
            assert stats["mean"] == pytest.approx(expected[f"{key}_mean"])
            assert stats["n"] == expected[f"{key}_n"]
            if stats["std"] is not None:
                assert stats["std"] == pytest.approx(expected[f"{key}_std"])
        assert row["runs"] == expected["n"]
    assert {m["key"] for m in document["metrics"]} >= {"accuracy", "sparsity", "train_samples_per_s"}
    assert document["failed"] == [{"suite": "s", "label": "digits/delta/snntorch-lif/mlp/bptt", "seed": 0,
                                   "reason": "RuntimeError: boom"}]
    assert document["provenance"]["rows"] == 5 and document["provenance"]["stale_rows"] == 0
    assert document["significance"]["alpha"] == 0.05


def test_html_format_is_one_page_with_the_table(tmp_path, capsys):
    db = store_with(tmp_path / "r.db", seeds("rate", [0.9, 0.92]) + seeds("latency", [0.8, 0.82]))
    code, out, _ = cli(capsys, "leaderboard", "--db", db, "--by", "encoder", "--format", "html",
                       "--suites-dir", tmp_path)
    assert code == 0 and out.startswith("<!DOCTYPE html>")
    assert out.count("<tr class=") == 2 and "91.00 ± 1.41" in out
    assert "<script src=" not in out and "http" not in out  # needs no file beside it, nothing online


# ------------------------------------------------------------------ bad input and old rows


def test_report_of_an_empty_store_says_so(tmp_path, capsys):
    ResultStore(tmp_path / "r.db").close()
    code, out, _ = cli(capsys, "report", "--db", tmp_path / "r.db", "--out", tmp_path / "site")
    assert code == 0 and "holds no results yet" in out
    assert "holds no results yet" in (tmp_path / "site" / "index.html").read_text()


def test_report_bad_input_is_one_line(tmp_path, capsys):
    db = store_with(tmp_path / "r.db", [make_row("rate", 0, 0.9, suite="smoke")])
    assert "did you mean 'smoke'" in user_error(capsys, "report", "--db", db, "--suite", "smok", "--out", tmp_path)
    (tmp_path / "file").write_text("")
    message = user_error(capsys, "report", "--db", db, "--out", tmp_path / "file" / "site")
    assert "cannot create the report folder" in message and "file" in message
    assert "no results store" in user_error(capsys, "report", "--db", tmp_path / "none.db", "--out", tmp_path)


def test_rows_without_the_new_fields_get_pages_that_say_what_is_missing(tmp_path, capsys):
    """make_row writes what an older snnbench wrote: no history, confusion, spikes or per-layer sparsity."""
    skipped = make_row("latency", None, status="skipped", reason="no fit")
    db = store_with(tmp_path / "r.db", seeds("rate", [0.9, 0.92]) + [skipped])
    code, out, err = cli(capsys, "report", "--db", db, "--out", tmp_path / "site", "--suites-dir", tmp_path)
    assert code == 0, err
    cell = (tmp_path / "site" / "s-digits_rate_snntorch-lif_mlp_bptt_cpu.html").read_text()
    assert "Not recorded for this cell: per-epoch loss and accuracy, the confusion matrix, test samples" in cell
    suite = (tmp_path / "site" / "suite-s.html").read_text()
    assert "no fit" in suite and "No row recorded per-layer sparsity" in suite


#: suite names a store may hold from before names were checked (or written by hand),
#: and component names from plugins: paths, markup, a hidden file, names too long
#: to write, and names that differ only in case or punctuation
HOSTILE_SUITES = ["x/../../evil<script>", "..", ".hidden", "Same", "same", "s/a", "s_a", "n" * 300]


def test_names_in_the_store_cannot_break_the_site(tmp_path, capsys):
    rows = [row for suite in HOSTILE_SUITES for row in seeds("rate", [0.9, 0.91], suite=suite)]
    rows += seeds("../<b>enc", [0.8, 0.81], suite="x/../../evil<script>")
    db = store_with(tmp_path / "r.db", rows)
    site, figures = tmp_path / "out" / "site", tmp_path / "out" / "figures"
    code, out, err = cli(capsys, "report", "--db", db, "--out", site, "--figures", figures,
                         "--suites-dir", tmp_path)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "r.db"]  # nothing written elsewhere
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["figures", "site"]
    pages = sorted(p.name for p in site.iterdir())
    assert len(pages) == 2 + len(HOSTILE_SUITES) * 2 + 1  # index, vega.js, a suite page and a cell page each
    for folder in (site, figures):
        for path in folder.iterdir():
            assert path.is_file() and len(path.name) < 160, path.name
            assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*\.(html|js|png|svg)", path.name), path.name
    assert len({name.lower() for name in pages}) == len(pages)  # apart on case-blind file systems too
    # every link of every page leads to a page of the site, and every page is linked
    linked = {"index.html"}
    for page in pages:
        if page.endswith(".html"):
            text = (site / page).read_text()
            targets = set(re.findall(r'href="([^"]+)"', text)) | set(re.findall(r'"href": "([^"]+)"', text))
            assert targets <= set(pages), (page, targets - set(pages))
            linked |= targets
    assert linked == {name for name in pages if name.endswith(".html")}
    index = (site / "index.html").read_text()
    assert "x/../../evil&lt;script&gt;" in index and "evil<script>" not in index


def test_a_thousand_rows_build_in_seconds(tmp_path):
    rows = [make_row(f"enc{cell}", seed, 0.5 + cell / 500 + seed / 1000, config_hash=f"h{cell}",
                     sparsity_per_layer={"l1": 0.8, "l2": 0.9},
                     history=[{"epoch": 0, "stage": None, "loss": 1.0, "train_accuracy": 0.5}])
            for cell in range(200) for seed in range(5)]
    db = store_with(tmp_path / "r.db", rows)
    from snnbench.results.report import write_report
    with ResultStore(db) as store:
        written = write_report(store, [], tmp_path / "site")
    assert written.pages == 202  # index, the suite, one page per cell: still one page per suite
    assert written.seconds < 30, written  # about 3 s unloaded, most of it Vega's bundle
    suite = (tmp_path / "site" / "suite-s.html").read_text()
    assert suite.count("<tr class=") == 200


def test_figures_are_written_as_png_and_svg(tmp_path, capsys):
    db = store_with(tmp_path / "r.db", seeds("rate", [0.9, 0.92], sparsity_per_layer={"l1": 0.8})
                    + seeds("latency", [0.8, 0.82], sparsity_per_layer={"l1": 0.9}))
    code, out, err = cli(capsys, "report", "--db", db, "--suite", "s", "--out", tmp_path / "site",
                         "--figures", tmp_path / "figures", "--suites-dir", tmp_path)
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert "suite-s-trade-off-sparsity.png" in names and "suite-s-trade-off-sparsity.svg" in names
    assert "suite-s-layer-sparsity.svg" in names
    png = (tmp_path / "figures" / "suite-s-trade-off-sparsity.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    assert "<svg" in (tmp_path / "figures" / "suite-s-trade-off-sparsity.svg").read_text()


# ------------------------------------------------------------------ a real smoke run, in a browser


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory):
    """suites/smoke.toml on the bundled digits (two seeds, one epoch), and its report."""
    folder = tmp_path_factory.mktemp("smoke-report")
    db, site = folder / "smoke.db", folder / "site"
    run = subprocess.run([str(SNNBENCH), "run", str(REPO / "suites" / "smoke.toml"), "--seeds", "0-1",
                          "--epochs", "1", "--db", str(db), "--no-progress"], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    report = subprocess.run([str(SNNBENCH), "report", "--db", str(db), "--out", str(site), "--suites-dir",
                             str(REPO / "suites")], capture_output=True, text=True)
    assert report.returncode == 0, report.stdout + report.stderr
    return db, site


def test_each_cell_keeps_history_confusion_and_spikes(smoke_report):
    db, _ = smoke_report
    with ResultStore(db) as store:
        rows = [r for r in store.rows() if r["status"] == "ok"]
    assert len(rows) == 16
    for row in rows:
        metrics = row["metrics"]
        assert [e["epoch"] for e in metrics["history"]] == [0]
        confusion = np.array(metrics["confusion"])
        assert confusion.shape == (10, 10) and confusion.sum() == metrics["test_samples"]
        # the same random draws as the evaluation: the matrix gives the recorded accuracy exactly
        assert np.trace(confusion) / confusion.sum() == pytest.approx(metrics["accuracy"])
        assert len(metrics["samples"]) == 3
        for sample in metrics["samples"]:
            assert sample["predicted"] == int(np.argmax(sample["output_counts"]))
            assert set(sample["rasters"]) == {"input", "network.2", "output"}
            assert all(r["shown"] <= 64 for r in sample["rasters"].values())
        assert len(json.dumps(metrics)) < 50_000  # kept small


def _browser():
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (.ci/run does) to open the report")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: pip install -e '.[report]'")
    return sync_playwright


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_function("Array.from(document.querySelectorAll('.chart')).every(c => c.dataset.drawn)",
                           timeout=60_000)


def test_the_report_opens_in_a_browser(smoke_report):
    sync_playwright = _browser()
    _, site = smoke_report
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        browser = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page()
            problems, requests = [], []
            page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning")
                    else None)
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on("request", lambda request: requests.append(request.url))
            _open(page, (site / "suite-smoke.html").as_uri())
            # one row per cell: 4 encoders x 2 neurons ran (the csnn cells are skipped)
            names = lambda: page.eval_on_selector_all(  # noqa: E731
                "#leaderboard tbody tr", "rows => rows.map(r => r.cells[0].textContent + '/' + r.cells[1].textContent)")
            before = names()
            assert len(before) == 8 and len(set(before)) == 8
            # sorting by a column reorders the rows: encoder, A to Z; then accuracy, lowest first
            page.click("#leaderboard thead th:nth-child(1)")
            after = names()
            assert [n.split("/")[0] for n in after] == sorted(n.split("/")[0] for n in before) and after != before
            page.click("#leaderboard thead th:nth-child(3)")
            accuracies = page.eval_on_selector_all(
                "#leaderboard tbody tr", "rows => rows.map(r => Number(r.cells[2].dataset.value))")
            assert accuracies == sorted(accuracies) and names() != after
            # every plot drew its points (Vega marks as SVG paths)
            drawn = dict(page.eval_on_selector_all(
                ".chart", "charts => charts.map(c => [c.id.replace(/^chart-\\d+-/, ''), "
                          "c.querySelectorAll('.role-mark > path').length])"))
            # accuracy against each deterministic axis, and per-layer sparsity, always; the timing
            # and measured-energy axes only where this machine recorded them
            assert {"trade-off-energy_est_j", "trade-off-sparsity", "trade-off-synops_ac",
                    "layer-sparsity"} <= set(drawn) and all(count > 0 for count in drawn.values()), drawn
            # a cell's page: training curves, confusion matrix, sparsity, counts and three rasters
            page.click("#leaderboard tbody tr:first-child a")
            page.wait_for_load_state("load")
            _open(page, page.url)
            drawn = page.eval_on_selector_all(
                ".chart", "charts => charts.map(c => c.querySelectorAll('.role-mark > path').length)")
            assert len(drawn) == 8 and all(count > 0 for count in drawn), drawn
            assert problems == []
            assert all(url.startswith("file://") for url in requests), requests
        finally:
            browser.close()


def test_a_bad_reference_in_a_suite_file_is_one_line_from_the_leaderboard_and_report(tmp_path, capsys):
    (tmp_path / "s.toml").write_text(suite_toml("s") + '\n[[reference]]\nencoder = "rate"\nmetric = "accuracy"\n'
                                     'value = 97.2\nsource = "x"\n')
    db = store_with(tmp_path / "r.db", [make_row("rate", 0, 0.9)])
    for command in (["leaderboard"], ["report", "--out", tmp_path / "site"]):
        message = user_error(capsys, *command, "--db", db, "--suites-dir", tmp_path)
        assert "s.toml" in message and "reference.value = 97.2" in message and "0.972" in message
    assert not (tmp_path / "site").exists()  # nothing half-written
