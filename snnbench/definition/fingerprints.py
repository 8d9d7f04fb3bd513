"""Fingerprints of the code behind a component, recorded with each row.

A cell's identity in the store is its config (names and params), and a
plugin's version rarely changes while someone develops it: edit an
encoder's code, run the suite again, and every cell used to be "already
recorded", its row describing code that no longer exists. So each row also
records a fingerprint of its components' code, and a run compares it with
the code it would run now (:mod:`snnbench.running.runner`).

The fingerprint of a component is a hash of the source files of the modules
that define its spec (its params class, its builders and checks) and of
the modules those import from the plugin's own package, transitively, so
that a helper module the builder calls counts too. Nothing is asked of the
plugin. Modules outside the plugin's package are left out: snnbench's core
and the libraries are recorded with each row by version and commit, and a
change there should not make every row of every plugin stale.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from types import ModuleType


def code_fingerprint(spec: object, plugin: ModuleType | None) -> str:
    """The fingerprint of the code behind ``spec``, as registered by the plugin
    module ``plugin`` (None: the package of the spec's params class counts as
    the plugin's own)."""
    package = _top_package(plugin if plugin is not None else _module_of(spec.params))  # type: ignore[attr-defined]
    modules = _own_modules(_defining_objects(spec), package)
    digest = hashlib.sha256()
    for name in sorted(modules):
        digest.update(name.encode() + b"\0" + _source(modules[name]) + b"\0")
    return digest.hexdigest()[:16]


def _defining_objects(spec: object) -> Iterator[object]:
    """The params class and every callable the spec holds."""
    for spec_field in fields(spec):  # type: ignore[arg-type]
        value = getattr(spec, spec_field.name)
        if isinstance(value, type) or callable(value):
            yield value


def _module_of(value: object) -> ModuleType | None:
    """The loaded module that defines ``value`` (a function, class, partial or
    instance of a callable class), or None."""
    value = getattr(value, "func", value)  # functools.partial
    try:
        name = getattr(value, "__module__", None)
    except Exception:  # an object whose attribute lookup itself fails defines nothing we can read
        return None
    return sys.modules.get(name) if isinstance(name, str) else None


def _top_package(module: ModuleType | None) -> str | None:
    return module.__name__.partition(".")[0] if module is not None else None


def _own_modules(objects: Iterator[object], package: str | None) -> dict[str, ModuleType]:
    """The modules of ``package`` that define ``objects``, and those they
    import from ``package``, transitively."""
    def own(module: ModuleType | None) -> bool:
        return module is not None and _top_package(module) == package

    found: dict[str, ModuleType] = {}
    pending = [module for module in map(_module_of, objects) if own(module)]
    while pending:
        module = pending.pop()
        if module.__name__ in found:
            continue
        found[module.__name__] = module
        for value in list(vars(module).values()):
            imported = value if isinstance(value, ModuleType) else _module_of(value)
            if own(imported) and imported.__name__ not in found:
                pending.append(imported)
    return found


def _source(module: ModuleType) -> bytes:
    """The module's source file as it is on disk now (its name alone when it has none)."""
    path = getattr(module, "__file__", None)
    try:
        return Path(path).read_bytes() if path else module.__name__.encode()
    except OSError:
        return module.__name__.encode()
