"""TensorBoard: one run folder per cell, with scalars per epoch, the final
metrics, and the cell's config as hparams.

The folders are ``<log_dir>/<suite>/<time the suite started>/<dataset>/
<encoder>/<neuron>/<architecture>/<learning rule>/seed=<seed>``, so
``tensorboard --logdir runs`` lists every cell of every run, and a regex on
the run names picks a suite, a run or a component. Each holds
``train/loss``, ``train/accuracy`` and ``train/epoch_seconds`` at every
epoch (steps 0, 1, ... over all stages) and ``final/<metric>`` for the row's
metrics, which the HPARAMS tab shows beside the cell's config.
Written with :mod:`torch.utils.tensorboard`, which needs the ``tensorboard``
package, and only it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from snnbench.api import (
    OpenRuns,
    Reporter,
    ReporterSpec,
    cell_params,
    epoch_scalars,
    final_metrics,
    hookimpl,
    path_part,
    verdict_tags,
)


@dataclass(frozen=True)
class TensorBoardParams:
    log_dir: str = field(default="runs", metadata={
        "help": "folder of the event files, as `tensorboard --logdir` takes it (default runs/ in the "
                "working folder)"})


class TensorBoardReporter(Reporter):
    def __init__(self, params: TensorBoardParams):
        self.params = params
        self.root: Path | None = None
        self.writers = OpenRuns(self._writer)

    def suite_started(self, suite, environment) -> None:
        started = time.strftime("%Y%m%d-%H%M%S")
        base = Path(self.params.log_dir) / path_part(suite.name)
        self.root, again = base / started, 1
        while self.root.exists():  # a second run of the suite within the same second
            again += 1
            self.root = base / f"{started}-{again}"

    def cell_folder(self, cell) -> Path:
        return self.root.joinpath(*map(path_part, cell.label.split("/")), f"seed={cell.seed}")

    def _writer(self, cell):
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(log_dir=str(self.cell_folder(cell)))

    def epoch_closed(self, cell, stats) -> None:
        writer, step = self.writers.get(cell), self.writers.next_step(cell)
        for tag, value in epoch_scalars(stats).items():
            writer.add_scalar(tag, value, step)

    def cell_finished(self, cell, row) -> None:
        from torch.utils.tensorboard.summary import hparams

        writer = self.writers.pop(cell)
        try:
            metrics = {f"final/{key}": value for key, value in final_metrics(row).items()}
            for key, value in metrics.items():
                writer.add_scalar(key, value, 0)
            writer.add_text("status", row.status + (f": {row.reason}" if row.reason else ""), 0)
            # the hparams summaries go into the cell's own folder (SummaryWriter.add_hparams
            # would make a subfolder of its own), naming the final scalars as its metrics
            for summary in hparams(cell_params(cell) | {"status": row.status} | verdict_tags(row), metrics):
                writer.file_writer.add_summary(summary)
        finally:
            writer.close()

    def close(self) -> None:
        for writer in self.writers.drain():
            writer.close()


@hookimpl
def register_reporters(register):
    register(ReporterSpec("tensorboard", TensorBoardParams, TensorBoardReporter, requires=("tensorboard",),
                          install="snnbench[tensorboard]",
                          summary="TensorBoard: a run folder per cell (scalars per epoch, final metrics, hparams)"))
