"""Suite files: parse, validate, expand.

A suite is a TOML file::

    [suite]
    name = "encoders"
    seeds = [0, 1, 2]

    [matrix]                      # the cross-product of these names
    dataset = ["mnist"]
    encoder = ["rate", "latency"]
    neuron = ["snntorch-lif"]
    architecture = ["csnn"]
    learning_rule = ["bptt"]

    [params.encoder.rate]         # params of one component, its dataclass's fields
    timesteps = 25

    [training]                    # snnbench.api.training_config.TrainingConfig
    epochs = 1

    [variants.encoder.rate-low]   # a second configuration of a component,
    of = "rate"                   # under its own name for the matrix:
    gain = 0.5                    # [params.encoder.rate], then these keys

    [[exclude]]                   # drop combinations matching every key given
    encoder = "latency"
    architecture = "mlp"

    [[include]]                   # add a full combination outside the product
    dataset = "digits"
    ...

    [[reference]]                 # a published number to measure the cells against
    encoder = "rate"              # the components it is for (any of the five kinds)
    metric = "accuracy"           # a leaderboard metric, in its stored unit (a fraction)
    value = 0.9912
    source = "Eshraghian et al., Proc. IEEE 2023"

    [report.mlflow]               # report the run to a tracker: a reporter, its params
    tracking_uri = "sqlite:///mlflow.db"

    [energy]                      # what an operation costs in the estimated energy
    table = "horowitz-45nm-int8"  # (snnbench.definition.energy_tables)

The whole file validates before anything trains: every error names the
file, the line where it can be found, the key and the bad value, and the
nearest valid name. Combinations whose components cannot work together
(by the data kinds they declare, or an architecture's own check) become
skipped cells with the reason, not failures.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from snnbench.api.contracts import KINDS, DatasetInfo, missing_neuron_params
from snnbench.api.errors import (
    SnnbenchError,
    SuiteError,
    SuiteErrors,
    UnknownComponentError,
    did_you_mean,
)
from snnbench.api.params import params_to_dict
from snnbench.api.records import Cell, Choice, Reference, SkippedCombination, Suite
from snnbench.api.training_config import TrainingConfig
from snnbench.definition.compare_table import compare_tolerances
from snnbench.definition.energy_tables import EnergyTableError, energy_table
from snnbench.definition.metric_specs import metric
from snnbench.definition.params import ParamError, parse_params
from snnbench.definition.registry import Registries

#: The tables of a suite file, with what each is for (the docs' suite reference
#: reads these, so a new table is documented where it is declared).
TOP_LEVEL = {
    "suite": "the suite's name, description and seeds",
    "matrix": "the component names to compare: every combination of them is a cell",
    "params": "[params.<kind>.<name>]: the params of one component, its dataclass's fields",
    "variants": "[variants.<kind>.<name>]: a second configuration of a component under its own name; "
                "`of` names the registered component, the other keys are its params on top of its [params]",
    "training": "how every cell trains: epochs, batch sizes, sample limits, learning-rate schedule, precision",
    "include": "[[include]]: a full combination (all five kinds) added outside the product",
    "exclude": "[[exclude]]: drop every combination that matches all the keys given",
    "reference": "[[reference]]: a published number the tables measure the matching cells against",
    "report": "[report.<reporter>]: report every run of the suite to an experiment tracker, with its params",
    "energy": "the energy per operation the estimated energy of every cell is priced at: a built-in table "
              "(table = \"horowitz-45nm-fp16\") or one of your own (docs/energy.md)",
    # validated by snnbench.definition.compare_table
    "compare": "tolerances `snnbench compare` judges this suite's metrics with: tolerance.<metric> = X",
    # validated by snnbench.definition.tune_space
    "tune": "the search space and settings of `snnbench tune`; `snnbench run` ignores it",
}
REFERENCE_KEYS = {
    "metric": "a leaderboard metric, in its stored unit (accuracy 0.9912, not 99.12)",
    "value": "the published number",
    "source": "where the number comes from: paper, table, as quoted where",
}
#: metrics stored as fractions: a reference to one of them must lie in [0, 1]
FRACTION_METRICS = ("accuracy", "sparsity", "encoder_density", "encoder_mean", "encoder_above_half")
T = TypeVar("T")
SUITE_KEYS = {
    "name": "rows are stored and queried under this name (required)",
    "description": "one line saying what the suite compares",
    "seeds": "every cell runs once per seed; a seed sets every random number generator (default [0])",
}


class _Source:
    """The file's text, to point errors at the line a key is on; and, while a
    whole file is checked (:meth:`checking`), the errors found so far."""

    def __init__(self, path: Path, text: str):
        self.path, self.lines = str(path), text.splitlines()
        self.found: list[SuiteError] | None = None

    @contextmanager
    def checking(self) -> Iterator[None]:
        """Check a whole file: the errors kept by :meth:`collecting` inside, and
        one that escapes it, are raised together at the end."""
        self.found = []
        try:
            yield
        except SuiteErrors:
            raise
        except SuiteError as error:
            self.found.append(error)
        finally:
            found, self.found = self.found, None
        if found:
            raise _together(found)

    @contextmanager
    def collecting(self) -> Iterator[None]:
        """Keep a SuiteError raised inside for the file's report and go on after
        the block (outside :meth:`checking`, let it raise)."""
        try:
            yield
        except SuiteError as error:
            if self.found is None:
                raise
            self.found.append(error)

    def attempt(self, check: Callable[[], T]) -> T | None:
        """``check()``, or None when it raised a SuiteError (kept, see :meth:`collecting`)."""
        with self.collecting():
            return check()
        return None

    def raise_found(self) -> None:
        """Raise the errors found so far, if any: what comes next needs the parts they are in."""
        if self.found:
            found, self.found = self.found, []
            raise _together(found)

    def line_of(self, table: str | None, key: str | None = None) -> int | None:
        current = None
        header = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
        for number, line in enumerate(self.lines, start=1):
            match = header.match(line)
            if match:
                current = match.group(1).replace('"', "").replace("'", "")
                if key is None and current == table:
                    return number
                continue
            # "key = ..." or a dotted "key.sub = ..." (the [compare] table's tolerance.<metric>)
            if key is not None and current == table and re.match(rf"^\s*\"?{re.escape(key)}\"?\s*[=.]", line):
                return number
        return None

    def error(self, message: str, table: str | None, key: str | None = None, value: object = None,
              hint: str | None = None) -> SuiteError:
        dotted = ".".join(p for p in (table, key) if p) or None
        return SuiteError(message, file=self.path, key=dotted, value=value,
                          line=self.line_of(table, key), hint=hint)


def _together(errors: list[SuiteError]) -> SuiteError:
    """One error as it is; several as one, in the order of their lines."""
    return errors[0] if len(errors) == 1 else SuiteErrors(sorted(errors, key=lambda e: (e.line is None, e.line)))


@dataclass(frozen=True)
class SuiteDocument:
    """A suite file as parsed TOML, with its text to point errors at lines.
    ``snnbench tune`` builds one suite per trial from it, with the trial's
    values written into ``data``."""

    path: Path
    data: dict
    source: _Source

    def build(self, registries: Registries, data: dict | None = None) -> Suite:
        """Validate and expand ``data`` (default: the file's own) as this file."""
        return _build_suite(self.data if data is None else data, self.source, self.path, registries)

    @property
    def name(self) -> object:
        header = self.data.get("suite")
        return header.get("name") if isinstance(header, dict) else None

    def references(self) -> list[Reference]:
        """The ``[[reference]]`` entries, validated on their own (keys, metric,
        value, source) without building the suite: what the leaderboard reads.
        Building the suite checks them against its cells too."""
        with self.source.checking():
            return _references(self.data, self.source)


def read_suite(path: str | Path) -> SuiteDocument:
    """Read and parse a suite file without validating it; raises :class:`SuiteError`."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise SuiteError(f"cannot read the suite file: {error.strerror or error}", file=str(path)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SuiteError(f"not UTF-8 text (TOML must be): byte 0x{raw[error.start]:02x} at offset {error.start} "
                         "cannot be decoded", file=str(path), line=raw.count(b"\n", 0, error.start) + 1) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        located = re.search(r"at line (\d+)", str(error))  # Python < 3.14 has no error.lineno
        raise SuiteError(f"not valid TOML: {error}", file=str(path),
                         line=int(located.group(1)) if located else None) from None
    except RecursionError:
        raise SuiteError("not a suite: its tables or arrays are nested too deeply to read", file=str(path)) from None
    return SuiteDocument(path, data, _Source(path, text))


def load_suite(path: str | Path, registries: Registries) -> Suite:
    """Read, validate and expand a suite file; raises :class:`SuiteError`."""
    return read_suite(path).build(registries)


def _build_suite(data: dict, source: _Source, path: Path, registries: Registries) -> Suite:
    """Check every part of the file, then expand it. An error in one part does
    not stop the others being checked: the file's errors are raised together,
    as a compiler lists them (:meth:`_Source.checking`)."""
    with source.checking():
        return _checked_suite(data, source, path, registries)


def _checked_suite(data: dict, source: _Source, path: Path, registries: Registries) -> Suite:
    for key in data:
        with source.collecting():
            if key not in TOP_LEVEL:
                suggestion = did_you_mean(key, TOP_LEVEL)
                raise source.error("unknown table", key, hint=f"did you mean [{suggestion}]?" if suggestion
                                   else f"valid tables: {', '.join(TOP_LEVEL)}")
    name, description, seeds = _header(data, source)
    training = source.attempt(lambda: _parse(TrainingConfig, _table(data, "training", source), source, "training"))
    energy = source.attempt(lambda: _energy(data, source))
    params = _component_params(data, source, registries)
    names = _Names(registries, _variants(data, source, registries, params))
    matrix = _matrix(data, source, names)
    exclusions = _exclusions(data, source, names)
    included = [source.attempt(lambda: _include(entry, index, source, names))
                for index, entry in enumerate(source.attempt(lambda: _entries(data, "include", source)) or [])]
    references = _references(data, source, names)
    reporters = _reporters(data, source, registries)
    source.attempt(lambda: compare_tolerances(data, source))
    source.raise_found()  # what follows needs every part valid

    combinations = [dict(zip(KINDS, names)) for names in itertools.product(*(matrix[k] for k in KINDS))]
    combinations = [c for c in combinations
                    if not any(all(c[kind] == name for kind, name in rule.items()) for rule in exclusions)]
    for combination in included:
        if combination not in combinations:
            combinations.append(combination)

    suite = Suite(name=name, path=path, description=description, seeds=tuple(seeds), training=training,
                  references=references, reporters=reporters,
                  warnings=_tables_for_nothing(data, source, names, combinations))
    for combination in combinations:
        choices = {kind: names.choice(kind, combination[kind], params, source) for kind in KINDS}
        reason = incompatibility(choices, registries)
        if reason:
            suite.skipped.append(SkippedCombination(combination, reason))
            continue
        for seed in seeds:
            suite.cells.append(Cell(suite=name, training=training, seed=seed, energy=energy, **choices))
    for index, reference in enumerate(suite.references):
        with source.collecting():
            if not any(reference.matches(c) for c in combinations):
                raise source.error(f"reference entry {index + 1} ({reference.describe()}) matches no combination "
                                   "of the suite", "reference")
    return suite


def _header(data: dict, source: _Source) -> tuple[str, str, list[int]]:
    """The ``[suite]`` table's name, description and seeds, each checked on its own."""
    header = source.attempt(lambda: _table(data, "suite", source, required=True))
    if header is None:  # reported: its keys cannot be checked
        return None, "", [0]
    for key in header:
        with source.collecting():
            if key not in SUITE_KEYS:
                suggestion = did_you_mean(key, SUITE_KEYS)
                raise source.error("unknown key", "suite", key, header[key],
                                   f"did you mean {suggestion!r}?" if suggestion else None)
    name = header.get("name")
    with source.collecting():
        if not isinstance(name, str) or not name.strip():
            raise source.error("must be a non-empty string", "suite", "name", name)
        _check_name(name, source, "suite", "name")
    description = header.get("description", "")
    with source.collecting():
        if not isinstance(description, str):
            raise source.error("must be a string", "suite", "description", description)
    seeds = header.get("seeds", [0])
    with source.collecting():
        if (not isinstance(seeds, list) or not seeds
                or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
            raise source.error("must be a non-empty list of integers", "suite", "seeds", seeds)
        if len(set(seeds)) != len(seeds):
            raise source.error("lists a seed twice", "suite", "seeds", seeds)
    return name, description, seeds


def _tables_for_nothing(data: dict, source: _Source, names: _Names, combinations: list[dict[str, str]]) -> list[str]:
    """A warning for each ``[params]`` or ``[variants]`` table that no
    combination of the suite uses (after [[exclude]] and [[include]]): a
    component left out of the matrix, a typo of a variant's name, and its
    settings apply to nothing, in silence otherwise."""
    used = {kind: {c[kind] for c in combinations} for kind in KINDS}
    built = {kind: {names.variants[kind][n].of if n in names.variants[kind] else n for n in used[kind]}
             for kind in KINDS}
    warnings = []
    for key, what, in_use in (("params", "component", built), ("variants", "variant", used)):
        for kind, name, _, where in _tables_by_kind(data, key, what, source):
            if name not in in_use[kind]:
                via = " (directly or through a variant)" if key == "params" else ""
                warnings.append(str(source.error(
                    f"applies to nothing: no combination of the suite uses {kind} {name!r}{via}", where)))
    return warnings


def _energy(data: dict, source: _Source):
    try:
        return energy_table(_table(data, "energy", source))
    except EnergyTableError as error:
        raise source.error(str(error), "energy", error.key, error.value, error.hint) from None


def find_suite_files(directory: Path) -> dict[str, SuiteDocument]:
    """The suite files in ``directory`` by their ``[suite] name``; files that
    do not parse are left out (``snnbench validate`` names their errors)."""
    found: dict[str, SuiteDocument] = {}
    for path in sorted(Path(directory).glob("*.toml")) if Path(directory).is_dir() else []:
        try:
            document = read_suite(path)
        except SuiteError:
            continue
        if isinstance(document.name, str):
            found.setdefault(document.name, document)
    return found


def incompatibility(choices: dict[str, Choice], registries: Registries) -> str | None:
    """Why these components cannot run together, or None if they can."""
    dataset = registries["dataset"].get(choices["dataset"].component).spec
    info: DatasetInfo = dataset.describe(choices["dataset"].params)
    encoder = registries["encoder"].get(choices["encoder"].component).spec
    if info.kind not in encoder.accepts:
        return (f"encoder {encoder.name!r} accepts {sorted(encoder.accepts)} data, "
                f"dataset {info.name!r} is {info.kind!r}")
    architecture = registries["architecture"].get(choices["architecture"].component).spec
    if info.kind not in architecture.accepts:
        return (f"architecture {architecture.name!r} accepts {sorted(architecture.accepts)} data, "
                f"dataset {info.name!r} is {info.kind!r}")
    if architecture.check is not None:
        reason = architecture.check(choices["architecture"].params, info)
        if reason:
            return reason
    neuron = registries["neuron"].get(choices["neuron"].component).spec
    reason = missing_neuron_params(architecture.name, architecture.neuron_overrides(choices["architecture"].params),
                                   choices["neuron"].name, neuron.params)
    if reason:
        return reason
    rule = registries["learning_rule"].get(choices["learning_rule"].component).spec
    if rule.architectures is not None and architecture.name not in rule.architectures:
        return (f"learning rule {rule.name!r} trains only {sorted(rule.architectures)}, "
                f"not {architecture.name!r}")
    return None


# ---------------------------------------------------------------------------- pieces


def _table(data: dict, key: str, source: _Source, required: bool = False) -> dict:
    value = data.get(key)
    if value is None:
        if required:
            raise source.error("is missing", key)
        return {}
    if not isinstance(value, dict):
        raise source.error("must be a table", None, key, value)
    return value


def _parse(cls: type, table: dict, source: _Source, where: str) -> Any:
    try:
        return parse_params(cls, table)
    except ParamError as error:
        raise source.error(str(error), where, error.key, error.value, error.hint) from None


#: what a suite or variant name may be: it names the report's pages and files,
#: and is typed on command lines, so it holds no path, markup or space
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
NAME_RULE = f"letters, digits, '.', '_' and '-', starting with a letter or digit ({NAME.pattern})"


def _check_name(name: str, source: _Source, table: str, key: str | None = None) -> None:
    if NAME.fullmatch(name):
        return
    tidy = re.sub(r"(?:[^A-Za-z0-9._-]|\.{2,})+", "-", name).strip("._-")
    raise source.error(f"a name may hold only {NAME_RULE}", table, key, name if key else None,
                       f"e.g. {tidy!r}" if tidy else None)


def _lookup(kind: str, name: object, source: _Source, table: str, key: str, registries: Registries):
    if not isinstance(name, str):
        raise source.error(f"must be a {kind} name (a string)", table, key, name)
    try:
        return registries[kind].get(name)
    except UnknownComponentError as error:
        hint = (f"did you mean {error.suggestion!r}?" if error.suggestion
                else f"registered: {', '.join(registries[kind].names()) or 'none'}; see `snnbench ls {kind}`")
        raise source.error(f"unknown {kind}", table, key, name, hint) from None


@dataclass(frozen=True)
class _Variant:
    of: str
    params: Any


class _Names:
    """The names a suite may use: registered components and its own variants."""

    def __init__(self, registries: Registries, variants: dict[str, dict[str, _Variant]]):
        self.registries, self.variants = registries, variants

    def check(self, kind: str, name: object, source: _Source, table: str, key: str) -> None:
        if isinstance(name, str) and name in self.variants[kind]:
            return
        _lookup(kind, name, source, table, key, self.registries)

    def choice(self, kind: str, name: str, params: dict[str, dict[str, Any]], source: _Source) -> Choice:
        variant = self.variants[kind].get(name)
        if variant is not None:
            return Choice(name, variant.params, variant.of)
        return Choice(name, params[kind].get(name) or _parse(
            self.registries[kind].get(name).spec.params, {}, source, f"params.{kind}.{name}"))


def _tables_by_kind(data: dict, key: str, what: str, source: _Source) -> Iterator[tuple[str, str, Any, str]]:
    """``(kind, name, table, where)`` for each ``[key.<kind>.<name>]`` table,
    the kind checked (with a did-you-mean) and its level checked to be a table."""
    for kind, by_name in (source.attempt(lambda: _table(data, key, source)) or {}).items():
        with source.collecting():
            if kind not in KINDS:
                suggestion = did_you_mean(kind, KINDS)
                raise source.error("unknown component kind", f"{key}.{kind}",
                                   hint=f"did you mean [{key}.{suggestion}]?" if suggestion
                                   else f"valid kinds: {', '.join(KINDS)}")
            if not isinstance(by_name, dict):
                raise source.error(f"must be a table of {what} tables", key, kind, by_name)
            for name, table in by_name.items():
                yield kind, name, table, f"{key}.{kind}.{name}"


def _variants(data: dict, source: _Source, registries: Registries,
              params: dict[str, dict[str, Any]]) -> dict[str, dict[str, _Variant]]:
    """``[variants.<kind>.<name>]``: ``of`` names the registered component, the
    other keys are its params on top of ``[params.<kind>.<of>]``."""
    variants: dict[str, dict[str, _Variant]] = {kind: {} for kind in KINDS}
    for kind, name, table, where in _tables_by_kind(data, "variants", "variant", source):
        variants[kind][name] = _UNCHECKED  # declared: the matrix may name it, whatever its table's errors
        with source.collecting():
            variants[kind][name] = _variant(kind, name, table, where, source, registries, params)
    return variants


#: a variant whose table has errors (reported on their own)
_UNCHECKED = _Variant("", None)


def _variant(kind: str, name: str, table: object, where: str, source: _Source, registries: Registries,
             params: dict[str, dict[str, Any]]) -> _Variant:
    if not isinstance(table, dict):
        raise source.error("must be a table", f"variants.{kind}", name, table)
    _check_name(name, source, where)
    if name in registries[kind].names():
        raise source.error(f"a variant may not take the name of a registered {kind}", where,
                           hint="give it a name of its own, e.g. "
                                f"{name}-{next(iter(table), 'variant')}")
    if "of" not in table:
        raise source.error(f"is missing: name the registered {kind} this configures", where, "of")
    base = _lookup(kind, table["of"], source, where, "of", registries)
    inherited = params_to_dict(params[kind][base.name]) if base.name in params[kind] else {}
    own = {key: value for key, value in table.items() if key != "of"}
    return _Variant(base.name, _parse(base.spec.params, inherited | own, source, where))


def _matrix(data: dict, source: _Source, names: _Names) -> dict[str, list[str]]:
    matrix = source.attempt(lambda: _table(data, "matrix", source, required=True))
    if matrix is None:
        return {}
    for key in matrix:
        with source.collecting():
            if key not in KINDS:
                suggestion = did_you_mean(key, KINDS)
                raise source.error("unknown key", "matrix", key, matrix[key], f"did you mean {suggestion!r}?"
                                   if suggestion else f"valid keys: {', '.join(KINDS)}")
    resolved = {}
    for kind in KINDS:
        with source.collecting():
            listed = matrix.get(kind)
            if listed is None:
                raise source.error(f"is missing: list the {kind} names to compare", "matrix", kind)
            listed = [listed] if isinstance(listed, str) else listed
            if not isinstance(listed, list) or not listed:
                raise source.error("must be a non-empty list of names", "matrix", kind, listed)
            for name in listed:
                with source.collecting():
                    names.check(kind, name, source, "matrix", kind)
            if len(set(map(str, listed))) != len(listed):
                raise source.error("lists a name twice", "matrix", kind, listed)
            resolved[kind] = listed
    return resolved


def _component_params(data: dict, source: _Source, registries: Registries) -> dict[str, dict[str, Any]]:
    parsed: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
    for kind, name, table, where in _tables_by_kind(data, "params", "component", source):
        with source.collecting():
            try:
                spec = registries[kind].get(name).spec
            except UnknownComponentError as error:
                raise source.error(f"no {kind} is registered under this name", where,
                                   hint=f"did you mean [params.{kind}.{error.suggestion}]?"
                                   if error.suggestion else None) from None
            if not isinstance(table, dict):
                raise source.error("must be a table", f"params.{kind}", name, table)
            parsed[kind][name] = _parse(spec.params, table, source, where)
    return parsed


def _reporters(data: dict, source: _Source, registries: Registries) -> tuple[Choice, ...]:
    """``[report.<name>]``: a reporter to watch the suite's runs, and its params;
    one whose library is not installed is refused here, saying what to install."""
    chosen = []
    for name, table in (source.attempt(lambda: _table(data, "report", source)) or {}).items():
        with source.collecting():
            chosen.append(_reporter(name, table, source, registries))
    return tuple(chosen)


def _reporter(name: str, table: object, source: _Source, registries: Registries) -> Choice:
    where = f"report.{name}"
    try:
        spec = registries["reporter"].get(name).spec
    except UnknownComponentError as error:
        raise source.error("no reporter is registered under this name", where,
                           hint=f"did you mean [report.{error.suggestion}]?" if error.suggestion
                           else f"registered: {', '.join(registries['reporter'].names()) or 'none'}") from None
    if not isinstance(table, dict):
        raise source.error("must be a table of the reporter's params", "report", name, table)
    params = _parse(spec.params, table, source, where)
    missing = spec.unavailable()
    if missing:
        raise source.error(missing, where)
    return Choice(name, params)


def _entries(data: dict, key: str, source: _Source) -> list[dict]:
    entries = data.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise source.error(f"must be an array of tables ([[{key}]])", None, key, entries)
    return entries


def _check_entry_keys(entry: dict, index: int, source: _Source, table: str) -> None:
    for key in entry:
        if key not in KINDS:
            suggestion = did_you_mean(key, KINDS)
            raise source.error(f"unknown key in {table} entry {index + 1}", table, key, entry[key],
                               f"did you mean {suggestion!r}?" if suggestion else f"valid keys: {', '.join(KINDS)}")


def _exclusions(data: dict, source: _Source, names: _Names) -> list[dict[str, str]]:
    """The validated ``[[exclude]]`` entries; an empty one would drop every cell, so it is refused."""
    entries = source.attempt(lambda: _entries(data, "exclude", source)) or []
    for index, entry in enumerate(entries):
        with source.collecting():
            _check_entry_keys(entry, index, source, "exclude")
            if not entry:
                raise source.error(f"exclude entry {index + 1} is empty: name the components to drop", "exclude")
            for kind, name in entry.items():
                names.check(kind, name, source, "exclude", kind)
    return entries


def _references(data: dict, source: _Source, names: _Names | None = None) -> list[Reference]:
    """The validated ``[[reference]]`` entries; with ``names``, their component
    names are checked against the suite's too."""
    references = []
    for index, entry in enumerate(source.attempt(lambda: _entries(data, "reference", source)) or []):
        with source.collecting():
            references.append(_reference(entry, index, source, names))
    return references


def _reference(entry: dict, index: int, source: _Source, names: _Names | None) -> Reference:
    match = {key: value for key, value in entry.items() if key not in REFERENCE_KEYS}
    for key in match:
        if key not in KINDS:
            suggestion = did_you_mean(key, [*KINDS, *REFERENCE_KEYS])
            raise source.error(f"unknown key in reference entry {index + 1}", "reference", key, entry[key],
                               f"did you mean {suggestion!r}?" if suggestion
                               else f"valid keys: {', '.join([*KINDS, *REFERENCE_KEYS])}")
        if names is not None:
            names.check(key, match[key], source, "reference", key)
        elif not isinstance(match[key], str):
            raise source.error(f"must be a {key} name (a string)", "reference", key, match[key])
    if not match:
        raise source.error(f"reference entry {index + 1} names no component: say which cells it is for "
                           f"({', '.join(KINDS)})", "reference")
    for key in REFERENCE_KEYS:
        if key not in entry:
            raise source.error(f"reference entry {index + 1}: is missing", "reference", key)
    try:
        measured = metric(entry["metric"]) if isinstance(entry["metric"], str) else None
    except SnnbenchError as error:
        raise source.error(str(error), "reference", "metric", entry["metric"]) from None
    if measured is None:
        raise source.error("must be a metric name (a string)", "reference", "metric", entry["metric"])
    value = entry["value"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise source.error("must be a number", "reference", "value", value)
    if measured.key in FRACTION_METRICS and not 0 <= value <= 1:
        raise source.error(f"{measured.key} is stored as a fraction", "reference", "value", value,
                           f"write {value}% as {value / 100:g}")
    if not isinstance(entry["source"], str) or not entry["source"].strip():
        raise source.error("must say where the number comes from (a non-empty string)", "reference",
                           "source", entry["source"])
    return Reference(tuple(sorted(match.items())), measured.key, float(value), entry["source"].strip())


def _include(entry: dict, index: int, source: _Source, names: _Names) -> dict[str, str]:
    _check_entry_keys(entry, index, source, "include")
    missing = [kind for kind in KINDS if kind not in entry]
    if missing:
        raise source.error(f"include entry {index + 1} must name every component; missing {', '.join(missing)}",
                           "include")
    for kind in KINDS:
        names.check(kind, entry[kind], source, "include", kind)
    return {kind: entry[kind] for kind in KINDS}
