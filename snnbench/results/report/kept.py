"""The kept models a report offers: each cell page links its rows' model
files and their NIR graphs, copied into the report's ``models/`` folder so
the site stays one folder that can be zipped or served as it is.

Each file is checked against its row on the way (a truncated or changed
file is not copied; the page says why). The NIR graph is written by the
function the command line hands in (``write_nir(data, where, target)``,
:func:`snnbench.running.nir_export.write_kept`), since building a network
is the running stage's business; a network NIR cannot express gets the
sentence that names its layer instead of a link.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snnbench.api.errors import SnnbenchError
from snnbench.results.models import ModelFolder, ModelRef

#: the report's folder of model files, beside its pages
FOLDER = "models"

#: writes the NIR graph of a kept model's bytes (read from ``where``) to ``target``
NirWriter = Callable[[bytes, Path, Path], None]


@dataclass(frozen=True)
class KeptLinks:
    """What a cell page offers for one row."""

    #: the model file, relative to the pages; None when not offered
    model: str | None
    size: int
    #: the NIR graph, relative to the pages; None when not offered
    nir: str | None = None
    #: why the model or its graph is not offered
    note: str | None = None


def offer(store: Path, rows: Iterable[dict[str, Any]], out: Path, write_nir: NirWriter | None) -> dict[int, KeptLinks]:
    """Copy the kept model of each row (and write its NIR graph) into
    ``out/models``; the links each row's page shows, by row id."""
    folder, target = ModelFolder(store), out / FOLDER
    links: dict[int, KeptLinks] = {}
    for row in rows:
        ref = ModelRef.of_row(row)
        if ref is None:
            continue
        target.mkdir(parents=True, exist_ok=True)
        try:
            data = folder.read(ref)
            (target / ref.file).write_bytes(data)
        except SnnbenchError as error:
            links[row["id"]] = KeptLinks(None, ref.bytes, note=str(error))
            continue
        except OSError as error:
            raise SnnbenchError(f"cannot write {target / ref.file}: {error.strerror or error}") from None
        model = f"{FOLDER}/{ref.file}"
        if write_nir is None:
            links[row["id"]] = KeptLinks(model, ref.bytes)
            continue
        graph = Path(ref.file).with_suffix(".nir").name
        try:
            write_nir(data, folder.file(ref), target / graph)
        except SnnbenchError as error:
            links[row["id"]] = KeptLinks(model, ref.bytes, note=f"no NIR graph: {error}")
            continue
        links[row["id"]] = KeptLinks(model, ref.bytes, f"{FOLDER}/{graph}")
    return links
