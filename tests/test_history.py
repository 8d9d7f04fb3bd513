"""``snnbench history`` on a real history: a scratch git repository holding a
tiny neuron plugin and a digits suite, four commits, the suite run at each
into one store (``--rerun``, three seeds); the third commit makes the
neuron sleep on every call. The step must be marked at that commit and no
other; rows of another machine must make series of their own; the commits
must take git's order whatever order the rows were written in."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import suite_toml

from snnbench.cli import main
from snnbench.results.history import change_points, load_history
from snnbench.results.store import ResultStore

PLUGIN = '''"""A LIF neuron that sleeps PAUSE seconds on every call (forward of a layer)."""
import time
from dataclasses import dataclass

import torch

from snnbench.api import NeuronParams, NeuronSpec, SpikingLayer, flatten_steps, hookimpl, param, spike

PAUSE = 0.0


@dataclass(frozen=True)
class ScratchParams(NeuronParams):
    beta: float = param(0.8, "membrane decay per step", gt=0, lt=1)


class ScratchLIF(SpikingLayer):
    def __init__(self, params, features=()):
        super().__init__()
        self.params = params
        self.backend_used = "scratch"

    def forward(self, current):
        time.sleep(PAUSE)
        flat, restore = flatten_steps(current)
        mem, spikes = torch.zeros_like(flat[0]), []
        for step in flat:
            mem = self.params.beta * mem + step
            fired = spike(mem - self.params.threshold, self.params.surrogate, self.params.surrogate_slope)
            mem = mem - fired.detach() * self.params.threshold
            spikes.append(fired)
        return restore(torch.stack(spikes))


@hookimpl
def register_neuron_models(register):
    register(NeuronSpec("scratch-lif", ScratchParams, ScratchLIF, summary="LIF, with a pause"))
'''

SUITE = suite_toml("history", seeds=(0, 1, 2), encoder=("direct",), neuron=("scratch-lif",), extra="""
    [params.encoder.direct]
    timesteps = 4

    [params.architecture.mlp]
    hidden = [32]

    [training]
    epochs = 2
    batch_size = 64
    """)

#: (message, the line PAUSE is set on): the third commit sleeps 0.2 s a layer call, several times a step's work even on a busy machine
COMMITS = [("a neuron", "PAUSE = 0.0"), ("a comment", "PAUSE = 0.0  # no pause"),
           ("the neuron sleeps", "PAUSE = 0.2"), ("another comment", "PAUSE = 0.2  # still slow")]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=repo,
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, Path, list[str]]:
    """The scratch repository, the store with the suite run at each of its
    commits, and the commits' hashes in order."""
    repo = tmp_path_factory.mktemp("project")
    store = repo.parent / "history.db"
    git(repo, "init", "-q")
    (repo / "history.toml").write_text(SUITE)
    commits = []
    for message, pause in COMMITS:
        (repo / "scratch_plugin.py").write_text(PLUGIN.replace("PAUSE = 0.0", pause))
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", message)
        commits.append(git(repo, "rev-parse", "HEAD").strip())
        done = subprocess.run([sys.executable, "-m", "snnbench.cli", "--plugin", "scratch_plugin", "run",
                               "history.toml", "--db", str(store), "--rerun", "--no-progress"],
                              cwd=repo, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
    return repo, store, commits


def rows_of(store: Path) -> list[dict]:
    with ResultStore(store, create=False) as opened:
        return opened.rows(["history"])


def test_each_row_records_the_commit_of_the_suite_files_repository(project):
    repo, store, commits = project
    recorded = [row["environment"]["suite_commit"] for row in rows_of(store)]
    assert [c[:12] for c in dict.fromkeys(recorded)] == [c[:12] for c in commits]
    assert len(recorded) == 3 * len(commits)


def test_the_step_is_marked_at_the_commit_that_made_training_slower(project):
    repo, store, commits = project
    history = load_history(rows_of(store), "history", ["train_samples_per_s", "accuracy"], repository=repo,
                           include_contended=True)  # a shared test machine is always busy
    assert history.order == "git"
    assert history.subjects[history.commits[2]] == "the neuron sleeps"
    (train,) = [s for s in history.series if s.metric == "train_samples_per_s"]
    assert [len(v) for v in train.values] == [3, 3, 3, 3]
    assert [step.commit for step in train.steps] == [history.commits[2]]
    step = train.steps[0]
    assert step.ratio < 0.7 and step.p_value < 0.01
    # the pause changes no number the model computes: accuracy is the same at every commit, no step
    (accuracy,) = [s for s in history.series if s.metric == "accuracy"]
    assert accuracy.steps == [] and all(v == accuracy.values[0] for v in accuracy.values)


def test_the_command_prints_the_step_and_writes_the_page(project, monkeypatch, capsys, tmp_path):
    repo, store, commits = project
    monkeypatch.chdir(repo)
    code = main(["history", "--db", str(store), "--suite", "history", "--metric", "train_samples_per_s",
                 "--include-contended", "--html", str(tmp_path / "site")])
    out = capsys.readouterr().out
    assert code == 0
    assert "4 commit(s) in git order" in out
    (line,) = [line for line in out.splitlines() if "step at" in line]
    assert commits[2][:12] in line and "(the neuron sleeps)" in line
    page = (tmp_path / "site" / "history-history.html").read_text()
    assert "the neuron sleeps" in page and (tmp_path / "site" / "vega.js").exists()


def test_rows_of_another_machine_make_series_of_their_own(project):
    repo, store, commits = project
    rows = rows_of(store)
    elsewhere = copy.deepcopy(rows)
    for row in elsewhere:
        row["environment"]["machine"]["cpu"] = "Another CPU (64 cores)"
    history = load_history(rows + elsewhere, "history", ["train_samples_per_s"], repository=repo,
                           include_contended=True)
    machines = sorted(s.machine for s in history.series)
    assert len(machines) == 2 and "Another CPU (64 cores)" in machines[0] + machines[1]
    assert all([len(v) for v in s.values] == [3, 3, 3, 3] for s in history.series)


def test_commits_take_git_order_and_time_order_without_the_repository(project, tmp_path):
    repo, store, commits = project
    rows = rows_of(store)
    backwards = [row for commit in reversed(commits) for row in rows if row["environment"]["suite_commit"][:12]
                 == commit[:12]]  # as if the newest commit had been run first
    in_git = load_history(backwards, "history", ["accuracy"], repository=repo)
    assert in_git.order == "git" and [c[:12] for c in in_git.commits] == [c[:12] for c in commits]
    in_time = load_history(backwards, "history", ["accuracy"], repository=tmp_path)  # not a repository
    assert in_time.order == "time" and [c[:12] for c in in_time.commits] == [c[:12] for c in reversed(commits)]


def test_timings_of_a_busy_machine_are_left_out_and_counted(project):
    repo, store, commits = project
    rows = copy.deepcopy(rows_of(store))
    for row in rows:
        row["metrics"]["contention"] = {"contended": True, "others_cores": 1.5, "cores": 2}
    history = load_history(rows, "history", ["train_samples_per_s", "accuracy"], repository=repo)
    assert [s.metric for s in history.series] == ["accuracy"]
    assert history.left_out == {"timings measured while the machine was busy (--include-contended keeps them)": 12}


def test_change_points_find_two_steps_and_none_in_noise():
    up_and_down = [[10.0, 10.2, 9.9], [10.1, 9.8, 10.0], [20.0, 20.3, 19.8], [20.1, 19.9, 20.2],
                   [10.0, 10.1, 9.9], [9.8, 10.2, 10.0]]
    assert [index for index, _ in change_points(up_and_down)] == [2, 4]
    flat = [[10.0, 10.2, 9.9], [10.1, 9.8, 10.0], [10.0, 10.3, 9.8], [10.1, 9.9, 10.2]]
    assert change_points(flat) == []
    # one row per commit: four commits cannot reach p < 0.01 whatever their values
    assert change_points([[1.0], [1.0], [2.0], [2.0]]) == []
