"""Each plot of a report as a Vega-Lite specification (a plain dict).

The same specification is drawn in the page by Vega's JavaScript and to
PNG/SVG by vl-convert (``--figures``), so a figure in a paper is the one on
the page. A function returns None when there is nothing to draw: the page
says so in words instead of showing an empty frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from snnbench.results.leaderboard import metric
from snnbench.results.report.model import CellView

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"  # an identifier: never fetched
WIDTH, HEIGHT = 420, 280


def _spec(title: str, values: list[dict[str, Any]], **body) -> dict[str, Any]:
    return {"$schema": SCHEMA, "title": title, "data": {"values": values}, **body}


def trade_off(cells: Sequence[CellView], axis: str, front: set[str]) -> dict[str, Any] | None:
    """Accuracy against ``axis``, one point per cell with its seed spread
    (± std) as error bars on both axes; the Pareto front joined by a line.
    A point links to its cell's page."""
    x_metric, y_metric = metric(axis), metric("accuracy")
    values = []
    for cell in cells:
        x, y = cell.stats[axis], cell.stats["accuracy"]
        if x["mean"] is None or y["mean"] is None:
            continue
        x_std, y_std = x["std"] or 0.0, y["std"] or 0.0
        values.append({"cell": cell.name, "href": f"{cell.slug}.html", "seeds": y["n"],
                       "x": x["mean"], "x_low": x["mean"] - x_std, "x_high": x["mean"] + x_std,
                       "y": 100 * y["mean"], "y_low": 100 * (y["mean"] - y_std),
                       "y_high": 100 * (y["mean"] + y_std),
                       "front": "Pareto front" if cell.name in front else "dominated"})
    if not values:
        return None
    x_axis = {"field": "x", "type": "quantitative", "scale": {"zero": False},
              # an SI prefix on the ticks, the unit in the title: "20p" under "est. energy/sample ↓ (J)"
              **({"title": f"{x_metric.heading} ({x_metric.unit})", "axis": {"format": "~s"}} if x_metric.unit
                 else {"title": x_metric.heading})}
    y_axis = {"field": "y", "type": "quantitative", "title": y_metric.heading, "scale": {"zero": False}}
    on_front = sorted((v for v in values if v["front"] == "Pareto front"), key=lambda v: v["x"])
    return _spec(f"accuracy against {x_metric.title}", values, width=WIDTH, height=HEIGHT, layer=[
        {"mark": {"type": "rule", "opacity": 0.5},
         "encoding": {"x": x_axis, "y": {"field": "y_low", "type": "quantitative"}, "y2": {"field": "y_high"}}},
        {"mark": {"type": "rule", "opacity": 0.5},
         "encoding": {"y": y_axis, "x": {"field": "x_low", "type": "quantitative"}, "x2": {"field": "x_high"}}},
        {"data": {"values": on_front}, "mark": {"type": "line", "strokeDash": [4, 3], "color": "#d62728"},
         "encoding": {"x": x_axis, "y": y_axis, "order": {"field": "x", "type": "quantitative"}}},
        {"mark": {"type": "point", "filled": True, "size": 80, "cursor": "pointer"},
         "encoding": {"x": x_axis, "y": y_axis, "href": {"field": "href"},
                      "color": {"field": "front", "type": "nominal", "title": None,
                                "scale": {"domain": ["Pareto front", "dominated"],
                                          "range": ["#d62728", "#1f77b4"]}},
                      "tooltip": [{"field": "cell"}, {"field": "y", "title": "accuracy %", "format": ".2f"},
                                  {"field": "x", "title": f"{x_metric.title} {x_metric.unit}".strip(), "format": ".4~s"},
                                  {"field": "seeds"}]}},
    ])


def layer_sparsity(cells: Sequence[CellView]) -> dict[str, Any] | None:
    """One bar per spiking layer of every cell: its share of silent (neuron, step) slots."""
    values = [{"cell": cell.name, "layer": layer, "sparsity": value}
              for cell in cells for layer, value in cell.mean_layer_sparsity().items()]
    if not values:
        return None
    order = [cell.name for cell in cells]
    return _spec("per-layer sparsity (mean over seeds)", values, width=WIDTH,
                 height={"step": 14}, mark="bar", encoding={
                     "y": {"field": "cell", "type": "nominal", "sort": order, "title": None},
                     "yOffset": {"field": "layer", "type": "nominal"},
                     "x": {"field": "sparsity", "type": "quantitative", "scale": {"domain": [0, 1]}},
                     "color": {"field": "layer", "type": "nominal"},
                     "tooltip": [{"field": "cell"}, {"field": "layer"},
                                 {"field": "sparsity", "format": ".4f"}]})


