"""From the results store to tables: newest row per cell, mean ± std over seeds.

Rows computed with an older definition of a metric (see
:data:`snnbench.definition.metric_specs.METRIC_VERSIONS`) are left out and counted, never
mixed in with current ones. Nor are rows of different configs that carry
the same component names (two suites that run one combination with other
params, a run capped by ``--limit``) averaged together: they are told apart
by a ``setup`` column naming the config keys in which they differ.

:func:`build_board` is the one place a table is decided (grouping, order,
columns, each row's verdict against the best (:mod:`snnbench.results.verdicts`),
the gap to a published reference); :func:`render` writes it as text,
:func:`board_json` as the documented JSON, and :mod:`snnbench.results.report`
as HTML. Every format lists the failed and skipped cells too, so a store of
failures never reads as an empty one.

Timings measured while other processes used the machine (a row's
``contention`` record, :mod:`snnbench.running.contention`) are flagged and
left out of the timing means by default, and counted.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from tabulate import tabulate

from snnbench import __version__
from snnbench.api.contracts import KINDS
from snnbench.api.errors import SnnbenchError, did_you_mean
from snnbench.definition.metric_specs import (
    METRIC_VERSIONS,
    METRICS,
    MetricSpec,
    margin,
    metric,
    metric_version,
    stale_families,
)
from snnbench.results.statistics import CONFIDENCE, welch
from snnbench.results.verdicts import (
    CANNOT_TELL,
    EQUIVALENT,
    WORSE,
    Verdict,
    against,
    chance_warning,
    significance_note,
    versus_best,
)

GROUP_COLUMNS: tuple[str, ...] = (*KINDS, "device_type")
#: significance level of the verdicts against the best (docs/verdicts.md)
DEFAULT_ALPHA = 0.05
#: the layout of :func:`board_json`'s output (docs/verdicts.md, README "Leaderboard JSON")
JSON_SCHEMA = "snnbench-leaderboard/2"


def _is_stale(row: dict[str, Any]) -> bool:
    return bool(stale_families(row.get("metric_versions") or {}))


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
    #: the newest rows themselves, stale ones left out, as the store gave them
    #: (what a report draws a cell's detail and provenance from)
    rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def pooled(results: Sequence[Results]) -> Results:
    """The results of several stores side by side (runs of one suite on other
    machines, say): each store's newest rows, none collapsed into another's."""
    join = lambda frames: pd.concat(frames, ignore_index=True)  # noqa: E731
    return Results(ok=join([r.ok for r in results]), failed=join([r.failed for r in results]),
                   skipped=join([r.skipped for r in results]), stale=sum(r.stale for r in results),
                   machines=[m for r in results for m in r.machines], rows=[x for r in results for x in r.rows])


def latest_results(rows: Sequence[dict[str, Any]], *, keep_stale: bool = False) -> Results:
    """The newest row of every cell. Rows holding a metric at an old version
    (or lacking a family added since) are left out of tables, where they would
    be mixed with current ones; ``keep_stale`` keeps them for a caller that
    compares metric by metric and checks versions itself (``compare``)."""
    newest: dict[tuple, dict[str, Any]] = {}
    for row in rows:  # oldest first, so later rows win
        newest[(row["suite"], row["config_hash"], row["seed"], row["device_type"])] = row
    current = [r for r in newest.values() if keep_stale or not (r["status"] == "ok" and _is_stale(r))]
    stale = len(newest) - len(current)
    ok = [r | {m.key: r["metrics"].get(m.key) for m in METRICS} | {"at_chance": bool(r["metrics"].get("at_chance")),
                                                                    "contended": timing_contended(r["metrics"])}
          for r in current if r["status"] == "ok"]
    columns = ["suite", "label", "config_hash", "seed", "device_type", "device_name", "status", "reason",
               *KINDS, "config"]
    frame = lambda records, extra=(): pd.DataFrame(records, columns=[*columns, *extra])  # noqa: E731
    return Results(
        ok=frame(ok, [*(m.key for m in METRICS), "at_chance", "contended"]),
        failed=frame([r for r in current if r["status"] == "failed"]),
        skipped=frame([r for r in current if r["status"] == "skipped"]),
        stale=stale,
        machines=[r["environment"]["machine"] for r in current
                  if r["status"] == "ok" and "machine" in (r.get("environment") or {})],
        rows=current,
    )


def timing_contended(metrics: dict[str, Any]) -> bool:
    """Whether a row's timings were taken while the machine was busy (its
    ``contention`` record; rows from before it was recorded count as quiet)."""
    return bool((metrics.get("contention") or {}).get("contended"))


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


def aggregate(ok: pd.DataFrame, by: Sequence[str], include_contended: bool = False) -> pd.DataFrame:
    """Mean, std and seed count (``<key>_n``: rows that have it) of every
    metric per group, and ``n``, the rows of the group; per config within a
    group where its names cover several (column ``setup``). Timings taken on
    a busy machine are left out of their means unless ``include_contended``
    (``contended``: such rows per group; ``contended_left_out``: how many of
    them the timing means leave out)."""
    keys = [m.key for m in METRICS]
    numeric = ok[list(by) + keys].copy()
    numeric[keys] = numeric[keys].apply(pd.to_numeric, errors="coerce")
    contended = ok["contended"].fillna(False).astype(bool)
    if not include_contended:
        numeric.loc[contended, [m.key for m in METRICS if m.is_timing]] = float("nan")
    numeric["setup"] = setups(ok)
    numeric["at_chance"] = ok["at_chance"].astype(int)
    numeric["contended"] = contended.astype(int)
    grouped = numeric.groupby([*by, "setup"], sort=False, dropna=False)
    table = grouped[keys].agg(["mean", "std", "count"])
    table.columns = [f"{key}_{'n' if stat == 'count' else stat}" for key, stat in table.columns]
    table["n"] = grouped.size()
    #: runs whose accuracy was no better than chance (snnbench.running.metrics.is_at_chance)
    table["at_chance"] = grouped["at_chance"].sum()
    table["contended"] = grouped["contended"].sum()
    table["contended_left_out"] = 0 if include_contended else table["contended"]
    return table.reset_index()


def _mean_std(mean: float, std: float, fmt: Callable[[float], str]) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    text = fmt(mean)
    if std is not None and not (isinstance(std, float) and math.isnan(std)):
        text += f" ± {fmt(std)}"
    return text


def _shown(row: pd.Series, m: MetricSpec) -> str:
    """One cell of the table: mean ± std; for accuracy how many of the runs
    were at chance, so a model that learnt nothing cannot pass unseen; for a
    timing how many runs were timed on a busy machine."""
    text = _mean_std(row[f"{m.key}_mean"], row[f"{m.key}_std"], m.format)
    if m.key == "accuracy" and row["at_chance"]:
        text += f" (AT CHANCE: {int(row['at_chance'])} of {int(row['n'])})"
    if m.is_timing:
        text += contended_text(row)
    return text


def contended_text(row: pd.Series) -> str:
    """What a row's timing cell adds about runs timed on a busy machine."""
    busy, left_out = int(row["contended"]), int(row["contended_left_out"])
    if left_out:
        return f" (BUSY: {left_out} of {int(row['n'])} left out)"
    return f" (BUSY: {busy} of {int(row['n'])})" if busy else ""


