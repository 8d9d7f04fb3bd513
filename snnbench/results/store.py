"""The results store: one SQLite row per cell and seed.

SQLite needs no server and survives a killed process: each finished cell is
written in its own transaction, so a run killed half-way loses at most the
cell in flight, and a rerun skips the cells already recorded as ok. Rows are
never updated or deleted; the leaderboard reads the newest row of each cell.

A store path names exactly one file, whatever characters it holds
(``store.db?mode=memory`` is a file of that name, for the rows and for
Optuna's study alike): see :func:`sqlite_uri`. Reading commands open the
store read-only and never change it, and a SQLite file that is not an
snnbench store is refused rather than given snnbench's tables. Every
statement waits out another process's lock (:mod:`snnbench.results.store_lock`), so
a finished row is kept until it is written.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from snnbench.api.errors import SnnbenchError
from snnbench.api.records import ResultRow
from snnbench.results.store_lock import LockPolicy, print_to_stderr, retry_while_locked

T = TypeVar("T")

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
CREATE TABLE IF NOT EXISTS claims (
    suite           TEXT NOT NULL,
    config_hash     TEXT NOT NULL,
    seed            INTEGER NOT NULL,
    device_type     TEXT NOT NULL,
    owner           TEXT NOT NULL,
    host            TEXT NOT NULL,
    pid             INTEGER NOT NULL,
    expires_at      REAL NOT NULL,
    PRIMARY KEY (suite, config_hash, seed, device_type)
);
"""
#: tables every Optuna study file has: ``snnbench tune`` keeps its study in the
#: store, and a study may be opened before the store's first row
_OPTUNA_TABLES = frozenset({"alembic_version", "studies", "trials"})
#: the columns that make a ``results`` table snnbench's own
_RESULT_COLUMNS = frozenset({"suite", "label", "config_hash", "seed", "device_type", "status", "config", "metrics"})


def sqlite_uri(path: str | Path, mode: str) -> str:
    """The SQLite URI of exactly the file ``path`` (``mode`` ``ro``, ``rw`` or
    ``rwc``). The path is made absolute and percent-encoded, so nothing in
    it (``?mode=memory``, ``#``, ``%``, a name like ``:memory:``) is read as
    an option instead of as part of the file's name."""
    return f"file:{quote(str(Path(path).absolute()))}?mode={mode}"


def sqlalchemy_url(path: str | Path) -> str:
    """The SQLAlchemy URL (for Optuna's storage) of the same file as
    :func:`sqlite_uri`: SQLAlchemy percent-decodes the database part once,
    and Optuna runs ``str.format`` on the URL, so the URI is encoded again."""
    return f"sqlite:///{quote(sqlite_uri(path, 'rwc'))}?uri=true"


def make_store_folder(path: str | Path, say: Callable[[str], None] = print_to_stderr) -> None:
    """Create the folder a store at ``path`` goes in, when it is missing, and
    say so. Only on request (``--mkdir``, or the default store's own folder):
    a mistyped ``--db`` path would otherwise become a new tree of folders
    holding a store nobody looks at."""
    folder = Path(path).parent
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        say(f"created the folder {folder} for the store")


