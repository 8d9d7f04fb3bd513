"""snnbench: a benchmark harness for spiking neural networks.

Plugins mark their hook functions with :data:`hookimpl`; the contracts they
implement live in :mod:`snnbench.components`.
"""

import pluggy

__version__ = "0.1.0"

#: Marker for plugin hook implementations: ``@snnbench.hookimpl``.
hookimpl = pluggy.HookimplMarker("snnbench")

__all__ = ["__version__", "hookimpl"]
