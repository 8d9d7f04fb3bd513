"""The report's pages as HTML text.

Every value from the store is escaped; chart specifications travel as JSON
in ``<script type="application/vnd.vegalite+json">`` blocks that the page's
script (``assets/report.js``, inlined) hands to Vega. A page needs nothing
but itself and, when it has charts, ``vega.js`` beside it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

from snnbench import __version__
from snnbench.definition.metric_specs import MetricSpec, metric
from snnbench.results.leaderboard import (
    Board,
    Results,
    contended_text,
    provenance,
    timing_contended,
)
from snnbench.results.report import charts
from snnbench.results.report.kept import KeptLinks
from snnbench.results.report.model import TRADE_OFF_AXES, CellView, SuiteView
from snnbench.results.statistics import CONFIDENCE, mean_interval


def _asset(name: str) -> str:
    return resources.files("snnbench.results.report").joinpath("assets", name).read_text()


class Page:
    """One HTML page being written: its body and its charts."""

    def __init__(self, title: str):
        self.title = title
        self.parts: list[str] = []
        self.specs: list[tuple[str, dict[str, Any]]] = []  # (id, Vega-Lite spec), for --figures too

    def add(self, html: str) -> None:
        self.parts.append(html)

    def chart(self, name: str, spec: dict[str, Any] | None, nothing: str) -> None:
        """The chart ``spec``, or the sentence ``nothing`` when there is nothing to draw."""
        if spec is None:
            self.add(f'<p class="note">{escape(nothing)}</p>')
            return
        chart_id = f"chart-{len(self.specs) + 1}-{name}"
        self.specs.append((chart_id, spec))
        data = json.dumps(spec, allow_nan=False).replace("</", "<\\/")
        self.add(f'<div class="chart" id="{chart_id}"></div>'
                 f'<script type="application/vnd.vegalite+json" data-target="{chart_id}">{data}</script>')

    def html(self) -> str:
        vega = '<script src="vega.js"></script>' if self.specs else ""
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{escape(self.title)}</title><style>{_asset('report.css')}</style>{vega}</head>"
                f"<body>{''.join(self.parts)}"
                f'<p class="note">made by snnbench {escape(__version__)}</p>'
                f"<script>{_asset('report.js')}</script></body></html>\n")


# ------------------------------------------------------------------ tables


def _mean_cell(stats_mean, stats_std, n: int, m: MetricSpec, flag: str = "") -> str:
    """A table cell of mean ± std (its interval on hover), and ``flag``
    (at chance, busy machine) after it."""
    if stats_mean is None or stats_mean != stats_mean:
        return f'<td class="number" data-value="">–{escape(flag)}</td>'
    text = m.format(stats_mean)
    title = f"{n} seed(s)"
    if stats_std is not None and stats_std == stats_std:
        text += f" ± {m.format(stats_std)}"
        interval = mean_interval(stats_mean, stats_std, n)
        if interval:
            title = f"{CONFIDENCE:.0%} interval of the mean: {m.format(interval[0])} to {m.format(interval[1])}, {title}"
    return f'<td class="number" data-value="{stats_mean!r}" title="{escape(title)}">{escape(text + flag)}</td>'


def board_table(board: Board, links: Sequence[str] | None = None) -> str:
    """The leaderboard as a sortable HTML table (the rows of :func:`snnbench.results.leaderboard.build_board`),
    with the shared columns above it and what the marks mean below it. ``links``: a page per row."""
    table = board.table
    marks, gaps = len(table) > 1, bool(board.references)
    # with one row every group column is stated above the table; the row keeps its full name
    names = board.varying or ["cell"]
    headers = [f"<th>{escape(c)}</th>" for c in names]
    headers += [f'<th data-type="number">{escape(m.heading)}</th>' for m in board.metrics]
    headers += ['<th data-type="number">runs</th>']
    headers += ["<th>vs best</th>"] if marks else []
    headers += ['<th data-type="number">gap to reference</th>'] if gaps else []
    body = []
    for index, (_, row) in enumerate(table.iterrows()):
        cells = []
        for position, column in enumerate(names):
            text = escape(str(row[column]) if board.varying else board.name(row))
            if links and position == 0:
                text = f'<a href="{escape(links[index])}">{text}</a>'
            cells.append(f"<td>{text}</td>")
        cells += [_mean_cell(row[f"{m.key}_mean"], row[f"{m.key}_std"], int(row[f"{m.key}_n"]), m, _flag(row, m))
                  for m in board.metrics]
        cells.append(f'<td class="number">{int(row["n"])}</td>')
        if marks:
            cells.append(f"<td>{escape(board.mark(row))}</td>")
        if gaps:
            texts = [g.text(board.references.index(g.reference) + 1) for g in row["gaps"]]
            value = row["gaps"][0].gap if row["gaps"] else ""
            cells.append(f'<td class="number" data-value="{value}">{escape("; ".join(texts))}</td>')
        body.append(f'<tr class="{row["vs_best"] or ""}">{"".join(cells)}</tr>')
    shared = ", ".join(f"{c}: <b>{escape(str(table[c].iloc[0]))}</b>" for c in board.constant)
    notes = board.notes
    return ((f'<p class="note">{shared}</p>' if shared else "")
            + f'<table class="sortable" id="leaderboard"><thead><tr>{"".join(headers)}</tr></thead>'
            + f'<tbody>{"".join(body)}</tbody></table>'
            + "".join(f'<p class="note">{escape(n).replace(chr(10), "<br>")}</p>' for n in notes))


def _flag(row, m: MetricSpec) -> str:
    """What a row's cell of ``m`` says besides its value: runs at chance
    (accuracy), runs timed on a busy machine (timings)."""
    if m.key == "accuracy" and row["at_chance"]:
        return f" (AT CHANCE: {int(row['at_chance'])} of {int(row['n'])})"
    return contended_text(row) if m.is_timing else ""


def _simple_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def leaderboard_page(board: Board | None, results: Results, title: str) -> str:
    """``snnbench leaderboard --format html``: the table (None: no ok result)
    and the failed and skipped cells, as one self-contained page."""
    page = Page(title)
    page.add(f"<h1>{escape(title)}</h1>")
    page.add(board_table(board) if board is not None else
             '<p class="missing">No successful results yet: see the failed and skipped cells below.</p>')
    page.add(failures_html(results))
    return page.html()


def failures_html(results: Results) -> str:
    """The failed and skipped cells with their reasons ("None." when there are none)."""
    failed, skipped = results.failed, results.skipped
    parts = ["<h2>Failed and skipped cells</h2>"]
    if failed.empty and skipped.empty:
        parts.append("<p>None.</p>")
    if not failed.empty:
        parts.append("<p>Failed:</p>" + _simple_table(["cell", "seed", "reason"], failed[["label", "seed", "reason"]]
                                                      .itertuples(index=False)))
    if not skipped.empty:
        parts.append("<p>Skipped (components that cannot work together):</p>"
                     + _simple_table(["cell", "reason"], skipped[["label", "reason"]].itertuples(index=False)))
    return "".join(parts)


# ------------------------------------------------------------------ pages


def index_page(suites: Sequence[SuiteView], store: str, models: str | None = None) -> Page:
    page = Page(f"snnbench report: {store}")
    page.add(f"<h1>snnbench report</h1><p>store <code>{escape(store)}</code></p>")
    if models:
        page.add(f'<p class="note" id="kept-models">kept models: {escape(models)}</p>')
    if not suites:
        page.add('<p class="missing">The store holds no results yet: run a suite '
                 "(<code>snnbench run suites/smoke.toml</code>) and build the report again.</p>")
        return page
    rows = [[f'<a href="{escape(s.page)}.html">{escape(s.name)}</a>', len(s.cells),
             sum(r["status"] == "ok" for r in s.results.rows), len(s.results.failed), len(s.results.skipped),
             s.results.stale] for s in suites]
    head = "".join(f"<th>{h}</th>" for h in ("suite", "cells", "ok rows", "failed", "skipped", "stale rows"))
    body = "".join("<tr>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>" for row in rows)
    page.add(f'<table id="suites"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')
    return page


def suite_page(suite: SuiteView) -> Page:
    page = Page(f"snnbench: {suite.name}")
    page.add(f'<nav><a href="index.html">all suites</a></nav><h1>suite {escape(suite.name)}</h1>')
    page.add("<h2>Leaderboard</h2>")
    if suite.board is None:
        page.add('<p class="missing">No cell of this suite has an ok result yet'
                 + (f" ({suite.results.stale} stale row(s) left out)" if suite.results.stale else "")
                 + ": see the failed and skipped cells below.</p>")
    else:
        page.add(board_table(suite.board, [f"{c.slug}.html" for c in suite.cells]))
        page.add("<h2>Trade-offs</h2><p class='note'>One point per cell, its seed spread (± std) as bars; "
                 "the red line joins the Pareto front (no other cell is better on both axes). "
                 "A point opens its cell.</p><div class='charts'>")
        fronts = suite.fronts()
        for axis in TRADE_OFF_AXES:
            page.chart(f"trade-off-{axis}", charts.trade_off(suite.cells, axis, fronts[axis]),
                       f"No cell recorded {metric(axis).title}: no accuracy/{metric(axis).title} plot.")
        page.add("</div><h2>Per-layer sparsity</h2>")
        page.chart("layer-sparsity", charts.layer_sparsity(suite.cells),
                   "No row recorded per-layer sparsity (rows of an older snnbench).")
    page.add(failures_html(suite.results))
    page.add("<h2>Provenance</h2>" + provenance_html(suite.results))
    return page


def _kept_models(cell: CellView, kept: dict[int, KeptLinks]) -> str:
    """The section that offers each seed's trained model and its NIR graph."""
    rows = []
    for row in cell.rows:
        links = kept.get(row.get("id"))
        if links is None:
            rows.append([escape(str(row["seed"])), "not kept", "–", "–", "trained before models were kept, or with "
                         "--no-keep-models"])
            continue
        size = f"{links.size / 1024:.1f} kB"
        model = f'<a href="{escape(links.model)}" download>{escape(Path(links.model).name)}</a> ({size})' \
            if links.model else "–"
        graph = f'<a href="{escape(links.nir)}" download>NIR graph</a>' if links.nir else "–"
        agreement = row["metrics"].get("nir_agreement")
        rows.append([escape(str(row["seed"])), model, graph,
                     escape(metric("nir_agreement").format(agreement)) if agreement is not None else "–",
                     escape(links.note or "")])
    head = "".join(f"<th>{h}</th>" for h in ("seed", "model (safetensors)", "NIR graph", "NIR agreement", "note"))
    body = "".join("<tr>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>" for row in rows)
    return ('<h2>Kept models</h2><p class="note">Each seed\'s trained network (weights and what rebuilds it: '
            "<code>snnbench remeasure</code>, <code>snnbench export</code>) and, where NIR can express it, its "
            "graph for neuromorphic tools (docs/models.md).</p>"
            f'<table id="kept-models"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')


