"""snnbench merge: the stores of shards (or of several machines) into one.

A source may also be a result file (``leaderboard/*.json``, the rows a
store exported): its rows come back into a store as they left it, less the
spike rasters a file leaves out. That is how a suite grows across machines
that keep nothing between sittings: merge its committed file into a new
store, run the cells still missing (the merged ones count as recorded),
export the whole again.

Rows are copied as they are stored, oldest first across all the stores (so
the newest row of a cell stays the one the leaderboard reads), in one
transaction: a merge that fails leaves the target as it was. A row already
in the target, or in an earlier store of the same merge, is not copied
again, so merging twice, or a store into itself, changes nothing. A row is
the same row when every column but its id is equal; a skipped combination
is the same skip when its suite and config hash are (as a run records a skip
only once). Two runs of one cell are two rows, both kept, as in one store.

Stores of different snnbench versions, or of another store schema, are not
mixed: that is refused before anything is written.

Kept models (:mod:`snnbench.results.models`) come along with their rows,
from each store's models folder into the target's, each checked against its
row's digest first: a truncated or changed file stops the merge before a row
is written. A row whose file is missing from its store is copied without it
and counted. A result file holds no models: its rows come without them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from snnbench.api.errors import SnnbenchError
from snnbench.results.models import ModelFolder, ModelRef
from snnbench.results.result_file import result_file_rows
from snnbench.results.store import ResultStore, encoded, insert_stored

_VERSION = "json_extract(environment, '$.libraries.snnbench')"


@dataclass
class MergedSource:
    path: Path
    rows: int
    added: int = 0
    #: kept models of its rows, copied (or already there)
    models: int = 0
    #: files of its rows missing from its models folder
    missing_models: list[str] = field(default_factory=list)
    #: a result file, whose rows come without their models
    result_file: bool = False


@dataclass
class MergeSummary:
    into: Path
    sources: list[MergedSource] = field(default_factory=list)
    #: rows in the target after the merge
    total: int = 0


def merge_stores(sources: Sequence[Path], into: Path) -> MergeSummary:
    """Copy the rows of ``sources`` (stores, or result files: ``*.json``)
    into the store ``into`` (created when missing)."""
    if not sources:
        raise SnnbenchError("give the stores to merge, e.g. snnbench merge shard-*.db --into all.db")
    found: list[tuple[Path, list[dict]]] = []
    versions: dict[Path, set[str]] = {}
    for path in sources:
        if _is_result_file(path):
            rows = [encoded(row) for row in result_file_rows(path)]
        else:
            with ResultStore(path, create=False) as source:
                rows = source.stored_rows()
        found.append((path, rows))
        versions[path] = {version for row in rows if (version := _version_of(row))}
    if into.exists() and into.stat().st_size:  # checked read-only first: a refused merge leaves it untouched
        with ResultStore(into, create=False) as target:
            versions.setdefault(into, target.read("read its versions", _versions))
    _refuse_mixed_versions(versions)
    summary = MergeSummary(into)
    incoming = sorted(((row["finished_at"], index, order, row) for index, (_, rows) in enumerate(found)
                       for order, row in enumerate(rows)), key=lambda item: item[:3])
    counts = [MergedSource(path, len(rows), result_file=_is_result_file(path)) for path, rows in found]
    _carry_models([(source, count) for source, count in zip(found, counts) if not count.result_file], into)

    def copy(db: sqlite3.Connection) -> int:
        _refuse_mixed_versions(versions | {into: _versions(db)})  # as it is now, in the writing transaction
        seen = {_identity(dict(row)) for row in db.execute("SELECT * FROM results")}
        for _, index, _, row in incoming:
            identity = _identity(row)
            if identity not in seen:
                seen.add(identity)
                insert_stored(db, row)
                counts[index].added += 1
        return db.execute("SELECT COUNT(*) FROM results").fetchone()[0]

    with ResultStore(into) as target:
        summary.total = target.write(f"merge {len(sources)} store(s) into it", copy)
    summary.sources = counts
    return summary


def _is_result_file(path: Path) -> bool:
    return path.suffix == ".json"


def _carry_models(stores: list[tuple[tuple[Path, list[dict]], MergedSource]], into: Path) -> None:
    """Copy the kept models of the stores' rows into ``into``'s folder: all
    checked first, so a bad file stops the merge before anything is copied."""
    wanted = []
    for (path, rows), count in stores:
        folder = ModelFolder(path)
        for row in rows:
            ref = _model_ref(row)
            if ref is None:
                continue
            if folder.file(ref).exists():
                folder.read(ref)
                wanted.append((folder, ref, count))
            else:
                count.missing_models.append(ref.file)
    target = ModelFolder(into)
    for folder, ref, count in wanted:
        target.copy_from(folder, ref)
        count.models += 1


def _model_ref(stored: dict) -> ModelRef | None:
    """The model reference of a row as stored (its environment as JSON text)."""
    return ModelRef.of_row({"environment": json.loads(stored["environment"] or "{}")})


def _version_of(stored: dict) -> str | None:
    """The snnbench version of a row as stored, as :func:`_versions` reads it."""
    return (json.loads(stored["environment"] or "{}").get("libraries") or {}).get("snnbench")


def _versions(db: sqlite3.Connection) -> set[str]:
    return {version for (version,) in db.execute(f"SELECT DISTINCT {_VERSION} FROM results") if version}


def _identity(row: dict) -> tuple:
    """What makes two stored rows the same row (see the module's docstring)."""
    if row["status"] == "skipped":
        return "skipped", row["suite"], row["config_hash"]
    return tuple(sorted((key, value) for key, value in row.items() if key != "id"))


def _refuse_mixed_versions(versions: dict[Path, set[str]]) -> None:
    every = set().union(*versions.values())
    if len(every) > 1:
        held = "; ".join(f"{path}: {', '.join(sorted(found)) or 'none'}" for path, found in versions.items())
        raise SnnbenchError(f"these sources hold rows of different snnbench versions ({held}); merging them would "
                            "mix results of different code, so nothing was written. Merge stores of one version, "
                            "or rerun the older ones with this snnbench")
