"""The plugin manager: built-in and third-party plugins load the same way.

Every plugin, snnbench's own included, is an entry point in the ``snnbench``
group. Loading is forgiving: a plugin that fails to import, or whose hook
raises, is reported with its name and error, and the rest still load. What
would otherwise be ignored in silence is warned about: a hook implementation
under a name no hook has (``register_neurons``), with the nearest hook's
name, and a name in ``SNNBENCH_LOAD_PLUGINS`` that no installed plugin has.

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

from snnbench.api import hookspecs
from snnbench import __version__
from snnbench.api import API_VERSION
from snnbench.api.contracts import PLUGIN_KINDS
from snnbench.api.errors import DuplicateComponentError, SnnbenchError, did_you_mean
from snnbench.definition.fingerprints import code_fingerprint
from snnbench.definition.registry import Registries

ENTRY_POINT_GROUP = "snnbench"
BUILTIN_DISTRIBUTION = "snnbench"
#: the variables above that choose which plugins load: a distributed run's
#: workers take the driver's values, so they load the same plugins
PLUGIN_VARIABLES = ("SNNBENCH_DISABLE_PLUGIN_AUTOLOAD", "SNNBENCH_LOAD_PLUGINS")


class PluginApiMismatch(SnnbenchError):
    """A plugin needs a version of the plugin API this snnbench does not provide."""


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
    #: the distribution (pip package) each plugin came from, by plugin name
    distributions: dict[str, str] = field(default_factory=dict)
    #: what loaded but is probably not what was meant (a misnamed hook)
    warnings: list[str] = field(default_factory=list)
    #: the modules loaded by import path besides the entry points (``--plugin``)
    extra_modules: tuple[str, ...] = ()
    _fingerprints: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)

    def code_fingerprint(self, kind: str, name: str) -> str:
        """The fingerprint of the code of registered component ``name``
        (:mod:`snnbench.definition.fingerprints`), read once per plugin set."""
        if (kind, name) not in self._fingerprints:
            entry = self.registries[kind].get(name)
            self._fingerprints[kind, name] = code_fingerprint(entry.spec, self.manager.get_plugin(entry.plugin))
        return self._fingerprints[kind, name]


def _normalized(name: str) -> str:
    """Package names as pip compares them: ``My_Plugin`` is ``my-plugin``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _allowed_names() -> set[str] | None:
    """The normalised names in ``SNNBENCH_LOAD_PLUGINS``; None when it is unset."""
    allowed = os.environ.get("SNNBENCH_LOAD_PLUGINS")
    return None if allowed is None else {_normalized(n.strip()) for n in allowed.split(",") if n.strip()}


def _names_of(entry_point: metadata.EntryPoint) -> set[str]:
    """What ``SNNBENCH_LOAD_PLUGINS`` may call a plugin: its entry point or its distribution."""
    return {_normalized(entry_point.name)} | ({_normalized(entry_point.dist.name)} if entry_point.dist else set())


def _is_builtin(entry_point: metadata.EntryPoint) -> bool:
    return entry_point.dist is not None and _normalized(entry_point.dist.name) == BUILTIN_DISTRIBUTION


def _wanted(entry_point: metadata.EntryPoint) -> bool:
    if _is_builtin(entry_point):
        return True
    if os.environ.get("SNNBENCH_DISABLE_PLUGIN_AUTOLOAD"):
        return False
    allowed = _allowed_names()
    return allowed is None or bool(_names_of(entry_point) & allowed)


def _unmatched_allowed_names(entry_points: Iterable[metadata.EntryPoint]) -> list[str]:
    """A warning for each ``SNNBENCH_LOAD_PLUGINS`` name that no installed
    third-party plugin has (a typo loads nothing, silently, otherwise)."""
    allowed = _allowed_names()
    if not allowed or os.environ.get("SNNBENCH_DISABLE_PLUGIN_AUTOLOAD"):
        return []
    known = set().union(*(_names_of(ep) for ep in entry_points if not _is_builtin(ep)))
    warnings = []
    for name in sorted(allowed - known):
        suggestion = did_you_mean(name, known)
        warnings.append(f"SNNBENCH_LOAD_PLUGINS names {name!r}, which no installed plugin is; " + (
            f"did you mean {suggestion!r}?" if suggestion else
            f"installed: {', '.join(sorted(known)) or 'none besides the built-ins'}"))
    return warnings


