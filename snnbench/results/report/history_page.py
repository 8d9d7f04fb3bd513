"""The history of a suite as a report page: one chart per cell and metric,
its rows over the commits, the median joined by a line and every step
marked where it begins (:mod:`snnbench.results.history`).

Written by ``snnbench history --html DIR`` as ``DIR/history-<suite>.html``
with ``vega.js`` beside it, like the pages of ``snnbench report``.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from snnbench.definition.metric_specs import metric
from snnbench.results.history import History, Series, short
from snnbench.results.report.charts import _spec
from snnbench.results.report.html import Page, _simple_table
from snnbench.results.report.site import _folder, _vega_bundle, _write

WIDTH, HEIGHT = 520, 200


def series_chart(history: History, series: Series) -> dict[str, Any]:
    """Every row's value at its commit, the medians joined, steps as rules."""
    m = metric(series.metric)
    position = {commit: i for i, commit in enumerate(history.commits)}
    points = [{"commit": f"{position[c] + 1}. {short(c)}", "order": position[c], "value": value,
               "subject": history.subjects.get(c, "")}
              for c, values in zip(series.commits, series.values) for value in values]
    medians = [{"commit": f"{position[c] + 1}. {short(c)}", "order": position[c], "value": median}
               for c, median in zip(series.commits, series.medians())]
    steps = [{"commit": f"{position[s.commit] + 1}. {short(s.commit)}",
              "label": f"step {s.ratio:.2f}x (p={s.p_value:.2g})"} for s in series.steps]
    x = {"field": "commit", "type": "ordinal", "title": f"commit ({history.order} order)",
         "sort": {"field": "order"}, "axis": {"labelAngle": -40}}
    y = {"field": "value", "type": "quantitative", "title": m.heading, "scale": {"zero": False}}
    layers = [
        {"data": {"values": medians}, "mark": {"type": "line", "color": "#1f77b4"}, "encoding": {"x": x, "y": y}},
        {"mark": {"type": "point", "filled": True, "opacity": 0.6},
         "encoding": {"x": x, "y": y, "tooltip": [{"field": "commit"}, {"field": "subject"}, {"field": "value"}]}},
    ]
    if steps:
        layers += [{"data": {"values": steps}, "mark": {"type": "rule", "color": "#d62728", "strokeDash": [4, 3]},
                    "encoding": {"x": x}},
                   {"data": {"values": steps}, "mark": {"type": "text", "color": "#d62728", "align": "left",
                                                       "dx": 4, "dy": -HEIGHT / 2 + 8},
                    "encoding": {"x": x, "text": {"field": "label"}}}]
    return _spec(f"{series.label}: {m.title}", points, width=WIDTH, height=HEIGHT, layer=layers)


def history_page(history: History) -> Page:
    page = Page(f"snnbench history: {history.suite}")
    page.add(f"<h1>history of suite {escape(history.suite)}</h1>"
             f"<p>{len(history.commits)} commit(s) in {escape(history.order)} order; a dashed line marks where a "
             "step begins (circular binary segmentation with a permutation test, docs/history.md). Rows of different "
             "machines are separate series.</p>")
    steps = [[s.label, s.metric, s.machine, short(step.commit), history.subjects.get(step.commit, ""),
              metric(s.metric).format(step.before), metric(s.metric).format(step.after), f"{step.ratio:.3f}",
              f"{step.p_value:.3g}"] for s in history.series for step in s.steps]
    page.add("<h2>steps</h2>" + (_simple_table(["cell", "metric", "machine", "commit", "subject", "before",
                                                 "after", "after / before", "p"], steps)
                                  if steps else '<p class="note">no step in any series</p>'))
    for series in history.series:
        if len({v for values in series.values for v in values}) > 1 or series.steps:
            page.chart("history", series_chart(history, series), "")
    if history.left_out:
        page.add('<p class="note">left out: ' + escape("; ".join(f"{n} {why}" for why, n in history.left_out.items()))
                 + "</p>")
    return page


def write_history_page(history: History, folder: Path) -> Path:
    _folder(folder, "history")
    path = folder / f"history-{history.suite}.html"
    page = history_page(history)
    _write(path, page.html())
    if page.specs:
        _write(folder / "vega.js", _vega_bundle())
    return path
