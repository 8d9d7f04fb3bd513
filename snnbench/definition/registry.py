"""Typed registries of components, one per kind.

The core owns the registries and hands plugins a ``register`` callback, so a
duplicate name is caught with both plugins named, and a lookup of an unknown
name suggests the nearest registered one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields, is_dataclass
from typing import Generic, TypeVar

from snnbench.api.contracts import PLUGIN_KINDS, SPEC_TYPES, NeuronSpec
from snnbench.api.errors import DuplicateComponentError, UnknownComponentError
from snnbench.api.neuron import REQUIRED_NEURON_PARAMS

S = TypeVar("S")


@dataclass(frozen=True)
class Registered(Generic[S]):
    """A spec and the plugin (and its distribution version) that supplied it."""

    spec: S
    plugin: str
    version: str

    @property
    def name(self) -> str:
        return self.spec.name  # type: ignore[attr-defined]


class Registry(Generic[S]):
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Registered[S]] = {}

    def add(self, spec: S, plugin: str, version: str) -> None:
        expected = SPEC_TYPES[self.kind]
        if not isinstance(spec, expected):
            raise TypeError(f"plugin {plugin!r} registered a {type(spec).__name__} "
                            f"as a {self.kind}; a {self.kind} must be registered as {expected.__name__}")
        name = spec.name  # type: ignore[attr-defined]
        if isinstance(spec, NeuronSpec):
            _check_neuron_contract(spec, plugin)
        if name in self._entries:
            first = self._entries[name]
            raise DuplicateComponentError(
                f"{self.kind} {name!r} is registered by two plugins: "
                f"{first.plugin!r} ({first.version}) and {plugin!r} ({version}); "
                f"uninstall one or disable it with SNNBENCH_LOAD_PLUGINS")
        self._entries[name] = Registered(spec, plugin, version)

    def get(self, name: str) -> Registered[S]:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownComponentError(self.kind, name, self._entries) from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Registered[S]]:
        return iter(sorted(self._entries.values(), key=lambda r: r.name))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return sorted(self._entries)


def _check_neuron_contract(spec: NeuronSpec, plugin: str) -> None:
    """Refuse a neuron model that lacks the params every neuron takes, so a
    suite's ``threshold`` (or an architecture's override of it) means the same
    on every model; one without a surrogate gradient needs only ``threshold``."""
    required = REQUIRED_NEURON_PARAMS if spec.differentiable else REQUIRED_NEURON_PARAMS[:1]
    has = {f.name for f in fields(spec.params)} if is_dataclass(spec.params) else set()
    missing = [name for name in required if name not in has]
    if missing:
        raise TypeError(f"plugin {plugin!r}: neuron model {spec.name!r} (params {spec.params.__name__}) lacks "
                        f"{', '.join(missing)}; every neuron model takes {', '.join(required)}: subclass "
                        "snnbench.api.NeuronParams")


class Registries:
    """A registry per plugin kind, addressed by kind name (``"encoder"``, ``"reporter"``, ...)."""

    def __init__(self):
        self._by_kind = {kind: Registry(kind) for kind in PLUGIN_KINDS}

    def __getitem__(self, kind: str) -> Registry:
        return self._by_kind[kind]

    def items(self):
        return self._by_kind.items()
