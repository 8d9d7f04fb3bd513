"""``snnbench tune``: a hyper-parameter search over a suite, with Optuna.

The search space lives in the suite file, in its ``[tune]`` table: each
dimension is a dotted path into the file (``params.<kind>.<name>.<key>``,
``variants.<kind>.<name>.<key>`` or ``training.<key>``) set to a range or a
list of choices, and a few plain keys choose the sampler, the pruner and
the validation share::

    [tune]
    trials = 30
    objectives = ["accuracy:max", "encoder_density:min"]
    "params.learning_rule.bptt.sparsity_omega" = {low = 1e-6, high = 5e-4, log = true}
    "params.encoder.rate.timesteps" = {low = 2, high = 10}          # integers: an integer range
    "training.batch_size" = {choices = [32, 64, 128]}

Every trial writes its values into the file's tables and builds the suite
from them, so a value is validated exactly as if it were written there; the
bounds and choices are built that way up front, and an error names the
``[tune]`` line. A trial runs every cell of that suite through the ordinary
runner and scores it by the mean of each objective metric over the cells.

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

import copy
import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from snnbench.api.contracts import KINDS, DataSplit
from snnbench.api.errors import SnnbenchError, SuiteError, did_you_mean
from snnbench.api.records import Choice, Suite
from snnbench.definition.metric_specs import MetricSpec, metric
from snnbench.definition.params import ParamError, parse_params
from snnbench.definition.plugins import PluginSet
from snnbench.definition.registry import Registries
from snnbench.definition.suite import SuiteDocument
from snnbench.results.store import ResultStore, sqlalchemy_url
from snnbench.running.runner import DatasetCache, LoadedData, Runner, RunOptions

SAMPLERS = ("nsga2", "tpe", "random")
ROOTS = ("params", "variants", "training")
DIMENSION_KEYS = ("low", "high", "log", "step", "choices")


@dataclass(frozen=True)
class TuneOptions:
    """The plain keys of ``[tune]``; every other key is a search dimension."""

    trials: int | None = field(default=None, metadata={
        "help": "finished trials the study should hold (--trials overrides)"})
    objectives: tuple[str, ...] = field(default=(), metadata={
        "help": "metrics to optimise, METRIC:max or METRIC:min (--objective overrides)"})
    sampler: Literal["nsga2", "tpe", "random"] = field(default="nsga2", metadata={
        "help": "Optuna sampler: NSGA-II, TPE or random search"})
    population_size: int = field(default=50, metadata={
        "help": "nsga2: trials per generation; the first generation is random"})
    validation: float = field(default=0.1, metadata={
        "help": "share of the training split held out to score trials; 0 scores on the test split"})
    pruner: Literal["median", "none"] = field(default="median", metadata={
        "help": "one objective only: stop a trial whose running mean falls below the median"})
    prune_after: int = field(default=5, metadata={"help": "finished trials before any trial is pruned"})

    def __post_init__(self):
        if self.trials is not None and self.trials < 1:
            raise ValueError("trials must be at least 1")
        if self.population_size < 2:
            raise ValueError("population_size must be at least 2")
        if not 0 <= self.validation < 1:
            raise ValueError("validation must lie in [0, 1)")
        if self.prune_after < 0:
            raise ValueError("prune_after must not be negative")


@dataclass(frozen=True)
class Dimension:
    """One search dimension: ``{low, high[, log][, step]}`` or ``{choices}``."""

    low: int | float | None = None
    high: int | float | None = None
    log: bool = False
    step: int | float | None = None
    choices: tuple[Any, ...] | None = None

    def __post_init__(self):
        if self.choices is not None:
            if self.low is not None or self.high is not None or self.step is not None or self.log:
                raise ValueError("give either choices or a range (low, high), not both")
            if not self.choices:
                raise ValueError("choices must not be empty")
            if not all(isinstance(c, (str, int, float, bool)) for c in self.choices):
                raise ValueError("choices must be strings, numbers or booleans")
            if len(set(self.choices)) != len(self.choices):
                raise ValueError("choices lists a value twice")
            return
        if self.low is None or self.high is None:
            raise ValueError("a range needs low and high (or give choices = [...])")
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        if self.step is not None and self.step <= 0:
            raise ValueError("step must be positive")
        if self.log and self.step is not None:
            raise ValueError("a range takes log or step, not both")

    @property
    def integer(self) -> bool:
        return all(isinstance(v, int) for v in (self.low, self.high)) and isinstance(self.step, int | None)

    def corners(self) -> tuple[Any, ...]:
        """The values that validate the whole dimension: its bounds, or every choice."""
        return self.choices if self.choices is not None else (self.low, self.high)

    def suggest(self, trial, name: str) -> Any:
        if self.choices is not None:
            return trial.suggest_categorical(name, list(self.choices))
        if self.integer:
            return trial.suggest_int(name, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_float(name, float(self.low), float(self.high), step=self.step, log=self.log)

    def describe(self) -> str:
        if self.choices is not None:
            return "{" + ", ".join(map(repr, self.choices)) + "}"
        return f"[{self.low}, {self.high}]" + (" log" if self.log else "") + (
            f" step {self.step}" if self.step is not None else "")


@dataclass(frozen=True)
class Objective:
    metric: MetricSpec
    maximize: bool

    @property
    def text(self) -> str:
        return f"{self.metric.key}:{'max' if self.maximize else 'min'}"

    @property
    def heading(self) -> str:
        return f"{self.metric.title} {'↑' if self.maximize else '↓'}"


def parse_objective(text: str) -> Objective:
    """``METRIC:max`` or ``METRIC:min``; a bare ``METRIC`` goes the way its column's arrow points."""
    key, _, direction = text.partition(":")
    found = metric(key.strip())
    if direction.strip() not in ("", "max", "min"):
        raise SnnbenchError(f"objective {text!r}: the direction must be max or min")
    maximize = found.higher_is_better if not direction.strip() else direction.strip() == "max"
    return Objective(found, maximize)


