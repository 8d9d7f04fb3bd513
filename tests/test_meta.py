"""Tests of the tests and docs: every list here comes from the plugin manager,
the registries or the suites folder, never from a hand-kept one (as
datasette's test_docs.py and test_plugin_hooks_have_tests do). A new hook
must be documented and exercised; a new suite must validate and build."""

from __future__ import annotations

import ast
import importlib
import textwrap
from pathlib import Path

import pluggy
import pytest
import torch
from conftest import REPO, suite_toml

from snnbench.api import hookspecs
from snnbench.cli import main
from snnbench.definition.plugins import ENTRY_POINT_GROUP, load_plugins
from snnbench.definition.suite import load_suite
from snnbench.results.store import ResultStore
from snnbench.running.assembly import assemble
from snnbench.running.runner import DatasetCache, Runner, run_cell, run_environment
from snnbench.running.options import RunOptions

SPEC_MANAGER = pluggy.PluginManager(ENTRY_POINT_GROUP)
SPEC_MANAGER.add_hookspecs(hookspecs)
HOOKS = sorted(name for name in vars(SPEC_MANAGER.hook) if not name.startswith("_"))
SUITES = sorted((REPO / "suites").glob("*.toml"))
TESTS = sorted((REPO / "tests").glob("test_*.py"))


