"""MLflow: a run per suite, and under it a run per cell.

The suite's run carries the provenance as tags (git commit, libraries,
machine) and, at the end, the counts of ok, failed, cached and skipped
cells. Each cell's run has the cell's config as params, ``train_loss``,
``train_accuracy`` and ``epoch_seconds`` at every epoch (step 0, 1, ...
over all stages), the row's final metrics, and its status (FAILED with the
reason as a tag for a failed cell). Runs are written through
:class:`mlflow.tracking.MlflowClient` to the ``tracking_uri`` given, so no
global MLflow state of the caller's is touched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from snnbench.api import (
    OpenRuns,
    Reporter,
    ReporterSpec,
    cell_params,
    epoch_values,
    final_metrics,
    hookimpl,
    provenance,
    run_name,
    verdict_tags,
)

#: MLflow's limit on a tag's value
TAG_LIMIT = 8000


@dataclass(frozen=True)
class MlflowParams:
    tracking_uri: str | None = field(default=None, metadata={
        "help": "where runs go: sqlite:///file.db, http://host:5000, databricks, ... (default: "
                "$MLFLOW_TRACKING_URI, else MLflow's own default, sqlite:///mlflow.db in the working folder)"})
    experiment: str | None = field(default=None, metadata={"help": "experiment name (default: the suite's name)"})


def _now_ms() -> int:
    return int(time.time() * 1000)


class MlflowReporter(Reporter):
    def __init__(self, params: MlflowParams):
        self.params = params
        self.client = None
        self.experiment_id: str | None = None
        self.suite_run: str | None = None
        self.cell_runs: OpenRuns[str] = OpenRuns(self._open_cell_run)

    def suite_started(self, suite, environment) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=self.params.tracking_uri)
        name = self.params.experiment or suite.name
        experiment = self.client.get_experiment_by_name(name)
        self.experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(name)
        tags = {f"snnbench.{key}": value[:TAG_LIMIT] for key, value in provenance(environment).items()}
        tags["snnbench.suite"] = suite.name
        if environment.get("git_commit"):
            tags["mlflow.source.git.commit"] = environment["git_commit"]
        self.suite_run = self.client.create_run(self.experiment_id, run_name=suite.name, tags=tags).info.run_id
        self.client.log_batch(self.suite_run, params=[
            Param("suite_file", str(suite.path)), Param("cells", str(len(suite.cells))),
            Param("seeds", ",".join(map(str, suite.seeds)))])

    def _open_cell_run(self, cell) -> str:
        from mlflow.entities import Param

        run = self.client.create_run(self.experiment_id, run_name=run_name(cell), tags={
            "mlflow.parentRunId": self.suite_run, "snnbench.suite": cell.suite, "snnbench.label": cell.label,
            "snnbench.config_hash": cell.config_hash, "snnbench.seed": str(cell.seed)})
        params = [Param(key, str(value)) for key, value in cell_params(cell).items()]
        for start in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(run.info.run_id, params=params[start:start + 100])
        return run.info.run_id

    def epoch_closed(self, cell, stats) -> None:
        from mlflow.entities import Metric

        run, step = self.cell_runs.get(cell), self.cell_runs.next_step(cell)
        stamp = _now_ms()
        self.client.log_batch(run, metrics=[Metric(key, value, stamp, step)
                                            for key, value in epoch_values(stats).items()])

    def cell_finished(self, cell, row) -> None:
        from mlflow.entities import Metric, RunTag

        run = self.cell_runs.pop(cell)
        stamp = _now_ms()
        metrics = [Metric(key, value, stamp, 0) for key, value in final_metrics(row).items()]
        tags = [RunTag("snnbench.status", row.status)] + (
            [RunTag("snnbench.reason", row.reason[:TAG_LIMIT])] if row.reason else []) + [
            RunTag(f"snnbench.{key}", value) for key, value in verdict_tags(row).items()]
        self.client.log_batch(run, metrics=metrics, tags=tags)
        self.client.set_terminated(run, "FINISHED" if row.status == "ok" else "FAILED")

    def suite_finished(self, suite, summary) -> None:
        from mlflow.entities import Metric

        stamp = _now_ms()
        self.client.log_batch(self.suite_run, metrics=[
            Metric(key, float(getattr(summary, key)), stamp, 0) for key in ("ok", "failed", "cached", "skipped")])
        self.client.set_terminated(self.suite_run, "FINISHED")
        self.suite_run = None

    def close(self) -> None:
        """Runs left open by an interrupt are marked KILLED, not left RUNNING."""
        for run in self.cell_runs.drain():
            self.client.set_terminated(run, "KILLED")
        if self.suite_run is not None:
            self.client.set_terminated(self.suite_run, "KILLED")


@hookimpl
def register_reporters(register):
    register(ReporterSpec("mlflow", MlflowParams, MlflowReporter, requires=("mlflow",), install="snnbench[mlflow]",
                          summary="MLflow: a run per suite, a nested run per cell (params, epochs, final metrics)"))
