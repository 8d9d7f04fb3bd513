"""The docs' generated parts: every reference table and every results table
is written from the code or a committed result file while the docs build,
so none can go stale and no figure is typed in by hand.

Directives (each writes Markdown that MyST parses in place):

``{snnbench-tables}``
    the tables of a suite file (``TOP_LEVEL``), with what each is for
``{snnbench-keys} suite|reference|training|tune|matrix``
    the keys of one table: from ``SUITE_KEYS``, ``REFERENCE_KEYS``, the
    ``TrainingConfig`` and ``TuneOptions`` dataclasses, the component kinds
``{snnbench-params} KIND``
    every built-in component of a kind with its params (type, default,
    range, help), a heading per component to link to
``{snnbench-components} KIND``
    a one-line-each table of a kind's components, linking to their params
``{snnbench-cli}``
    every subcommand and flag of ``snnbench``, from its argparse parser
``{snnbench-metrics}``
    every metric record: title, direction, family and version, gate and
    compare tolerances
``{snnbench-results} leaderboard/FILE.json``
    a committed result file as ``snnbench leaderboard`` prints it, with the
    command, machines, commits and dates of its rows (options ``:by:``,
    ``:metrics:``, ``:sort:``, ``:include-contended:`` as the leaderboard's
    ``--include-contended``)
``{snnbench-benchmark} benchmarks/results/FILE.json``
    a committed benchmark file (a benchmark script's table) with its
    command, machine, load, commit and date
``{predates-results}``
    the note every figure that no result file backs must carry
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import re
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

REPO = Path(__file__).resolve().parents[2]

#: each kind's page under docs/components/
KIND_PAGES = {"dataset": "datasets", "encoder": "encoders", "neuron": "neurons", "architecture": "architectures",
              "learning_rule": "learning-rules", "reporter": "reporters"}


@functools.cache
def builtin_plugins():
    """snnbench's own plugins (conf.py switches third-party autoloading off)."""
    from snnbench.definition.plugins import load_plugins

    plugins = load_plugins()
    if plugins.failures:
        raise RuntimeError(f"built-in plugins failed to load: {plugins.failures}")
    return plugins