def test_the_hook_list_is_not_empty():
    assert {"register_encoders", "snnbench_cell_finished"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_in_the_docs_with_its_signature(hook):
    arguments = ", ".join(getattr(SPEC_MANAGER.hook, hook).spec.argnames)
    assert f"`{hook}({arguments})`" in (REPO / "docs" / "plugins" / "hooks.md").read_text()


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test_that_implements_it(hook):
    implementing = [path.name for path in TESTS if f"def {hook}(" in path.read_text()]
    assert implementing, f"no test module implements {hook}"


# --------------------------------------------------------------------------- suites


@pytest.mark.parametrize("path", SUITES, ids=lambda p: p.stem)
def test_every_suite_validates_and_builds_every_cell_at_its_real_shape(path, plugins):
    """Every combination of the suite, built as the runner builds it for the
    dataset's real input shape (no data read), maps two samples to
    ``[T, 2, n_classes]``."""
    suite = load_suite(path, plugins.registries)
    assert suite.cells, f"{path.name} has no cell to run"
    built = set()
    for cell in suite.cells:
        if cell.config_hash in built:  # the same combination for another seed
            continue
        built.add(cell.config_hash)
        dataset = plugins.registries["dataset"].get(cell.dataset.component).spec
        info = dataset.describe(cell.dataset.params)
        torch.manual_seed(0)
        inputs = torch.rand(2, *info.input_shape)
        model = assemble(cell, plugins.registries, info, inputs, torch.device("cpu")).eval()
        with torch.no_grad():
            out = model(inputs)
        assert out.shape == (model.timesteps, 2, info.n_classes), cell.label


# --------------------------------------------------------------------------- the hooks, exercised

WATCHER = '''
from snnbench.api import hookimpl

SEEN = []

@hookimpl
def snnbench_suite_started(suite, environment):
    SEEN.append(("suite_started", suite.name, len(suite.cells), sorted(environment)))

@hookimpl
def snnbench_epoch_closed(cell, stats):
    SEEN.append(("epoch_closed", cell.seed, stats.epoch, stats.loss, stats.train_accuracy, stats.seconds))

@hookimpl
def snnbench_cell_finished(cell, row):
    SEEN.append(("cell_finished", cell.seed, row.status, row.metrics.get("accuracy")))

@hookimpl
def snnbench_suite_finished(suite, summary):
    SEEN.append(("suite_finished", suite.name, summary.ok, summary.failed))
'''

BROKEN_REPORTER = '''
from snnbench.api import hookimpl

CALLS = []

@hookimpl
def snnbench_epoch_closed(cell, stats):
    CALLS.append(stats.epoch)
    raise ConnectionError("tracker unreachable")
'''

TINY_DATASET = '''
import torch
from snnbench.api import hookimpl
from snnbench.api.contracts import DataSplit, DatasetInfo, DatasetSpec, NoParams

def describe(params):
    return DatasetInfo(name="blobs", kind="static", input_shape=(1, 8, 8), n_classes=2)

def load(params, ctx):
    """Class 1 lights the left half of the image, class 0 the right half."""
    generator = torch.Generator().manual_seed(0)
    def split(count):
        targets = torch.arange(count) % 2
        left = torch.zeros(1, 8, 8)
        left[..., :4] = 1.0
        halves = torch.where(targets.view(-1, 1, 1, 1) == 1, left, 1.0 - left)
        noise = torch.rand(count, 1, 8, 8, generator=generator) * 0.2
        return DataSplit((halves * 0.8 + noise).clamp(0, 1), targets)
    return split(512), split(128)

@hookimpl
def register_datasets(register):
    register(DatasetSpec("blobs", NoParams, describe, load, summary="8x8 images: left or right half lit"))
'''

TWO_EPOCHS = """
    [params.encoder.rate]
    timesteps = 4
    [params.architecture.mlp]
    hidden = [16]
    [training]
    epochs = 2
    batch_size = 32
    """


def plugin_module(tmp_path, monkeypatch, name: str, source: str):
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    return importlib.import_module(name)


def run_with_plugin(tmp_path, plugin: str, suite_text: str) -> Path:
    """``snnbench --plugin PLUGIN run`` of the suite; returns its store."""
    suite, db = tmp_path / "suite.toml", tmp_path / "r.db"
    suite.write_text(suite_text)
    assert main(["--plugin", plugin, "run", str(suite), "--db", str(db), "--no-progress"]) == 0
    return db


def test_lifecycle_hooks_see_the_run_in_order(tmp_path, monkeypatch, capsys):
    watcher = plugin_module(tmp_path, monkeypatch, "meta_watcher", WATCHER)
    db = run_with_plugin(tmp_path, "meta_watcher", suite_toml("watched", seeds=(0, 1), extra=TWO_EPOCHS))
    kinds = [event[0] for event in watcher.SEEN]
    assert kinds == ["suite_started", "epoch_closed", "epoch_closed", "cell_finished",
                     "epoch_closed", "epoch_closed", "cell_finished", "suite_finished"]
    assert watcher.SEEN[0][:3] == ("suite_started", "watched", 2)
    assert {"libraries", "machine", "git_commit"} <= set(watcher.SEEN[0][3])
    assert watcher.SEEN[-1] == ("suite_finished", "watched", 2, 0)
    with ResultStore(db) as store:
        rows = {row["seed"]: row for row in store.rows() if row["status"] == "ok"}
    for event in watcher.SEEN:
        if event[0] == "cell_finished":
            assert event[2] == "ok" and event[3] == rows[event[1]]["metrics"]["accuracy"]
        if event[0] == "epoch_closed":
            seed, epoch, loss = event[1], event[2], event[3]
            assert event[5] == pytest.approx(rows[seed]["metrics"]["epoch_seconds"]["train"][epoch])
            if epoch == 1:
                assert loss == rows[seed]["metrics"]["final_train_loss"]


class RunsElsewhere:
    """An executor whose cells run where no lifecycle hook does, as on a Ray
    worker: only their rows come back."""

    live_epochs = False

    def __init__(self, plugins, options):
        self.plugins, self.options = plugins, options

    def map(self, work, cells):
        data, environment = DatasetCache(self.plugins, self.options), run_environment(self.plugins, self.options)
        for cell in cells:
            yield run_cell(cell, self.plugins, data, self.options, environment)


def test_cells_run_elsewhere_tell_the_hooks_their_epochs_from_their_rows(tmp_path, monkeypatch):
    """The same events, in the same order, as a run in this process; each
    epoch's values are its row's."""
    watcher = plugin_module(tmp_path, monkeypatch, "meta_remote_watcher", WATCHER)
    plugins = load_plugins(["meta_remote_watcher"])
    path = tmp_path / "suite.toml"
    path.write_text(suite_toml("watched", seeds=(0, 1), extra=TWO_EPOCHS))
    options = RunOptions(device=torch.device("cpu"), data_dir=tmp_path, progress=False)
    with ResultStore(tmp_path / "r.db") as store:
        summary = Runner(plugins, store, options, executor=RunsElsewhere(plugins, options)).run(
            load_suite(path, plugins.registries))
    assert [event[0] for event in watcher.SEEN] == [
        "suite_started", "epoch_closed", "epoch_closed", "cell_finished",
        "epoch_closed", "epoch_closed", "cell_finished", "suite_finished"]
    rows = {row.seed: row.metrics for row in summary.rows}
    epochs = [event for event in watcher.SEEN if event[0] == "epoch_closed"]
    assert [(seed, epoch) for _, seed, epoch, *_ in epochs] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for _, seed, epoch, loss, accuracy, seconds in epochs:
        history = rows[seed]["history"][epoch]
        assert (loss, accuracy) == (history["loss"], history["train_accuracy"])
        assert seconds == rows[seed]["epoch_seconds"]["train"][epoch] > 0


def test_a_lifecycle_hook_that_raises_is_reported_once_and_every_row_is_kept(tmp_path, monkeypatch, capsys):
    broken = plugin_module(tmp_path, monkeypatch, "meta_broken_reporter", BROKEN_REPORTER)
    db = run_with_plugin(tmp_path, "meta_broken_reporter", suite_toml("reported", seeds=(0, 1), extra=TWO_EPOCHS))
    err = capsys.readouterr().err
    assert err.count("meta_broken_reporter") == 1 and "ConnectionError: tracker unreachable" in err
    assert broken.CALLS == [0]  # switched off after its first failure
    with ResultStore(db) as store:
        assert sorted(row["seed"] for row in store.rows() if row["status"] == "ok") == [0, 1]


def test_a_third_party_dataset_registers_and_trains(tmp_path, monkeypatch, capsys):
    plugin_module(tmp_path, monkeypatch, "meta_blobs", TINY_DATASET)
    db = run_with_plugin(tmp_path, "meta_blobs", suite_toml("blobs", dataset=("blobs",), encoder=("direct",),
                                                         extra=TWO_EPOCHS.replace("rate", "direct") + """
    [params.learning_rule.bptt]
    lr = 0.01
    """))
    with ResultStore(db) as store:
        (row,) = store.rows()
    assert row["status"] == "ok" and row["metrics"]["accuracy"] > 0.9  # chance is 0.5
    assert row["environment"]["components"]["dataset"]["plugin"] == "meta_blobs"


# --------------------------------------------------------------------------- layout

PACKAGE = REPO / "snnbench"
STAGES = ("definition", "running", "results", "comparison")
#: A stage may import the ones before it and the results store it writes;
#: what may not be imported at run time, stage by stage. ``comparison`` runs
#: two commits' code and reads their stores, so it may import every stage.
FORBIDDEN = {"definition": {"running", "results", "comparison"}, "running": {"comparison"},
             "results": {"running", "comparison"}, "comparison": set(), "api": set(STAGES), "top": set(STAGES)}


def _stage_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else "api"


def _imports(path: Path, *, typing_too: bool = False) -> list[tuple[int, str]]:
    """The modules ``path`` imports; unless ``typing_too``, those under
    ``if TYPE_CHECKING:`` (annotations only) do not count."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = set() if typing_too else {
        id(sub) for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test) for sub in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


def _snnbench_imports(path: Path, *, typing_too: bool = False) -> list[tuple[int, str]]:
    return [(line, module) for line, module in _imports(path, typing_too=typing_too)
            if module == "snnbench" or module.startswith("snnbench.")]


def test_the_layout_has_the_stages_and_the_api_on_top():
    assert all((PACKAGE / stage / "__init__.py").is_file() for stage in STAGES)
    assert (PACKAGE / "api" / "__init__.py").is_file()
    assert not [p.name for p in PACKAGE.glob("*.py")
                if p.name not in ("__init__.py", "cli.py", "runtime.py")], "loose modules beside the stages"


@pytest.mark.parametrize("path", sorted(p for p in PACKAGE.rglob("*.py") if p.name != "cli.py"),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_flow_of_the_stages(path):
    """definition -> running -> results: a suite is defined without running
    anything, results are read without training, and the plugin API at the top
    depends on no stage, not even for annotations (the CLI, which wires them
    all, is the exception)."""
    relative = path.relative_to(PACKAGE).parts
    stage = relative[0] if len(relative) > 1 else "top"
    wrong = [f"line {line}: {module}" for line, module in _snnbench_imports(path, typing_too=stage == "api")
             if _stage_of(module) in FORBIDDEN[stage]]
    assert not wrong, f"{path.relative_to(REPO)} ({stage}) imports {wrong}"


PLUGIN_SOURCES = sorted([*(REPO / "plugins").rglob("*.py"), *(REPO / "examples").rglob("*.py")])


@pytest.mark.parametrize("path", PLUGIN_SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_plugins_and_examples_import_only_the_plugin_api(path):
    """Built-ins are the API's first client: of snnbench they import
    ``snnbench.api`` and nothing else, as a stranger's plugin must."""
    wrong = [f"line {line}: {module}" for line, module in _snnbench_imports(path, typing_too=True)
             if module != "snnbench.api"]
    assert not wrong, f"{path.relative_to(REPO)} imports {wrong}"
    if path.is_relative_to(REPO / "examples"):
        assert not [m for _, m in _imports(path, typing_too=True) if m.startswith("snnbench_plugins")]


def test_every_type_a_hook_or_a_spec_names_is_in_the_plugin_api():
    """What a hook receives, and what a spec's callables and a reporter's
    events are given, can be imported from ``snnbench.api`` (as pytest
    re-exports its hook types); ``__all__`` lists exactly what it offers."""
    import inspect
    import re

    import snnbench.api as api
    from snnbench.api import contracts, records

    annotated = [obj for module in (hookspecs, contracts, records) for obj in vars(module).values()
                 if getattr(obj, "__module__", None) == module.__name__ and callable(obj)]
    annotated += [method for cls in annotated if inspect.isclass(cls) for method in vars(cls).values()
                  if callable(method)]
    words = {word for obj in annotated for hint in getattr(obj, "__annotations__", {}).values()
             for word in re.findall(r"[A-Za-z_]\w*", str(hint))}
    ours = {word for word in words for module in (contracts, records)
            if inspect.isclass(getattr(module, word, None))
            and getattr(module, word).__module__.startswith("snnbench.api")}
    assert {"Cell", "ResultRow", "RunSummary", "EpochStats", "Suite", "DataSplit", "LoadContext"} <= ours
    assert not sorted(ours - set(api.__all__)), f"not in snnbench.api: {sorted(ours - set(api.__all__))}"
    submodules = {name for name in dir(api) if inspect.ismodule(getattr(api, name))}
    assert set(api.__all__) == {name for name in dir(api) if not name.startswith("_")} - submodules
