"""The docs stay true (after datasette's tests/test_docs.py): they build with
no warning, and every hook, command, flag, suite key, built-in component and
metric the code has is in them. The lists come from the plugin manager, the
argparse parser, the registries and the metric records, never from a
hand-kept list. Every shell or Python block runs here or is marked
illustrative (docs/development.md, "Writing the docs")."""

from __future__ import annotations

import argparse
import dataclasses
import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pluggy
import pytest
from conftest import REPO
from doc_blocks import RUNNABLE, blocks, shell_commands

from snnbench.api import hookspecs
from snnbench.api.contracts import KINDS, PLUGIN_KINDS
from snnbench.api.training_config import TrainingConfig
from snnbench.cli import build_parser
from snnbench.definition.metric_specs import METRICS
from snnbench.definition.params import describe_params
from snnbench.definition.plugins import ENTRY_POINT_GROUP, load_plugins
from snnbench.definition.energy_tables import KEYS as ENERGY_KEYS
from snnbench.definition.suite import REFERENCE_KEYS, SUITE_KEYS, TOP_LEVEL
from snnbench.definition.tune_space import DIMENSION_KEYS, TuneOptions

DOCS = REPO / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)
#: pages whose hand-typed tables are measurements: each needs the predates-results note
RESULTS_PAGES = sorted([*(DOCS / "reproductions").glob("*.md"), DOCS / "speed.md"])
#: the family page of each component kind
FAMILY_PAGES = {"dataset": "datasets", "encoder": "encoders", "neuron": "neurons", "architecture": "architectures",
                "learning_rule": "learning-rules", "reporter": "reporters"}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The docs built from scratch with warnings as errors, as `make docs` and CI build them."""
    out = tmp_path_factory.mktemp("docs") / "html"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SNNBENCH_")}
    result = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                             str(DOCS), str(out)], capture_output=True, text=True, env=environ, timeout=900)
    assert result.returncode == 0, f"the docs build warned or failed:\n{result.stdout}\n{result.stderr}"
    return out


def text_of(site: Path, page: str) -> str:
    """A built page's text, tags dropped, whitespace collapsed."""
    raw = (site / f"{page}.html").read_text()
    raw = re.sub(r"<(script|style)\b.*?</\1>", " ", raw, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", raw)).split())


@pytest.fixture(scope="module")
def builtins():
    return load_plugins().registries


# --------------------------------------------------------------------------- coverage


def test_every_hook_is_documented_with_its_specification(site):
    manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
    manager.add_hookspecs(hookspecs)
    page = text_of(site, "plugins/hooks")
    hooks = [name for name in vars(manager.hook) if not name.startswith("_")]
    assert hooks
    for hook in hooks:
        arguments = ", ".join(getattr(manager.hook, hook).spec.argnames)
        assert f"{hook}({arguments})" in page, hook
        assert f"snnbench.api.hookspecs.{hook}" in (site / "plugins/hooks.html").read_text(), \
            f"{hook}: no autodoc entry"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_subcommand_and_flag_is_in_the_cli_reference(site):
    page = text_of(site, "reference/cli")
    parser = build_parser()
    for option in (o for a in parser._actions for o in a.option_strings if o not in ("-h", "--help")):
        assert option in page, option
    for name, sub in _subcommands(parser).items():
        assert f"snnbench {name}" in page, name
        for action in sub._actions:
            for option in action.option_strings:
                assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", page), f"snnbench {name} {option}"
            if not action.option_strings:
                assert (action.metavar or action.dest) in page, f"snnbench {name} {action.dest}"


def test_every_suite_key_is_in_the_suite_file_reference(site):
    page = text_of(site, "reference/suite-file")
    assert all(f"[{table}]" in page for table in TOP_LEVEL), "a table of the suite file is missing"
    keys = [*SUITE_KEYS, *REFERENCE_KEYS, *KINDS, *DIMENSION_KEYS, *ENERGY_KEYS,
            *(f.name for f in dataclasses.fields(TrainingConfig)),
            *(f.name for f in dataclasses.fields(TuneOptions))]
    missing = [key for key in keys if not re.search(rf"(?<![\w-]){re.escape(key)}(?![\w-])", page)]
    assert not missing, f"suite keys missing from docs/reference/suite-file.md: {missing}"


def test_every_builtin_component_and_its_params_are_documented(site, builtins):
    reference = text_of(site, "reference/suite-file")
    described = "\n".join(p.read_text() for p in (DOCS / "components").glob("*.md"))
    for kind in PLUGIN_KINDS:
        family = text_of(site, f"components/{FAMILY_PAGES[kind]}")
        for entry in builtins[kind]:
            assert f"`{entry.name}`" in described, \
                f"{kind} {entry.name!r} is described on no page under docs/components/"
            assert entry.name in family, f"{kind} {entry.name!r} is missing from its family page"
            table = f"[report.{entry.name}]" if kind == "reporter" else f"[params.{kind}.{entry.name}]"
            assert f"table {table}" in reference, f"{kind} {entry.name!r} is missing from the suite file reference"
            block = reference[reference.index(f"table {table}"):]
            for param in describe_params(entry.spec.params):
                assert param["name"] in block, f"{kind} {entry.name}: param {param['name']} is not documented"


def test_every_metric_is_defined_and_its_record_rendered(site):
    source = (DOCS / "reference" / "metrics.md").read_text()
    definitions = source[source.index("## Definitions"):source.index("## The metric records")]
    page = text_of(site, "reference/metrics")
    for spec in METRICS:
        assert f"`{spec.key}`" in definitions, f"metric {spec.key!r} has no definition in docs/reference/metrics.md"
        assert spec.title in page and spec.key in page, spec.key


def test_every_page_has_a_title_and_a_place_in_the_tables_of_contents(site):
    for page in PAGES:
        assert page.read_text().startswith("# "), f"{page} does not start with a # title"
        built = site / page.relative_to(DOCS).with_suffix(".html")
        assert built.is_file(), f"{page} was not built"


# --------------------------------------------------------------------------- numbers


def _sections(text: str) -> list[str]:
    return re.split(r"(?m)^#{1,4} ", text)


@pytest.mark.parametrize("page", RESULTS_PAGES, ids=lambda p: p.stem)
def test_hand_typed_results_tables_say_they_predate_result_files(page):
    """A table typed into a results page is a measurement no file backs: its
    section must say so (the figures rendered from result files need no note;
    a table of published figures is marked ``<!-- not a measurement: ... -->``)."""
    for section in _sections(page.read_text()):
        fenced = re.sub(r"(?ms)^(`{3,}).*?^\1", "", section)
        published = re.findall(r"(?m)^<!-- not a measurement: .+ -->\n\|.*\|\s*\n\|[-:| ]+\|", fenced)
        tables = re.findall(r"(?m)^\|.*\|\s*\n\|[-:| ]+\|", fenced)
        if len(tables) > len(published):
            assert "{predates-results}" in section, \
                f"{page.name}: a hand-typed table without the predates-results note:\n{section[:200]}"


def test_a_result_file_renders_with_its_machine_and_commit(site):
    page = text_of(site, "results/encoders-cpu")
    assert re.search(r"command: .*snnbench run \S+", page)
    assert re.search(r"machine: .+\(\d+ rows\)", page)
    assert re.search(r"commit: [0-9a-f]{7,}", page)
    for encoder in ("rate", "latency", "direct", "delta"):
        assert re.search(rf"\b{encoder}\b \d+\.\d\d ± \d+\.\d\d", page), encoder


# --------------------------------------------------------------------------- code blocks

ALL_BLOCKS = [b for page in [*PAGES, REPO / "README.md"] for b in blocks(page)]


def test_every_runnable_block_is_marked_tested_or_illustrative():
    unmarked = [str(b) for b in ALL_BLOCKS if b.language in RUNNABLE and b.mark is None]
    assert not unmarked, "blocks that neither run in a test nor say they are illustrative: " + ", ".join(unmarked)
    bare = [str(b) for b in ALL_BLOCKS if not b.language]
    assert not bare, "code blocks without a language: " + ", ".join(bare)


TESTED_SHELL = [b for b in ALL_BLOCKS if b.mark == "tested" and b.language in {"sh", "bash", "shell"}
                and b.path.name != "README.md"]


@pytest.mark.parametrize("block", TESTED_SHELL, ids=str)
def test_tested_shell_blocks_run(block):
    environ = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for command in shell_commands(block.body):
        result = subprocess.run(command, shell=True, cwd=REPO, env=environ, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, f"{block}: `{command}` exited {result.returncode}:\n{result.stderr}"


def test_tested_python_blocks_run(tmp_path):
    """Each tested Python block is written to a file (the name its mark gives,
    else one of its own); the test files among them run under pytest beside
    the others, so a test page's code runs against the tutorial's plugin."""
    tested = [b for b in ALL_BLOCKS if b.mark == "tested" and b.language == "python"
              and b.path.name != "README.md"]
    assert tested
    files = []
    for index, block in enumerate(tested):
        named = re.search(r"\b(\w+\.py)\b", block.note)
        path = tmp_path / (named.group(1) if named else f"block_{index}.py")
        path.write_text(block.body)
        files.append(path)
    environ = os.environ | {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    for path in files:
        if not path.name.startswith("test_"):
            result = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=environ,
                                    capture_output=True, text=True, timeout=300)
            assert result.returncode == 0, f"{path.name}:\n{result.stderr}"
    tests = [str(p) for p in files if p.name.startswith("test_")]
    if tests:
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
                                 str(tmp_path), *tests], cwd=tmp_path, env=environ, capture_output=True, text=True,
                                timeout=900)
        assert result.returncode == 0, result.stdout + result.stderr
