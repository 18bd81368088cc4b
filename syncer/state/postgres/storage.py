"""The PostgreSQL state: the tables of one project in a schema of a shared server, the same few
statements as the SQLite state's, each write inside :meth:`PostgresStorage.transaction`.

Blobs are read with binary cursors (no hex round trip).  A lost connection ends the command
with :class:`~syncer.errors.StateLost`: a write transaction that could not commit recorded
nothing, and a batch left open is settled by the next run, as after a crash.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import StateError
from ..base import DatasetState, Lock, OpenBatch, now
from ..storage import COLUMNS, ORDER, Blob, Chunk, Entry, Folded, dataset_of, flag
from .connection import connect, translated
from .lock import AdvisoryLock
from .migrations import migrate, version
from .url import PgUrl

if TYPE_CHECKING:
    import psycopg

def _q(name: str) -> str:
    return f'"{name}"'


class MissingState(StateError):
    """No state in that schema yet (opened without ``create``)."""


_UPSERT_DATASET = (
    "INSERT INTO datasets (project, target, dataset, target_type, table_name, mode, location) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (project, target, dataset) DO UPDATE SET "
    "target_type=excluded.target_type, table_name=excluded.table_name, mode=excluded.mode, "
    "location=COALESCE(excluded.location, datasets.location)")


class PostgresStorage:
    """One project's state in a schema of a PostgreSQL database."""

    def __init__(self, url: PgUrl, *, create: bool = True) -> None:
        self.url = url
        self.project = url.project or ""
        self.db = connect(url)
        self._lock: AdvisoryLock | None = None
        try:
            if not create and version(self.db, url) == 0:
                raise MissingState(f"no state at {url.display}", hint="run `syncer apply` first")
            self._version = migrate(self.db, url)
            self._run(f'SET search_path TO "{url.schema}"')
        except BaseException:
            self.db.close()
            raise

    @property
    def location(self) -> str:
        return self.url.display

    @property
    def schema_version(self) -> int:
        return self._version

    def _run(self, sql: str, params: Sequence[Any] = (), binary: bool = False
             ) -> psycopg.Cursor[tuple[Any, ...]]:
        with translated(self.url):
            return self.db.cursor(binary=binary).execute(sql.encode(), params)

    def _one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        with translated(self.url):
            return self._run(sql, params).fetchone()

    def _all(self, sql: str, params: Sequence[Any] = (), binary: bool = False
             ) -> list[tuple[Any, ...]]:
        with translated(self.url):
            return self._run(sql, params, binary).fetchall()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with translated(self.url):
            with self.db.transaction():
                yield
                if self._lock is not None:
                    self._lock.check()  # never commit a write after losing the lock

    def close(self) -> None:
        self.db.close()

    def lock(self, command: str, timeout: float) -> Lock:
        held = AdvisoryLock(self.url)
        held.acquire(command, timeout)
        self._lock = held
        return held

    def backup(self, destination: Path) -> None:
        """A consistent copy of this project's state as a SQLite state database."""
        from ..copy import copy_to_sqlite

        copy_to_sqlite(self, destination)

    # -- a whole project, for `state copy` --------------------------------------------------
    def holds_anything(self) -> bool:
        return any(self._one(f"SELECT 1 FROM {table} WHERE project=%s LIMIT 1",
                             (self.project,)) for table in COLUMNS)

    def export_rows(self, table: str) -> Iterator[dict[str, Any]]:
        names = COLUMNS[table]
        with translated(self.url):
            with self.db.transaction():  # one snapshot of the whole table
                # server-side: a state's chunks are read a few rows at a time, never all at once
                cursor = self.db.cursor(name=f"export_{table}", binary=True)
                cursor.itersize = 16
                cursor.execute(f"SELECT {', '.join(map(_q, names))} FROM {table} WHERE "
                               f"project=%s ORDER BY {ORDER[table]}".encode(), (self.project,))
                for row in cursor:
                    yield dict(zip(names, row))

    def import_rows(self, table: str, rows: Iterator[dict[str, Any]]) -> None:
        names = COLUMNS[table]
        sql = (f"INSERT INTO {table} (project, {', '.join(map(_q, names))}) VALUES "
               f"(%s, {', '.join(['%s'] * len(names))})")
        for row in rows:
            values = [row[n] for n in names]
            if table == "journal":
                values[names.index("reset")] = bool(row["reset"])
            self._run(sql, [self.project, *values])

    # -- datasets ---------------------------------------------------------------------------
    def datasets(self, target: str | None = None, dataset: str | None = None
                 ) -> list[DatasetState]:
        columns = ", ".join(COLUMNS["datasets"])
        if target is None:
            rows = self._all(f"SELECT {columns} FROM datasets WHERE project=%s ORDER BY "
                             'target COLLATE "C", dataset COLLATE "C"', (self.project,))
        else:
            rows = self._all(f"SELECT {columns} FROM datasets WHERE project=%s AND target=%s "
                             "AND dataset=%s", (self.project, target, dataset))
        return [dataset_of(r) for r in rows]

    def upsert_dataset(self, target: str, dataset: str, target_type: str, table: str,
                       mode: str, location: str | None) -> None:
        self._run(_UPSERT_DATASET, (self.project, target, dataset, target_type, table, mode,
                                    location))

    def set_marker(self, target: str, dataset: str, marker: str | None) -> None:
        self._run("UPDATE datasets SET marker=%s WHERE project=%s AND target=%s AND dataset=%s",
                  (marker, self.project, target, dataset))

    def record_dataset(self, target: str, dataset: str, values: dict[str, Any]) -> int:
        names = ", ".join(f"{name}=%s" for name in values)
        row = self._one(f"UPDATE datasets SET generation = generation + 1, {names} WHERE "
                        "project=%s AND target=%s AND dataset=%s RETURNING generation",
                        (*values.values(), self.project, target, dataset))
        return int(row[0]) if row else 0

    def bump_generation(self, target: str, dataset: str) -> None:
        self._run("UPDATE datasets SET generation = generation + 1 WHERE project=%s AND "
                  "target=%s AND dataset=%s", (self.project, target, dataset))

    def delete_dataset(self, target: str, dataset: str) -> bool:
        where = (self.project, target, dataset)
        cursor = self._run("DELETE FROM datasets WHERE project=%s AND target=%s AND dataset=%s",
                           where)
        self._run("DELETE FROM snapshot_chunks WHERE project=%s AND target=%s AND dataset=%s",
                  where)
        self._run("DELETE FROM journal WHERE project=%s AND target=%s AND dataset=%s AND "
                  "status != 'compacted'", where)
        return cursor.rowcount > 0

    # -- chunks -----------------------------------------------------------------------------
    def chunks(self, target: str, dataset: str, batch_id: str | None) -> list[Chunk]:
        rows = self._all("SELECT chunk, rows, min_key, max_key FROM snapshot_chunks WHERE "
                         "project=%s AND target=%s AND dataset=%s AND batch_id IS NOT DISTINCT "
                         "FROM %s ORDER BY chunk", (self.project, target, dataset, batch_id))
        return [Chunk(int(c), int(r), lo, hi) for c, r, lo, hi in rows]

    def blob(self, target: str, dataset: str, chunk: int, column: Blob) -> bytes | None:
        assert column in ("data", "keys")
        rows = self._all(f"SELECT {column} FROM snapshot_chunks WHERE project=%s AND target=%s "
                         "AND dataset=%s AND chunk=%s", (self.project, target, dataset, chunk),
                         binary=True)
        return bytes(rows[0][0]) if rows and rows[0][0] is not None else None

    def next_chunk(self, target: str, dataset: str) -> int:
        row = self._one("SELECT COALESCE(MAX(chunk) + 1, 0) FROM snapshot_chunks WHERE "
                        "project=%s AND target=%s AND dataset=%s", (self.project, target, dataset))
        return int(row[0]) if row else 0

    def insert_chunk(self, target: str, dataset: str, chunk: Chunk, data: bytes, keys: bytes,
                     batch_id: str | None) -> None:
        self._run("INSERT INTO snapshot_chunks (project, target, dataset, chunk, rows, data, "
                  "keys, min_key, max_key, batch_id) VALUES (%s, %s, %s, %s, %s, %b, %b, %s, "
                  "%s, %s)", (self.project, target, dataset, chunk.number, chunk.rows, data,
                              keys, chunk.min_key, chunk.max_key, batch_id))

    def delete_chunks(self, target: str, dataset: str, batch_id: str | None,
                      everything: bool = False) -> None:
        if everything:
            self._run("DELETE FROM snapshot_chunks WHERE project=%s AND target=%s AND "
                      "dataset=%s", (self.project, target, dataset))
        else:
            self._run("DELETE FROM snapshot_chunks WHERE project=%s AND target=%s AND "
                      "dataset=%s AND batch_id IS NOT DISTINCT FROM %s",
                      (self.project, target, dataset, batch_id))

    def base_rows(self, target: str, dataset: str) -> int:
        row = self._one("SELECT COALESCE(SUM(rows), 0) FROM snapshot_chunks WHERE project=%s "
                        "AND target=%s AND dataset=%s AND batch_id IS NULL",
                        (self.project, target, dataset))
        return int(row[0]) if row else 0

    # -- the journal ------------------------------------------------------------------------
    def insert_entry(self, run_id: str, entry: Entry, hash_version: str, deletes: int) -> None:
        self._run("INSERT INTO journal (project, run_id, batch_id, target, dataset, status, "
                  "reset, upserts, deletes, hash_version, schema_json, dels, created_at) VALUES "
                  "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                  (self.project, run_id, entry.batch_id, entry.target, entry.dataset,
                   entry.status, entry.reset, entry.upserts, deletes, hash_version,
                   entry.schema_json, entry.dels, now()))

    def entry(self, batch_id: str) -> Entry | None:
        rows = self._all("SELECT batch_id, target, dataset, status, reset, upserts, schema_json, "
                         "dels FROM journal WHERE project=%s AND batch_id=%s",
                         (self.project, batch_id), binary=True)
        if not rows:
            return None
        batch, target, dataset, status, reset, upserts, schema_json, dels = rows[0]
        return Entry(batch, target, dataset, status, bool(reset), int(upserts), schema_json,
                     bytes(dels) if dels is not None else None)

    def folded(self, target: str, dataset: str) -> list[Folded]:
        rows = self._all("SELECT batch_id, reset, dels FROM journal WHERE project=%s AND "
                         "target=%s AND dataset=%s AND status='done' ORDER BY id",
                         (self.project, target, dataset), binary=True)
        return [Folded(b, bool(r), bytes(d) if d is not None else None) for b, r, d in rows]

    def folded_size(self, target: str, dataset: str) -> tuple[int, int]:
        row = self._one("SELECT COUNT(*), COALESCE(SUM(upserts + deletes), 0) FROM journal "
                        "WHERE project=%s AND target=%s AND dataset=%s AND status='done'",
                        (self.project, target, dataset))
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def set_status(self, batch_id: str, status: str) -> None:
        dels = ", dels=NULL" if status == "abandoned" else ""
        self._run(f"UPDATE journal SET status=%s{dels}, finished_at=%s WHERE project=%s AND "
                  "batch_id=%s", (status, now(), self.project, batch_id))

    def set_dels(self, batch_id: str, dels: bytes | None) -> None:
        self._run("UPDATE journal SET dels=%s WHERE project=%s AND batch_id=%s",
                  (dels, self.project, batch_id))

    def compact_folded(self, target: str, dataset: str, keep: str | None = None) -> None:
        self._run("UPDATE journal SET status='compacted', dels=NULL WHERE project=%s AND "
                  "target=%s AND dataset=%s AND status='done' AND batch_id IS DISTINCT FROM %s",
                  (self.project, target, dataset, keep))

    def open_entries(self) -> list[OpenBatch]:
        rows = self._all("SELECT batch_id, target, dataset FROM journal WHERE project=%s AND "
                         "status='open' ORDER BY id", (self.project,))
        return [OpenBatch(*r) for r in rows]

    def last_status(self, target: str, dataset: str) -> str | None:
        row = self._one("SELECT status FROM journal WHERE project=%s AND target=%s AND "
                        "dataset=%s ORDER BY id DESC LIMIT 1", (self.project, target, dataset))
        return str(row[0]) if row else None

    # -- runs -------------------------------------------------------------------------------
    def insert_run(self, run_id: str, command: str, started_at: str, info: dict[str, Any]
                   ) -> None:
        self._run('INSERT INTO runs (project, id, command, started_at, "user", host, pid, '
                  "git_commit, git_dirty, syncer_version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, "
                  "%s, %s)",
                  (self.project, run_id, command, started_at, info.get("user"), info.get("host"),
                   info.get("pid"), info.get("git_commit"), flag(info.get("git_dirty")),
                   info.get("syncer_version")))

    def finish_run(self, run_id: str, finished_at: str, outcome: str, summary: str) -> None:
        self._run("UPDATE runs SET finished_at=%s, outcome=%s, summary=%s WHERE project=%s AND "
                  "id=%s", (finished_at, outcome, summary, self.project, run_id))

    def runs(self) -> Iterator[dict[str, Any]]:
        names = COLUMNS["runs"]
        rows = self._all(f"SELECT {', '.join(map(_q, names))} FROM runs WHERE project=%s "
                         "ORDER BY started_at", (self.project,))
        for row in rows:
            yield dict(zip(names, row))