@dataclass(frozen=True)
class Search:
    """A suite and the search declared in its ``[tune]`` table, validated."""

    document: SuiteDocument
    suite: Suite
    options: TuneOptions
    space: dict[str, Dimension]

    def build(self, registries: Registries, values: dict[str, Any], suite_name: str) -> Suite:
        """The suite of one trial, recorded under ``suite_name``."""
        data = with_values(self.document.data, values)
        data["suite"]["name"] = suite_name
        return self.document.build(registries, data)


def with_values(data: dict, values: dict[str, Any]) -> dict:
    """A copy of a suite's tables, without ``[tune]``, with ``values`` written in at their paths."""
    data = copy.deepcopy(data)
    data.pop("tune", None)
    for path, value in values.items():
        *tables, key = path.split(".")
        table = data
        for name in tables:
            table = table.setdefault(name, {})
        table[key] = value
    return data


def load_search(document: SuiteDocument, registries: Registries) -> Search:
    """Validate a suite file and its ``[tune]`` table; raises :class:`SuiteError`."""
    suite = document.build(registries)
    table = document.data.get("tune")
    if table is None:
        raise SuiteError("has no [tune] table: declare the search space there (see README, "
                         "\"Hyper-parameter search\")", file=str(document.path))
    source = document.source
    if not isinstance(table, dict):
        raise source.error("must be a table", None, "tune", table)
    plain = {f.name for f in dataclasses.fields(TuneOptions)}
    try:
        options = parse_params(TuneOptions, {k: v for k, v in table.items() if k in plain})
    except ParamError as error:
        raise source.error(str(error), "tune", error.key, error.value, error.hint) from None
    for text in options.objectives:
        try:
            parse_objective(text)
        except SnnbenchError as error:
            raise source.error(str(error), "tune", "objectives", list(options.objectives)) from None
    space = {}
    for path, entry in _dimensions({k: v for k, v in table.items() if k not in plain}, source, plain):
        space[path] = _dimension(path, entry, document, suite, registries)
    if not space:
        raise source.error("declares no search dimension, e.g. "
                           "\"params.learning_rule.bptt.lr\" = {low = 1e-4, high = 1e-2, log = true}", "tune")
    if not suite.cells:
        raise source.error("the suite has no cell to tune (every combination is skipped)", "tune")
    return Search(document, suite, options, space)


def _dimensions(table: dict, source, plain: set[str], prefix: str = ""):
    """``(dotted path, entry)`` pairs; a path written unquoted reaches here as nested tables."""
    for key, value in table.items():
        path = prefix + key
        if isinstance(value, dict) and not set(value) & set(DIMENSION_KEYS):
            yield from _dimensions(value, source, plain, path + ".")
        elif isinstance(value, dict):
            yield path, value
        elif "." not in path:
            suggestion = did_you_mean(path, plain)
            raise source.error("unknown key", "tune", path, value, f"did you mean {suggestion!r}?" if suggestion
                               else f"plain keys: {', '.join(sorted(plain))}; a search dimension is a "
                                    f"dotted path = {{low = ..., high = ...}} or {{choices = [...]}}")
        else:
            raise source.error("a search dimension must be a table {low = ..., high = ...} or "
                               "{choices = [...]}", "tune", path, value)


def _dimension(path: str, entry: dict, document: SuiteDocument, suite: Suite, registries: Registries) -> Dimension:
    source = document.source
    fail = lambda message, hint=None: source.error(message, "tune", path, entry, hint)  # noqa: E731
    parts = path.split(".")
    if parts[0] not in ROOTS or len(parts) != (2 if parts[0] == "training" else 4):
        raise fail("not a path to a param", "params.<kind>.<name>.<key>, variants.<kind>.<name>.<key> "
                                            "or training.<key>")
    if parts[0] != "training":
        kind, name = parts[1], parts[2]
        if kind not in KINDS:
            suggestion = did_you_mean(kind, KINDS)
            raise fail(f"unknown component kind {kind!r}", f"did you mean {suggestion!r}?" if suggestion
                       else f"kinds: {', '.join(KINDS)}")
        chosen: list[Choice] = [cell.choice(kind) for cell in suite.cells]
        used = sorted({c.component for c in chosen} if parts[0] == "params" else
                      {c.name for c in chosen if c.variant_of})
        if name not in used:
            raise fail(f"no cell of the suite uses {'variant ' if parts[0] == 'variants' else ''}"
                       f"{kind} {name!r}", f"the suite's: {', '.join(used) or 'none'}")
    try:
        dimension = parse_params(Dimension, entry)
    except ParamError as error:
        raise source.error(f"{error.key + ': ' if error.key else ''}{error}", "tune", path, entry,
                           error.hint) from None
    for value in dimension.corners():
        try:
            document.build(registries, with_values(document.data, {path: value}))
        except SuiteError as error:
            where = f"{error.file}:{error.line}: " if error.line else f"{error.file}: "
            raise fail(f"{value!r} does not fit there: {str(error).removeprefix(where)}") from None
    return dimension


# ----------------------------------------------------------------------------- the study


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
