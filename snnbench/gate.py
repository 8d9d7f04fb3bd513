"""``snnbench check``: a pass/fail gate against a committed baseline.

A baseline is a JSON file of per-cell means and the tolerance of each
metric: absolute for accuracy and sparsity (fractions), relative for
throughput. A metric regresses when it moves the wrong way by more than its
tolerance; improvements never fail. A baseline cell with no current result
fails too, since a gate that silently passes on nothing is no gate.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tabulate import tabulate

from snnbench.errors import SnnbenchError
from snnbench.leaderboard import aggregate, metric

BASELINE_FORMAT = 1

#: Defaults written into new baselines; each baseline file may change them.
DEFAULT_TOLERANCES: dict[str, dict[str, float]] = {
    "accuracy": {"abs": 0.02},
    "sparsity": {"abs": 0.05},
    "encoder_density": {"abs": 0.05},
    "train_samples_per_s": {"rel": 0.25},
    "infer_samples_per_s": {"rel": 0.25},
}


@dataclass
class Finding:
    label: str
    metric: str
    baseline: float | None
    current: float | None
    allowed: str
    regressed: bool
    note: str = ""


def make_baseline(ok: pd.DataFrame, tolerances: dict[str, dict[str, float]] | None = None) -> dict[str, Any]:
    tolerances = tolerances or DEFAULT_TOLERANCES
    table = aggregate(ok, ["suite", "label", "config_hash", "device_type"])
    entries = []
    for _, row in table.iterrows():
        values = {key: float(row[f"{key}_mean"]) for key in tolerances
                  if not pd.isna(row.get(f"{key}_mean"))}
        entries.append({"suite": row["suite"], "label": row["label"], "config_hash": row["config_hash"],
                        "device_type": row["device_type"], "seeds": int(row["n"]), "metrics": values})
    return {"snnbench_baseline": BASELINE_FORMAT, "tolerances": tolerances, "entries": entries}


def load_baseline(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except OSError as error:
        raise SnnbenchError(f"cannot read baseline {path}: {error.strerror or error}") from None
    except ValueError as error:  # JSONDecodeError, and UnicodeDecodeError for bytes that are not text
        raise SnnbenchError(f"{path}: not valid JSON: {error}") from None
    if not isinstance(data, dict) or data.get("snnbench_baseline") != BASELINE_FORMAT:
        raise SnnbenchError(f"{path}: not an snnbench baseline (expected \"snnbench_baseline\": {BASELINE_FORMAT})")
    tolerances = data.get("tolerances")
    if not isinstance(tolerances, dict):
        raise SnnbenchError(f"{path}: tolerances must be an object of {{metric: {{\"abs\"|\"rel\": x}}}}")
    for key, tolerance in tolerances.items():
        try:
            metric(key)
        except SnnbenchError as error:
            raise SnnbenchError(f"{path}: tolerances.{key}: {error}") from None
        if (not isinstance(tolerance, dict) or not tolerance or set(tolerance) - {"abs", "rel"}
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
                           for v in tolerance.values())):
            raise SnnbenchError(f"{path}: tolerances.{key} = {tolerance!r}: give {{\"abs\": x}} or {{\"rel\": x}}"
                                " with x a number >= 0")
    entries = data.get("entries")
    if not isinstance(entries, list):
        raise SnnbenchError(f"{path}: entries must be a list")
    for index, entry in enumerate(entries):
        missing = [k for k in ("suite", "label", "config_hash", "device_type", "metrics")
                   if not isinstance(entry, dict) or k not in entry]
        if missing or not isinstance(entry["metrics"], dict):
            raise SnnbenchError(f"{path}: entries[{index}] lacks {', '.join(missing) or 'a metrics object'}")
    return data


def compare(ok: pd.DataFrame, baseline: dict[str, Any]) -> list[Finding]:
    current = aggregate(ok, ["suite", "label", "config_hash", "device_type"]) if len(ok) else None
    findings = []
    for entry in baseline["entries"]:
        match = None
        if current is not None:
            rows = current[(current["config_hash"] == entry["config_hash"])
                           & (current["device_type"] == entry["device_type"])
                           & (current["suite"] == entry["suite"])]
            match = rows.iloc[0] if len(rows) else None
        for key, tolerance in baseline["tolerances"].items():
            if key not in entry["metrics"]:
                continue
            base = entry["metrics"][key]
            if match is None:
                findings.append(Finding(entry["label"], key, base, None, "", True,
                                        f"no current result on {entry['device_type']}"))
                continue
            findings.append(_judge(entry["label"], key, base, float(match[f"{key}_mean"]), tolerance))
    return findings


def _judge(label: str, key: str, base: float, now: float, tolerance: dict[str, float]) -> Finding:
    m = metric(key)
    if "abs" in tolerance:
        margin, allowed = tolerance["abs"], f"±{tolerance['abs']:g}"
    else:
        margin, allowed = abs(base) * tolerance["rel"], f"±{tolerance['rel']:.0%}"
    if math.isnan(now):
        return Finding(label, key, base, now, allowed, True, "metric missing in current results")
    worse_by = (base - now) if m.higher_is_better else (now - base)
    return Finding(label, key, base, now, allowed, worse_by > margin,
                   f"{'worse' if worse_by > 0 else 'better'} by {abs(now - base):.4g}"
                   + (f" ({abs(now - base) / abs(base):.1%})" if base else ""))


def report(findings: list[Finding]) -> str:
    rows = [[("REGRESSED" if f.regressed else "ok"), f.label, f.metric,
             "–" if f.baseline is None else f"{f.baseline:.4g}",
             "–" if f.current is None else f"{f.current:.4g}", f.allowed, f.note] for f in findings]
    return tabulate(rows, headers=["", "cell", "metric", "baseline", "current", "tolerance", ""],
                    disable_numparse=True)