def provenance_html(results: Results) -> str:
    facts = provenance(results)
    tally = lambda counted: "; ".join(f"{k} ({v} rows)" for k, v in counted.items()) or "none"  # noqa: E731
    rows = [["ok rows", facts["rows"]], ["commits", tally(facts["commits"])],
            ["devices", tally(facts["devices"])]]
    rows += [[f"library {name}", tally(v)] for name, v in facts["libraries"].items()]
    rows += [[f"plugin {name}", tally(v)] for name, v in facts["plugins"].items()]
    rows += [["metric versions", ", ".join(f"{k} v{v}" for k, v in facts["metric_versions"].items())],
             ["stale rows (older metric definitions, left out)", facts["stale_rows"]]]
    return _simple_table(["what", "value"], rows)


def _machine_during(metrics: dict[str, Any]) -> str:
    """What the machine did while a run was timed (its ``contention`` record)."""
    record = metrics.get("contention")
    if not record:
        return "not recorded"
    state = "BUSY" if record.get("contended") else "quiet"
    return (f"{state}: others used {record['others_cores']:.2f} of {record['cores']} cores "
            f"(load {record['load_start']:.2f} to {record['load_end']:.2f})")


def cell_page(suite: SuiteView, cell: CellView, kept: dict[int, KeptLinks] | None = None) -> Page:
    page = Page(f"snnbench: {cell.name}")
    page.add(f'<nav><a href="index.html">all suites</a><a href="{escape(suite.page)}.html">'
             f"suite {escape(suite.name)}</a></nav><h1>{escape(cell.name)}</h1>")
    page.add("<p>" + ", ".join(f"{escape(k)}: <b>{escape(str(v))}</b>" for k, v in cell.group.items()) + "</p>")
    keys = ["accuracy", "energy_est_j", "sparsity", "encoder_density", "synops_ac", "train_samples_per_s"]
    seeds = [[r["seed"], *(metric(k).format(r["metrics"][k]) if r["metrics"].get(k) is not None else "–"
                           for k in keys), "AT CHANCE" if r["metrics"].get("at_chance") else "no",
              _machine_during(r["metrics"]), r["metrics"].get("epochs_trained", "–"),
              r["metrics"].get("reported_epoch", "–"), r["config_hash"], r["finished_at"]] for r in cell.rows]
    stuck = sum(bool(r["metrics"].get("at_chance")) for r in cell.rows)
    if stuck:
        page.add(f'<p class="missing">AT CHANCE: {stuck} of {len(cell.rows)} run(s) of this cell learnt nothing '
                 "(test accuracy no better than always guessing one class): the cell is compared with no other. "
                 "Train longer before reading its numbers.</p>")
    page.add("<h2>Seeds</h2>" + _simple_table(["seed", *(metric(k).heading for k in keys), "at chance",
                                               "machine during the run", "epochs", "reported epoch",
                                               "config hash", "finished"], seeds))
    page.add(_kept_models(cell, kept or {}))
    busy = sum(timing_contended(r["metrics"]) for r in cell.rows)
    if busy:
        page.add(f'<p class="missing">BUSY: {busy} of {len(cell.rows)} run(s) were timed while other processes '
                 "used the machine; the suite's table leaves their timings out of its means.</p>")
    missing = cell.missing()
    if missing:
        page.add(f'<p class="missing">Not recorded for this cell: {escape(", ".join(missing))}. Its rows were '
                 "written by an snnbench that did not keep them; run the suite again with "
                 "<code>--rerun</code> to record them.</p>")
    page.add("<h2>Training</h2><div class='charts'>")
    page.chart("loss", charts.training_curves(cell, "loss"), "No training loss recorded (a rule that "
               "minimises no loss, such as STDP, or rows of an older snnbench).")
    page.chart("train-accuracy", charts.training_curves(cell, "train_accuracy"),
               "No per-epoch training accuracy recorded.")
    page.add("</div><h2>Test split</h2><div class='charts'>")
    matrices = [r["metrics"]["confusion"] for r in cell.rows if r["metrics"].get("confusion")]
    page.chart("confusion", charts.confusion(matrices), "No confusion matrix recorded.")
    page.chart("layer-sparsity", charts.layer_sparsity([cell]), "No per-layer sparsity recorded.")
    page.add("</div>")
    detail = cell.detail_row()
    page.add("<h2>Spikes of a few test samples</h2>")
    if detail is None:
        page.add('<p class="note">No samples\' spikes recorded.</p>')
    else:
        samples = detail["metrics"]["samples"]
        page.add(f"<p class='note'>Seed {escape(str(detail['seed']))}, the first {len(samples)} test samples.</p>")
        page.chart("output-counts", charts.output_counts(samples), "No output spikes recorded.")
        page.add("<div class='charts'>")
        for index, sample in enumerate(samples):
            page.chart(f"raster-{index + 1}", charts.raster(sample, index),
                       f"Sample {index + 1}: no layer spiked.")
        page.add("</div>")
    return page
