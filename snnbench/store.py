"""The results store: one SQLite row per cell and seed.

SQLite needs no server and survives a killed process: each finished cell is
written in its own transaction, so a run killed half-way loses at most the
cell in flight, and a rerun skips the cells already recorded as ok. Rows are
never updated or deleted; the leaderboard reads the newest row of each cell.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from snnbench.errors import SnnbenchError

DEFAULT_DB = Path("leaderboard") / "snnbench.db"
SCHEMA_VERSION = 1
STATUSES = ("ok", "failed", "skipped")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    suite           TEXT NOT NULL,
    label           TEXT NOT NULL,
    config_hash     TEXT NOT NULL,
    seed            INTEGER,
    device_type     TEXT NOT NULL,
    device_name     TEXT,
    status          TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'skipped')),
    reason          TEXT,
    dataset         TEXT NOT NULL,
    encoder         TEXT NOT NULL,
    neuron          TEXT NOT NULL,
    architecture    TEXT NOT NULL,
    learning_rule   TEXT NOT NULL,
    config          TEXT NOT NULL,
    metrics         TEXT NOT NULL,
    metric_versions TEXT NOT NULL,
    environment     TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    finished_at     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_cell ON results (config_hash, seed, device_type, status);
CREATE INDEX IF NOT EXISTS results_suite ON results (suite);
"""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class ResultRow:
    suite: str
    label: str
    config_hash: str
    seed: int | None
    device_type: str
    device_name: str
    status: str
    components: dict[str, str]
    config: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    metric_versions: dict[str, int] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    started_at: str = field(default_factory=now)
    finished_at: str = field(default_factory=now)


class ResultStore:
    def __init__(self, path: str | Path = DEFAULT_DB, *, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.exists():
            raise SnnbenchError(f"no results store at {self.path}: run a suite first, or pass --db")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path)
            self._db.row_factory = sqlite3.Row
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise SnnbenchError(f"{self.path} was written by a newer snnbench (schema {version})")
            with self._db:
                self._db.executescript(_SCHEMA)
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as error:
            raise SnnbenchError(f"{self.path} is not a usable snnbench results store: {error}") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def record(self, row: ResultRow) -> None:
        """Write one row in its own transaction."""
        if row.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {row.status!r}")
        values = {
            "suite": row.suite, "label": row.label, "config_hash": row.config_hash, "seed": row.seed,
            "device_type": row.device_type, "device_name": row.device_name, "status": row.status,
            "reason": row.reason, **row.components,
            "config": json.dumps(row.config, sort_keys=True),
            "metrics": json.dumps(row.metrics, sort_keys=True, allow_nan=True),
            "metric_versions": json.dumps(row.metric_versions, sort_keys=True),
            "environment": json.dumps(row.environment, sort_keys=True),
            "started_at": row.started_at, "finished_at": row.finished_at,
        }
        columns = ", ".join(values)
        marks = ", ".join(f":{k}" for k in values)
        with self._db:
            self._db.execute(f"INSERT INTO results ({columns}) VALUES ({marks})", values)

    def has_ok(self, suite: str, config_hash: str, seed: int | None, device_type: str) -> bool:
        """Whether this suite already holds an ok result of the cell; a suite is
        the unit people compare, so the same cell in another suite does not count."""
        found = self._db.execute(
            "SELECT 1 FROM results WHERE suite = ? AND config_hash = ? AND seed IS ? AND device_type = ? "
            "AND status = 'ok' LIMIT 1", (suite, config_hash, seed, device_type)).fetchone()
        return found is not None

    def has_skip(self, suite: str, config_hash: str) -> bool:
        found = self._db.execute(
            "SELECT 1 FROM results WHERE suite = ? AND config_hash = ? AND status = 'skipped' LIMIT 1",
            (suite, config_hash)).fetchone()
        return found is not None

    def rows(self, suites: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """All rows (optionally of some suites), oldest first, JSON columns decoded."""
        query, args = "SELECT * FROM results", []
        suites = list(suites or [])
        if suites:
            query += f" WHERE suite IN ({', '.join('?' for _ in suites)})"
            args = suites
        rows = []
        for record in self._db.execute(query + " ORDER BY id", args):
            row = dict(record)
            for key in ("config", "metrics", "metric_versions", "environment"):
                row[key] = json.loads(row[key])
            rows.append(row)
        return rows

    def suites(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT DISTINCT suite FROM results ORDER BY suite")]