def cell(text: object) -> str:
    """Text that is safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def plain(text: str) -> str:
    """Help text as written (brackets, stars, angle brackets), not as Markdown; backticks stay code."""
    parts = re.split(r"(`[^`]*`)", text)
    return "".join(part if part.startswith("`") else re.sub(r"([*\[\]<>_])", r"\\\1", part) for part in parts)


def code(text: object) -> str:
    text = str(text)
    return f"``{text}``" if "`" in text else f"`{text}`"


def table(headers: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return lines + [""]


def params_table(cls: type) -> list[str]:
    from snnbench.definition.params import describe_params

    rows = [[code(p["name"]), cell(p["type"]), code(p["default"]), p["range"] or "", plain(p["help"])]
            for p in describe_params(cls)]
    return table(["key", "type", "default", "range", "meaning"], rows) if rows else ["No params.", ""]


def anchor(kind: str, name: str) -> str:
    return f"params-{kind}-{name}".replace("_", "-")


class MarkdownDirective(SphinxDirective):
    """A directive whose output is Markdown, parsed where it stands (headings included)."""

    def markdown(self) -> list[str]:
        raise NotImplementedError

    #: a CSS class for the output, kept in a container of its own (None: the output stands alone)
    css_class: str | None = None

    def run(self) -> list[nodes.Node]:
        container = nodes.section() if self.allows_headings else nodes.container()
        source = self.get_source_info()[0]
        from snnbench.api.errors import SnnbenchError

        generated_pages(self.env).add(self.env.docname)
        try:
            lines = self.markdown()
        except SnnbenchError as error:  # a missing or broken file: the build's warning, not a crash
            raise self.error(f"{self.name}: {error}") from None
        nested_parse_with_titles(self.state, StringList(lines, source=source), container)
        if self.css_class:
            container["classes"].append(self.css_class)
            return [container]
        return container.children

    allows_headings = False


class Tables(MarkdownDirective):
    def markdown(self) -> list[str]:
        from snnbench.definition.suite import TOP_LEVEL

        return table(["table", "what it is for"], [[code(f"[{name}]"), plain(text)] for name, text in TOP_LEVEL.items()])


class Keys(MarkdownDirective):
    required_arguments = 1

    def markdown(self) -> list[str]:
        which = self.arguments[0]
        if which == "suite":
            from snnbench.definition.suite import SUITE_KEYS

            return table(["key", "meaning"], [[code(key), plain(text)] for key, text in SUITE_KEYS.items()])
        if which == "reference":
            from snnbench.api.contracts import KINDS
            from snnbench.definition.suite import REFERENCE_KEYS

            rows = [[code(key), plain(text)] for key, text in REFERENCE_KEYS.items()]
            rows += [[code(kind), f"optional: only cells whose {kind} is this name"] for kind in KINDS]
            return table(["key", "meaning"], rows)
        if which == "matrix":
            from snnbench.api.contracts import KINDS

            return table(["key", "meaning"], [[code(kind), f"the {kind} names to compare (a list, or one name); "
                                               f"see {link_to_kind(kind)}"] for kind in KINDS])
        if which == "training":
            from snnbench.api.training_config import TrainingConfig

            return params_table(TrainingConfig)
        if which == "tune":
            from snnbench.definition.tune_space import TuneOptions

            return params_table(TuneOptions)
        raise self.error(f"snnbench-keys: unknown table {which!r}")


def link_to_kind(kind: str) -> str:
    return f"[the {kind.replace('_', ' ')} page](/components/{KIND_PAGES[kind]}.md)"


class Params(MarkdownDirective):
    """A heading per component of the kind, with its summary, plugin and params."""

    required_arguments = 1
    allows_headings = True

    def markdown(self) -> list[str]:
        kind = self.arguments[0]
        lines: list[str] = []
        for entry in builtin_plugins().registries[kind]:
            spec = entry.spec
            lines += [f"({anchor(kind, entry.name)})=", f"#### `{entry.name}`", "", f"{spec.summary}", ""]
            lines += [f"*{kind.replace('_', ' ')}* from plugin `{entry.plugin}`"
                      + _extras(kind, spec) + f"; table `[params.{kind}.{entry.name}]`"
                      if kind != "reporter" else f"*reporter* from plugin `{entry.plugin}`; table "
                      f"`[report.{entry.name}]`", ""]
            lines += params_table(spec.params)
        return lines


def _extras(kind: str, spec: Any) -> str:
    extra = []
    accepts = getattr(spec, "accepts", None)
    if accepts is not None:
        extra.append("accepts " + ", ".join(f"`{a}`" for a in sorted(accepts)) + " data")
    if kind == "dataset":
        info = spec.describe(spec.params())
        extra.append(f"`{info.kind}` data of shape `{list(info.input_shape)}`, {info.n_classes} classes")
    if getattr(spec, "trainable", False):
        extra.append("trainable")
    if kind == "learning_rule":
        extra.append("trains " + (", ".join(f"`{a}`" for a in sorted(spec.architectures))
                                  if spec.architectures else "any architecture"))
    if kind == "neuron" and not getattr(spec, "differentiable", True):
        extra.append("no surrogate gradient")
    return "".join(f"; {e}" for e in extra)


class Components(MarkdownDirective):
    required_arguments = 1

    def markdown(self) -> list[str]:
        kind = self.arguments[0]
        rows = [[f"{{ref}}`{entry.name} <{anchor(kind, entry.name)}>`", plain(entry.spec.summary)]
                for entry in builtin_plugins().registries[kind]]
        return table(["name", "what it is"], rows)


class Specs(MarkdownDirective):
    """Each registration hook with the spec it registers and that spec's fields."""

    def markdown(self) -> list[str]:
        from snnbench.api.contracts import COMPONENT_KINDS

        rows = []
        for kind in COMPONENT_KINDS:
            fields = []
            for f in dataclasses.fields(kind.spec):
                if not f.init:
                    continue
                if f.default is not dataclasses.MISSING:
                    default = getattr(f.default, "__name__", None) or repr(f.default)
                    fields.append(f"{f.name}={default}")
                elif f.default_factory is not dataclasses.MISSING:
                    fields.append(f"{f.name}={f.default_factory()!r}")
                else:
                    fields.append(f.name)
            rows.append([code(f"{kind.hook}(register)"), code(f"{kind.spec.__name__}({', '.join(fields)})")])
        return table(["hook", "registers"], rows)


