"""Plugin loading and the registries: built-ins arrive through entry points,
duplicates name both plugins, typos get a suggestion, broken plugins are
reported while the rest still load."""

from __future__ import annotations

import importlib.metadata as metadata
import sys
import textwrap

import pytest

from snnbench.api.contracts import PLUGIN_KINDS
from snnbench.api.errors import DuplicateComponentError, UnknownComponentError
from snnbench.definition.plugins import ENTRY_POINT_GROUP, load_plugins

#: snnbench's own plugins: the entry points its distribution declares
BUILTIN_PLUGINS = {entry_point.name for entry_point in metadata.distribution("snnbench").entry_points
                   if entry_point.group == ENTRY_POINT_GROUP}


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A folder on sys.path to write throwaway plugin modules into."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("tplug_")]:
        del sys.modules[name]


def write_plugin(folder, name: str, body: str) -> str:
    (folder / f"{name}.py").write_text(textwrap.dedent(body))
    return name


def test_every_builtin_entry_point_loads_and_registers_components(plugins):
    assert BUILTIN_PLUGINS and not plugins.failures
    assert BUILTIN_PLUGINS <= set(plugins.versions), "a built-in entry point did not load"
    supplying = {entry.plugin for kind in PLUGIN_KINDS for entry in plugins.registries[kind]}
    assert BUILTIN_PLUGINS <= supplying, f"registering nothing: {sorted(BUILTIN_PLUGINS - supplying)}"
    for kind in PLUGIN_KINDS:
        for entry in plugins.registries[kind]:
            if entry.plugin in BUILTIN_PLUGINS:
                assert entry.plugin.startswith("snnbench-"), entry
                assert entry.version == plugins.versions[entry.plugin] == metadata.version("snnbench")


def test_unknown_name_suggests_the_nearest(plugins):
    with pytest.raises(UnknownComponentError, match="did you mean 'latency'"):
        plugins.registries["encoder"].get("latncy")
    with pytest.raises(UnknownComponentError, match="registered: "):
        plugins.registries["encoder"].get("zzzzzz")


def test_duplicate_name_names_both_plugins(plugin_dir):
    write_plugin(plugin_dir, "tplug_dupe", """
        from snnbench.api import hookimpl
        from snnbench.api.contracts import EncoderSpec
        from snnbench_plugins.encoders.coding import RateParams, RateEncoder

        @hookimpl
        def register_encoders(register):
            register(EncoderSpec("rate", RateParams, RateEncoder, frozenset({"static"})))
    """)
    with pytest.raises(DuplicateComponentError) as error:
        load_plugins(["tplug_dupe"])
    assert "'snnbench-encoders-coding'" in str(error.value) and "'tplug_dupe'" in str(error.value)


def test_broken_plugins_are_reported_and_the_rest_load(plugin_dir, plugins):
    write_plugin(plugin_dir, "tplug_import_error", "import a_module_that_does_not_exist\n")
    write_plugin(plugin_dir, "tplug_hook_error", """
        from snnbench.api import hookimpl

        @hookimpl
        def register_encoders(register):
            raise RuntimeError("encoder table corrupt")
    """)
    write_plugin(plugin_dir, "tplug_good", """
        from snnbench.api import hookimpl
        from snnbench.api.contracts import EncoderSpec
        from snnbench_plugins.encoders.coding import RateParams, RateEncoder

        @hookimpl
        def register_encoders(register):
            register(EncoderSpec("rate-copy", RateParams, RateEncoder, frozenset({"static"})))
    """)
    loaded = load_plugins(["tplug_import_error", "tplug_hook_error", "tplug_good"])
    failures = {f.plugin: f.error for f in loaded.failures}
    assert "ModuleNotFoundError" in failures["tplug_import_error"]
    assert "encoder table corrupt" in failures["tplug_hook_error"]
    assert loaded.registries["encoder"].get("rate-copy").plugin == "tplug_good"
    assert set(plugins.registries["encoder"].names()) <= set(loaded.registries["encoder"].names())


def test_a_spec_of_the_wrong_kind_is_refused(plugin_dir):
    write_plugin(plugin_dir, "tplug_wrong_kind", """
        from snnbench.api import hookimpl
        from snnbench.api.contracts import NeuronSpec
        from snnbench_plugins.neurons.parameters import LIFParams
        from snnbench_plugins.neurons.snntorch_models import SnnTorchLIF

        @hookimpl
        def register_encoders(register):
            register(NeuronSpec("lif-as-encoder", LIFParams, SnnTorchLIF))
    """)
    plugins = load_plugins(["tplug_wrong_kind"])
    assert any("must be registered as EncoderSpec" in f.error for f in plugins.failures)
    assert "lif-as-encoder" not in plugins.registries["encoder"]


