"""Executors: where a runner's cells run.

The runner turns a suite into cells and rows into the store; an executor only
maps cells to rows. Each cell goes through :func:`snnbench.running.runner.run_cell`,
which touches no store and returns the cell's row even when the cell fails,
so an executor can run cells anywhere (this process, other processes,
another machine) and hand rows back in any order: the runner records each as
it arrives, one transaction a row, in the one process that writes the store.
:class:`InProcess` runs them here; :mod:`snnbench.running.ray_executor` on a
Ray cluster, where each worker builds its own plugins and datasets from the
run's :class:`WorkerSetup`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from snnbench.api.records import Cell, ResultRow

if TYPE_CHECKING:
    from snnbench.running.options import RunOptions
    from snnbench.running.progress import SuiteProgress

#: ``run_cell`` bound to everything but the cell: ``cell -> row``
CellFunction = Callable[[Cell], ResultRow]


@dataclass(frozen=True)
class WorkerSetup:
    """What another process needs to run this run's cells as this one would:
    the plugin modules to load besides the installed entry points, the
    variables that choose plugins (:data:`snnbench.definition.plugins.PLUGIN_VARIABLES`,
    None for unset), and the run's options (with the cells' device, an
    absolute data folder, no progress bars)."""

    plugin_modules: tuple[str, ...]
    plugin_environment: dict[str, str | None]
    options: RunOptions
    #: torch threads a worker uses for one cell
    threads: int = 1


@dataclass(frozen=True)
class CellWork:
    """A run's cells as an executor gets them to run."""

    #: a cell to its row in this process (this process's plugins, datasets, progress and hooks)
    run: CellFunction
    #: for executors whose workers build their own
    setup: WorkerSetup
    #: the failed row of a cell whose worker was lost, with the reason, made here
    failed: Callable[[Cell, str], ResultRow]
    #: the suite's bar, told how many cells are in flight
    progress: SuiteProgress | None = None


class Executor(Protocol):
    """Runs cells and yields their rows as they finish. It takes the next
    cell from ``cells`` only when it can start it, since taking it claims
    it in the store."""

    #: True when cells run through ``CellWork.run``, in this process, so the
    #: lifecycle hooks hear each epoch as it closes. False for cells run
    #: elsewhere: the hooks all run in this one process (where a run's
    #: reporters are), and the runner tells them a cell's epochs from its row
    #: when the row arrives, just before ``snnbench_cell_finished``.
    live_epochs: bool

    def map(self, work: CellWork, cells: Iterable[Cell]) -> Iterator[ResultRow]: ...


class InProcess:
    """One cell after another in this process: the default, and what every
    other executor's rows must equal on one machine."""

    live_epochs = True

    def map(self, work: CellWork, cells: Iterable[Cell]) -> Iterator[ResultRow]:
        for cell in cells:
            yield work.run(cell)
