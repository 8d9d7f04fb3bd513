"""From the results store to tables: newest row per cell, mean ± std over seeds.

Rows computed with an older definition of a metric (see
:data:`snnbench.metric_specs.METRIC_VERSIONS`) are left out and counted, never
mixed in with current ones. Nor are rows of different configs that carry
the same component names (two suites that run one combination with other
params, a run capped by ``--limit``) averaged together: they are told apart
by a ``setup`` column naming the config keys in which they differ.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from tabulate import tabulate

from snnbench.components import KINDS
from snnbench.errors import SnnbenchError, did_you_mean
from snnbench.metric_specs import METRIC_VERSIONS, METRICS, metric

GROUP_COLUMNS: tuple[str, ...] = (*KINDS, "device_type")


def _is_stale(row: dict[str, Any]) -> bool:
    versions = row.get("metric_versions") or {}
    return any(versions.get(name) != version for name, version in METRIC_VERSIONS.items())


@dataclass
class Results:
    """The newest row of every (cell, seed, device), split by what it says."""

    ok: pd.DataFrame
    failed: pd.DataFrame
    skipped: pd.DataFrame
    stale: int
    #: the machines the ok rows ran on (:func:`snnbench.runtime.machine`;
    #: rows from before it was recorded have none)
    machines: list[dict[str, Any]]


def pooled(results: Sequence[Results]) -> Results:
    """The results of several stores side by side (runs of one suite on other
    machines, say): each store's newest rows, none collapsed into another's."""
    join = lambda frames: pd.concat(frames, ignore_index=True)  # noqa: E731
    return Results(ok=join([r.ok for r in results]), failed=join([r.failed for r in results]),
                   skipped=join([r.skipped for r in results]), stale=sum(r.stale for r in results),
                   machines=[m for r in results for m in r.machines])


def latest_results(rows: Sequence[dict[str, Any]]) -> Results:
    newest: dict[tuple, dict[str, Any]] = {}
    for row in rows:  # oldest first, so later rows win
        newest[(row["suite"], row["config_hash"], row["seed"], row["device_type"])] = row
    current = [r for r in newest.values() if not (r["status"] == "ok" and _is_stale(r))]
    stale = len(newest) - len(current)
    ok = [r | {m.key: r["metrics"].get(m.key) for m in METRICS} | {"at_chance": bool(r["metrics"].get("at_chance"))}
          for r in current if r["status"] == "ok"]
    columns = ["suite", "label", "config_hash", "seed", "device_type", "device_name", "status", "reason",
               *KINDS, "config"]
    frame = lambda records, extra=(): pd.DataFrame(records, columns=[*columns, *extra])  # noqa: E731
    return Results(
        ok=frame(ok, [*(m.key for m in METRICS), "at_chance"]),
        failed=frame([r for r in current if r["status"] == "failed"]),
        skipped=frame([r for r in current if r["status"] == "skipped"]),
        stale=stale,
        machines=[r["environment"]["machine"] for r in current
                  if r["status"] == "ok" and "machine" in (r.get("environment") or {})],
    )


def check_grouping(by: Sequence[str]) -> None:
    for column in by:
        if column not in GROUP_COLUMNS:
            suggestion = did_you_mean(column, GROUP_COLUMNS)
            raise SnnbenchError(f"cannot group by {column!r}; " + (
                f"did you mean {suggestion!r}?" if suggestion else f"choose from {', '.join(GROUP_COLUMNS)}"))


def _flat(config: dict[str, Any], path: tuple[str, ...] = ()) -> dict[str, str]:
    """A row's config as ``{"encoder.timesteps": "25", "training.epochs": "4"}``
    (a component's ``params`` level left out of the keys)."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        inner = path if key == "params" else (*path, key)
        if isinstance(value, dict):
            flat.update(_flat(value, inner))
        else:
            flat[".".join(inner)] = json.dumps(value)
    return flat


def setups(ok: pd.DataFrame) -> pd.Series:
    """For each row, what sets its config apart from the other configs that
    carry the same component names: empty when its names have one config,
    else ``key=value`` of every config key in which those configs differ."""
    labels = pd.Series("", index=ok.index, dtype=object)
    for _, same_names in ok.groupby(list(KINDS), sort=False, dropna=False):
        configs = {row.config_hash: _flat(row.config) for row in same_names.itertuples()}
        if len(configs) < 2:
            continue
        keys = sorted({k for flat in configs.values() for k in flat}, key=lambda k: (k.startswith("training"), k))
        differing = [k for k in keys if len({flat.get(k, "–") for flat in configs.values()}) > 1]
        for index, config_hash in same_names["config_hash"].items():
            labels[index] = ", ".join(f"{k}={configs[config_hash].get(k, '–')}" for k in differing)
    return labels


def aggregate(ok: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Mean, std and seed count (``<key>_n``: rows that have it) of every
    metric per group, and ``n``, the rows of the group; per config within a
    group where its names cover several (column ``setup``)."""
    keys = [m.key for m in METRICS]
    numeric = ok[list(by) + keys].copy()
    numeric[keys] = numeric[keys].apply(pd.to_numeric, errors="coerce")
    numeric["setup"] = setups(ok)
    numeric["at_chance"] = ok["at_chance"].astype(int)
    grouped = numeric.groupby([*by, "setup"], sort=False, dropna=False)
    table = grouped[keys].agg(["mean", "std", "count"])
    table.columns = [f"{key}_{'n' if stat == 'count' else stat}" for key, stat in table.columns]
    table["n"] = grouped.size()
    #: runs whose accuracy was no better than chance (snnbench.metrics.is_at_chance)
    table["at_chance"] = grouped["at_chance"].sum()
    return table.reset_index()


def _mean_std(mean: float, std: float, fmt: Callable[[float], str]) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    text = fmt(mean)
    if std is not None and not (isinstance(std, float) and math.isnan(std)):
        text += f" ± {fmt(std)}"
    return text


def _shown(row: pd.Series, m: Metric) -> str:
    """One cell of the table: mean ± std, and for accuracy how many of the
    runs were at chance, so a model that learnt nothing cannot pass unseen."""
    text = _mean_std(row[f"{m.key}_mean"], row[f"{m.key}_std"], m.format)
    if m.key == "accuracy" and row["at_chance"]:
        text += f" (AT CHANCE: {int(row['at_chance'])} of {int(row['n'])})"
    return text


def _repeats(table: pd.DataFrame, key: str, other: str) -> bool:
    """True when column ``key`` holds ``other``'s value (or nothing) in every row."""
    mine, theirs = table[f"{key}_mean"], table[f"{other}_mean"]
    return bool((mine.isna() | ((mine - theirs).abs() <= 1e-9)).all())


def render(table: pd.DataFrame, by: Sequence[str], sort: str = "accuracy", fmt: str = "table",
           metrics: Sequence[str] | None = None) -> str:
    """The aggregated table as text (``table``, ``md``) or ``csv``.

    Group columns that hold one value for every row are stated once above
    the table instead of repeated on every line. A default column that only
    repeats another (an encoder's mean value when it emits 0/1 spikes) is
    left out; ``metrics`` shows it anyway. The ``setup`` column shows only
    where rows of one set of names have different configs.
    """
    if table["setup"].ne("").any():
        by = [*by, "setup"]
    chosen = [metric(k) for k in (metrics or [m.key for m in METRICS])]
    sort_metric = metric(sort)
    table = table.sort_values(f"{sort_metric.key}_mean", ascending=not sort_metric.higher_is_better,
                              na_position="last")
    present = [m for m in chosen if table[f"{m.key}_mean"].notna().any()
               and not (metrics is None and m.repeats and _repeats(table, m.key, m.repeats))]
    if fmt == "csv":
        columns = [*by, *(f"{m.key}_{s}" for m in present for s in ("mean", "std")), "n", "at_chance"]
        return table[columns].to_csv(index=False)
    constant = [c for c in by if table[c].nunique(dropna=False) == 1 and len(by) > 1]
    varying = [c for c in by if c not in constant]
    headers = [*varying, *(m.heading for m in present), "runs"]
    body = [[*(row[c] for c in varying), *(_shown(row, m) for m in present), int(row["n"])]
            for _, row in table.iterrows()]
    text = tabulate(body, headers=headers, tablefmt="github" if fmt == "md" else "simple",
                    disable_numparse=True)
    if constant:
        shared = ", ".join(f"{c}: {table[c].iloc[0]}" for c in constant)
        text = (f"*{shared}*\n\n" if fmt == "md" else f"{shared}\n\n") + text
    return text
