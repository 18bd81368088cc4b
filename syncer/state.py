"""The state store: what syncer last applied, in one SQLite database owned by one class.

Per dataset: the applied snapshot (row identity, row hash and row values, kept as compressed
Arrow IPC chunks so millions of rows load and save in a fraction of a second), the source
fingerprint, the schema and a generation number that every change increments.  A journal
records each batch *before* it is sent (with the rows it carries); marking it done in one
transaction folds its effect into the snapshot.  An entry left open by a crash is settled with
the target on the next run.  Migrations are recorded in the same transaction that applies them.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import polars as pl

from .errors import StateError
from .schema import HASH, HASH_VERSION, KEY, Schema
from .sources.fingerprint import FileStamp

OP = "__op"
_CHUNK_ROWS = 250_000

MIGRATIONS: list[str] = [
    # 1: the initial layout
    """
    CREATE TABLE datasets (
        target TEXT NOT NULL, dataset TEXT NOT NULL, target_type TEXT NOT NULL,
        table_name TEXT NOT NULL, mode TEXT NOT NULL,
        generation INTEGER NOT NULL DEFAULT 0, spec_hash TEXT, schema_json TEXT,
        fingerprint_json TEXT, rows INTEGER NOT NULL DEFAULT 0, hash_version TEXT,
        applied_at TEXT, PRIMARY KEY (target, dataset));
    CREATE TABLE snapshot_chunks (
        target TEXT NOT NULL, dataset TEXT NOT NULL, chunk INTEGER NOT NULL,
        rows INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (target, dataset, chunk));
    CREATE TABLE journal (
        id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, batch_id TEXT NOT NULL UNIQUE,
        target TEXT NOT NULL, dataset TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('open', 'done', 'compacted', 'abandoned')),
        reset INTEGER NOT NULL, upserts INTEGER NOT NULL, deletes INTEGER NOT NULL,
        hash_version TEXT NOT NULL, schema_json TEXT NOT NULL,
        delta BLOB, created_at TEXT NOT NULL, finished_at TEXT);
    CREATE INDEX journal_dataset ON journal (target, dataset, status);
    CREATE TABLE runs (
        id TEXT PRIMARY KEY, command TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT,
        user TEXT, host TEXT, pid INTEGER, git_commit TEXT, outcome TEXT, summary TEXT);
    """,
]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class DatasetState:
    """The state's record of one dataset (no rows)."""

    target: str
    dataset: str
    target_type: str
    table_name: str
    mode: str
    generation: int
    spec_hash: str | None
    schema: Schema | None
    fingerprint: list[FileStamp] | None
    rows: int
    applied_at: str | None

    @property
    def id(self) -> str:
        return f"{self.target}/{self.dataset}"


@dataclass(frozen=True)
class OpenBatch:
    batch_id: str
    target: str
    dataset: str