class ResultStore:
    """The store at ``path``. With ``create`` (commands that run cells) it is
    created when missing, in a folder that must exist (see
    :func:`make_store_folder`), and may be written;
    without it (commands that only read) it must exist, and is opened read-only."""

    def __init__(self, path: str | Path = DEFAULT_DB, *, create: bool = True,
                 lock_policy: LockPolicy = LockPolicy(), say: Callable[[str], None] = print_to_stderr):
        self.path = Path(path)
        self.writable = create
        self.lock_policy, self.say = lock_policy, say
        #: whether opening it made it an snnbench store (a new file, or one Optuna alone had written)
        self.created = False
        if not create and not self.path.exists():
            raise SnnbenchError(f"no results store at {self.path}: run a suite first, or pass --db")
        if create and not self.path.parent.is_dir():
            raise SnnbenchError(f"there is no folder {self.path.parent} for the store {self.path}: check the "
                                f"path, create the folder (mkdir -p {self.path.parent}), or pass --mkdir")
        try:
            self._db = self.connect()
            self._db.row_factory = sqlite3.Row
            self._open()
        except sqlite3.DatabaseError as error:
            raise SnnbenchError(f"{self.path} is not a usable snnbench results store: {error}") from None

    def connect(self) -> sqlite3.Connection:
        """A new connection to this store's file (the store's own, or one for
        another thread), in autocommit mode: transactions are explicit."""
        mode = "rwc" if self.writable else "ro"
        return sqlite3.connect(sqlite_uri(self.path, mode), uri=True, timeout=self.lock_policy.busy_timeout,
                               isolation_level=None, check_same_thread=False)

    def _open(self) -> None:
        """Check that the file is an snnbench store (or, to be written, an
        empty file to make one of), and create missing tables."""
        version, tables = self.read("open it", lambda db: (
            db.execute("PRAGMA user_version").fetchone()[0],
            {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}))
        if version > SCHEMA_VERSION:
            raise SnnbenchError(f"{self.path} was written by a newer snnbench (schema {version})")
        fresh = version == 0 and (not tables or _OPTUNA_TABLES <= tables and "results" not in tables)
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(results)")} if "results" in tables else set()
        if not fresh and (version == 0 or not _RESULT_COLUMNS <= columns):
            shown = ", ".join(sorted(tables)[:8]) + (", ..." if len(tables) > 8 else "")
            raise SnnbenchError(f"{self.path} is a SQLite file of another application (tables: {shown or 'none'}), "
                                "not an snnbench results store; it was left unchanged. Name a new file "
                                "or an existing snnbench store")
        if not self.writable:
            if fresh:
                raise SnnbenchError(f"{self.path} holds no snnbench results yet: run a suite into it first")
            return

        def create_tables(db: sqlite3.Connection) -> None:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

        self.write("create its tables", create_tables)
        self.created = fresh

    def write(self, what: str, change: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``change(connection)`` as one transaction that holds the write
        lock from its start (so a check and the write it decides on are
        atomic), waiting out other processes' locks; ``what`` completes
        "waiting to ..." in the message shown while it waits."""
        def transaction() -> T:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = change(self._db)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            return result

        return retry_while_locked(transaction, what, self.lock_policy, self.say, self.path)

    def read(self, what: str, query: Callable[[sqlite3.Connection], T]) -> T:
        """``query(connection)``, waiting out a lock that blocks even readers."""
        return retry_while_locked(lambda: query(self._db), what, self.lock_policy, self.say, self.path)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def record(self, row: ResultRow, also: Callable[[sqlite3.Connection], None] | None = None) -> None:
        """Write one row in its own transaction, with ``also(connection)`` in
        the same transaction (releasing the cell's claim, say). A lock held
        by another process is waited out, the row kept meanwhile."""
        if row.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {row.status!r}")
        values = encoded({
            "suite": row.suite, "label": row.label, "config_hash": row.config_hash, "seed": row.seed,
            "device_type": row.device_type, "device_name": row.device_name, "status": row.status,
            "reason": row.reason, **row.components, "config": row.config, "metrics": row.metrics,
            "metric_versions": row.metric_versions, "environment": row.environment,
            "started_at": row.started_at, "finished_at": row.finished_at,
        })

        def insert(db: sqlite3.Connection) -> None:
            insert_stored(db, values)
            if also is not None:
                also(db)

        seed = "" if row.seed is None else f" seed={row.seed}"
        self.write(f"write the row of {row.label}{seed} ({row.status}; kept until it is written)", insert)

    def has_skip(self, suite: str, config_hash: str) -> bool:
        found = self.read(f"look up cell {config_hash}", lambda db: db.execute(
            "SELECT 1 FROM results WHERE suite = ? AND config_hash = ? AND status = 'skipped' LIMIT 1",
            (suite, config_hash)).fetchone())
        return found is not None

    def last_row_id(self) -> int:
        """The id of the newest row (0 for none): rows after it are newer than now."""
        return self.read("read it", lambda db: db.execute("SELECT COALESCE(MAX(id), 0) FROM results").fetchone()[0])

    def rows(self, suites: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """All rows (optionally of some suites), oldest first, JSON columns decoded."""
        query, args = "SELECT * FROM results", []
        suites = list(suites or [])
        if suites:
            query += f" WHERE suite IN ({', '.join('?' for _ in suites)})"
            args = suites
        return [_decoded(dict(record))
                for record in self.read("read it", lambda db: db.execute(query + " ORDER BY id", args).fetchall())]

    def newest_row(self, suite: str, config_hash: str, seed: int | None, device_type: str) -> ResultRow | None:
        """The newest ok row of a cell (what a resumed run found recorded)."""
        found = self.read(f"look up cell {config_hash}", lambda db: db.execute(
            "SELECT * FROM results WHERE suite = ? AND config_hash = ? AND seed IS ? AND device_type = ? "
            "AND status = 'ok' ORDER BY id DESC LIMIT 1", (suite, config_hash, seed, device_type)).fetchone())
        return None if found is None else ResultRow.from_stored(_decoded(dict(found)))

    def stored_rows(self) -> list[dict[str, Any]]:
        """Every row as stored (JSON columns as their text), without its id,
        oldest first: for copying rows between stores unchanged."""
        return [{key: record[key] for key in record.keys() if key != "id"}
                for record in self.read("read it", lambda db: db.execute("SELECT * FROM results ORDER BY id")
                                        .fetchall())]

    def suites(self) -> list[str]:
        return [r[0] for r in self.read("read it", lambda db: db.execute(
            "SELECT DISTINCT suite FROM results ORDER BY suite").fetchall())]


def insert_stored(db: sqlite3.Connection, values: dict[str, Any]) -> None:
    """Insert one row given as stored (column -> value, no id)."""
    db.execute(f"INSERT INTO results ({', '.join(values)}) VALUES ({', '.join(f':{k}' for k in values)})", values)


#: the columns that hold JSON text
JSON_COLUMNS = ("config", "metrics", "metric_versions", "environment")


def encoded(row: dict[str, Any]) -> dict[str, Any]:
    """A decoded row (column -> value, no id) as the store holds it: the
    inverse of what :meth:`ResultStore.rows` returns, so rows that left a
    store (in a result file) can come back into one unchanged."""
    return {key: json.dumps(value, sort_keys=True) if key in JSON_COLUMNS else value for key, value in row.items()}


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    for key in JSON_COLUMNS:
        row[key] = json.loads(row[key])
    return row


def has_result(db: sqlite3.Connection, suite: str, config_hash: str, seed: int | None, device_type: str, *,
               ok_only: bool, after_id: int = 0) -> bool:
    """Whether the cell has a row (only an ok one, with ``ok_only``) newer
    than row id ``after_id``."""
    found = db.execute(
        "SELECT 1 FROM results WHERE suite = ? AND config_hash = ? AND seed IS ? AND device_type = ? "
        "AND (status = 'ok' OR NOT ?) AND id > ? LIMIT 1",
        (suite, config_hash, seed, device_type, ok_only, after_id)).fetchone()
    return found is not None
