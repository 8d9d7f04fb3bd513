"""``snnbench tune``: a hyper-parameter search over a suite, with Optuna.

The search space is the suite file's ``[tune]`` table, parsed and validated
with the file by :mod:`snnbench.definition.tune_space`. Each trial writes
its values into the file's tables and builds the suite from them, runs
every cell of that suite through the ordinary runner and scores it by the
mean of each objective metric over the cells.

**Where trials go.** Each trial's cells are recorded as leaderboard rows of
the suite ``<study>`` (default ``<suite name>-tune``), not of the suite
itself: their accuracy is measured on a held-out share of the *training*
split (``validation``, 0.1 by default), never on the test split, so tuned
values are not picked on the test set, and trial rows do not mix into the
suite's own table. The Optuna study is kept in the same SQLite file as the
rows (Optuna's tables beside ``results``), so the store holds the whole
search. A rerun continues the study: ``--trials N`` is the number of
finished trials the study should hold. A trial that was interrupted (the
process killed or stopped) is run again with its own values first; the
runner skips its cells that were already recorded.

**Pruning.** Optuna 5 has no pruning for multi-objective studies
(``Trial.report`` and ``Trial.should_prune`` raise for them), so with two
objectives every trial runs to the end. With one objective the median rule
applies, and it applies between the cells of a trial (several seeds or
combinations): a trial whose running mean after a cell is worse than the
median of earlier trials at that cell is stopped. The runner offers no hook
inside a cell's training, so there is no pruning between epochs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import torch

from snnbench.api.contracts import DataSplit
from snnbench.api.errors import SnnbenchError
from snnbench.api.records import Choice
from snnbench.definition.plugins import PluginSet
from snnbench.definition.registry import Registries
from snnbench.definition.suite import NAME, NAME_RULE
from snnbench.definition.tune_space import Dimension, Objective, Search, parse_objective, with_values
from snnbench.results.store import ResultStore, sqlalchemy_url
from snnbench.running.runner import DatasetCache, LoadedData, Runner
from snnbench.running.options import RunOptions


class HeldOut:
    """Stands in for the runner's dataset cache: 'train' is the training split
    without a held-out share, 'test' is that share. The share is drawn once,
    by a fixed permutation, so every trial is scored on the same samples."""

    def __init__(self, cache: DatasetCache, share: float):
        self.cache, self.share = cache, share
        self._split: dict[int, LoadedData] = {}

    def get(self, choice: Choice) -> LoadedData:
        loaded = self.cache.get(choice)
        if id(loaded) not in self._split:
            count = len(loaded.train)
            held = max(1, round(self.share * count))
            if held >= count:
                raise SnnbenchError(f"validation = {self.share} leaves no training sample of {count}")
            order = torch.randperm(count, generator=torch.Generator().manual_seed(0))
            kept, held_out = (part.sort().values.to(loaded.train.targets.device)
                              for part in (order[held:], order[:held]))
            pick = lambda index: DataSplit(loaded.train.inputs[index], loaded.train.targets[index])  # noqa: E731
            self._split[id(loaded)] = LoadedData(loaded.info, pick(kept), pick(held_out))
        return self._split[id(loaded)]


def _fingerprint(search: Search, objectives: list[Objective], options: RunOptions) -> str:
    """What a trial's numbers depend on: a study continued under another
    setup would compare trials that measured different things."""
    data = with_values(search.document.data, {})
    data["suite"] = {k: v for k, v in data["suite"].items() if k != "description"}
    setup = {"suite": data, "space": {p: dataclasses.asdict(d) for p, d in search.space.items()},
             "objectives": [o.text for o in objectives], "validation": search.options.validation,
             "limit": options.limit, "max_epochs": options.max_epochs}
    return hashlib.sha256(json.dumps(setup, sort_keys=True, default=list).encode()).hexdigest()[:16]


def open_study(search: Search, objectives: list[Objective], options: RunOptions, db: Path, name: str):
    """The study ``name`` in the store ``db``: created, or loaded if it was
    started with the same objectives and setup (see :func:`_fingerprint`)."""
    import optuna

    storage = optuna.storages.RDBStorage(sqlalchemy_url(db), engine_kwargs={"connect_args": {"timeout": 60}})
    fingerprint = _fingerprint(search, objectives, options)
    if name in optuna.study.get_all_study_names(storage):
        study = optuna.load_study(study_name=name, storage=storage)
        started = study.user_attrs.get("snnbench_objectives")
        if started != [o.text for o in objectives]:
            raise SnnbenchError(f"study {name!r} in {db} optimises {', '.join(started or ['?'])}, not "
                                f"{', '.join(o.text for o in objectives)}; pass --study NAME to start another")
        if study.user_attrs.get("snnbench_setup") != fingerprint:
            raise SnnbenchError(f"study {name!r} in {db} was started from another version of this suite, "
                                f"search space or --limit/--epochs; pass --study NAME to start another")
        return study
    study = optuna.create_study(storage=storage, study_name=name,
                                directions=["maximize" if o.maximize else "minimize" for o in objectives])
    study.set_user_attr("snnbench_objectives", [o.text for o in objectives])
    study.set_user_attr("snnbench_setup", fingerprint)
    return study


def _sampler(kind: str, population: int, seed: int):
    from optuna import samplers

    if kind == "nsga2":
        return samplers.NSGAIISampler(population_size=population, seed=seed)
    if kind == "tpe":
        return samplers.TPESampler(seed=seed)
    return samplers.RandomSampler(seed=seed)


class Tuner:
    """Runs trials of one study: asks for values, runs the trial's cells, tells the scores."""

    def __init__(self, search: Search, objectives: list[Objective], study, runner: Runner,
                 registries: Registries, prune: bool):
        self.search, self.objectives, self.study = search, objectives, study
        self.runner, self.registries, self.prune = runner, registries, prune

    def run(self, trials: int) -> None:
        from optuna.trial import TrialState

        for frozen in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if set(frozen.params) != set(self.search.space):
                self.study.tell(frozen.number, state=TrialState.FAIL)
                print(f"trial {frozen.number}: interrupted before its values were drawn; marked failed")
                continue
            print(f"trial {frozen.number}: interrupted earlier; running it again with its values")
            self._trial(frozen.number, None, frozen.params)
        while self._finished() < trials:
            trial = self.study.ask()
            values = {path: dimension.suggest(trial, path) for path, dimension in self.search.space.items()}
            self._trial(trial.number, trial, values)

    def _finished(self) -> int:
        from optuna.trial import TrialState

        return len(self.study.get_trials(deepcopy=False, states=(
            TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)))

    def _trial(self, number: int, trial, values: dict[str, Any]) -> None:
        """Run the trial's cells one by one; ``trial`` is None for a resumed one, which is not pruned."""
        from optuna.trial import TrialState

        shown = ", ".join(f"{short_name(p, self.search.space)}={_value(v)}" for p, v in values.items())
        print(f"trial {number}: {shown}")
        suite = self.search.build(self.registries, values, self.study.study_name)
        scores: list[list[float]] = []
        for step, cell in enumerate(suite.cells):
            summary = self.runner.run(dataclasses.replace(suite, cells=[cell], skipped=[]))
            row = summary.rows[0] if summary.rows else None
            measured = [row.metrics.get(o.metric.key) if row and row.status == "ok" else None
                        for o in self.objectives]
            if any(v is None or not math.isfinite(v) for v in measured):
                reason = row.reason if row and row.status != "ok" else (
                    f"{', '.join(o.metric.key for o, v in zip(self.objectives, measured) if v is None)} "
                    f"not measured")
                self.study.tell(number, state=TrialState.FAIL)
                print(f"trial {number}: failed ({cell.label} seed={cell.seed}: {reason})")
                return
            scores.append(measured)
            if self.prune and trial is not None:
                trial.report(sum(s[0] for s in scores) / len(scores), step)
                if trial.should_prune():
                    self.study.tell(number, state=TrialState.PRUNED)
                    print(f"trial {number}: pruned after {step + 1} of {len(suite.cells)} cells")
                    return
        means = [sum(column) / len(column) for column in zip(*scores)]
        self.study.tell(number, means)
        print(f"trial {number}: " + ", ".join(f"{o.metric.title} {o.metric.format(v)}"
                                             for o, v in zip(self.objectives, means)))