class StateStore:
    """One state database.  Use as a context manager; every write is one transaction."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        memory = str(path) == ":memory:"
        if not memory and not path.exists():
            if not create:
                raise StateError(f"no state database at {path}", hint="run `syncer apply` first")
            path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # owner-only from birth
        try:
            self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StateError(f"the state database {path} is damaged or not a SQLite file ({exc})",
                             hint="restore it from a backup (`syncer state export`), or move it "
                                  "away to start over") from None

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- schema -----------------------------------------------------------------------------
    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StateError(f"the state database {self.path} was written by a newer syncer "
                             f"(schema {version}, this one knows {len(MIGRATIONS)})",
                             hint="upgrade syncer")
        for number in range(version, len(MIGRATIONS)):
            with self.transaction() as db:
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {number + 1}")

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    # -- datasets ---------------------------------------------------------------------------
    def datasets(self) -> list[DatasetState]:
        rows = self.db.execute("SELECT * FROM datasets ORDER BY target, dataset").fetchall()
        return [self._dataset(r) for r in rows]

    def dataset(self, target: str, dataset: str) -> DatasetState | None:
        row = self.db.execute("SELECT * FROM datasets WHERE target=? AND dataset=?",
                              (target, dataset)).fetchone()
        return self._dataset(row) if row else None

    @staticmethod
    def _dataset(row: tuple[Any, ...]) -> DatasetState:
        (target, dataset, target_type, table, mode, generation, spec_hash, schema_json,
         fingerprint_json, rows, _hash_version, applied_at) = row
        return DatasetState(
            target, dataset, target_type, table, mode, generation, spec_hash,
            Schema.from_json(schema_json) if schema_json else None,
            [FileStamp(**s) for s in json.loads(fingerprint_json)] if fingerprint_json else None,
            rows, applied_at)

    def snapshot(self, target: str, dataset: str) -> pl.DataFrame | None:
        """The applied rows: compacted chunks plus every batch folded since (in order)."""
        chunks = self.db.execute(
            "SELECT data FROM snapshot_chunks WHERE target=? AND dataset=? ORDER BY chunk",
            (target, dataset)).fetchall()
        state = self.dataset(target, dataset)
        if state is None:
            return None
        frames = [pl.read_ipc(io.BytesIO(blob)) for (blob,) in chunks]
        base = pl.concat(frames, how="diagonal_relaxed") if frames else None
        deltas = self.db.execute(
            "SELECT reset, delta FROM journal WHERE target=? AND dataset=? AND status='done' "
            "ORDER BY id", (target, dataset)).fetchall()
        for reset, blob in deltas:
            base = apply_delta(None if reset else base, pl.read_ipc(io.BytesIO(blob)))
        return base

    def ensure_dataset(self, target: str, dataset: str, target_type: str, table: str,
                       mode: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO datasets (target, dataset, target_type, table_name, mode) "
                       "VALUES (?, ?, ?, ?, ?) ON CONFLICT (target, dataset) DO UPDATE SET "
                       "target_type=excluded.target_type, table_name=excluded.table_name, "
                       "mode=excluded.mode", (target, dataset, target_type, table, mode))

    # -- journal ----------------------------------------------------------------------------
    def open_batch(self, run_id: str, batch_id: str, target: str, dataset: str, schema: Schema,
                   reset: bool, delta: pl.DataFrame) -> None:
        """Write a batch down before it is sent (its rows included, to fold it later)."""
        upserts = int((delta.get_column(OP) == "put").sum()) if delta.height else 0
        with self.transaction() as db:
            db.execute(
                "INSERT INTO journal (run_id, batch_id, target, dataset, status, reset, upserts, "
                "deletes, hash_version, schema_json, delta, created_at) "
                "VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?)",
                (run_id, batch_id, target, dataset, int(reset), upserts, delta.height - upserts,
                 HASH_VERSION, schema.to_json(), _ipc(delta), now()))

    def journal_entry(self, batch_id: str) -> tuple[Schema, bool, pl.DataFrame]:
        """An open batch as it was written down: its schema, reset flag and rows."""
        row = self.db.execute("SELECT schema_json, reset, delta FROM journal WHERE batch_id=?",
                              (batch_id,)).fetchone()
        if row is None or row[2] is None:
            raise StateError(f"batch {batch_id} is not in the journal")
        return Schema.from_json(row[0]), bool(row[1]), pl.read_ipc(io.BytesIO(row[2]))

    def fold_batch(self, batch_id: str, rejected: list[str] | None = None) -> None:
        """The target confirmed the batch: fold it into the snapshot (one transaction).

        ``rejected`` lists the identities (``__k``) of rows the target refused; they are left
        out, so the state records only what the target confirmed.
        """
        with self.transaction() as db:
            row = db.execute("SELECT target, dataset, status, delta FROM journal WHERE batch_id=?",
                             (batch_id,)).fetchone()
            if row is None or row[2] != "open":
                raise StateError(f"batch {batch_id} is not open in the journal")
            if rejected:
                kept = pl.read_ipc(io.BytesIO(row[3])).filter(~pl.col(KEY).is_in(rejected))
                db.execute("UPDATE journal SET delta=? WHERE batch_id=?", (_ipc(kept), batch_id))
            db.execute("UPDATE journal SET status='done', finished_at=? WHERE batch_id=?",
                       (now(), batch_id))
            db.execute("UPDATE datasets SET generation = generation + 1 "
                       "WHERE target=? AND dataset=?", (row[0], row[1]))

    def abandon_batch(self, batch_id: str) -> None:
        """The target did not take the batch: forget it."""
        with self.transaction() as db:
            db.execute("UPDATE journal SET status='abandoned', delta=NULL, finished_at=? "
                       "WHERE batch_id=? AND status='open'", (now(), batch_id))

    def open_batches(self) -> list[OpenBatch]:
        rows = self.db.execute("SELECT batch_id, target, dataset FROM journal "
                               "WHERE status='open' ORDER BY id").fetchall()
        return [OpenBatch(*r) for r in rows]

    # -- compaction -------------------------------------------------------------------------
    def commit_dataset(self, target: str, dataset: str, *, schema: Schema,
                       fingerprint: list[FileStamp] | None, spec_hash: str | None) -> int:
        """Fold every done batch into fresh chunks and record the source fingerprint.

        Returns the new generation.  Run after all of a dataset's batches were confirmed.
        """
        snapshot = self.snapshot(target, dataset)
        frame = schema.empty_frame() if snapshot is None else snapshot
        stored = self.db.execute("SELECT schema_json, hash_version FROM datasets WHERE target=? "
                                 "AND dataset=?", (target, dataset)).fetchone()
        if snapshot is not None and stored is not None and stored[0] is not None and (
                stored[1] != HASH_VERSION or Schema.from_json(stored[0]) != schema):
            # the planner compared rows rehashed under ``schema``: store them so, or the next
            # plan would see every row that was not rewritten as changed
            frame = schema.rehash(frame, Schema.from_json(stored[0]))
        frame = frame.select([c for c in [*schema.names, HASH, KEY] if c in frame.columns])
        with self.transaction() as db:
            db.execute("DELETE FROM snapshot_chunks WHERE target=? AND dataset=?", (target, dataset))
            for number, start in enumerate(range(0, max(frame.height, 1), _CHUNK_ROWS)):
                part = frame.slice(start, _CHUNK_ROWS)
                db.execute("INSERT INTO snapshot_chunks VALUES (?, ?, ?, ?, ?)",
                           (target, dataset, number, part.height, _ipc(part)))
            db.execute("UPDATE journal SET status='compacted', delta=NULL "
                       "WHERE target=? AND dataset=? AND status='done'", (target, dataset))
            db.execute(
                "UPDATE datasets SET generation = generation + 1, schema_json=?, "
                "fingerprint_json=?, spec_hash=?, rows=?, hash_version=?, applied_at=? "
                "WHERE target=? AND dataset=?",
                (schema.to_json(),
                 json.dumps([s.to_dict() for s in fingerprint]) if fingerprint else None,
                 spec_hash, frame.height, HASH_VERSION, now(), target, dataset))
            generation = db.execute("SELECT generation FROM datasets WHERE target=? AND dataset=?",
                                    (target, dataset)).fetchone()[0]
        return int(generation)

    def forget(self, target: str, dataset: str) -> bool:
        with self.transaction() as db:
            cursor = db.execute("DELETE FROM datasets WHERE target=? AND dataset=?", (target, dataset))
            db.execute("DELETE FROM snapshot_chunks WHERE target=? AND dataset=?", (target, dataset))
            db.execute("DELETE FROM journal WHERE target=? AND dataset=? AND status != 'compacted'",
                       (target, dataset))
        return cursor.rowcount > 0

    # -- runs (history) ---------------------------------------------------------------------
    def begin_run(self, run_id: str, command: str, info: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO runs (id, command, started_at, user, host, pid, git_commit) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (run_id, command, now(), info.get("user"), info.get("host"),
                        info.get("pid"), info.get("git_commit")))

    def finish_run(self, run_id: str, outcome: str, summary: list[dict[str, Any]]) -> None:
        with self.transaction() as db:
            db.execute("UPDATE runs SET finished_at=?, outcome=?, summary=? WHERE id=?",
                       (now(), outcome, json.dumps(summary), run_id))

    def runs(self) -> list[dict[str, Any]]:
        cursor = self.db.execute("SELECT * FROM runs ORDER BY started_at")
        names = [d[0] for d in cursor.description]
        out = []
        for row in cursor.fetchall():
            item = dict(zip(names, row))
            item["summary"] = json.loads(item["summary"]) if item["summary"] else []
            out.append(item)
        return out


def _ipc(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compression="lz4")
    return buffer.getvalue()


def apply_delta(base: pl.DataFrame | None, delta: pl.DataFrame) -> pl.DataFrame:
    """Fold one batch's effect (``__op`` put/del rows) into a snapshot frame."""
    puts = delta.filter(pl.col(OP) == "put").drop(OP)
    if base is None:
        return puts
    touched = delta.select(KEY)
    kept = base.join(touched, on=KEY, how="anti")
    return pl.concat([kept, puts], how="diagonal_relaxed")
