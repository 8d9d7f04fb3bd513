"""snnbench: a benchmark harness for spiking neural networks.

A plugin imports :mod:`snnbench.api` and nothing else. The machinery is
grouped by the stage a benchmark passes through, in the order it flows:

- :mod:`snnbench.definition`: a suite, its params and plugins, the metric records;
- :mod:`snnbench.running`: cells to rows (runner, executors, training, metrics);
- :mod:`snnbench.results`: rows to answers (store, leaderboard, gate, report);
- :mod:`snnbench.comparison`: an A/B of two commits' code on one machine.
"""

__version__ = "0.1.0"
