"""Where syncer keeps what it applied: the ``StateStore`` protocol and :func:`open_state`.

A location names the backend: a filesystem path is a SQLite database (the embedded default).
Every backend is a :class:`~syncer.state.store.ChunkStore` over its own storage, so the rules
(replay, journal, folds, compaction) are written once.
"""

from __future__ import annotations

from pathlib import Path

from .base import DatasetState, Holder, Lock, OpenBatch, StateStore
from .store import OP, ChunkStore, JournalRows


def open_state(location: Path | str, *, create: bool = True, missing_ok: bool = False
               ) -> StateStore:
    """Open the state at ``location``.  ``create``: make it when it does not exist (else an
    error says to apply first); ``missing_ok``: a state that does not exist yet opens as an
    empty one in memory and nothing is written (a plan before the first apply)."""
    from .sqlite.storage import MEMORY, SqliteStorage

    path = Path(location)
    if missing_ok and not path.exists():
        path = MEMORY
    return ChunkStore(SqliteStorage(path, create=create))


__all__ = ["ChunkStore", "DatasetState", "Holder", "JournalRows", "Lock", "OP", "OpenBatch",
           "StateStore", "open_state"]