def _repeats(table: pd.DataFrame, key: str, other: str) -> bool:
    """True when column ``key`` holds ``other``'s value (or nothing) in every row."""
    mine, theirs = table[f"{key}_mean"], table[f"{other}_mean"]
    return bool((mine.isna() | ((mine - theirs).abs() <= 1e-9)).all())


@dataclass(frozen=True)
class Gap:
    """How far a row's mean lies from a published value: ``mean - value``."""

    reference: Any  # snnbench.definition.suite.Reference
    mean: float

    @property
    def gap(self) -> float:
        return self.mean - self.reference.value

    def text(self, number: int) -> str:
        m = metric(self.reference.metric)
        return f"{m.title} {_signed(m.format(self.gap))} vs {m.format(self.reference.value)} [{number}]"


@dataclass
class Board:
    """A leaderboard table, decided once for every format.

    ``table`` is :func:`aggregate`'s, sorted best first on ``sort``, with a
    ``verdict`` column (the row's :class:`~snnbench.results.verdicts.Verdict`
    against the best; None: no value), ``vs_best`` (its kind) and a ``gaps``
    column (the :class:`Gap` of each reference the row's group matches)."""

    table: pd.DataFrame
    by: list[str]
    #: group columns holding one value in every row, stated once above the table
    constant: list[str]
    varying: list[str]
    metrics: list[MetricSpec]
    sort: MetricSpec
    alpha: float
    #: every reference that matched a row, numbered from 1 in this order
    references: list[Any]
    #: equivalence margins given on the command line, over the metrics' own
    margins: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)

    @property
    def can_tell(self) -> bool:
        """Whether any row was told apart from the best (equivalent or worse)."""
        return bool(self.table["vs_best"].isin([EQUIVALENT, WORSE]).any())

    @property
    def margin(self) -> dict[str, float]:
        """The equivalence margin of the sort metric."""
        return self.margins.get(self.sort.key, self.sort.equivalence_margin)

    @property
    def significance_note(self) -> str | None:
        """The sentences under the table that say what the marks mean."""
        return significance_note(self.table["verdict"].tolist(), self.sort, self.alpha, self.margins)

    def mark(self, row: pd.Series) -> str:
        """The row's "vs best" text."""
        verdict: Verdict | None = row["verdict"]
        return verdict.mark(self.sort) if verdict is not None else ""

    @property
    def caveats(self) -> list[str]:
        """What limits the table besides its seeds: runs timed on a busy
        machine, a table mostly at chance."""
        caveats = []
        left_out, busy = int(self.table["contended_left_out"].sum()), int(self.table["contended"].sum())
        if left_out:
            caveats.append(f"BUSY: {left_out} run(s) were timed while other processes used the machine; their "
                           "timings are left out of the means (--include-contended keeps them).")
        elif busy:
            caveats.append(f"BUSY: {busy} run(s) were timed while other processes used the machine; their "
                           "timings are in the means (--include-contended).")
        runs, stuck = int(self.table["n"].sum()), int(self.table["at_chance"].sum())
        warning = chance_warning([True] * stuck + [False] * (runs - stuck))
        return caveats + ([f"WARNING: {warning}."] if warning else [])

    @property
    def notes(self) -> list[str]:
        """Everything said under the table: the marks, the caveats, the references."""
        notes = [self.significance_note] if self.significance_note else []
        return notes + self.caveats + [f"[{i}] {ref.source}" for i, ref in enumerate(self.references, start=1)]

    def name(self, row: pd.Series) -> str:
        """The row's group as one string: its varying columns' values joined by '/'."""
        return "/".join(str(row[c]) for c in (self.varying or self.by))

    def group(self, row: pd.Series) -> dict[str, Any]:
        return {c: row[c] for c in self.by}


