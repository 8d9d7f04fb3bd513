"""Executors: where a runner's cells run.

The runner turns a suite into cells and rows into the store; an executor only
maps cells to rows. Each cell goes through :func:`snnbench.running.runner.run_cell`,
which touches no store and returns the cell's row even when the cell fails,
so an executor can run cells anywhere (this process, other processes,
another machine) and hand rows back in any order: the runner records each as
it arrives, one transaction a row, in the one process that writes the store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from snnbench.definition.suite import Cell
from snnbench.results.store import ResultRow

#: ``run_cell`` bound to everything but the cell: ``cell -> row``
CellFunction = Callable[[Cell], ResultRow]


class Executor(Protocol):
    """Runs cells and yields their rows as they finish."""

    def map(self, run: CellFunction, cells: Iterable[Cell]) -> Iterator[ResultRow]: ...


class InProcess:
    """One cell after another in this process: the default, and what every
    other executor's rows must equal on one machine."""

    def map(self, run: CellFunction, cells: Iterable[Cell]) -> Iterator[ResultRow]:
        for cell in cells:
            yield run(cell)