def test_a_misnamed_hook_is_reported_with_the_hook_it_was_meant_to_be(plugin_dir):
    write_plugin(plugin_dir, "tplug_misnamed", """
        from snnbench.api import hookimpl
        from snnbench.api.contracts import EncoderSpec
        from snnbench_plugins.encoders.coding import RateParams, RateEncoder

        @hookimpl
        def register_neurons(register):
            raise AssertionError("never called")

        @hookimpl
        def register_encoders(register):
            register(EncoderSpec("rate-too", RateParams, RateEncoder, frozenset({"static"})))
    """)
    plugins = load_plugins(["tplug_misnamed"])
    assert plugins.warnings == [
        "plugin 'tplug_misnamed': hook 'register_neurons' is not an snnbench hook, so it was never called; "
        "did you mean 'register_neuron_models'?"]
    assert "rate-too" in plugins.registries["encoder"]  # its other hooks still work
    assert not plugins.failures


def test_a_misspelt_name_in_snnbench_load_plugins_is_warned_about(monkeypatch):
    monkeypatch.setenv("SNNBENCH_LOAD_PLUGINS", "snnbench-phase-encodr")
    plugins = load_plugins()
    (warning,) = plugins.warnings
    assert "SNNBENCH_LOAD_PLUGINS names 'snnbench-phase-encodr', which no installed plugin is" in warning
    monkeypatch.setenv("SNNBENCH_LOAD_PLUGINS", "")
    assert load_plugins().warnings == []  # empty: load none, on purpose


def test_a_neuron_model_without_the_params_every_neuron_takes_is_refused_by_name(plugin_dir):
    write_plugin(plugin_dir, "tplug_thresholdless", """
        from dataclasses import dataclass
        from snnbench.api import NeuronSpec, SpikingLayer, hookimpl

        @dataclass(frozen=True)
        class DecayOnly:
            decay: float = 0.9

        class Layer(SpikingLayer):
            def __init__(self, params, features=()):
                super().__init__()

        @hookimpl
        def register_neuron_models(register):
            register(NeuronSpec("decay-only", DecayOnly, Layer))
    """)
    plugins = load_plugins(["tplug_thresholdless"])
    (failure,) = [f for f in plugins.failures if f.plugin == "tplug_thresholdless"]
    assert ("neuron model 'decay-only' (params DecayOnly) lacks threshold, reset, surrogate; every neuron model "
            "takes threshold, reset, surrogate: subclass snnbench.api.NeuronParams") in failure.error
    assert "decay-only" not in plugins.registries["neuron"]


@pytest.mark.parametrize("declared, expected", [
    ("1.0", None),
    ("99.0", "needs snnbench plugin API 99.0, but this snnbench ({version}) provides API {api}: upgrade snnbench"),
    ("0.9", "needs snnbench plugin API 0.9, but this snnbench ({version}) provides API {api}: upgrade the plugin"),
    ("one", "declares requires_api = 'one'; write it as 'MAJOR.MINOR'"),
])
def test_a_plugin_declaring_an_api_this_snnbench_lacks_is_refused_naming_both_versions(plugin_dir, declared,
                                                                                      expected):
    from snnbench import __version__
    from snnbench.api import API_VERSION

    write_plugin(plugin_dir, "tplug_versioned", f"""
        from snnbench.api import EncoderSpec, hookimpl
        from snnbench_plugins.encoders.coding import RateParams, RateEncoder

        requires_api = {declared!r}

        @hookimpl
        def register_encoders(register):
            register(EncoderSpec("rate-versioned", RateParams, RateEncoder, frozenset({{"static"}})))
    """)
    plugins = load_plugins(["tplug_versioned"])
    failures = [f.error for f in plugins.failures if f.plugin == "tplug_versioned"]
    if expected is None:
        assert not failures and "rate-versioned" in plugins.registries["encoder"]
    else:
        (error,) = failures
        assert f"plugin 'tplug_versioned' {expected.format(version=__version__, api=API_VERSION)}" in error
        assert "rate-versioned" not in plugins.registries["encoder"]
