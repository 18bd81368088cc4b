"""The SQLite state's schema: versioned migrations, each applied in the transaction that
records it (``PRAGMA user_version``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING

from ...model.schema import KEY
from .. import chunks as snap

if TYPE_CHECKING:
    import polars as pl

OP = snap.OP


def _split_snapshot_keys(db: sqlite3.Connection) -> None:
    """Migration 2: keep each chunk's identities apart from its rows, with its key range."""
    import polars as pl
    db.execute("ALTER TABLE snapshot_chunks ADD COLUMN keys BLOB")
    db.execute("ALTER TABLE snapshot_chunks ADD COLUMN min_key TEXT")
    db.execute("ALTER TABLE snapshot_chunks ADD COLUMN max_key TEXT")
    groups = db.execute("SELECT DISTINCT target, dataset FROM snapshot_chunks").fetchall()
    for target, dataset in groups:
        blobs = db.execute("SELECT data FROM snapshot_chunks WHERE target=? AND dataset=? "
                           "ORDER BY chunk", (target, dataset)).fetchall()
        frame = pl.concat([snap.decode(b) for (b,) in blobs], how="diagonal_relaxed")
        write_base(db, target, dataset, frame)


def _chunks_per_batch(db: sqlite3.Connection) -> None:
    """Migration 3: a batch's rows are written once, as snapshot chunks tagged with the batch;
    the journal keeps only the deleted identities.  Legacy deltas are folded into the base."""
    import polars as pl
    db.execute("ALTER TABLE snapshot_chunks ADD COLUMN batch_id TEXT")
    db.execute("ALTER TABLE journal ADD COLUMN dels BLOB")
    groups = db.execute("SELECT DISTINCT target, dataset FROM journal WHERE status='done'"
                        ).fetchall()
    for target, dataset in groups:
        blobs = db.execute("SELECT data FROM snapshot_chunks WHERE target=? AND dataset=? "
                           "ORDER BY chunk", (target, dataset)).fetchall()
        frames = [snap.decode(b) for (b,) in blobs]
        base = pl.concat(frames, how="diagonal_relaxed") if frames else None
        for reset, blob in db.execute("SELECT reset, delta FROM journal WHERE target=? AND "
                                      "dataset=? AND status='done' ORDER BY id",
                                      (target, dataset)).fetchall():
            delta = snap.decode(blob)
            puts = delta.filter(pl.col(OP) == "put").drop(OP)
            dels = delta.filter(pl.col(OP) == "del").select(KEY)
            base = snap.apply_run(None if reset else base, puts, dels)
        if base is not None:
            write_base(db, target, dataset, base)
        db.execute("UPDATE journal SET status='compacted', delta=NULL WHERE target=? AND "
                   "dataset=? AND status='done'", (target, dataset))


def _blobs_last(db: sqlite3.Connection) -> None:
    """Migration 4: a chunk's small columns first, then its identities, then its rows.  SQLite
    reaches a column stored after a large blob only by walking the blob's overflow pages, so
    listing the chunks (key ranges, batch) read every chunk's rows, some 80 MB a million rows."""
    columns = "target, dataset, chunk, rows, min_key, max_key, batch_id, keys, data"
    db.execute("""
        CREATE TABLE snapshot_chunks_new (
            target TEXT NOT NULL, dataset TEXT NOT NULL, chunk INTEGER NOT NULL,
            rows INTEGER NOT NULL, min_key TEXT, max_key TEXT, batch_id TEXT, keys BLOB,
            data BLOB NOT NULL, PRIMARY KEY (target, dataset, chunk))""")
    db.execute(f"INSERT INTO snapshot_chunks_new ({columns}) SELECT {columns} "
               "FROM snapshot_chunks")
    db.execute("DROP TABLE snapshot_chunks")
    db.execute("ALTER TABLE snapshot_chunks_new RENAME TO snapshot_chunks")


def _git_dirty(db: sqlite3.Connection) -> None:
    """Migration 5: whether the Git working tree had uncommitted changes when a run began."""
    if "git_dirty" not in {row[1] for row in db.execute("PRAGMA table_info(runs)")}:
        db.execute("ALTER TABLE runs ADD COLUMN git_dirty INTEGER")


MIGRATIONS: list[str | Callable[[sqlite3.Connection], None]] = [
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
    _split_snapshot_keys,
    _chunks_per_batch,
    _blobs_last,
    _git_dirty,
]


def write_base(db: sqlite3.Connection, target: str, dataset: str, frame: pl.DataFrame) -> None:
    """Replace every chunk of the dataset with a fresh base (the layout of migrations 2-3)."""
    db.execute("DELETE FROM snapshot_chunks WHERE target=? AND dataset=?", (target, dataset))
    for number, (rows, data, keys, low, high) in enumerate(snap.chunks(frame)):
        db.execute("INSERT INTO snapshot_chunks (target, dataset, chunk, rows, data, keys, "
                   "min_key, max_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (target, dataset, number, rows, data, keys, low, high))
