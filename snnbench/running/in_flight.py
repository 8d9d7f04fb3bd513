"""``snnbench status``: a store's unfinished cells, held by a live run now or
saved mid-training by a run that stopped.

A cell of a full reproduction trains for hours and outlives its sitting
(:mod:`snnbench.running.checkpoints`). Between sittings, and while runs go
on in the background, the question is what is in flight and how far it
got; the answer is in the store's claims (:mod:`snnbench.running.leases`)
and its checkpoint folder, which this module reads and reads only.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from tabulate import tabulate

from snnbench.api.errors import SnnbenchError
from snnbench.results.store import ResultStore
from snnbench.running.checkpoints import checkpoint_folder, format_problem, read_checkpoint
from snnbench.running.leases import CellKey, live_claims
from snnbench.running.progress import duration


@dataclass(frozen=True)
class UnfinishedCell:
    key: CellKey
    #: the cell's label; None for a claimed cell with no epoch saved yet (claims name the config hash only)
    label: str | None
    #: who trains it now ("pid 123 on host-a"); None: nobody, it waits to be resumed
    running: str | None
    epochs_done: int = 0
    epochs: int | None = None
    trained_seconds: float = 0.0
    saved_at: datetime.datetime | None = None
    #: the last saved epoch's training loss and accuracy
    last_loss: float | None = None
    last_train_accuracy: float | None = None
    #: why the checkpoint cannot be read or resumed from, if it cannot
    problem: str | None = None

    @property
    def seconds_left(self) -> float | None:
        """The saved epochs' mean duration times the epochs still to train."""
        if not self.epochs_done or self.epochs is None or self.trained_seconds <= 0:
            return None
        return self.trained_seconds / self.epochs_done * (self.epochs - self.epochs_done)


def _from_checkpoint(path: Path, running: dict[CellKey, str]) -> UnfinishedCell:
    saved_at = datetime.datetime.fromtimestamp(path.stat().st_mtime)
    try:
        state = read_checkpoint(path)
        problem = format_problem(state)
        if problem is not None:
            problem = f"cannot resume from checkpoint {path}: {problem}; its cell will train from the first epoch"
    except SnnbenchError as error:
        problem = str(error)
    if problem is not None:
        return UnfinishedCell(CellKey(path.stem, "?", -1, "?"), None, None, saved_at=saved_at, problem=problem)
    cell = state["cell"]
    key = CellKey(cell["suite"], cell["config_hash"], cell["seed"], cell["device_type"])
    last = state["history"][-1] if state["history"] else {}
    return UnfinishedCell(key, cell["label"], running.get(key), state["epochs_done"], state["epochs"],
                          state["timing"]["total_seconds"], saved_at, last.get("loss"), last.get("train_accuracy"))


def unfinished_cells(store: ResultStore) -> list[UnfinishedCell]:
    """Every cell of ``store`` that a live run holds or that a checkpoint keeps,
    by suite, label and seed."""
    running = live_claims(store)
    folder = checkpoint_folder(store.path)
    saved = [_from_checkpoint(path, running) for path in sorted(folder.glob("*.pt"))] if folder.is_dir() else []
    known = {cell.key for cell in saved}
    fresh = [UnfinishedCell(key, None, holder) for key, holder in running.items() if key not in known]
    return sorted(saved + fresh, key=lambda c: (c.key.suite, c.label or "", c.key.seed))


def named(cells: list[UnfinishedCell], suite_labels: Callable[[str], dict[str, str]]) -> list[UnfinishedCell]:
    """``cells`` with those no checkpoint names (claims hold a config hash
    only) labelled from their suite's definition: ``suite_labels(suite)``
    maps its cells' config hashes to labels, and is empty where the suite
    cannot be read here. A run with ``--limit`` or ``--epochs`` trains other
    configs than its suite's, which stay unnamed."""
    labels = {suite: suite_labels(suite) for suite in {cell.key.suite for cell in cells if cell.label is None}}
    return [cell if cell.label is not None else replace(cell, label=labels[cell.key.suite].get(cell.key.config_hash))
            for cell in cells]


def render(cells: list[UnfinishedCell], store_path: Path) -> str:
    """The cells as a table, with what resumes the stopped ones."""
    if not cells:
        return f"{store_path}: no cell in flight (nothing running, no checkpoint)"
    rows, problems = [], []
    for cell in cells:
        if cell.problem:
            problems.append(cell.problem)
            continue
        last = ("–" if cell.last_train_accuracy is None else
                (f"loss {cell.last_loss:.4f}, " if cell.last_loss is not None else "")
                + f"train {cell.last_train_accuracy:.2%}")
        left = cell.seconds_left
        rows.append([f"running ({cell.running})" if cell.running else "stopped", cell.key.suite,
                     cell.label or f"config {cell.key.config_hash[:12]}", cell.key.seed,
                     cell.key.device_type,
                     f"{cell.epochs_done}/{cell.epochs}" if cell.epochs is not None else "0",
                     duration(cell.trained_seconds) if cell.trained_seconds else "–",
                     duration(left) if left is not None else "–", last,
                     cell.saved_at.strftime("%Y-%m-%d %H:%M") if cell.saved_at else "–"])
    text = [f"{store_path}: {len(cells)} cell(s) in flight"]
    if rows:
        text.append(tabulate(rows, headers=["state", "suite", "cell", "seed", "device", "epochs saved",
                                            "trained", "left (est.)", "last epoch", "saved"],
                             disable_numparse=True))
    text += problems
    stopped = sorted({cell.key.suite for cell in cells if not cell.running and not cell.problem})
    if stopped:
        text.append("a stopped cell resumes from its last saved epoch when a run of its suite on this store "
                    "reaches it: " + "; ".join(f"snnbench run {suite} --db {store_path}" for suite in stopped)
                    + " (--only and --seeds keep a run to these cells)")
    return "\n".join(text)