def _signed(text: str) -> str:
    return text if text.startswith("-") else f"+{text}"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def build_board(table: pd.DataFrame, by: Sequence[str], sort: str = "accuracy",
                metrics: Sequence[str] | None = None, references: Sequence[Any] = (),
                alpha: float = DEFAULT_ALPHA, margins: dict[str, dict[str, float]] | None = None) -> Board:
    """Decide the table: its order (best first on ``sort``), columns, marks and gaps.

    Group columns that hold one value for every row are stated once above
    the table instead of repeated on every line. A default column that only
    repeats another (an encoder's mean value when it emits 0/1 spikes) is
    left out; ``metrics`` shows it anyway. The ``setup`` column shows only
    where rows of one set of names have different configs. A reference matches a row when
    every component it names is a group column holding that name.
    """
    if table["setup"].ne("").any():
        by = [*by, "setup"]
    chosen = [metric(k) for k in (metrics or [m.key for m in METRICS if m.in_default_table])]
    sort_metric = metric(sort)
    table = table.sort_values(f"{sort_metric.key}_mean", ascending=not sort_metric.higher_is_better,
                              na_position="last", kind="stable").reset_index(drop=True)
    present = [m for m in chosen if table[f"{m.key}_mean"].notna().any()
               and not (metrics is None and m.repeats and _repeats(table, m.key, m.repeats))]
    constant = [c for c in by if table[c].nunique(dropna=False) == 1 and len(by) > 1]
    verdicts = versus_best(table, sort_metric, alpha, margins)
    table["verdict"] = pd.Series(verdicts, index=table.index, dtype=object)
    table["vs_best"] = [v.kind if v is not None else None for v in verdicts]
    matched: list[Any] = []
    gaps = []
    for _, row in table.iterrows():
        group = {c: row[c] for c in by}
        found = [Gap(ref, row[f"{ref.metric}_mean"]) for ref in references
                 if ref.matches(group) and not _missing(row[f"{ref.metric}_mean"])]
        matched += [g.reference for g in found if g.reference not in matched]
        gaps.append(found)
    table["gaps"] = gaps
    return Board(table, list(by), constant, [c for c in by if c not in constant], present, sort_metric, alpha,
                 matched, dict(margins or {}))


