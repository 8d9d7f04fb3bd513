"""``snnbench report``: the leaderboard store as a static site, and its plots as files.

One job per module:

- :mod:`snnbench.results.report.model`: what a page shows, read from the store
  (the leaderboard's own :func:`snnbench.results.leaderboard.build_board` for the
  table; cells, their seeds and details; the Pareto front);
- :mod:`snnbench.results.report.charts`: each plot as a Vega-Lite specification;
- :mod:`snnbench.results.report.html`: the pages;
- :mod:`snnbench.results.report.site`: writing the site (and ``--figures``) to disk.

Vega-Lite specifications are plain JSON, so a page of a thousand rows is
built in a moment; the browser draws them with Vega's JavaScript, which the
site carries beside its pages (``vega.js``, no CDN), and ``--figures``
draws the same specifications to PNG and SVG with the same Vega engine
(vl-convert), with no browser involved.
"""

from snnbench.results.report.site import write_report

__all__ = ["write_report"]
