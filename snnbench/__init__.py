"""snnbench: a benchmark harness for spiking neural networks.

Plugins mark their hook functions with :data:`hookimpl`; the contracts they
implement live in :mod:`snnbench.components` and :mod:`snnbench.hookspecs`.
The top-level modules are what a plugin imports; the machinery is grouped by
the stage a benchmark passes through, in the order it flows:

- :mod:`snnbench.definition`: a suite, its params and plugins, the metric records;
- :mod:`snnbench.running`: cells to rows (runner, executors, training, metrics);
- :mod:`snnbench.results`: rows to answers (store, leaderboard, gate, compare, report).
"""

import pluggy

from snnbench import _relocated

__version__ = "0.1.0"

#: Marker for plugin hook implementations: ``@snnbench.hookimpl``.
hookimpl = pluggy.HookimplMarker("snnbench")

_relocated.install()

__all__ = ["__version__", "hookimpl"]