class Cli(MarkdownDirective):
    """Every subcommand of the parser: usage, description, each argument."""

    allows_headings = True

    def markdown(self) -> list[str]:
        from snnbench.cli import build_parser

        os.environ["COLUMNS"] = "90"  # argparse wraps usage lines to the terminal; the page has none
        parser = build_parser()
        lines = ["(cli-snnbench)=", "## `snnbench`", "", plain(parser.description or ""), "", "```text",
                 parser.format_usage().strip(), "```", ""]
        lines += arguments_table(parser)
        for name, sub in subcommands(parser).items():
            lines += [f"(cli-{name})=", f"## `snnbench {name}`", "", plain(sub.description or helps(parser)[name]), "",
                      "```text", sub.format_usage().strip(), "```", ""]
            lines += arguments_table(sub)
            if sub.epilog:
                lines += ["```text", sub.epilog.strip(), "```", ""]
        if parser.epilog:
            lines += ["## Examples and environment", "", "```text", parser.epilog.strip(), "```", ""]
        return lines


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def helps(parser: argparse.ArgumentParser) -> dict[str, str]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {choice.dest: choice.help or "" for choice in action._choices_actions}


def arguments_table(parser: argparse.ArgumentParser) -> list[str]:
    """A table of each argument group's arguments; groups other than argparse's own two get their title."""
    lines: list[str] = []
    own: list[list[str]] = []  # positional arguments and options: one table
    for group in parser._action_groups:
        rows = []
        for action in group._group_actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if action.option_strings:
                shown = ", ".join(action.option_strings)
                if action.nargs != 0:
                    metavar = action.metavar or action.dest.upper()
                    shown += " " + (" ".join(metavar) if isinstance(metavar, tuple) else metavar)
            else:
                shown = action.metavar or action.dest
            text = (action.help or "").replace("%%", "%")
            if "%(" in text:
                text = text % {"default": action.default, "prog": parser.prog}
            if action.choices and not isinstance(action, argparse._SubParsersAction):
                text += (" " if text else "") + "(one of " + ", ".join(map(str, action.choices)) + ")"
            if action.required and action.option_strings:
                text += " (required)"
            rows.append([code(shown), plain(text)])
        if group.title in ("positional arguments", "options", "optional arguments"):
            own += rows
        elif rows:
            lines += [f"**{plain(group.title)}.** {plain(group.description or '')}", ""]
            lines += table(["argument", "what it does"], rows)
    return (table(["argument", "what it does"], own) if own else []) + lines


class Metrics(MarkdownDirective):
    def markdown(self) -> list[str]:
        from snnbench.definition.metric_specs import METRIC_VERSIONS, METRICS

        extra = [f for f in dataclasses.fields(METRICS[0])
                 if f.name not in {"key", "title", "higher_is_better", "format", "family", "repeats", "fails_on",
                                   "gate_tolerance", "compare_tolerance"}]
        headers = ["key", "column", "better", "family (version)", "a gate fails on", "`check` tolerance",
                   "`compare` tolerance", *(f.name.replace("_", " ") for f in extra)]
        rows = [[code(m.key), m.title, "higher" if m.higher_is_better else "lower",
                 f"{m.family} (v{METRIC_VERSIONS[m.family]})" if m.family in METRIC_VERSIONS else m.family,
                 "any change" if m.fails_on == "change" else "a worse value",
                 tolerance_text(m.gate_tolerance), tolerance_text(m.compare_tolerance),
                 *(tolerance_text(getattr(m, f.name)) if isinstance(getattr(m, f.name), dict)
                   else cell(getattr(m, f.name)) for f in extra)]
                for m in METRICS]
        return table(headers, rows)


