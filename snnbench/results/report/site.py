"""Writing the report to disk: pages, Vega's JavaScript beside them, figures.

Pages lie side by side in one folder (``index.html``, ``suite-<name>.html``,
one ``<suite>-<cell>.html`` per cell) with ``vega.js``, so the folder can be
copied, zipped or served as it is, and opened with no network. Their file
names are made safe from whatever names the store holds
(:class:`~snnbench.results.report.model.PageNames`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from snnbench.api.errors import SnnbenchError
from snnbench.definition.suite import SuiteDocument
from snnbench.results.models import ModelFolder
from snnbench.results.report import html, kept
from snnbench.results.report.kept import NirWriter
from snnbench.results.report.model import PageNames, SuiteView, suite_view
from snnbench.results.store import ResultStore


@dataclass
class Written:
    pages: int
    figures: int
    seconds: float


def _vega_bundle() -> str:
    """Vega, Vega-Lite and vega-embed in one script (window.vegaEmbed), from vl-convert."""
    import vl_convert

    return vl_convert.javascript_bundle()


def _write(path: Path, text: str | bytes) -> None:
    try:
        path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise SnnbenchError(f"cannot write {path}: {error.strerror or error}") from None


def _folder(path: Path, what: str) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SnnbenchError(f"cannot create the {what} folder {path}: {error.strerror or error}") from None
    return path


def write_figures(pages: Sequence[tuple[str, html.Page]], folder: Path) -> int:
    """Every chart of ``pages`` as ``<page>-<chart>.svg`` and ``.png`` in ``folder``."""
    import vl_convert

    count = 0
    for page_name, page in pages:
        for chart_id, spec in page.specs:
            stem = folder / f"{page_name}-{chart_id.split('-', 2)[2]}"
            svg = vl_convert.vegalite_to_svg(spec)
            _write(stem.with_suffix(".svg"), svg)
            _write(stem.with_suffix(".png"), vl_convert.svg_to_png(svg, scale=2))
            count += 1
    return count


def write_report(store: ResultStore, suites: Sequence[str], out: Path, *,
                 suite_files: dict[str, SuiteDocument] | None = None, figures: Path | None = None,
                 write_nir: NirWriter | None = None) -> Written:
    """Write the report of ``suites`` (all the store holds when empty) to ``out``.

    ``suite_files`` maps suite names to their files, for the ``[[reference]]``
    numbers of the gap column; a suite without one shows no gap. Each cell
    page offers its rows' kept models, copied into ``out/models``, and with
    ``write_nir`` their NIR graphs (:mod:`snnbench.results.report.kept`)."""
    started = time.perf_counter()
    names = list(suites) or store.suites()
    rows = store.rows(names)
    by_suite: dict[str, list] = {name: [] for name in names}
    for row in rows:
        by_suite[row["suite"]].append(row)
    views: list[SuiteView] = []
    page_names = PageNames()
    for name in names:
        document = (suite_files or {}).get(name)
        views.append(suite_view(name, by_suite[name], document.references() if document else (),
                                page_names=page_names))
    shown = [row for view in views for cell in view.cells for row in cell.rows]
    links = kept.offer(store.path, shown, out, write_nir)
    models = ModelFolder(store.path).summary(rows).line()
    pages: list[tuple[str, html.Page]] = [("index", html.index_page(views, str(store.path), models))]
    for view in views:
        pages.append((view.page, html.suite_page(view)))
        pages += [(cell.slug, html.cell_page(view, cell, links)) for cell in view.cells]
    _folder(out, "report")  # after every suite file's [[reference]] validated: nothing half-written
    for name, page in pages:
        _write(out / f"{name}.html", page.html())
    if any(page.specs for _, page in pages):
        _write(out / "vega.js", _vega_bundle())
    drawn = write_figures(pages, _folder(figures, "figures")) if figures is not None else 0
    return Written(len(pages), drawn, time.perf_counter() - started)