def render(table: pd.DataFrame, by: Sequence[str], sort: str = "accuracy", fmt: str = "table",
           metrics: Sequence[str] | None = None, references: Sequence[Any] = (),
           alpha: float = DEFAULT_ALPHA, margins: dict[str, dict[str, float]] | None = None,
           results: Results | None = None) -> str:
    """The aggregated table as text (``table``, ``md``) or ``csv``: see
    :func:`build_board` for what it shows; with ``results``, their failed and
    skipped cells below it (in CSV, as rows of their own ``status``)."""
    board = build_board(table, by, sort, metrics, references, alpha, margins)
    table, present = board.table, board.metrics
    if fmt == "csv":
        columns = [*by, *(f"{m.key}_{s}" for m in present for s in ("mean", "std")), "n", "at_chance",
                   "contended", "contended_left_out", "vs_best"]
        return _csv(table[columns].assign(status="ok"), results)
    marks = len(table) > 1
    gaps = bool(board.references)
    headers = [*board.varying, *(m.heading for m in present), "runs", *(["vs best"] if marks else []),
               *(["gap to reference"] if gaps else [])]
    body = [[*(row[c] for c in board.varying),
             *(_shown(row, m) for m in present),
             int(row["n"]),
             *([board.mark(row)] if marks else []),
             *(["; ".join(g.text(board.references.index(g.reference) + 1) for g in row["gaps"])] if gaps else [])]
            for _, row in table.iterrows()]
    text = tabulate(body, headers=headers, tablefmt="github" if fmt == "md" else "simple",
                    disable_numparse=True)
    if board.constant:
        shared = ", ".join(f"{c}: {table[c].iloc[0]}" for c in board.constant)
        text = (f"*{shared}*\n\n" if fmt == "md" else f"{shared}\n\n") + text
    if fmt == "md":  # the marks as a list under their heading line, each other note a paragraph
        text += "".join(f"\n\n{note}".replace("\n  ", "\n- ") for note in board.notes)
    else:
        text += "".join(f"\n\n{note}" if i == 0 else f"\n{note}" for i, note in enumerate(board.notes))
    listed = failures_text(results, fmt) if results is not None else ""
    return text + (f"\n\n{listed}" if listed else "")


def failure_records(results: Results) -> list[dict[str, Any]]:
    """The failed and skipped cells, one record each (``status``, ``suite``,
    ``label``, the component and device columns, ``seed``, ``reason``)."""
    columns = ["suite", "label", *GROUP_COLUMNS, "seed", "reason"]
    return [{"status": status, **{c: _number(row.get(c)) for c in columns}}
            for status, frame in (("failed", results.failed), ("skipped", results.skipped))
            for row in frame.to_dict("records")]