class ResultsTable(MarkdownDirective):
    """A committed result file as the leaderboard prints it, with its provenance."""

    required_arguments = 1
    option_spec = {"by": directives.unchanged, "metrics": directives.unchanged, "sort": directives.unchanged,
                   "include-contended": directives.flag}
    css_class = "snnbench-results"

    def markdown(self) -> list[str]:
        from snnbench.results.benchmark_file import describe_machine
        from snnbench.results.leaderboard import aggregate, provenance, render
        from snnbench.results.result_file import read_result_file

        path = REPO / self.arguments[0]
        self.env.note_dependency(str(path))
        header, results = read_result_file(path)
        if results.ok.empty:
            return [":::{warning}", f"`{self.arguments[0]}` holds no current ok rows"
                    + (f" ({results.stale} computed with an older metric definition)" if results.stale else "")
                    + ", so there is no table to show.", ":::", ""]
        by = self.options.get("by", "encoder").split()
        metrics = self.options.get("metrics", "").split() or None
        aggregated = aggregate(results.ok, by, include_contended="include-contended" in self.options)
        text = render(aggregated, by, sort=self.options.get("sort", "accuracy"), fmt="md", metrics=metrics)
        origin = provenance(results)
        machines: dict[str, int] = {}
        for m in results.machines:
            described = describe_machine(m)
            machines[described] = machines.get(described, 0) + 1
        lines = text.splitlines() + [""]
        lines += [f"From {{download}}`{self.arguments[0]} </../{self.arguments[0]}>` (download it beside this "
                  "page), rendered when the docs were built:", ""]
        lines += [f"- command: `{header['command']}`",
                  "- machine: " + "; ".join(f"{m} ({n} rows)" for m, n in machines.items()),
                  "- commit: " + ", ".join(f"`{c}` ({n} rows)" for c, n in origin["commits"].items()),
                  f"- rows finished between {header['first_row_finished']} and {header['last_row_finished']}; "
                  f"file written {header['exported_at']} by {header['exported_by']}"]
        if results.stale:
            lines.append(f"- {results.stale} rows left out: computed with an older metric definition")
        if not results.failed.empty:
            lines.append(f"- {len(results.failed)} failed rows: "
                         + "; ".join(f"{r['label']}: {r['reason']}" for _, r in results.failed.iterrows()))
        return lines + [""]


class BenchmarkTable(MarkdownDirective):
    """A committed benchmark file: the script's table, its notes and its provenance."""

    required_arguments = 1
    css_class = "snnbench-results"

    def markdown(self) -> list[str]:
        from snnbench.results.benchmark_file import describe_machine, formatted_rows, read_benchmark_file

        path = REPO / self.arguments[0]
        self.env.note_dependency(str(path))
        content = read_benchmark_file(path)
        lines = table(content["columns"], [[plain(value) for value in row] for row in formatted_rows(content)])
        lines += [note + "\n" for note in content.get("notes", [])]
        load = content.get("load_average")
        machine = describe_machine(content["machine"]) + (
            f"; load average {load['before']:.2f} before, {load['after']:.2f} after" if load else "")
        lines += [f"From {{download}}`{self.arguments[0]} </../{self.arguments[0]}>`, rendered when the docs "
                  "were built:", "",
                  f"- command: `{content['command']}`",
                  f"- machine: {machine}",
                  f"- commit: `{content.get('commit')}`; written {content['written_at']} by "
                  f"{content.get('written_by')}", ""]
        return lines


