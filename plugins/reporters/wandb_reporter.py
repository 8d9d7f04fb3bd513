"""Weights & Biases: a run per cell, grouped by the suite's run.

Offline by default: runs are written under ``<dir>/wandb/offline-run-*``
with no account and no network; ``wandb sync <dir>/wandb/offline-run-*``
uploads them later (``mode = "online"`` logs live, with ``wandb login``
done). Each run's config is the cell's (with the run's provenance under
``provenance``), its history holds ``train/loss``, ``train/accuracy`` and
``train/epoch_seconds`` at every epoch (step 0, 1, ... over all stages),
and its summary the row's final metrics and status.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from snnbench.api import (
    OpenRuns,
    Reporter,
    ReporterSpec,
    epoch_scalars,
    final_metrics,
    hookimpl,
    provenance,
    run_name,
    verdict_tags,
)


@dataclass(frozen=True)
class WandbParams:
    mode: Literal["offline", "online"] = field(default="offline", metadata={
        "help": "offline: files only, no account or network (upload later with `wandb sync`); online: "
                "log live (needs `wandb login`)"})
    project: str | None = field(default=None, metadata={"help": "W&B project (default: the suite's name)"})
    entity: str | None = field(default=None, metadata={"help": "W&B team or user (default: your default entity)"})
    dir: str | None = field(default=None, metadata={
        "help": "folder the wandb/ run folders go in (default: $WANDB_DIR, else the working folder)"})


class WandbReporter(Reporter):
    def __init__(self, params: WandbParams):
        self.params = params
        self.suite, self.group, self.environment = None, None, {}
        self.runs = OpenRuns(self._open_run)

    def suite_started(self, suite, environment) -> None:
        import wandb  # noqa: F401  (a missing or broken install is reported here, once)

        self.suite, self.environment = suite, environment
        self.group = f"{suite.name}-{time.strftime('%Y%m%d-%H%M%S')}"

    def _open_run(self, cell):
        import wandb

        return wandb.init(
            project=self.params.project or cell.suite, entity=self.params.entity, dir=self.params.dir,
            mode=self.params.mode, group=self.group, job_type="cell", name=run_name(cell),
            config=cell.config() | {"seed": cell.seed, "config_hash": cell.config_hash,
                                    "provenance": provenance(self.environment)},
            reinit="create_new",
            # no console capture (the progress bars stay the terminal's), no system-metrics sampler
            settings=wandb.Settings(console="off", silent=True, x_disable_stats=True))

    def epoch_closed(self, cell, stats) -> None:
        run, step = self.runs.get(cell), self.runs.next_step(cell)
        run.log(epoch_scalars(stats), step=step)

    def cell_finished(self, cell, row) -> None:
        run = self.runs.pop(cell)
        try:
            run.summary.update(final_metrics(row) | {"status": row.status}
                               | ({"reason": row.reason} if row.reason else {}))
            # tags a run list filters on: a model that learnt nothing, throughputs timed on a busy machine
            run.tags = (*(run.tags or ()), *(key for key, value in verdict_tags(row).items() if value == "true"))
        finally:
            run.finish(exit_code=0 if row.status == "ok" else 1)

    def close(self) -> None:
        for run in self.runs.drain():
            run.finish(exit_code=1)


@hookimpl
def register_reporters(register):
    register(ReporterSpec("wandb", WandbParams, WandbReporter, requires=("wandb",), install="snnbench[wandb]",
                          summary="Weights & Biases: a run per cell, offline by default (wandb sync uploads)"))
