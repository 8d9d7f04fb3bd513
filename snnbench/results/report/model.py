"""What a report page shows, read from the store.

A suite page is the leaderboard's :class:`~snnbench.results.leaderboard.Board`
(grouped by every component and the device, as ``snnbench leaderboard``
groups by default) plus, for every row of it, the :class:`CellView` its
detail page draws: the seeds' rows, their means on the trade-off axes, the
per-layer sparsity and the recorded detail (:mod:`snnbench.running.cell_detail`).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from snnbench.results.leaderboard import (
    GROUP_COLUMNS,
    Board,
    Results,
    aggregate,
    build_board,
    latest_results,
    metric,
)

#: the trade-off plots: accuracy (y) against each of these (x)
TRADE_OFF_AXES = ("energy_est_j", "infer_energy_j", "sparsity", "synops_ac", "train_samples_per_s")
#: what a row written by an older snnbench may lack, and what it means
DETAIL_FIELDS = {
    "history": "per-epoch loss and accuracy",
    "confusion": "the confusion matrix",
    "samples": "test samples' spikes",
    "sparsity_per_layer": "per-layer sparsity",
}


@dataclass
class CellView:
    """One row of the suite's table and everything its detail page draws."""

    name: str
    #: the file name of its page, without .html
    slug: str
    group: dict[str, Any]
    #: the group's ok rows, one per seed (and per config, when a suite changed)
    rows: list[dict[str, Any]]
    #: mean, std and count of each metric, as in the table
    stats: dict[str, dict[str, float]]

    def mean_layer_sparsity(self) -> dict[str, float]:
        """Each layer's sparsity averaged over the seeds that recorded it."""
        per_layer: dict[str, list[float]] = {}
        for row in self.rows:
            for layer, value in (row["metrics"].get("sparsity_per_layer") or {}).items():
                per_layer.setdefault(layer, []).append(value)
        return {layer: sum(values) / len(values) for layer, values in per_layer.items()}

    def missing(self) -> list[str]:
        """What none of this cell's rows recorded (rows of an older snnbench)."""
        return [text for key, text in DETAIL_FIELDS.items()
                if not any(row["metrics"].get(key) for row in self.rows)]

    def detail_row(self) -> dict[str, Any] | None:
        """The row whose samples and spikes are drawn: the lowest seed that has them."""
        with_detail = [row for row in self.rows if row["metrics"].get("samples")]
        return min(with_detail, key=lambda r: (r["seed"] is None, r["seed"])) if with_detail else None


@dataclass
class SuiteView:
    name: str
    #: the file name of its page, without .html
    page: str
    results: Results
    board: Board | None
    cells: list[CellView] = field(default_factory=list)

    def fronts(self) -> dict[str, set[str]]:
        """For each trade-off axis, the names of the cells on the Pareto front."""
        fronts = {}
        for axis in TRADE_OFF_AXES:
            points = {c.name: (c.stats[axis]["mean"], c.stats["accuracy"]["mean"]) for c in self.cells
                      if _present(c.stats[axis]["mean"]) and _present(c.stats["accuracy"]["mean"])}
            fronts[axis] = pareto_front(points, x_higher_is_better=metric(axis).higher_is_better,
                                        y_higher_is_better=metric("accuracy").higher_is_better)
        return fronts


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def pareto_front(points: dict[str, tuple[float, float]], *, x_higher_is_better: bool,
                 y_higher_is_better: bool) -> set[str]:
    """The names of the points no other point dominates: none is at least as
    good on both axes and better on one."""
    sign_x = 1 if x_higher_is_better else -1
    sign_y = 1 if y_higher_is_better else -1
    oriented = {name: (sign_x * x, sign_y * y) for name, (x, y) in points.items()}
    front = set()
    for name, (x, y) in oriented.items():
        dominated = any(ox >= x and oy >= y and (ox > x or oy > y)
                        for other, (ox, oy) in oriented.items() if other != name)
        if not dominated:
            front.add(name)
    return front


class PageNames:
    """File names for the report's pages, each given out once.

    Names come from rows of a store, which may predate the checks on suite
    and variant names, or come from a plugin's component names: any text
    becomes letters, digits, '-', '_' and '.' (never first), at most
    :attr:`LIMIT` characters, so no name can leave the folder, hide a file
    or be too long to write. Two texts that come out alike (or alike but for
    case, which some file systems ignore) are told apart by a hash of the
    text, the same on every build of the report."""

    LIMIT = 100

    def __init__(self, reserved: Sequence[str] = ("index",)):
        self.taken = {name.lower() for name in reserved}

    def __call__(self, text: str) -> str:
        stem = re.sub(r"[^A-Za-z0-9.-]+", "_", text).lstrip("._-").rstrip("_") or "page"
        if len(stem) > self.LIMIT or stem.lower() in self.taken:
            stem = f"{stem[:self.LIMIT - 9]}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
        while stem.lower() in self.taken:  # the same hash for two texts: in theory only
            stem += "_"
        self.taken.add(stem.lower())
        return stem


def suite_view(name: str, rows: Sequence[dict[str, Any]], references: Sequence[Any] = (), *,
               page_names: PageNames) -> SuiteView:
    """The page of one suite from its rows (oldest first, as the store gives
    them); ``page_names`` gives its pages their file names."""
    results = latest_results(rows)
    page = page_names(f"suite-{name}")
    if results.ok.empty:
        return SuiteView(name, page, results, None)
    by = list(GROUP_COLUMNS)
    board = build_board(aggregate(results.ok, by), by, references=references)
    ok_rows = [r for r in results.rows if r["status"] == "ok"]
    cells = []
    for _, row in board.table.iterrows():
        group = board.group(row)
        file_name = page_names(f"{name}-" + "/".join(str(group[c]) for c in by))
        members = [r for r in ok_rows if all(r[c] == group[c] for c in by)]
        members.sort(key=lambda r: (r["seed"] is None, r["seed"]))
        stats = {key: {"mean": _plain(row[f"{key}_mean"]), "std": _plain(row[f"{key}_std"]),
                       "n": int(row[f"{key}_n"])}
                 for key in {c[:-5] for c in board.table.columns if c.endswith("_mean")}}
        cells.append(CellView(board.name(row), file_name, group, members, stats))
    return SuiteView(name, page, results, board, cells)


def _plain(value: Any) -> float | None:
    return None if not _present(value) else float(value)
