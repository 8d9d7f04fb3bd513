"""Waiting out another process's lock on the store, so a finished row is never lost.

SQLite lets one writer at a time hold a database file. Another process (a
second ``snnbench run``, ``snnbench tune``, a sqlite3 shell left in a
transaction) can hold that lock for longer than SQLite's busy timeout, and
the write then fails with ``database is locked``. A finished cell's row took
minutes or hours to compute, so instead of failing, :func:`retry_while_locked`
keeps the operation (and with it the row) and tries again with a growing
pause, saying on the terminal what it is waiting for, until the lock is
released. It never gives up by itself; Ctrl-C stops it.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

#: SQLite's own primary result codes for "another connection holds the lock"
_LOCKED_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def is_locked(error: sqlite3.Error) -> bool:
    """Whether ``error`` says another connection holds the lock (as opposed
    to a broken file or a bad statement, which waiting cannot fix)."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _LOCKED_CODES
    return "locked" in str(error) or "busy" in str(error)


def print_to_stderr(message: str) -> None:
    print(f"snnbench: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class LockPolicy:
    """How long SQLite itself waits for a lock, and how ``retry_while_locked``
    waits after that: ``first_pause`` seconds, doubled each time up to
    ``longest_pause``."""

    busy_timeout: float = 10.0
    first_pause: float = 0.5
    longest_pause: float = 30.0

    def pauses(self):
        pause = self.first_pause
        while True:
            yield pause
            pause = min(2 * pause, self.longest_pause)


def retry_while_locked(operation: Callable[[], T], what: str, policy: LockPolicy,
                       say: Callable[[str], None] = print_to_stderr, path: object = "the store") -> T:
    """Run ``operation`` (one whole transaction, rolled back when it fails)
    until it gets past the lock; every wait is reported through ``say``,
    ``what`` completing "waiting to ...". Errors other than a lock are
    raised at once."""
    waited, attempt, pauses = 0.0, 0, policy.pauses()
    while True:
        try:
            return operation()
        except sqlite3.OperationalError as error:
            if not is_locked(error):
                raise
        attempt += 1
        pause = next(pauses)
        waited += policy.busy_timeout
        say(f"{path} is locked by another process; waiting to {what} (attempt {attempt}, "
            f"waited {waited:.0f} s so far; next try in {pause:g} s)")
        time.sleep(pause)
        waited += pause
