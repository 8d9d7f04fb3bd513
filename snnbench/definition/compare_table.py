"""The ``[compare]`` table of a suite: the tolerances ``snnbench compare``
judges this suite's metrics with, kept with the workload they suit.

    [compare]
    tolerance.train_samples_per_s = 0.05      # a number: the metric's own kind (here relative)
    tolerance.accuracy = "abs:0.005"          # or say the kind: "abs:X" or "rel:X"
    tolerance.synops_mac = "rel:0.01"         # a metric compare does not gate by default

A bare number takes the kind of the metric's default compare tolerance
(``abs`` for accuracy, sparsity and encoder density, ``rel`` for the
others). Precedence: compare's defaults, then this table, then
``--tolerance`` on the command line. Validated with the rest of the file
(``snnbench validate``, ``run``): an unknown key or metric names the line and
the nearest valid name.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from snnbench.api.errors import SnnbenchError, SuiteError, did_you_mean
from snnbench.definition.metric_specs import METRIC_BY_KEY, metric

COMPARE_KEYS = {
    "tolerance": "tolerance.<metric> = X (the metric's default kind) or \"abs:X\" / \"rel:X\": how much worse "
                 "`snnbench compare` lets the metric get before it is a regression",
}


class _Source(Protocol):
    def error(self, message: str, table: str | None, key: str | None = None, value: object = None,
              hint: str | None = None) -> SuiteError: ...


def compare_tolerances(data: dict[str, Any], source: _Source) -> dict[str, dict[str, float]]:
    """The ``[compare]`` table's tolerances by metric, validated."""
    table = data.get("compare", {})
    if not isinstance(table, dict):
        raise source.error("must be a table", None, "compare", table)
    for key in table:
        if key not in COMPARE_KEYS:
            suggestion = did_you_mean(key, COMPARE_KEYS)
            raise source.error("unknown key", "compare", key, table[key], f"did you mean {suggestion!r}?"
                               if suggestion else f"valid keys: {', '.join(COMPARE_KEYS)}")
    tolerances = table.get("tolerance", {})
    if not isinstance(tolerances, dict):
        raise source.error("must be a table of metric = tolerance", "compare", "tolerance", tolerances)
    return {key: _tolerance(key, value, source) for key, value in tolerances.items()}


def _tolerance(key: str, value: object, source: _Source) -> dict[str, float]:
    where = f"tolerance.{key}"
    try:
        measured = metric(key)
    except SnnbenchError:
        suggestion = did_you_mean(key, METRIC_BY_KEY)
        raise source.error("unknown metric", "compare", where, value, f"did you mean {suggestion!r}?"
                           if suggestion else f"choose from {', '.join(METRIC_BY_KEY)}") from None
    if isinstance(value, int | float) and not isinstance(value, bool):
        kind, number = next(iter(measured.compare_tolerance or {"rel": 0.0})), float(value)
    elif isinstance(value, str) and value.partition(":")[0] in ("abs", "rel"):
        kind, _, text = value.partition(":")
        try:
            number = float(text)
        except ValueError:
            number = math.nan
    else:
        raise source.error("must be a number, or \"abs:X\" or \"rel:X\"", "compare", where, value)
    if not math.isfinite(number) or number < 0 or (kind == "rel" and number >= 1):
        raise source.error("must be a tolerance >= 0 (a relative one below 1)", "compare", where, value)
    return {kind: number}