def short_name(path: str, space: dict[str, Dimension]) -> str:
    """``name.key`` of a path (``bptt.lr``), or the whole path where that is ambiguous."""
    short = ".".join(path.split(".")[-2:])
    clashes = [p for p in space if ".".join(p.split(".")[-2:]) == short]
    return short if len(clashes) == 1 else path


def _value(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def front_table(study, search: Search, objectives: list[Objective]) -> str:
    """The Pareto-optimal trials (the best one for one objective), best first by the first objective."""
    from tabulate import tabulate

    front = sorted(study.best_trials, key=lambda t: t.values[0], reverse=objectives[0].maximize)
    headers = ["trial", *(o.heading for o in objectives), *(short_name(p, search.space) for p in search.space)]
    body = [[t.number, *(o.metric.format(v) for o, v in zip(objectives, t.values)),
             *(_value(t.params[p]) for p in search.space)] for t in front]
    return tabulate(body, headers=headers, tablefmt="simple", disable_numparse=True)


def objectives_for(search: Search, texts: list[str]) -> list[Objective]:
    """The command line's objectives, else the suite's ``[tune] objectives``."""
    chosen = [parse_objective(text) for text in texts or search.options.objectives]
    if not chosen:
        raise SnnbenchError(f"{search.document.path}: no objective: pass --objective METRIC:max|min "
                            f"or set [tune] objectives")
    if len({o.metric.key for o in chosen}) != len(chosen):
        raise SnnbenchError(f"objectives {', '.join(o.text for o in chosen)} name a metric twice")
    return chosen


def tune(search: Search, plugins: PluginSet, options: RunOptions, db: Path, *, trials: int | None,
         objectives: list[str], study_name: str | None, sampler: str | None) -> int:
    """Run the study to ``trials`` finished trials and print its front; returns the exit code."""
    import optuna
    from optuna.trial import TrialState

    settings = search.options
    trials = trials or settings.trials
    if trials is None:
        raise SnnbenchError(f"{search.document.path}: how many trials? pass --trials N or set [tune] trials")
    chosen = objectives_for(search, objectives)
    if study_name is not None and not NAME.fullmatch(study_name):
        raise SnnbenchError(f"--study {study_name!r}: a study's rows are recorded as a suite of that name, which "
                            f"may hold only {NAME_RULE}")
    name = study_name or f"{search.suite.name}-tune"
    prune = settings.pruner == "median" and len(chosen) == 1
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    with ResultStore(db) as store:
        study = open_study(search, chosen, options, db, name)
        study.sampler = _sampler(sampler or settings.sampler, settings.population_size,
                                 search.suite.seeds[0] + len(study.trials))  # no repeat of earlier draws
        study.pruner = (optuna.pruners.MedianPruner(n_startup_trials=settings.prune_after) if prune
                        else optuna.pruners.NopPruner())
        done = sum(t.state.is_finished() for t in study.trials)
        print(f"study {name} in {db}: {', '.join(o.text for o in chosen)}; {done} of {trials} trials finished; "
              f"{sampler or settings.sampler} sampler; pruning "
              + ("by median between cells" if prune else "off" if len(chosen) == 1 else
                 "off (Optuna prunes single-objective studies only)")
              + "; scored on " + (f"{settings.validation:g} of the training split held out"
                                  if settings.validation else "the test split"))
        data = DatasetCache(plugins, options)
        runner = Runner(plugins, store, options,
                        data=HeldOut(data, settings.validation) if settings.validation else data)
        Tuner(search, chosen, study, runner, plugins.registries, prune).run(trials)

        states = [t.state for t in study.trials]
        print(f"\nstudy {name}: {len(states)} trials: {states.count(TrialState.COMPLETE)} complete, "
              f"{states.count(TrialState.PRUNED)} pruned, {states.count(TrialState.FAIL)} failed; rows in "
              f"suite {name!r} (snnbench leaderboard --suite {name})")
        if not states.count(TrialState.COMPLETE):
            print("no complete trial, so no front yet")
            return 1
        print("Pareto front:" if len(chosen) > 1 else "best trial:")
        print(front_table(study, search, chosen))
    return 0
