"""Whether a run's datasets can load here, asked before the first cell trains.

A dataset whose files are missing fails every cell that uses it, with the
same error, after the cells before it have trained; a suite of eight cells
on absent MNIST reported eight failures. Each dataset spec can say what it
needs without reading any data (:attr:`snnbench.api.DatasetSpec.requires`),
so a run asks every dataset of its cells first and refuses with one message
that says which files go where.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from snnbench.api.contracts import LoadContext
from snnbench.api.errors import DataUnavailableError
from snnbench.api.records import Suite
from snnbench.definition.registry import Registries


def check_datasets(suites: Iterable[Suite], registries: Registries, data_dir: Path, download: bool) -> None:
    """Raise :class:`DataUnavailableError` naming every dataset of the suites'
    cells that cannot load from ``data_dir`` (with downloading as ``download``
    allows), and how many cells need it; return when all can."""
    context = LoadContext(data_dir, download)
    asked: dict[tuple, str | None] = {}
    needed_by: dict[str, int] = {}
    for suite in suites:
        for cell in suite.cells:
            choice = cell.dataset
            key = (choice.component, choice.params)
            if key not in asked:
                requires = registries["dataset"].get(choice.component).spec.requires
                asked[key] = requires(choice.params, context) if requires is not None else None
            if asked[key] is not None:
                needed_by[asked[key]] = needed_by.get(asked[key], 0) + 1
    if not needed_by:
        return
    lines = [f"  {problem} ({count} cell{'s' if count != 1 else ''} need{'s' if count == 1 else ''} it)"
             for problem, count in needed_by.items()]
    raise DataUnavailableError(f"{len(needed_by)} dataset(s) cannot load from {data_dir}, so no cell was run:\n"
                               + "\n".join(lines))
