"""Calling the lifecycle hooks (see :mod:`snnbench.api.hookspecs`) so that no
implementation can fail a cell or lose a row.

Each implementation is called on its own. One that raises is reported once,
with its plugin's name and the error, and switched off for the rest of the
run: a tracker that lost its connection must not take the benchmark down,
and a broken reporter must not print the same error for every epoch.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pluggy


def print_warning(line: str) -> None:
    print(f"snnbench: warning: {line}", file=sys.stderr, flush=True)


class Lifecycle:
    """The lifecycle hooks of one run, each implementation guarded."""

    def __init__(self, manager: pluggy.PluginManager, warn: Callable[[str], None] = print_warning):
        self.hook, self.warn = manager.hook, warn
        #: plugins switched off after raising, with the error
        self.switched_off: dict[str, str] = {}

    def suite_started(self, suite, environment: dict[str, Any]) -> None:
        self._call("snnbench_suite_started", suite=suite, environment=environment)

    def epoch_closed(self, cell, stats) -> None:
        self._call("snnbench_epoch_closed", cell=cell, stats=stats)

    def cell_finished(self, cell, row) -> None:
        self._call("snnbench_cell_finished", cell=cell, row=row)

    def suite_finished(self, suite, summary) -> None:
        self._call("snnbench_suite_finished", suite=suite, summary=summary)

    def _call(self, name: str, **arguments: Any) -> None:
        for impl in getattr(self.hook, name).get_hookimpls():
            if impl.plugin_name in self.switched_off:
                continue
            try:
                impl.function(*(arguments[argument] for argument in impl.argnames))
            except Exception as error:  # a reporter's failure is reported, never a cell's
                self.switch_off(impl.plugin_name, name, error)

    def switch_off(self, plugin: str, where: str, error: Exception) -> None:
        """Report that ``plugin`` raised ``error`` in ``where``, and call it no more this run."""
        reason = f"{type(error).__name__}: {error}"
        self.switched_off[plugin] = reason
        self.warn(f"plugin {plugin!r} raised in {where} ({reason}); it is switched off for the rest of this "
                  "run, and every row is still recorded")
