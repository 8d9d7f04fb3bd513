"""The plugin manager: built-in and third-party plugins load the same way.

Every plugin, snnbench's own included, is an entry point in the ``snnbench``
group. Loading is forgiving: a plugin that fails to import, or whose hook
raises, is reported with its name and error, and the rest still load.

Environment:

``SNNBENCH_DISABLE_PLUGIN_AUTOLOAD=1``
    load only snnbench's built-in plugins (like pytest's variable of that name).
``SNNBENCH_LOAD_PLUGINS=name,name``
    load only these third-party plugins (entry-point or distribution names);
    an empty value loads none (like llm's ``LLM_LOAD_PLUGINS``).
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import pluggy

from snnbench import hookspecs
from snnbench.components import KINDS
from snnbench.errors import DuplicateComponentError
from snnbench.registry import Registries

ENTRY_POINT_GROUP = "snnbench"
BUILTIN_DISTRIBUTION = "snnbench"


@dataclass(frozen=True)
class PluginFailure:
    plugin: str
    error: str

    def __str__(self) -> str:
        return f"plugin {self.plugin!r} failed to load: {self.error}"


@dataclass
class PluginSet:
    """The loaded plugins, their registries, and what failed on the way."""

    manager: pluggy.PluginManager
    registries: Registries
    failures: list[PluginFailure] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)


def _normalized(name: str) -> str:
    """Package names as pip compares them: ``My_Plugin`` is ``my-plugin``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _wanted(entry_point: metadata.EntryPoint) -> bool:
    dist = _normalized(entry_point.dist.name) if entry_point.dist else ""
    if dist == BUILTIN_DISTRIBUTION:
        return True
    if os.environ.get("SNNBENCH_DISABLE_PLUGIN_AUTOLOAD"):
        return False
    allowed = os.environ.get("SNNBENCH_LOAD_PLUGINS")
    if allowed is None:
        return True
    names = {_normalized(n.strip()) for n in allowed.split(",") if n.strip()}
    return _normalized(entry_point.name) in names or dist in names


def load_plugins(extra_modules: Iterable[str] = ()) -> PluginSet:
    """Load entry-point plugins (and ``extra_modules`` by import path) and fill
    the registries from their hooks."""
    manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
    manager.add_hookspecs(hookspecs)
    plugins = PluginSet(manager, Registries())

    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if not _wanted(entry_point) or manager.get_plugin(entry_point.name) is not None:
            continue
        version = entry_point.dist.version if entry_point.dist else "?"
        try:
            module = entry_point.load()
            manager.register(module, name=entry_point.name)
        except Exception as error:  # a broken plugin must not take the others down
            plugins.failures.append(PluginFailure(entry_point.name, f"{type(error).__name__}: {error}"))
            continue
        plugins.versions[entry_point.name] = version

    for module_name in extra_modules:
        try:
            manager.register(importlib.import_module(module_name), name=module_name)
        except Exception as error:
            plugins.failures.append(PluginFailure(module_name, f"{type(error).__name__}: {error}"))
            continue
        plugins.versions[module_name] = "local"

    _fill_registries(plugins)
    return plugins


def _fill_registries(plugins: PluginSet) -> None:
    """Call each plugin's hooks one plugin at a time, so every registration is
    attributed to the plugin that made it."""
    for kind in KINDS:
        registry = plugins.registries[kind]
        hook = getattr(plugins.manager.hook, hookspecs.HOOK_FOR_KIND[kind])
        for impl in hook.get_hookimpls():  # in registration order
            name = impl.plugin_name
            version = plugins.versions.get(name, "?")

            def register(spec, _name=name, _version=version):
                registry.add(spec, _name, _version)

            try:
                impl.function(register=register)
            except DuplicateComponentError:
                raise
            except Exception as error:
                plugins.failures.append(PluginFailure(name, f"{type(error).__name__}: {error}"))
