"""Result files: a store's rows committed as JSON, with where they came from.

A figure in the docs is only as good as the run behind it, so the docs
never carry a typed-in number: they render committed result files
(``leaderboard/*.json``) when they build. A result file holds the newest
rows of some suites exactly as the store decoded them, and beside them what
a reader needs to trust them: the command that produced them, the machines,
commits and dates the rows record, and when the file was written. Rendering
goes through the same code as ``snnbench leaderboard``, so the page shows
what the command would print for those rows.

The rows keep everything but the spike rasters a cell's report page draws
(:data:`LEFT_OUT`), which would make a file of a few rows weigh hundreds of
kilobytes; history and confusion matrix stay.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from snnbench import __version__
from snnbench.api.errors import SnnbenchError
from snnbench.results.leaderboard import Results, latest_results
from snnbench.results.store import ResultStore

FORMAT = "snnbench-results/1"
#: metrics left out of a result file: the sample rasters only a cell's page draws
#: (:mod:`snnbench.running.cell_detail`)
LEFT_OUT = ("samples",)


def export_results(store: ResultStore, suites: Sequence[str], command: str) -> dict[str, Any]:
    """The newest rows of ``suites`` in ``store`` (every suite when empty) as
    a result file, with the command that produced them."""
    if not command.strip():
        raise SnnbenchError("--command: say which command produced the rows (it is printed with every figure)")
    rows = latest_results(store.rows(suites)).rows
    if not rows:
        raise SnnbenchError(f"{store.path}: no current rows" + (f" of suite {', '.join(suites)}" if suites else ""))
    rows = [{key: value for key, value in row.items() if key != "id"}
            | {"metrics": {key: value for key, value in row["metrics"].items() if key not in LEFT_OUT}}
            for row in rows]
    finished = sorted(row["finished_at"] for row in rows)
    return {
        "format": FORMAT,
        "suites": sorted({row["suite"] for row in rows}),
        "command": command.strip(),
        "exported_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "exported_by": f"snnbench {__version__}",
        "first_row_finished": finished[0],
        "last_row_finished": finished[-1],
        "rows": rows,
    }


def write_result_file(content: dict[str, Any], path: Path) -> None:
    try:
        path.write_text(json.dumps(content, indent=1, sort_keys=True, allow_nan=False) + "\n")
    except OSError as error:
        raise SnnbenchError(f"cannot write the result file {path}: {error.strerror or error}") from None


def read_committed_json(path: Path | str, format_: str, what: str, required: Sequence[str]) -> dict[str, Any]:
    """The JSON object of a committed file of ``format_`` (a result or a
    benchmark file), with every ``required`` key; errors name the file."""
    try:
        content = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise SnnbenchError(f"cannot read the {what} {path}: {error}") from None
    if not isinstance(content, dict) or content.get("format") != format_:
        raise SnnbenchError(f"{path}: not a {what} (format {format_!r} expected)")
    missing = [key for key in required if key not in content]
    if missing:
        raise SnnbenchError(f"{path}: a {what} needs {', '.join(missing)}")
    return content


def read_result_file(path: Path) -> tuple[dict[str, Any], Results]:
    """A result file's header and its rows as the leaderboard reads a store's."""
    content = _read(path)
    return content, latest_results(content["rows"])


def result_file_rows(path: Path) -> list[dict[str, Any]]:
    """Every row of a result file as the store decoded it, stale ones too:
    what ``snnbench merge`` copies back into a store."""
    return _read(path)["rows"]


def _read(path: Path) -> dict[str, Any]:
    return read_committed_json(path, FORMAT, "result file", ("command", "rows", "exported_at"))
