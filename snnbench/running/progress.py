"""Progress bars: one for the suite (cells), one for the cell in flight
(samples of the current epoch, with the loss and training accuracy so far).

Bars draw only on a terminal; the one-line result of each cell is always
printed, so logs of CI runs stay readable. In such a log (bars off because
the output is no terminal, not because ``--no-progress`` asked) an epoch that
took a minute or more gets its own line too: a cell of a full reproduction
trains for hours, and a log silent that long cannot be told from a hung job.
"""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


#: an epoch this long (seconds) gets a line of its own in a log (module docstring)
LOGGED_EPOCH_SECONDS = 60.0


def duration(seconds: float) -> str:
    """``42 s``, ``31 min 12 s``, ``5 h 03 min``."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


class CellProgress:
    def __init__(self, label: str, samples_per_epoch: int, enabled: bool | None):
        self.label = label
        self.samples_per_epoch = samples_per_epoch
        self.bar = tqdm(total=samples_per_epoch, desc=label, unit="sample", leave=False,
                        disable=not enabled if enabled is not None else None, position=1, dynamic_ncols=True)
        #: bars are off for want of a terminal, not by request: long epochs are logged
        self.logs_epochs = enabled is None and self.bar.disable
        self.heading = label
        #: epochs of the current loop after the one in progress
        self.epochs_after = 0
        #: the stage in progress (None for a rule without stages)
        self.stage: str | None = None
        #: wall seconds of each epoch of that stage this process trained: what
        #: the time left is estimated from, since a layer's STDP epoch and the
        #: readout's can differ by orders of magnitude (a resumed cell's earlier
        #: epochs are not here)
        self.stage_epoch_seconds: list[float] = []

    @property
    def visible(self) -> bool:
        return not self.bar.disable

    def start_epoch(self, epoch: int, epochs: int, stage: str | None = None) -> None:
        self.bar.reset(total=self.samples_per_epoch)
        if stage != self.stage:
            self.stage, self.stage_epoch_seconds = stage, []
        self.heading = f"{self.label} {stage + ' ' if stage else ''}epoch {epoch + 1}/{epochs}"
        self.epochs_after = epochs - epoch - 1
        self.bar.set_description(self.heading)

    def advance(self, samples: int) -> None:
        self.bar.update(samples)

    def show_running(self, loss: float | None, train_accuracy: float) -> None:
        """Loss (None for a rule that has none) and training accuracy so far in this epoch."""
        shown = {"loss": f"{loss:.4f}"} if loss is not None else {}
        self.bar.set_postfix(**shown, train_acc=f"{train_accuracy:.2%}", refresh=False)

    def end_epoch(self, loss: float | None, train_accuracy: float, seconds: float) -> None:
        self.show_running(loss, train_accuracy)
        self.bar.refresh()
        self.stage_epoch_seconds.append(seconds)
        if self.logs_epochs and seconds >= LOGGED_EPOCH_SECONDS:
            shown = f"loss {loss:.4f}, " if loss is not None else ""
            mean = sum(self.stage_epoch_seconds) / len(self.stage_epoch_seconds)
            where = " in this stage" if self.stage else ""
            left = f"; about {duration(mean * self.epochs_after)} left{where}" if self.epochs_after else ""
            self.note(f"{self.heading}: {shown}train accuracy {train_accuracy:.2%} ({duration(seconds)}{left})")

    def note(self, line: str) -> None:
        """Print a line above the bars."""
        self.bar.write(line, file=sys.stdout)

    def close(self) -> None:
        self.bar.close()


class SuiteProgress:
    """The suite's bar: cells finished of all, and beside it how many failed
    and, with an executor that runs several at once, how many are running."""

    def __init__(self, name: str, cells: int, enabled: bool | None = None):
        self.enabled = enabled
        self.bar = tqdm(total=cells, desc=f"suite {name}", unit="cell",
                        disable=not enabled if enabled is not None else None, position=0, dynamic_ncols=True)
        self.failed = 0
        self.in_flight: int | None = None

    def cell(self, label: str, samples_per_epoch: int) -> CellProgress:
        return CellProgress(label, samples_per_epoch, self.enabled)

    def finished(self, line: str, failed: bool = False) -> None:
        """Print a cell's outcome above the bars (or plainly without a terminal)."""
        self.note(line)
        self.failed += failed
        self._show_counts()
        self.bar.update(1)

    def running(self, cells: int) -> None:
        """How many cells are running now."""
        self.in_flight = cells
        self._show_counts()

    def _show_counts(self) -> None:
        counts = ([f"{self.in_flight} running"] if self.in_flight is not None else []) + (
            [f"{self.failed} failed"] if self.failed else [])
        self.bar.set_postfix_str(", ".join(counts), refresh=False)

    def note(self, line: str) -> None:
        """Print a line above the bars without counting a cell."""
        self.bar.write(line, file=sys.stdout)

    def close(self) -> None:
        self.bar.close()