def training_curves(cell: CellView, quantity: str) -> dict[str, Any] | None:
    """``loss`` or ``train_accuracy`` of every epoch of every seed; epochs of a
    rule that trains in stages follow one another, each stage its own dash."""
    values = []
    for row in cell.rows:
        for step, epoch in enumerate(row["metrics"].get("history") or [], start=1):
            if epoch.get(quantity) is not None:
                values.append({"epoch": step, "seed": str(row["seed"]), "stage": epoch.get("stage") or "train",
                               "value": epoch[quantity] * (100 if quantity == "train_accuracy" else 1)})
    if not values:
        return None
    title = "training loss" if quantity == "loss" else "training accuracy %"
    return _spec(f"{title} per epoch", values, width=WIDTH, height=200,
                 mark={"type": "line", "point": True}, encoding={
                     "x": {"field": "epoch", "type": "quantitative", "axis": {"tickMinStep": 1}},
                     "y": {"field": "value", "type": "quantitative", "title": title, "scale": {"zero": False}},
                     "color": {"field": "seed", "type": "nominal"},
                     "strokeDash": {"field": "stage", "type": "nominal"},
                     "tooltip": [{"field": "seed"}, {"field": "stage"}, {"field": "epoch"},
                                 {"field": "value", "format": ".4f"}]})


def raster(sample: dict[str, Any], index: int) -> dict[str, Any] | None:
    """The spikes of one test sample, layer by layer: a tick per (step, neuron)."""
    values = [{"layer": f"{layer} ({r['shown']} of {r['neurons']} neurons)", "t": t, "neuron": n}
              for layer, r in sample["rasters"].items() for t, n in r["events"]]
    if not values:
        return None
    return _spec(f"sample {index + 1}: label {sample['label']}, predicted {sample['predicted']}", values,
                 facet={"row": {"field": "layer", "type": "nominal", "title": None, "sort": None}},
                 resolve={"scale": {"y": "independent"}},
                 spec={"width": WIDTH, "height": 90, "mark": {"type": "tick", "orient": "vertical", "thickness": 2},
                       "encoding": {"x": {"field": "t", "type": "quantitative", "title": "time step"},
                                    "y": {"field": "neuron", "type": "quantitative", "title": "neuron"}}})


def output_counts(samples: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Output spike count of every class for each kept test sample."""
    values = [{"sample": f"{i + 1}: label {s['label']}, predicted {s['predicted']}", "class": str(c),
               "count": count, "label": "label" if c == s["label"] else "other"}
              for i, s in enumerate(samples) for c, count in enumerate(s["output_counts"])]
    if not values:
        return None
    return _spec("output spike count per class", values, facet={"column": {"field": "sample", "title": None}},
                 spec={"width": 180, "height": 150, "mark": "bar",
                       "encoding": {"x": {"field": "class", "type": "ordinal", "sort": None},
                                    "y": {"field": "count", "type": "quantitative", "title": "output spikes"},
                                    "color": {"field": "label", "type": "nominal", "title": None,
                                              "scale": {"domain": ["label", "other"],
                                                        "range": ["#2ca02c", "#1f77b4"]}}}})


def confusion(matrices: Sequence[list[list[int]]]) -> dict[str, Any] | None:
    """The test split's confusion matrix, summed over the seeds that recorded one."""
    if not matrices:
        return None
    size = len(matrices[0])
    total = [[sum(m[t][p] for m in matrices if len(m) == size) for p in range(size)] for t in range(size)]
    values = [{"true": str(t), "predicted": str(p), "count": total[t][p]} for t in range(size) for p in range(size)]
    seeds = f"{len(matrices)} seed{'s' if len(matrices) > 1 else ''}"
    encoding = {"x": {"field": "predicted", "type": "ordinal", "sort": None},
                "y": {"field": "true", "type": "ordinal", "sort": None}}
    return _spec(f"confusion matrix on the test split ({seeds})", values, width=300, height=300, layer=[
        {"mark": "rect", "encoding": {**encoding, "color": {"field": "count", "type": "quantitative",
                                                            "scale": {"scheme": "blues"}},
                                      "tooltip": [{"field": "true"}, {"field": "predicted"}, {"field": "count"}]}},
        {"mark": {"type": "text", "fontSize": 9}, "encoding": {**encoding, "text": {"field": "count"}}},
    ])
