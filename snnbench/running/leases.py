"""Claims on cells, so processes sharing one store share a suite's work.

Before a run trains a cell it claims it in the store's ``claims`` table, in
the same transaction that checks the cell is not recorded yet; a second
``snnbench run`` of the suite on the store then finds the cell taken and
goes on to the next. The row of a finished cell is written in the same
transaction that drops its claim, so at every moment a cell is recorded,
claimed, or free, and never run twice.

A claim is a lease: it holds until ``expires_at``, which a background thread
pushes forward while its process lives. A process that dies (SIGKILL, a
lost machine) stops renewing, and its claims lapse after ``lease_seconds``;
one on this host whose process no longer exists lapses at once, so a run
killed and started again resumes immediately.
"""

from __future__ import annotations

import enum
import os
import socket
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass

from snnbench.results.store import ResultStore, has_result
from snnbench.results.store_lock import is_locked

#: how long a claim holds without renewal
DEFAULT_LEASE_SECONDS = 60.0


@dataclass(frozen=True)
class CellKey:
    """What identifies a cell's result in the store."""

    suite: str
    config_hash: str
    seed: int
    device_type: str

    def as_params(self) -> tuple:
        return self.suite, self.config_hash, self.seed, self.device_type


class Outcome(enum.Enum):
    CLAIMED = "claimed"    #: this process now runs it
    RECORDED = "recorded"  #: recorded as ok before this run began (and not rerun)
    RECORDED_BY_OTHER = "recorded by another process"  #: recorded since this run began
    HELD = "held"          #: another live process runs it


@dataclass(frozen=True)
class Claim:
    outcome: Outcome
    #: who holds the cell, for a HELD claim ("pid 123 on host-a")
    holder: str | None = None


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def claim_alive(host: str, pid: int, expires_at: float) -> bool:
    """Whether a claim still holds: not expired, and, on this host, its process exists."""
    if host == socket.gethostname() and not _process_exists(pid):
        return False
    return expires_at > time.time()


def live_claims(store: ResultStore) -> dict[CellKey, str]:
    """The cells live runs hold now, with who holds each ("pid 123 on host-a")."""
    held = store.read("list claims", lambda db: db.execute(
        "SELECT suite, config_hash, seed, device_type, host, pid, expires_at FROM claims").fetchall())
    return {CellKey(suite, config_hash, seed, device_type): f"pid {pid} on {host}"
            for suite, config_hash, seed, device_type, host, pid, expires_at in held
            if claim_alive(host, pid, expires_at)}


class CellLeases:
    """This process's claims on cells of one store.

    A cell is done when it has a row (ok or failed) written after row id
    ``since`` (when this run began: another process sharing the work wrote
    it), or, without ``rerun``, any ok row.
    """

    def __init__(self, store: ResultStore, *, rerun: bool = False, since: int = 0,
                 lease_seconds: float = DEFAULT_LEASE_SECONDS):
        self.store, self.rerun, self.since = store, rerun, since
        self.lease_seconds = lease_seconds
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.owner = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:8]}"
        self._renewer: threading.Thread | None = None
        self._stop = threading.Event()

    def claim(self, key: CellKey, redo: bool = False) -> Claim:
        """Claim ``key`` unless it is done or another live process holds it;
        with ``redo``, an ok row recorded before this run began does not make
        it done (its code changed since, say)."""
        def decide(db: sqlite3.Connection) -> Claim:
            if has_result(db, *key.as_params(), ok_only=False, after_id=self.since):
                return Claim(Outcome.RECORDED_BY_OTHER)
            if not (self.rerun or redo) and has_result(db, *key.as_params(), ok_only=True):
                return Claim(Outcome.RECORDED)
            held = db.execute("SELECT owner, host, pid, expires_at FROM claims WHERE suite = ? AND "
                              "config_hash = ? AND seed = ? AND device_type = ?", key.as_params()).fetchone()
            if held is not None and held[0] != self.owner and claim_alive(held[1], held[2], held[3]):
                return Claim(Outcome.HELD, f"pid {held[2]} on {held[1]}")
            db.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (*key.as_params(), self.owner, self.host, self.pid, time.time() + self.lease_seconds))
            return Claim(Outcome.CLAIMED)

        claim = self.store.write(f"claim cell {key.config_hash} seed={key.seed}", decide)
        if claim.outcome is Outcome.CLAIMED:
            self._keep_renewing()
        return claim

    def release_in(self, key: CellKey):
        """A change for :meth:`ResultStore.record` that drops this process's
        claim on ``key`` in the transaction that writes its row."""
        def release(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM claims WHERE suite = ? AND config_hash = ? AND seed = ? AND device_type = ? "
                       "AND owner = ?", (*key.as_params(), self.owner))
        return release

    def release_all(self) -> None:
        """Drop every claim of this process (a run that stops, Ctrl-C), and
        stop renewing."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        self.store.write("release this run's claims",
                         lambda db: db.execute("DELETE FROM claims WHERE owner = ?", (self.owner,)))

    def _keep_renewing(self) -> None:
        if self._renewer is None:
            self._renewer = threading.Thread(target=self._renew, name="snnbench-lease-renewal", daemon=True)
            self._renewer.start()

    def _renew(self) -> None:
        """Push this process's claims forward every third of a lease, on a
        connection of its own. A beat that finds the store locked is skipped:
        the lease outlasts two missed beats."""
        db = self.store.connect()
        try:
            while not self._stop.wait(self.lease_seconds / 3):
                try:
                    db.execute("UPDATE claims SET expires_at = ? WHERE owner = ?",
                               (time.time() + self.lease_seconds, self.owner))
                except sqlite3.OperationalError as error:
                    if not is_locked(error):
                        raise
        finally:
            db.close()
