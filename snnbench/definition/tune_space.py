"""The ``[tune]`` table of a suite file: the search space of ``snnbench tune``.

Each dimension is a dotted path into the file (``params.<kind>.<name>.<key>``,
``variants.<kind>.<name>.<key>`` or ``training.<key>``) set to a range or a
list of choices, and a few plain keys choose the sampler, the pruner and the
validation share::

    [tune]
    trials = 30
    objectives = ["accuracy:max", "encoder_density:min"]
    "params.learning_rule.bptt.sparsity_omega" = {low = 1e-6, high = 5e-4, log = true}
    "params.encoder.rate.timesteps" = {low = 2, high = 10}          # integers: an integer range
    "training.batch_size" = {choices = [32, 64, 128]}

It is part of the suite's definition, so it validates with the file
(``snnbench validate``), before any trial runs: a trial's values are written
into the file's tables and the suite is built from them, so a value is
validated exactly as if it were written there; each dimension's bounds or
choices are built that way up front, and an error names the ``[tune]`` line.
Running the study is :mod:`snnbench.running.tune`'s job.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from snnbench.api.contracts import KINDS
from snnbench.api.errors import SnnbenchError, SuiteError, did_you_mean
from snnbench.api.params import param
from snnbench.api.records import Choice, Suite
from snnbench.definition.metric_specs import MetricSpec, metric
from snnbench.definition.params import ParamError, parse_params
from snnbench.definition.registry import Registries
from snnbench.definition.suite import SuiteDocument

ROOTS = ("params", "variants", "training")
DIMENSION_KEYS = ("low", "high", "log", "step", "choices")


@dataclass(frozen=True)
class TuneOptions:
    """The plain keys of ``[tune]``; every other key is a search dimension."""

    trials: int | None = param(None, "finished trials the study should hold (--trials overrides)", ge=1)
    objectives: tuple[str, ...] = param((), "metrics to optimise, METRIC:max or METRIC:min (--objective overrides)")
    sampler: Literal["nsga2", "tpe", "random"] = param("nsga2", "Optuna sampler: NSGA-II, TPE or random search")
    population_size: int = param(50, "nsga2: trials per generation; the first generation is random", ge=2)
    validation: float = param(0.1, "share of the training split held out to score trials; 0 scores on the "
                                   "test split", ge=0, lt=1)
    pruner: Literal["median", "none"] = param("median", "one objective only: stop a trial whose running mean "
                                                        "falls below the median")
    prune_after: int = param(5, "finished trials before any trial is pruned", ge=0)


@dataclass(frozen=True)
class Dimension:
    """One search dimension: ``{low, high[, log][, step]}`` or ``{choices}``."""

    low: int | float | None = None
    high: int | float | None = None
    log: bool = False
    step: int | float | None = param(None, "distance between the values a range may take", gt=0)
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
        raise SuiteError("has no [tune] table: declare the search space there (see docs/guide/tuning.md)",
                         file=str(document.path))
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
