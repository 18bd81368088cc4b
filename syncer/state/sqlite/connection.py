"""A SQLite connection for the state whose every query reports a damaged file as such."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ...errors import DiskFull, StateError
from ...space import is_full

DAMAGE = "malformed"  # "database disk image is malformed"


def full_or_damaged(path: Path, exc: sqlite3.Error) -> StateError | DiskFull | None:
    """The error to report for ``exc`` (None: not a known state failure, re-raise it)."""
    if is_full(exc, path):
        return DiskFull("the state database", path, str(exc))
    if type(exc) is sqlite3.DatabaseError and DAMAGE in str(exc):
        return damaged(path, str(exc))
    return None


def damaged(path: Path, detail: str) -> StateError:
    return StateError(f"the state database {path} is damaged or not a SQLite file ({detail})",
                      hint="restore it from a backup (`syncer state backup FILE` makes one), "
                           "or move it away to start over")


def checked_connection(path: Path) -> sqlite3.Connection:
    """Autocommit (transactions are explicit), 30 s busy timeout, damage reported by any query.
    Usable from another thread (a batch's journal is written beside its load, while the
    thread that opened the state waits for it: never two at once)."""
    db = sqlite3.connect(path, isolation_level=None, timeout=30, factory=CheckedConnection,
                         check_same_thread=False)
    db.state_path = path
    return db


class CheckedConnection(sqlite3.Connection):
    """A connection whose queries report a damaged file as such, wherever they find it."""

    state_path: Path

    def execute(self, *args: Any) -> sqlite3.Cursor:
        return self.cursor(CheckedCursor).execute(*args)


class CheckedCursor(sqlite3.Cursor):
    def execute(self, *args: Any) -> CheckedCursor:
        with translated(self.connection):
            return super().execute(*args)

    def fetchone(self) -> Any:
        with translated(self.connection):
            return super().fetchone()

    def fetchall(self) -> list[Any]:
        with translated(self.connection):
            return super().fetchall()


@contextmanager
def translated(connection: sqlite3.Connection) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        error = full_or_damaged(getattr(connection, "state_path", Path("?")), exc)
        if error is not None:
            raise error from None
        raise