def failures_text(results: Results, fmt: str = "table") -> str:
    """The failed and skipped cells with their reasons, as lines (``table``)
    or a Markdown list (``md``); empty when there are none."""
    records = failure_records(results)
    if not records:
        return ""
    lines = []
    for record in records:
        seed = f" seed={record['seed']}" if record["status"] == "failed" else ""
        where = f"`{record['label']}`" if fmt == "md" else record["label"]
        lines.append(f"{'- ' if fmt == 'md' else ''}{record['status']}: {where}{seed}: {record['reason']}")
    counts = ", ".join(f"{n} {status}" for status in ("failed", "skipped")
                       if (n := sum(r["status"] == status for r in records)))
    heading = f"Cells without a result ({counts}):"
    return (f"**{heading}**\n\n" if fmt == "md" else f"{heading}\n") + "\n".join(lines)


#: the columns a CSV row of a failed or skipped cell adds to the table's
FAILURE_COLUMNS = ("status", "suite", "label", "seed", "reason")


def _csv(ok: pd.DataFrame, results: Results | None) -> str:
    """The table's rows (``status`` ok) and, after them, one row per failed
    or skipped cell with its suite, label, seed and reason."""
    ok = ok.astype({c: "Int64" for c in ("n", "at_chance", "contended", "contended_left_out") if c in ok})
    failures = pd.DataFrame(failure_records(results) if results is not None else [],
                            columns=[*FAILURE_COLUMNS, *GROUP_COLUMNS]).astype({"seed": "Int64"})
    columns = [*ok.columns, *(c for c in FAILURE_COLUMNS if c not in ok.columns)]
    frame = pd.concat([ok, failures], ignore_index=True) if not failures.empty else ok
    return frame.reindex(columns=columns).to_csv(index=False)


def render_failures_only(results: Results, by: Sequence[str], fmt: str, suites: Sequence[str]) -> str:
    """What the leaderboard prints (``table``, ``md``, ``csv``) when no cell
    has an ok result: that, and every failed and skipped cell."""
    if fmt == "csv":
        ok = pd.DataFrame(columns=[*by, "n", "at_chance", "contended", "contended_left_out", "vs_best", "status"])
        return _csv(ok, results)
    listed = failures_text(results, fmt)
    stale = f" ({results.stale} stale row(s) left out)" if results.stale else ""
    return (f"No successful results{' for suite ' + ', '.join(suites) if suites else ''} yet{stale}."
            + (f"\n\n{listed}" if listed else ""))


def compare_groups(board: Board, first: str, second: str) -> str:
    """``first - second`` on every shown metric with its 95% interval
    (Welch's t over seeds) and what it allows one to say (equivalent within
    the metric's margin, different, or cannot tell), for ``snnbench
    leaderboard --compare A B``."""
    rows = {board.name(row): row for _, row in board.table.iterrows()}
    picked = []
    for name in (first, second):
        if name not in rows:
            suggestion = did_you_mean(name, rows)
            raise SnnbenchError(f"--compare: no row {name!r} in the table; " + (
                f"did you mean {suggestion!r}?" if suggestion else f"rows: {', '.join(rows)}"))
        picked.append(rows[name])
    a, b = picked
    lines = [f"{first} - {second}:"]
    for m in board.metrics:
        mean_a, mean_b = a[f"{m.key}_mean"], b[f"{m.key}_mean"]
        if _missing(mean_a) or _missing(mean_b):
            continue
        n_a, n_b = int(a[f"{m.key}_n"]), int(b[f"{m.key}_n"])
        line = f"  {m.title}: {_signed(m.format(mean_a - mean_b))}"
        if n_a < 2 or n_b < 2:
            line += f"  (cannot tell: {n_a} and {n_b} seed(s); an interval needs two or more on each side)"
        else:
            d = welch(mean_b, b[f"{m.key}_std"], n_b, mean_a, a[f"{m.key}_std"], n_a, worse_sign=0)
            allowed, _ = margin(board.margins.get(m.key, m.equivalence_margin), mean_b)
            verdict = against(mean_b, b[f"{m.key}_std"], n_b, mean_a, a[f"{m.key}_std"], n_a, allowed, board.alpha)
            said = {EQUIVALENT: f"equivalent within ±{m.format(allowed)}", WORSE: "significantly different",
                    CANNOT_TELL: verdict.mark(m)}[verdict.kind]
            line += (f"  ({CONFIDENCE:.0%} interval {_signed(m.format(d.low))} to {_signed(m.format(d.high))}, "
                     f"p = {d.p_value:.3g}, {d.test}): {said}")
        lines.append(line)
    stuck = [f"{name} is AT CHANCE ({int(row['at_chance'])} of {int(row['n'])} runs): it learnt nothing, so no "
             "difference to it means anything" for name, row in ((first, a), (second, b)) if row["at_chance"]]
    return "\n".join(lines + stuck)