class Baseline(MarkdownDirective):
    """A committed ``snnbench check`` baseline: each cell's mean ± std over its runs, and its machines."""

    required_arguments = 1

    def markdown(self) -> list[str]:
        import json

        from snnbench.definition.metric_specs import metric

        path = REPO / self.arguments[0]
        self.env.note_dependency(str(path))
        baseline = json.loads(path.read_text())
        keys = list(dict.fromkeys(k for entry in baseline["entries"] for k in entry["metrics"]))

        def shown(value: dict[str, float], key: str) -> str:
            spec = metric(key)
            return f"{spec.format(value['mean'])} ± {spec.format(value['std'])} (n={value['n']})"

        rows = [[code(entry["label"]), *(shown(entry["metrics"][k], k) if k in entry["metrics"] else "–"
                                         for k in keys)] for entry in baseline["entries"]]
        lines = table(["cell", *(metric(k).title for k in keys)], rows)
        machines = "; ".join(f"{m.get('cpu')} ({m.get('isa')}, {m.get('threads')} threads, torch {m.get('torch')})"
                             for m in baseline.get("machines", []))
        tolerances = ", ".join(f"{k} {tolerance_text(v)}" for k, v in baseline.get("tolerances", {}).items())
        return lines + [f"From `{self.arguments[0]}`, rendered when the docs were built. Machines: {machines}. "
                        f"Gated metrics and tolerances: {tolerances}; alpha {baseline.get('alpha')}.", ""]


def tolerance_text(value: dict[str, float] | None) -> str:
    if not value:
        return "–"
    (how, amount), = value.items()
    return f"±{amount:g}" if how == "abs" else f"±{amount:.0%}"


class Layout(MarkdownDirective):
    """Every module of a package folder with the first sentence of its docstring."""

    required_arguments = 1

    def markdown(self) -> list[str]:
        import ast

        root = REPO / self.arguments[0]
        rows = []
        for path in sorted(root.rglob("*.py")):
            self.env.note_dependency(str(path))
            docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
            first = re.split(r"(?<=[.:])\s", " ".join(docstring.split("\n\n")[0].split()), maxsplit=1)[0]
            rows.append([code(path.relative_to(REPO)), plain(first.rstrip(":."))])
        return table(["module", "what it holds"], rows)


class ResultFiles(MarkdownDirective):
    """The committed result files, each with its suites, rows and command."""

    def markdown(self) -> list[str]:
        from snnbench.results.result_file import read_result_file

        rows = []
        for path in sorted((REPO / "leaderboard").glob("*.json")):
            try:
                header, results = read_result_file(path)
            except Exception:  # baselines and other JSON live there too
                continue
            self.env.note_dependency(str(path))
            rows.append([code(path.relative_to(REPO)), ", ".join(header["suites"]), len(header["rows"]),
                         code(header["command"])])
        return table(["file", "suites", "rows", "command"], rows)


class PredatesResults(SphinxDirective):
    """The note on a figure measured before result files existed."""

    has_content = True

    def run(self) -> list[nodes.Node]:
        note = nodes.admonition(classes=["predates-results"])
        note += nodes.title(text="Not backed by a result file")
        text = ("The figures below were measured by an earlier session and typed in before result files "
                "existed; no store of theirs is left, so no file in leaderboard/ backs them. The command "
                "beside them reproduces them; export its rows with snnbench export-results to replace them.")
        note += nodes.paragraph(text=text)
        if self.content:
            self.state.nested_parse(self.content, self.content_offset, note)
        return [note]


def generated_pages(env) -> set[str]:
    """The pages with generated parts: read again on every build, since what
    they are written from (the code, the result files) is not a page Sphinx tracks."""
    if not hasattr(env, "snnbench_generated"):
        env.snnbench_generated = set()
    return env.snnbench_generated


def _outdated(app, env, added, changed, removed) -> list[str]:
    return sorted(generated_pages(env) - set(removed))


def _purge(app, env, docname) -> None:
    generated_pages(env).discard(docname)


def _merge(app, env, docnames, other) -> None:
    generated_pages(env).update(generated_pages(other) & set(docnames))


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("env-get-outdated", _outdated)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    for name, directive in {"snnbench-tables": Tables, "snnbench-keys": Keys, "snnbench-params": Params,
                            "snnbench-components": Components, "snnbench-specs": Specs, "snnbench-cli": Cli, "snnbench-metrics": Metrics,
                            "snnbench-results": ResultsTable, "snnbench-benchmark": BenchmarkTable,
                            "snnbench-baseline": Baseline,
                            "snnbench-layout": Layout, "snnbench-result-files": ResultFiles,
                            "predates-results": PredatesResults}.items():
        app.add_directive(name, directive)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
