"""The reporters a suite names, watching its run.

Each reporter (:class:`snnbench.api.contracts.Reporter`) chosen by the suite's
``[report]`` tables or ``snnbench run --report`` is built for the suite's
run and registered with the plugin manager for as long as it lasts, as a
plugin of its own implementing the lifecycle hooks. So the runner's
:class:`~snnbench.running.lifecycle.Lifecycle` guards it as it guards every
hook: a reporter that raises is reported once, with its name and error, and
switched off; it never fails a cell or loses a row.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from snnbench.api import hookimpl
from snnbench.api.contracts import Reporter
from snnbench.api.records import Choice
from snnbench.definition.plugins import PluginSet
from snnbench.running.lifecycle import Lifecycle


def plugin_name(reporter: str) -> str:
    """The name a reporter's plugin goes by in the run's warnings: ``reporter mlflow``."""
    return f"reporter {reporter}"


class ReporterPlugin:
    """A reporter as a plugin of the lifecycle hooks."""

    def __init__(self, reporter: Reporter):
        self.reporter = reporter

    @hookimpl
    def snnbench_suite_started(self, suite, environment: dict[str, Any]) -> None:
        self.reporter.suite_started(suite, environment)

    @hookimpl
    def snnbench_epoch_closed(self, cell, stats) -> None:
        self.reporter.epoch_closed(cell, stats)

    @hookimpl
    def snnbench_cell_finished(self, cell, row) -> None:
        self.reporter.cell_finished(cell, row)

    @hookimpl
    def snnbench_suite_finished(self, suite, summary) -> None:
        self.reporter.suite_finished(suite, summary)


@contextmanager
def reporting(choices: tuple[Choice, ...], plugins: PluginSet, lifecycle: Lifecycle) -> Iterator[None]:
    """Build the chosen reporters and register them for the ``with`` block;
    afterwards (interrupted or not) close each and unregister it. A reporter
    whose ``build`` or ``close`` raises is reported like one whose event did."""
    registered: dict[str, ReporterPlugin] = {}
    try:
        for choice in choices:
            name = plugin_name(choice.name)
            if name in lifecycle.switched_off:  # raised earlier in this run (an earlier suite)
                continue
            spec = plugins.registries["reporter"].get(choice.name).spec
            try:
                registered[name] = ReporterPlugin(spec.build(choice.params))
            except Exception as error:  # a tracker that cannot start is reported, never the run's failure
                lifecycle.switch_off(name, "build", error)
                continue
            plugins.manager.register(registered[name], name=name)
        yield
    finally:
        for name, plugin in registered.items():
            plugins.manager.unregister(plugin)
            try:
                plugin.reporter.close()
            except Exception as error:
                if name not in lifecycle.switched_off:
                    lifecycle.switch_off(name, "close", error)
