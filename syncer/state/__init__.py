"""Where syncer keeps what it applied: the ``StateStore`` protocol and :func:`open_state`.

A location names the backend: a ``postgresql://`` (or ``postgres://``) URL is a schema on a
PostgreSQL server (:mod:`syncer.state.postgres`); anything else is a path to a SQLite database
(the embedded default).  Every backend is a :class:`~syncer.state.store.ChunkStore` over its own
storage, so the rules (replay, journal, folds, compaction) are written once.
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
    from .postgres.url import is_url
    from .sqlite.storage import MEMORY, SqliteStorage

    if is_url(location):
        from .postgres.storage import MissingState, PostgresStorage
        from .postgres.url import parse

        url = parse(str(location))
        if url.project is None:
            from .location import project_root

            url = url.with_project(project_root(None).name)
        try:
            return ChunkStore(PostgresStorage(url, create=create and not missing_ok))
        except MissingState:
            if not missing_ok:
                raise
            return ChunkStore(SqliteStorage(MEMORY))
    path = Path(location)
    if missing_ok and not path.exists():
        path = MEMORY
    return ChunkStore(SqliteStorage(path, create=create))


__all__ = ["ChunkStore", "DatasetState", "Holder", "JournalRows", "Lock", "OP", "OpenBatch",
           "StateStore", "open_state"]
