"""Which reporters watch a run: the suite's ``[report.<name>]`` tables, and
the ones ``snnbench run --report <name>`` adds (with the suite's params for
that name when it has a table for it, else the reporter's defaults).

A name on the command line is checked as a suite's is, before anything
runs: an unknown one suggests the nearest, one whose library is missing says
what to install, one whose params have no default says where to set them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from snnbench.api.errors import SnnbenchError
from snnbench.api.records import Choice, Suite
from snnbench.definition.params import ParamError, parse_params
from snnbench.definition.registry import Registries


def named_reporter(name: str, registries: Registries) -> Choice:
    """The reporter ``--report name`` asks for, at its default params."""
    try:
        spec = registries["reporter"].get(name).spec
    except SnnbenchError as error:
        raise SnnbenchError(f"--report {name!r}: {error}") from None
    missing = spec.unavailable()
    if missing:
        raise SnnbenchError(f"--report {name!r}: {missing}")
    try:
        return Choice(name, parse_params(spec.params, {}))
    except ParamError as error:
        raise SnnbenchError(f"--report {name!r}: its param {error.key!r} {error}; set it in the suite's "
                            f"[report.{name}] table") from None


def with_reporters(suite: Suite, names: Sequence[str], registries: Registries, *, suite_tables: bool = True) -> Suite:
    """``suite`` watched by its own reporters (unless ``suite_tables`` is False:
    ``--no-report``) and the ones ``names`` adds, each once; a name the suite
    has a table for keeps the suite's params."""
    configured = {choice.name: choice for choice in suite.reporters}
    chosen = dict(configured) if suite_tables else {}
    for name in names:
        if name not in chosen:
            chosen[name] = configured.get(name) or named_reporter(name, registries)
    return dataclasses.replace(suite, reporters=tuple(chosen.values()))