def _misnamed_hooks(manager: pluggy.PluginManager) -> list[str]:
    """A warning for each hook implementation whose name no hook has.

    This is the check of pluggy's ``check_pending``, which raises on the first
    such implementation only; walking the same hook callers reports every
    one, with the hook it was probably meant to be."""
    hooks = list(hookspecs.HOOK_FOR_KIND.values())
    warnings = []
    for name, caller in vars(manager.hook).items():
        if name.startswith("_") or caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if impl.optionalhook:
                continue
            suggestion = did_you_mean(name, hooks)
            warnings.append(f"plugin {impl.plugin_name!r}: hook {name!r} is not an snnbench hook, so it was "
                            "never called; " + (f"did you mean {suggestion!r}?" if suggestion
                                                else f"the hooks are {', '.join(hooks)}"))
    return warnings


def load_plugins(extra_modules: Iterable[str] = ()) -> PluginSet:
    """Load entry-point plugins (and ``extra_modules`` by import path) and fill
    the registries from their hooks."""
    manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
    manager.add_hookspecs(hookspecs)
    extra_modules = tuple(extra_modules)
    plugins = PluginSet(manager, Registries(), extra_modules=extra_modules)

    entry_points = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    plugins.warnings.extend(_unmatched_allowed_names(entry_points))
    for entry_point in entry_points:
        if not _wanted(entry_point) or manager.get_plugin(entry_point.name) is not None:
            continue
        version = entry_point.dist.version if entry_point.dist else "?"
        try:
            module = entry_point.load()
            check_api_version(module, entry_point.name)
            manager.register(module, name=entry_point.name)
        except Exception as error:  # a broken plugin must not take the others down
            plugins.failures.append(PluginFailure(entry_point.name, f"{type(error).__name__}: {error}"))
            continue
        plugins.versions[entry_point.name] = version
        if entry_point.dist is not None:
            plugins.distributions[entry_point.name] = entry_point.dist.name

    for module_name in extra_modules:
        try:
            module = importlib.import_module(module_name)
            check_api_version(module, module_name)
            manager.register(module, name=module_name)
        except Exception as error:
            plugins.failures.append(PluginFailure(module_name, f"{type(error).__name__}: {error}"))
            continue
        plugins.versions[module_name] = "local"

    plugins.warnings.extend(_misnamed_hooks(manager))
    _fill_registries(plugins)
    return plugins


def _api_version(text: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"(\d+)\.(\d+)", text.strip()) if isinstance(text, str) else None
    return (int(match[1]), int(match[2])) if match else None


def check_api_version(module: object, plugin: str) -> None:
    """Refuse a plugin that declares (``requires_api = "1.2"``) an API this
    snnbench does not provide: a newer minor version, or another major one."""
    wanted = getattr(module, "requires_api", None)
    if wanted is None:
        return
    needed, have = _api_version(wanted), _api_version(API_VERSION)
    if needed is None:
        raise PluginApiMismatch(f"plugin {plugin!r} declares requires_api = {wanted!r}; "
                                "write it as 'MAJOR.MINOR', e.g. '1.0'")
    if needed[0] != have[0] or needed[1] > have[1]:
        raise PluginApiMismatch(
            f"plugin {plugin!r} needs snnbench plugin API {wanted}, but this snnbench ({__version__}) provides "
            f"API {API_VERSION}: " + ("upgrade snnbench" if needed > have else "upgrade the plugin"))


def plugin_environment() -> dict[str, str | None]:
    """This process's values of :data:`PLUGIN_VARIABLES` (None: unset)."""
    return {name: os.environ.get(name) for name in PLUGIN_VARIABLES}


def _fill_registries(plugins: PluginSet) -> None:
    """Call each plugin's hooks one plugin at a time, so every registration is
    attributed to the plugin that made it."""
    for kind in PLUGIN_KINDS:
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