def provenance(results: Results) -> dict[str, Any]:
    """Where the ok rows come from: commits, library and plugin versions,
    devices and machines, each with the number of rows that say so, the
    metric versions current here and the stale rows left out."""
    def tally(values) -> dict[str, int]:
        counted: dict[str, int] = {}
        for value in values:
            counted[str(value)] = counted.get(str(value), 0) + 1
        return dict(sorted(counted.items()))

    ok = [r for r in results.rows if r["status"] == "ok"]
    environments = [r.get("environment") or {} for r in ok]
    libraries = sorted({name for e in environments for name in (e.get("libraries") or {})})
    plugins = sorted({name for e in environments for name in (e.get("plugin_versions") or {})})
    return {
        "rows": len(ok),
        "commits": tally(e.get("git_commit", "not recorded") for e in environments),
        "devices": tally(f"{r['device_type']}: {r.get('device_name') or '?'}" for r in ok),
        "libraries": {name: tally((e.get("libraries") or {}).get(name, "not recorded") for e in environments)
                      for name in libraries},
        "plugins": {name: tally((e.get("plugin_versions") or {}).get(name, "not recorded")
                                for e in environments) for name in plugins},
        "metric_versions": dict(METRIC_VERSIONS),
        "stale_rows": results.stale,
    }


def _number(value: Any) -> float | int | None:
    return None if _missing(value) else value.item() if hasattr(value, "item") else value


def board_json(board: Board | None, results: Results, suites: Sequence[str]) -> dict[str, Any]:
    """The table as the JSON other tools read (schema :data:`JSON_SCHEMA`,
    docs/verdicts.md): NaN and missing values are null. ``board`` is None
    when no cell has an ok result; the failed and skipped cells are listed
    either way."""
    document: dict[str, Any] = {"schema": JSON_SCHEMA, "snnbench_version": __version__, "suites": list(suites)}
    if board is not None:
        document |= {
            "group_by": board.by,
            "sort": board.sort.key,
            "significance": {"test": "tost-welch", "alpha": board.alpha, "margin": board.margin,
                             "can_tell": board.can_tell, "note": board.significance_note},
            "caveats": board.caveats,
            "metrics": [{"key": m.key, "title": m.title, "higher_is_better": m.higher_is_better,
                         "family": m.family, "version": metric_version(m.family),
                         "timing": m.is_timing} for m in board.metrics],
        }
    document["rows"] = [] if board is None else [
        {"group": {c: row[c] for c in board.by}, "runs": int(row["n"]),
         "metrics": {m.key: {"mean": _number(row[f"{m.key}_mean"]), "std": _number(row[f"{m.key}_std"]),
                             "n": int(row[f"{m.key}_n"])} for m in board.metrics},
         "at_chance": int(row["at_chance"]),
         "contended": int(row["contended"]), "contended_left_out": int(row["contended_left_out"]),
         "vs_best": row["vs_best"],
         "verdict": row["verdict"].to_json() if row["verdict"] is not None else None,
         "references": [{"metric": g.reference.metric, "value": g.reference.value, "gap": g.gap,
                         "source": g.reference.source} for g in row["gaps"]]}
        for _, row in board.table.iterrows()]
    records = failure_records(results)
    document["failed"] = [{k: r[k] for k in ("suite", "label", "seed", "reason")}
                          for r in records if r["status"] == "failed"]
    document["skipped"] = [{k: r[k] for k in ("suite", "label", "reason")} for r in records if r["status"] == "skipped"]
    document["provenance"] = provenance(results)
    return document
