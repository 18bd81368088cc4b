"""The SQLite state: one database file (WAL, ``synchronous=FULL``, owner-only), its statements,
an integrity check on open and a file lock beside it."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ...errors import DiskFull, StateError
from ..base import DatasetState, Lock, OpenBatch, now
from ...space import is_full
from ..storage import COLUMNS, ORDER, Blob, Chunk, Entry, Folded, dataset_of, flag
from .connection import checked_connection, damaged
from .lock import FileLock
from .migrations import MIGRATIONS

#: page size of a new state database
PAGE_SIZE = 65_536

#: states up to this size are fully checked on every open (a few ms); larger ones after an
#: unclean shutdown only
FULL_CHECK_BYTES = 64 << 20

MEMORY = Path(":memory:")


def _has_wal(path: Path) -> bool:
    try:
        return Path(f"{path}-wal").stat().st_size > 0
    except FileNotFoundError:
        return False


class WholeState:
    """A whole state's rows, for ``syncer state copy`` and ``state backup`` (apart, to keep the
    storage class short)."""

    db: sqlite3.Connection

    def backup(self, destination: Path) -> None:
        """A consistent copy of the whole database (SQLite's online backup API), owner-only."""
        if destination.exists():
            raise StateError(f"{destination} already exists", hint="choose a new file name")
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(destination, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        copy = sqlite3.connect(destination)
        try:
            self.db.backup(copy)
        finally:
            copy.close()

    def holds_anything(self) -> bool:
        return any(self.db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone()
                   for table in COLUMNS)

    def export_rows(self, table: str) -> Iterator[dict[str, Any]]:
        names = COLUMNS[table]
        cursor = self.db.execute(f"SELECT {', '.join(names)} FROM {table} "
                                 f"ORDER BY {ORDER[table]}")
        for row in cursor:  # a row at a time: chunks are large
            yield dict(zip(names, row))

    def import_rows(self, table: str, rows: Iterator[dict[str, Any]]) -> None:
        names = COLUMNS[table]
        sql = (f"INSERT INTO {table} ({', '.join(names)}) VALUES "
               f"({', '.join(['?'] * len(names))})")
        for row in rows:
            self.db.execute(sql, [int(row[n]) if n == "reset" else row[n] for n in names])


class SqliteStorage(WholeState):
    """One state database file (or ``:memory:`` for a plan made before any apply)."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        memory = path == MEMORY
        if not memory and not path.exists():
            if not create:
                raise StateError(f"no state database at {path}", hint="run `syncer apply` first")
            path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # owner-only from birth
        unclean = not memory and _has_wal(path)
        try:
            self.db = checked_connection(path)
            # a new state gets large pages: it is mostly chunk blobs, written page by page (a
            # first load of ten million rows is ~1 GB: 250,000 writes at SQLite's 4 KiB, twice,
            # WAL then checkpoint).  Only an empty database takes the setting.
            self.db.execute(f"PRAGMA page_size={PAGE_SIZE}")
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            if not memory and (unclean or path.stat().st_size <= FULL_CHECK_BYTES):
                self._check_integrity()
            self._migrate()
        except sqlite3.DatabaseError as exc:
            if is_full(exc, path):
                self.db.close()
                raise DiskFull("the state database", path, str(exc)) from None
            self._damaged(str(exc))

    @property
    def location(self) -> str:
        return str(self.path)

    def _check_integrity(self) -> None:
        """``PRAGMA quick_check``: a damaged file is refused before anything reads it.

        It reads every page, so it runs when it is cheap (a state up to FULL_CHECK_BYTES) or
        needed: a WAL file left beside the database means the last writer did not close
        cleanly.  A larger state that was closed cleanly is opened at once, so a no-change
        plan costs the same whatever the datasets' sizes; damage found later, by any query,
        gets the same message (see :mod:`syncer.state.sqlite.connection`)."""
        found = [r[0] for r in self.db.execute("PRAGMA quick_check(5)").fetchall()]
        if found != ["ok"]:
            self._damaged("; ".join(found))

    def _damaged(self, detail: str) -> None:
        try:
            self.db.close()
        except (AttributeError, sqlite3.Error):
            pass
        raise damaged(self.path, detail)

    def _migrate(self) -> None:
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise StateError(f"the state database {self.path} was written by a newer syncer "
                             f"(schema {version}, this one knows {len(MIGRATIONS)})",
                             hint="upgrade syncer")
        for number in range(version, len(MIGRATIONS)):
            step = MIGRATIONS[number]
            with self.transaction():
                if callable(step):
                    step(self.db)
                else:
                    for statement in step.split(";"):
                        if statement.strip():
                            self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {number + 1}")

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.db.execute("COMMIT")
        except BaseException:
            # SQLite ends the transaction itself on some errors (a full disk): a ROLLBACK then
            # fails with "no transaction is active" and would hide the real cause
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.db.close()

    def lock(self, command: str, timeout: float) -> Lock:
        held = FileLock(self.path)
        held.acquire(command, timeout)
        return held

    # -- datasets ---------------------------------------------------------------------------
    def datasets(self, target: str | None = None, dataset: str | None = None
                 ) -> list[DatasetState]:
        columns = ", ".join(COLUMNS["datasets"])
        if target is None:
            rows = self.db.execute(f"SELECT {columns} FROM datasets ORDER BY target, dataset"
                                   ).fetchall()
        else:
            rows = self.db.execute(f"SELECT {columns} FROM datasets WHERE target=? AND "
                                   "dataset=?", (target, dataset)).fetchall()
        return [dataset_of(r) for r in rows]

    def upsert_dataset(self, target: str, dataset: str, target_type: str, table: str,
                       mode: str, location: str | None) -> None:
        self.db.execute("INSERT INTO datasets (target, dataset, target_type, table_name, mode, "
                        "location) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (target, dataset) DO "
                        "UPDATE SET target_type=excluded.target_type, "
                        "table_name=excluded.table_name, mode=excluded.mode, "
                        "location=COALESCE(excluded.location, location)",
                        (target, dataset, target_type, table, mode, location))

    def set_marker(self, target: str, dataset: str, marker: str | None) -> None:
        self.db.execute("UPDATE datasets SET marker=? WHERE target=? AND dataset=?",
                        (marker, target, dataset))

    def record_dataset(self, target: str, dataset: str, values: dict[str, Any]) -> int:
        names = ", ".join(f"{name}=?" for name in values)
        self.db.execute(f"UPDATE datasets SET generation = generation + 1, {names} "
                        "WHERE target=? AND dataset=?", (*values.values(), target, dataset))
        return int(self.db.execute("SELECT generation FROM datasets WHERE target=? AND "
                                   "dataset=?", (target, dataset)).fetchone()[0])

    def bump_generation(self, target: str, dataset: str) -> None:
        self.db.execute("UPDATE datasets SET generation = generation + 1 "
                        "WHERE target=? AND dataset=?", (target, dataset))

    def delete_dataset(self, target: str, dataset: str) -> bool:
        where = (target, dataset)
        cursor = self.db.execute("DELETE FROM datasets WHERE target=? AND dataset=?", where)
        self.db.execute("DELETE FROM snapshot_chunks WHERE target=? AND dataset=?", where)
        self.db.execute("DELETE FROM journal WHERE target=? AND dataset=? AND "
                        "status != 'compacted'", where)
        return cursor.rowcount > 0

    # -- chunks -----------------------------------------------------------------------------
    def chunks(self, target: str, dataset: str, batch_id: str | None) -> list[Chunk]:
        rows = self.db.execute("SELECT chunk, rows, min_key, max_key FROM snapshot_chunks "
                               "WHERE target=? AND dataset=? AND batch_id IS ? ORDER BY chunk",
                               (target, dataset, batch_id)).fetchall()
        return [Chunk(*r) for r in rows]

    def blob(self, target: str, dataset: str, chunk: int, column: Blob) -> bytes | None:
        """One chunk's ``column`` read alone: a chunk that is skipped is never read from disk."""
        assert column in ("data", "keys")
        row = self.db.execute(f"SELECT {column} FROM snapshot_chunks WHERE target=? AND "
                              "dataset=? AND chunk=?", (target, dataset, chunk)).fetchone()
        value: bytes | None = None if row is None else row[0]
        return value

    def next_chunk(self, target: str, dataset: str) -> int:
        return int(self.db.execute("SELECT COALESCE(MAX(chunk) + 1, 0) FROM snapshot_chunks "
                                   "WHERE target=? AND dataset=?", (target, dataset)).fetchone()[0])

    def insert_chunk(self, target: str, dataset: str, chunk: Chunk, data: bytes, keys: bytes,
                     batch_id: str | None) -> None:
        self.db.execute("INSERT INTO snapshot_chunks (target, dataset, chunk, rows, data, keys, "
                        "min_key, max_key, batch_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (target, dataset, chunk.number, chunk.rows, data, keys, chunk.min_key,
                         chunk.max_key, batch_id))

    def delete_chunks(self, target: str, dataset: str, batch_id: str | None,
                      everything: bool = False) -> None:
        if everything:
            self.db.execute("DELETE FROM snapshot_chunks WHERE target=? AND dataset=?",
                            (target, dataset))
        else:
            self.db.execute("DELETE FROM snapshot_chunks WHERE target=? AND dataset=? AND "
                            "batch_id IS ?", (target, dataset, batch_id))

    def base_rows(self, target: str, dataset: str) -> int:
        return int(self.db.execute("SELECT COALESCE(SUM(rows), 0) FROM snapshot_chunks WHERE "
                                   "target=? AND dataset=? AND batch_id IS NULL",
                                   (target, dataset)).fetchone()[0])

    # -- the journal ------------------------------------------------------------------------
    def insert_entry(self, run_id: str, entry: Entry, hash_version: str, deletes: int) -> None:
        self.db.execute(
            "INSERT INTO journal (run_id, batch_id, target, dataset, status, reset, upserts, "
            "deletes, hash_version, schema_json, dels, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, entry.batch_id, entry.target, entry.dataset, entry.status, int(entry.reset),
             entry.upserts, deletes, hash_version, entry.schema_json, entry.dels, now()))

    def entry(self, batch_id: str) -> Entry | None:
        row = self.db.execute("SELECT batch_id, target, dataset, status, reset, upserts, "
                              "schema_json, dels FROM journal WHERE batch_id=?",
                              (batch_id,)).fetchone()
        if row is None:
            return None
        batch, target, dataset, status, reset, upserts, schema_json, dels = row
        return Entry(batch, target, dataset, status, bool(reset), upserts, schema_json, dels)

    def folded(self, target: str, dataset: str) -> list[Folded]:
        rows = self.db.execute("SELECT batch_id, reset, dels FROM journal WHERE target=? AND "
                               "dataset=? AND status='done' ORDER BY id",
                               (target, dataset)).fetchall()
        return [Folded(b, bool(r), d) for b, r, d in rows]

    def folded_size(self, target: str, dataset: str) -> tuple[int, int]:
        count, rows = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(upserts + deletes), 0) FROM journal WHERE target=? "
            "AND dataset=? AND status='done'", (target, dataset)).fetchone()
        return int(count), int(rows)

    def set_status(self, batch_id: str, status: str) -> None:
        dels = ", dels=NULL" if status == "abandoned" else ""
        self.db.execute(f"UPDATE journal SET status=?{dels}, finished_at=? WHERE batch_id=?",
                        (status, now(), batch_id))

    def set_dels(self, batch_id: str, dels: bytes | None) -> None:
        self.db.execute("UPDATE journal SET dels=? WHERE batch_id=?", (dels, batch_id))

    def compact_folded(self, target: str, dataset: str, keep: str | None = None) -> None:
        self.db.execute("UPDATE journal SET status='compacted', dels=NULL WHERE target=? AND "
                        "dataset=? AND status='done' AND batch_id IS NOT ?",
                        (target, dataset, keep))

    def open_entries(self) -> list[OpenBatch]:
        rows = self.db.execute("SELECT batch_id, target, dataset FROM journal "
                               "WHERE status='open' ORDER BY id").fetchall()
        return [OpenBatch(*r) for r in rows]

    def last_status(self, target: str, dataset: str) -> str | None:
        row = self.db.execute("SELECT status FROM journal WHERE target=? AND dataset=? "
                              "ORDER BY id DESC LIMIT 1", (target, dataset)).fetchone()
        return str(row[0]) if row else None

    # -- runs -------------------------------------------------------------------------------
    def insert_run(self, run_id: str, command: str, started_at: str, info: dict[str, Any]
                   ) -> None:
        self.db.execute("INSERT INTO runs (id, command, started_at, user, host, pid, git_commit, "
                        "git_dirty, syncer_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (run_id, command, started_at, info.get("user"), info.get("host"),
                         info.get("pid"), info.get("git_commit"), flag(info.get("git_dirty")),
                         info.get("syncer_version")))

    def finish_run(self, run_id: str, finished_at: str, outcome: str, summary: str) -> None:
        self.db.execute("UPDATE runs SET finished_at=?, outcome=?, summary=? WHERE id=?",
                        (finished_at, outcome, summary, run_id))

    def runs(self) -> Iterator[dict[str, Any]]:
        cursor = self.db.execute("SELECT * FROM runs ORDER BY started_at")
        names = [d[0] for d in cursor.description]
        for row in cursor.fetchall():
            yield dict(zip(names, row))

