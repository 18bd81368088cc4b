"""A batch's journal entry written beside its load, in a thread of its own.

Writing a large batch down in the state (its rows become snapshot chunks) and loading it into
the target both read the batch's rows slice by slice and spend their time in C (SQLite, the
PostgreSQL protocol, Arrow), so on two cores they overlap instead of taking turns.  The order
that makes a crash safe is kept: a driver that overlaps (``overlaps_journal = True``) calls
``Batch.before_commit`` before its one commit, which waits here; the target therefore never
holds a batch that the journal lacks.  A load that fails first stops the journal between two
slices (its transaction rolls back: no entry, nothing to settle).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator

import polars as pl


class Stopped(Exception):
    """The load failed or was interrupted: the journal entry is not to be written."""


class JournalBeside:
    """Runs ``write`` (given the rows to write, read until stopped) in a thread, at once."""

    def __init__(self, write: Callable[[Iterable[pl.DataFrame]], None],
                 rows: Iterable[pl.DataFrame]) -> None:
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._written = False
        self._thread = threading.Thread(target=self._run, args=(write, rows),
                                        name="syncer-journal")
        self._thread.start()

    def _until_stopped(self, rows: Iterable[pl.DataFrame]) -> Iterator[pl.DataFrame]:
        for frame in rows:
            if self._stop.is_set():
                raise Stopped
            yield frame
        if self._stop.is_set():
            raise Stopped

    def _run(self, write: Callable[[Iterable[pl.DataFrame]], None],
             rows: Iterable[pl.DataFrame]) -> None:
        try:
            write(self._until_stopped(rows))
            self._written = True
        except BaseException as exc:  # handed to the thread that waits (raised there)
            self._error = exc

    def wait(self) -> None:
        """Until the entry is written; its failure (a full disk, a lost state) raised here."""
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abandon(self) -> bool:
        """The load failed: stop the journal at its next slice and wait for the thread.
        Whether the entry was written all the same (then it is settled as before)."""
        self._stop.set()
        self._thread.join()
        return self._written
