"""``snnbench check``: a statistical pass/fail gate against a committed baseline.

A baseline holds, per cell and metric, the mean, standard deviation and
number of seeds it was made from, the machine(s) it was made on, a
tolerance per metric and the significance level ``alpha``. A metric
regresses only when both hold:

- the current mean is worse than the baseline's by more than the tolerance
  (absolute for fractions, relative for rates), and
- the difference is significant given both spreads: Welch's t-test,
  one-sided towards "worse" (two-sided for metrics that fail on any change,
  such as an encoder's output density).

So a baseline made on an AVX2 machine does not fail a run on an AVX-512 one
because other rounding sent training along another trajectory: that is seed
noise, and the test sees it as such. Timings are machine facts, not seed
noise; they are judged only when the current results come from the machine
the baseline was made on, and reported as not judged otherwise. Timings
taken while other processes used the machine (:mod:`snnbench.running.contention`)
are left out on both sides, as the leaderboard leaves them out; a cell whose
every timing was taken so has its timings not judged, never failed: the
neighbour's load is not the code's regression. Improvements never fail; a
baseline cell with no current result fails, since a gate that passes on
nothing is no gate.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tabulate import tabulate

from snnbench.api.errors import SnnbenchError
from snnbench.definition.metric_specs import METRIC_BY_KEY, METRICS, margin, metric
from snnbench.results.leaderboard import aggregate
from snnbench.results.statistics import Difference, welch

BASELINE_FORMAT = 2
DEFAULT_ALPHA = 0.05
CELL_KEYS = ("suite", "label", "config_hash", "device_type")
#: why a cell's timing has no verdict when every run of it was timed beside other jobs
NOT_JUDGED_BUSY = "every run was timed while other processes used the machine (rerun it on a quiet one)"
#: what identifies a machine for timings (see :func:`snnbench.runtime.machine`)
MACHINE_KEYS = ("cpu", "isa", "threads", "gpu", "torch", "cuda")

#: Defaults written into new baselines (each metric's record says its own); each
#: baseline file may change them.
DEFAULT_TOLERANCES: dict[str, dict[str, float]] = {m.key: m.gate_tolerance for m in METRICS if m.gate_tolerance}


@dataclass(frozen=True)
class Summary:
    """One metric of one cell over seeds."""

    mean: float
    std: float | None
    n: int

    def describe(self, fmt) -> str:
        spread = "" if self.std is None or math.isnan(self.std) else f" ± {fmt(self.std)}"
        return f"{fmt(self.mean)}{spread} (n={self.n})"


@dataclass(frozen=True)
class Finding:
    label: str
    metric: str
    baseline: Summary | None
    current: Summary | None
    allowed: str
    regressed: bool
    difference: Difference | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.regressed:
            return "REGRESSED"
        return "not judged" if self.note.startswith("not judged") else "ok"


# -- writing --------------------------------------------------------------------


def _summaries(table_row: pd.Series, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    found = {}
    for key in keys:
        mean = table_row.get(f"{key}_mean")
        if mean is None or pd.isna(mean):
            continue
        count = int(table_row[f"{key}_n"])
        std = table_row.get(f"{key}_std")
        found[key] = {"mean": float(mean), "std": None if count < 2 or pd.isna(std) else float(std), "n": count}
    return found


def make_baseline(ok: pd.DataFrame, machines: Sequence[dict[str, Any]],
                  tolerances: dict[str, dict[str, float]] | None = None,
                  alpha: float = DEFAULT_ALPHA) -> dict[str, Any]:
    """A baseline of every ok cell in ``ok`` (seeds pooled, from however
    many stores and machines they came)."""
    tolerances = tolerances or DEFAULT_TOLERANCES
    table = aggregate(ok, list(CELL_KEYS))
    entries = [{**{key: row[key] for key in CELL_KEYS}, "metrics": _summaries(row, tolerances)}
               for _, row in table.iterrows()]
    return {"snnbench_baseline": BASELINE_FORMAT, "alpha": alpha, "tolerances": tolerances,
            "machines": unique_machines(machines), "entries": entries}


def unique_machines(machines: Iterable[dict[str, Any] | None]) -> list[dict[str, Any]]:
    """Distinct machines (by :data:`MACHINE_KEYS`), in first-seen order."""
    seen: dict[tuple, dict[str, Any]] = {}
    for found in machines:
        if found:
            seen.setdefault(tuple(found.get(k) for k in MACHINE_KEYS), {k: found.get(k) for k in MACHINE_KEYS})
    return list(seen.values())


# -- reading --------------------------------------------------------------------


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def load_baseline(path: Path) -> dict[str, Any]:
    """The baseline in ``path``, every field checked: a value a gate cannot
    judge (NaN, a string, null, an unknown metric, no entries) is an error
    naming the file and the key, never a silent pass."""
    try:
        data = json.loads(path.read_text())
    except OSError as error:
        raise SnnbenchError(f"cannot read baseline {path}: {error.strerror or error}") from None
    except ValueError as error:  # JSONDecodeError, and UnicodeDecodeError for bytes that are not text
        raise SnnbenchError(f"{path}: not valid JSON: {error}") from None
    if not isinstance(data, dict) or "snnbench_baseline" not in data:
        raise SnnbenchError(f"{path}: not an snnbench baseline (expected \"snnbench_baseline\": {BASELINE_FORMAT})")
    if data["snnbench_baseline"] != BASELINE_FORMAT:
        raise SnnbenchError(f"{path}: baseline format {data['snnbench_baseline']!r}, this snnbench reads format "
                            f"{BASELINE_FORMAT} (means, spreads and seed counts); regenerate it with "
                            f"snnbench check --write")
    alpha = data.get("alpha")
    if not _number(alpha) or not 0 < alpha < 1:
        raise SnnbenchError(f"{path}: alpha = {alpha!r}: give the significance level, a number in (0, 1)")
    tolerances = data.get("tolerances")
    if not isinstance(tolerances, dict) or not tolerances:
        raise SnnbenchError(f"{path}: tolerances must be an object of {{metric: {{\"abs\"|\"rel\": x}}}}")
    for key, tolerance in tolerances.items():
        _known_metric(path, f"tolerances.{key}", key)
        if (not isinstance(tolerance, dict) or len(tolerance) != 1 or set(tolerance) - {"abs", "rel"}
                or not all(_number(v) and v >= 0 for v in tolerance.values())):
            raise SnnbenchError(f"{path}: tolerances.{key} = {tolerance!r}: give {{\"abs\": x}} or {{\"rel\": x}}"
                                " with x a number >= 0")
    machines = data.get("machines")
    if not isinstance(machines, list) or not all(isinstance(m, dict) for m in machines):
        raise SnnbenchError(f"{path}: machines must be a list of objects (the machines the baseline was made on)")
    entries = data.get("entries")
    if not isinstance(entries, list) or not entries:
        raise SnnbenchError(f"{path}: entries must be a non-empty list: a baseline of no cells would pass "
                            "anything")
    for index, entry in enumerate(entries):
        _check_entry(path, index, entry, tolerances)
    return data


def _known_metric(path: Path, where: str, key: str) -> None:
    try:
        metric(key)
    except SnnbenchError as error:
        raise SnnbenchError(f"{path}: {where}: {error}") from None


def _check_entry(path: Path, index: int, entry: Any, tolerances: dict[str, Any]) -> None:
    where = f"entries[{index}]"
    missing = [k for k in (*CELL_KEYS, "metrics") if not isinstance(entry, dict) or k not in entry]
    if missing:
        raise SnnbenchError(f"{path}: {where} lacks {', '.join(missing)}")
    for key in CELL_KEYS:
        if not isinstance(entry[key], str):
            raise SnnbenchError(f"{path}: {where}.{key} = {entry[key]!r}: must be a string")
    metrics = entry["metrics"]
    if not isinstance(metrics, dict) or not metrics:
        raise SnnbenchError(f"{path}: {where}.metrics must be a non-empty object of {{metric: summary}}")
    for key, summary in metrics.items():
        here = f"{where}.metrics.{key}"
        _known_metric(path, here, key)
        if key not in tolerances:
            raise SnnbenchError(f"{path}: {here} has no tolerance: add tolerances.{key}, or drop the metric")
        if not isinstance(summary, dict) or set(summary) != {"mean", "std", "n"}:
            raise SnnbenchError(f"{path}: {here} = {summary!r}: give {{\"mean\": x, \"std\": s or null, \"n\": k}}")
        if not _number(summary["mean"]):
            raise SnnbenchError(f"{path}: {here}.mean = {summary['mean']!r}: must be a finite number")
        if summary["std"] is not None and not (_number(summary["std"]) and summary["std"] >= 0):
            raise SnnbenchError(f"{path}: {here}.std = {summary['std']!r}: must be a finite number >= 0, or null")
        if not (isinstance(summary["n"], int) and not isinstance(summary["n"], bool) and summary["n"] >= 1):
            raise SnnbenchError(f"{path}: {here}.n = {summary['n']!r}: must be a whole number of seeds >= 1")


# -- judging --------------------------------------------------------------------


def machine_differences(baseline: Sequence[dict[str, Any]], current: Sequence[dict[str, Any]]) -> list[str]:
    """How the current results' machines differ from the baseline's ("isa:
    AVX2 -> AVX512"); empty when every current machine is a baseline machine."""
    if not baseline or not current:
        return ["the machine is unknown on one side (rows or baseline from an older snnbench)"]
    differences = []
    for found in current:
        if any(all(found.get(k) == known.get(k) for k in MACHINE_KEYS) for known in baseline):
            continue
        nearest = baseline[0]
        differences += [f"{k}: {nearest.get(k)} -> {found.get(k)}" for k in MACHINE_KEYS
                        if found.get(k) != nearest.get(k)]
    return differences


def compare(ok: pd.DataFrame, baseline: dict[str, Any], current_machines: Sequence[dict[str, Any]]) -> list[Finding]:
    current = aggregate(ok, list(CELL_KEYS)) if len(ok) else None
    same_machine = not machine_differences(baseline["machines"], current_machines)
    alpha, findings = baseline["alpha"], []
    for entry in baseline["entries"]:
        match = None
        if current is not None:
            rows = current[(current["config_hash"] == entry["config_hash"])
                           & (current["device_type"] == entry["device_type"])
                           & (current["suite"] == entry["suite"])]
            match = rows.iloc[0] if len(rows) else None
        now = {} if match is None else _summaries(match, entry["metrics"])
        busy = match is not None and int(match["contended_left_out"]) > 0
        for key, stored in entry["metrics"].items():
            base = Summary(stored["mean"], stored["std"], stored["n"])
            tolerance = baseline["tolerances"][key]
            findings.append(_judge(entry, key, base, now.get(key), tolerance, alpha, match is not None,
                                   same_machine, busy))
    return findings


def parse_tolerance(text: str, extra_keys: Sequence[str] = (),
                    flag: str = "--tolerance") -> tuple[str, dict[str, float]]:
    """``accuracy=abs:0.01`` or ``train_samples_per_s=rel:0.1`` (a command-line
    tolerance, or margin: ``flag``; ``extra_keys`` are timings that are no
    leaderboard metric)."""
    key, _, rest = text.partition("=")
    kind, _, value = rest.partition(":")
    if key not in extra_keys:
        metric(key)  # an unknown name raises, with a did-you-mean
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if kind not in ("abs", "rel") or not math.isfinite(number) or number < 0:
        raise SnnbenchError(f"{flag} {text!r}: write METRIC=abs:X or METRIC=rel:X with X a number >= 0")
    return key, {kind: number}


def _judge(entry: dict[str, Any], key: str, base: Summary, now: dict[str, Any] | None,
           tolerance: dict[str, float], alpha: float, has_result: bool, same_machine: bool,
           busy: bool) -> Finding:
    """One metric of one cell; ``busy``: some of the cell's current timings
    were left out, taken while the machine was busy."""
    m = metric(key)
    allowed_change, allowed = margin(tolerance, base.mean)
    label = entry["label"]
    if not has_result:
        return Finding(label, key, base, None, allowed, True, note=f"no current result on {entry['device_type']}")
    if now is None and m.is_timing and busy:
        return Finding(label, key, base, None, allowed, False,
                       note=f"not judged: {NOT_JUDGED_BUSY}")
    if now is None:
        return Finding(label, key, base, None, allowed, True, note="metric missing in current results")
    current = Summary(now["mean"], now["std"], now["n"])
    difference = welch(base.mean, base.std, base.n, current.mean, current.std, current.n, m.worse_sign)
    if m.is_timing and not same_machine:
        return Finding(label, key, base, current, allowed, False, difference,
                       "not judged: a timing, and these results come from another machine than the baseline")
    worse_by = m.worse_by(difference.difference)
    beyond = worse_by > allowed_change
    significant = difference.significant(alpha)
    regressed = beyond and significant
    direction = "changed" if m.worse_sign == 0 else ("worse" if worse_by > 0 else "better")
    why = (f"{direction} beyond tolerance and significant (p={difference.p_value:.3g} < {alpha:g})" if regressed
           else f"{direction} beyond tolerance, but not significant (p={difference.p_value:.3g} >= {alpha:g})"
           if beyond else f"{direction}, within tolerance")
    return Finding(label, key, base, current, allowed, regressed, difference, why)


def report(findings: Sequence[Finding], baseline: dict[str, Any], current_machines: Sequence[dict[str, Any]]) -> str:
    """The findings as a table, with the test behind each verdict, and what
    differs between the baseline's machine and this one."""
    rows = []
    for f in findings:
        fmt = METRIC_BY_KEY[f.metric].format
        d = f.difference
        rows.append([f.verdict, f.label, f.metric,
                     f.baseline.describe(fmt) if f.baseline else "–",
                     f.current.describe(fmt) if f.current else "–",
                     "–" if d is None else f"{d.difference:+.4g} [{d.low:+.4g}, {d.high:+.4g}]",
                     f.allowed, "–" if d is None else d.test, f.note])
    table = tabulate(rows, headers=["", "cell", "metric", "baseline", "current", "difference [95% CI]",
                                    "tolerance", "test", "verdict"], disable_numparse=True)
    differences = machine_differences(baseline["machines"], current_machines)
    machine_line = ("same machine as the baseline" if not differences else
                    "machine differs from the baseline's (" + "; ".join(differences)
                    + "): accuracy-like metrics are judged as seed noise, timings are not judged")
    return (f"{table}\n\nregression = worse by more than the tolerance and significant at alpha = "
            f"{baseline['alpha']:g} (one-sided Welch t; two-sided for metrics that fail on any change)\n"
            f"{machine_line}")
