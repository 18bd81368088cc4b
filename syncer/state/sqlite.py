"""The state store: what syncer last applied, in one SQLite database owned by one class.

Per dataset: the applied snapshot (row identity, row hash and row values, kept as compressed
Arrow IPC chunks so millions of rows load and save in a fraction of a second), the source
fingerprint, the schema and a generation number that every change increments.  A journal
records each batch *before* it is sent (with the rows it carries); marking it done in one
transaction folds its effect into the snapshot.  An entry left open by a crash is settled with
the target on the next run.  Migrations are recorded in the same transaction that applies them.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

from ..errors import StateError
from ..model.schema import HASH, KEY, Schema, hash_version
from . import chunks as snap
from ..sources.fingerprint import FileStamp

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
        _write_base(db, target, dataset, frame)


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
            _write_base(db, target, dataset, base)
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


#: page size of a new state database
PAGE_SIZE = 65_536

#: states up to this size are fully checked on every open (a few ms); larger ones after an
#: unclean shutdown only
FULL_CHECK_BYTES = 64 << 20


def damaged(path: Path, detail: str) -> StateError:
    return StateError(f"the state database {path} is damaged or not a SQLite file ({detail})",
                      hint="restore it from a backup (`syncer state backup FILE` makes one), "
                           "or move it away to start over")


def _has_wal(path: Path) -> bool:
    try:
        return Path(f"{path}-wal").stat().st_size > 0
    except FileNotFoundError:
        return False


class _Checked(sqlite3.Connection):
    """A connection whose queries report a damaged file as such, wherever they find it."""

    state_path: Path

    def execute(self, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        return self.cursor(_CheckedCursor).execute(*args)


class _CheckedCursor(sqlite3.Cursor):
    def execute(self, *args: Any) -> _CheckedCursor:  # type: ignore[override]
        with _translated(self.connection):
            return super().execute(*args)

    def fetchone(self) -> Any:
        with _translated(self.connection):
            return super().fetchone()

    def fetchall(self) -> list[Any]:
        with _translated(self.connection):
            return super().fetchall()


@contextmanager
def _translated(connection: sqlite3.Connection) -> Iterator[None]:
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if type(exc) is sqlite3.DatabaseError and _DAMAGE in str(exc):
            raise damaged(getattr(connection, "state_path", Path("?")), str(exc)) from None
        raise


_DAMAGE = "malformed"  # "database disk image is malformed"


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
        unclean = not memory and _has_wal(path)
        try:
            self.db = sqlite3.connect(path, isolation_level=None, timeout=30, factory=_Checked)
            self.db.state_path = path  # type: ignore[attr-defined]
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
            self._damaged(str(exc))

    def _check_integrity(self) -> None:
        """``PRAGMA quick_check``: a damaged file is refused before anything reads it.

        It reads every page, so it runs when it is cheap (a state up to FULL_CHECK_BYTES) or
        needed: a WAL file left beside the database means the last writer did not close
        cleanly.  A larger state that was closed cleanly is opened at once, so a no-change
        plan costs the same whatever the datasets' sizes; damage found later, by any query,
        gets the same message (see :class:`_Checked`)."""
        found = [r[0] for r in self.db.execute("PRAGMA quick_check(5)").fetchall()]
        if found != ["ok"]:
            self._damaged("; ".join(found))

    def _damaged(self, detail: str) -> None:
        try:
            self.db.close()
        except (AttributeError, sqlite3.Error):
            pass
        raise damaged(self.path, detail)

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
            step = MIGRATIONS[number]
            with self.transaction() as db:
                if callable(step):
                    step(db)
                else:
                    for statement in step.split(";"):
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

    def _runs(self, target: str, dataset: str) -> list[tuple[str | None, bool, bytes | None]]:
        """The runs that make up the snapshot, oldest first: the base (batch None), then every
        folded batch (its id, whether it reset the dataset, its deleted identities)."""
        folded = self.db.execute(
            "SELECT batch_id, reset, dels FROM journal WHERE target=? AND dataset=? AND "
            "status='done' ORDER BY id", (target, dataset)).fetchall()
        return [(None, False, None), *((b, bool(r), d) for b, r, d in folded)]

    def _read(self, target: str, dataset: str, column: str,
              keys: list[str] | None = None) -> pl.DataFrame | None:
        """Replay the runs, reading ``column`` ("data": whole rows, "keys": ``__k``/``__h``)
        of their chunks; with ``keys``, only chunks whose key range may hold one of them."""
        import polars as pl
        if self.dataset(target, dataset) is None:
            return None
        wanted = pl.DataFrame({KEY: keys}, schema={KEY: pl.String}) if keys is not None else None
        frame: pl.DataFrame | None = None
        for batch_id, reset, dels in self._runs(target, dataset):
            chunks = self.db.execute(
                "SELECT chunk, min_key, max_key FROM snapshot_chunks WHERE target=? "
                "AND dataset=? AND batch_id IS ? ORDER BY chunk",
                (target, dataset, batch_id)).fetchall()
            parts = []
            for chunk, low, high in chunks:
                if wanted is not None and low is not None and not any(
                        low <= k <= high for k in keys or []):
                    continue
                if wanted is not None and column == "data" and not self._holds(
                        target, dataset, chunk, wanted):
                    continue
                part = snap.decode(self._blob(target, dataset, chunk, column))
                parts.append(part.join(wanted, on=KEY, how="semi") if wanted is not None else part)
            puts = pl.concat(parts, how="diagonal_relaxed") if parts else None
            gone = snap.decode(dels) if dels is not None else None
            if batch_id is None:
                frame = puts
            else:
                frame = snap.apply_run(None if reset else frame, puts, gone)
        return frame

    def _holds(self, target: str, dataset: str, chunk: int, wanted: pl.DataFrame) -> bool:
        """Whether the chunk holds one of ``wanted``, told by its identities (a tenth of its
        size): chunks written a slice at a time cover overlapping key ranges, so a range
        alone would send a lookup through the rows of many chunks."""
        blob = self._blob(target, dataset, chunk, "keys")
        return blob is None or snap.decode(blob, [KEY]).join(wanted, on=KEY, how="semi").height > 0

    def _blob(self, target: str, dataset: str, chunk: int, column: str) -> Any:
        """One chunk's ``column`` ("data" or "keys"), read alone: a chunk that is skipped is
        never read from disk."""
        return self.db.execute(f"SELECT {column} FROM snapshot_chunks WHERE target=? AND "
                               "dataset=? AND chunk=?", (target, dataset, chunk)).fetchone()[0]

    def snapshot(self, target: str, dataset: str) -> pl.DataFrame | None:
        """The applied rows: the base plus every batch folded since, replayed in order."""
        return self._read(target, dataset, "data")

    def snapshot_keys(self, target: str, dataset: str) -> pl.DataFrame | None:
        """Only ``__k`` and ``__h`` of the applied rows: all a plan needs to diff."""
        frame = self._read(target, dataset, "keys")
        return frame.select(KEY, HASH) if frame is not None else None

    def snapshot_rows(self, target: str, dataset: str, keys: list[str]) -> pl.DataFrame | None:
        """The applied rows with these identities (reads only the chunks whose range holds one)."""
        if not keys:
            return None
        return self._read(target, dataset, "data", keys)

    def ensure_dataset(self, target: str, dataset: str, target_type: str, table: str,
                       mode: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO datasets (target, dataset, target_type, table_name, mode) "
                       "VALUES (?, ?, ?, ?, ?) ON CONFLICT (target, dataset) DO UPDATE SET "
                       "target_type=excluded.target_type, table_name=excluded.table_name, "
                       "mode=excluded.mode", (target, dataset, target_type, table, mode))

    # -- journal ----------------------------------------------------------------------------
    def open_batch(self, run_id: str, batch_id: str, target: str, dataset: str, schema: Schema,
                   reset: bool, puts: Iterable[pl.DataFrame], dels: pl.DataFrame) -> None:
        """Write a batch down before it is sent: its rows (``puts``, read a slice at a time)
        become (not yet visible) snapshot chunks, its deleted identities (``dels``) go into the
        journal entry.  Written once, folded later by a status change alone."""
        names = [*schema.names, HASH, KEY]
        dels = dels.select([*schema.key, KEY])
        with self.transaction() as db:
            written = _write_chunks(db, target, dataset, (p.select(names) for p in puts), batch_id)
            db.execute(
                "INSERT INTO journal (run_id, batch_id, target, dataset, status, reset, upserts, "
                "deletes, hash_version, schema_json, dels, created_at) "
                "VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?)",
                (run_id, batch_id, target, dataset, int(reset), written, dels.height,
                 hash_version(), schema.to_json(), snap.encode(dels) if dels.height else None,
                 now()))

    def journal_entry(self, batch_id: str, *, with_puts: bool = True
                      ) -> tuple[Schema, bool, pl.DataFrame]:
        """An open batch as it was written down: its schema, reset flag and rows (``__op``);
        without ``with_puts``, only the deleted ones (see :meth:`journal_rows` for the rest)."""
        import polars as pl
        row = self.db.execute("SELECT schema_json, reset, dels, target, dataset FROM journal "
                              "WHERE batch_id=?", (batch_id,)).fetchone()
        if row is None:
            raise StateError(f"batch {batch_id} is not in the journal")
        schema_json, reset, dels, target, dataset = row
        puts = (list(self.journal_rows(batch_id).slices(0)) if with_puts else [])
        parts = [p.with_columns(pl.lit("put").alias(OP)) for p in puts]
        if dels is not None:
            parts.append(snap.decode(dels).with_columns(pl.lit("del").alias(OP)))
        schema = Schema.from_json(schema_json)
        # every column of the schema, even for a batch that only deletes (its parts carry the
        # key columns alone): drivers settle it like any other
        empty = schema.empty_frame().with_columns(pl.lit("put").alias(OP)).clear()
        rows = pl.concat([empty, *parts], how="diagonal_relaxed")
        return schema, bool(reset), rows

    def journal_rows(self, batch_id: str) -> JournalRows:
        """An open batch's written rows, to be read a chunk at a time (a crashed first load of
        millions of rows is settled without holding them)."""
        row = self.db.execute("SELECT upserts, target, dataset FROM journal WHERE batch_id=?",
                              (batch_id,)).fetchone()
        if row is None:
            raise StateError(f"batch {batch_id} is not in the journal")
        return JournalRows(self, batch_id, *row)

    def fold_batch(self, batch_id: str, rejected: list[str] | None = None) -> None:
        """The target confirmed the batch: its rows become part of the snapshot (one transaction).

        ``rejected`` lists the identities (``__k``) of rows the target refused; they are left
        out, so the state records only what the target confirmed.  A batch that reset the
        dataset makes every earlier run dead: those chunks are dropped here.
        """
        with self.transaction() as db:
            row = db.execute("SELECT target, dataset, status, reset, dels FROM journal "
                             "WHERE batch_id=?", (batch_id,)).fetchone()
            if row is None or row[2] != "open":
                raise StateError(f"batch {batch_id} is not open in the journal")
            target, dataset, _, reset, dels = row
            if rejected:
                self._drop_rejected(db, target, dataset, batch_id, dels, rejected)
            db.execute("UPDATE journal SET status='done', finished_at=? WHERE batch_id=?",
                       (now(), batch_id))
            if reset:
                db.execute("DELETE FROM snapshot_chunks WHERE target=? AND dataset=? AND "
                           "(batch_id IS NULL OR batch_id IN (SELECT batch_id FROM journal WHERE "
                           "target=? AND dataset=? AND status='done' AND batch_id != ?))",
                           (target, dataset, target, dataset, batch_id))
                db.execute("UPDATE journal SET status='compacted', dels=NULL WHERE target=? AND "
                           "dataset=? AND status='done' AND batch_id != ?",
                           (target, dataset, batch_id))
            db.execute("UPDATE datasets SET generation = generation + 1 "
                       "WHERE target=? AND dataset=?", (target, dataset))

    @staticmethod
    def _drop_rejected(db: sqlite3.Connection, target: str, dataset: str, batch_id: str,
                       dels: bytes | None, rejected: list[str]) -> None:
        import polars as pl
        refused = pl.col(KEY).is_in(rejected)
        blobs = db.execute("SELECT data FROM snapshot_chunks WHERE target=? AND dataset=? AND "
                           "batch_id=?", (target, dataset, batch_id)).fetchall()
        kept = [snap.decode(b).filter(~refused) for (b,) in blobs]
        db.execute("DELETE FROM snapshot_chunks WHERE target=? AND dataset=? AND batch_id=?",
                   (target, dataset, batch_id))
        if kept:
            _write_chunks(db, target, dataset, [pl.concat(kept)], batch_id)
        if dels is not None:
            left = snap.decode(dels).filter(~refused)
            db.execute("UPDATE journal SET dels=? WHERE batch_id=?",
                       (snap.encode(left) if left.height else None, batch_id))

    def abandon_batch(self, batch_id: str) -> None:
        """The target did not take the batch: forget it and its rows."""
        with self.transaction() as db:
            db.execute("DELETE FROM snapshot_chunks WHERE batch_id=? AND batch_id IN (SELECT "
                       "batch_id FROM journal WHERE batch_id=? AND status='open')",
                       (batch_id, batch_id))
            db.execute("UPDATE journal SET status='abandoned', dels=NULL, finished_at=? "
                       "WHERE batch_id=? AND status='open'", (now(), batch_id))

    def open_batches(self) -> list[OpenBatch]:
        rows = self.db.execute("SELECT batch_id, target, dataset FROM journal "
                               "WHERE status='open' ORDER BY id").fetchall()
        return [OpenBatch(*r) for r in rows]

    # -- compaction -------------------------------------------------------------------------
    def commit_dataset(self, target: str, dataset: str, *, schema: Schema,
                       fingerprint: list[FileStamp] | None, spec_hash: str | None,
                       rows: int | None = None) -> int:
        """Record that the dataset is in sync with this source fingerprint and schema.

        The deltas of the batches just folded stay in the journal; the base is rewritten (and
        the deltas dropped) only when they grew large, or when the rows must be rehashed because
        the schema or the hash function changed.  ``rows``: how many rows the snapshot now
        holds, when the caller knows (else they are counted).  Returns the new generation.
        """
        stored = self.db.execute("SELECT schema_json, hash_version FROM datasets WHERE target=? "
                                 "AND dataset=?", (target, dataset)).fetchone()
        old_schema = Schema.from_json(stored[0]) if stored and stored[0] else None
        rehash = old_schema is not None and (stored[1] != hash_version() or old_schema != schema)
        base_rows = self.db.execute("SELECT COALESCE(SUM(rows), 0) FROM snapshot_chunks "
                                    "WHERE target=? AND dataset=? AND batch_id IS NULL",
                                    (target, dataset)).fetchone()[0]
        deltas, delta_rows = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(upserts + deletes), 0) FROM journal WHERE target=? "
            "AND dataset=? AND status='done'", (target, dataset)).fetchone()
        compact = rehash or snap.needs_compaction(base_rows, delta_rows, deltas)
        frame: pl.DataFrame | None = None
        if compact:
            frame = self.snapshot(target, dataset)
            frame = schema.empty_frame() if frame is None else frame
            if rehash:
                # the planner compared rows rehashed under ``schema``: store them so, or the
                # next plan would see every row that was not rewritten as changed
                frame = schema.rehash(frame, old_schema)
            frame = frame.select([c for c in [*schema.names, HASH, KEY] if c in frame.columns])
            rows = frame.height
        elif rows is None:
            keys = self.snapshot_keys(target, dataset)
            rows = keys.height if keys is not None else 0
        with self.transaction() as db:
            if frame is not None:
                _rebase(db, target, dataset, frame)
            return _record(db, target, dataset, schema, rows, fingerprint, spec_hash)

    def replace_snapshot(self, target: str, dataset: str, *, schema: Schema,
                         frame: pl.DataFrame) -> int:
        """Record ``frame`` (rows with ``__h``/``__k``) as what the target holds: the snapshot
        becomes exactly these rows (``syncer adopt``, and ``apply --refresh`` before it repairs).
        The source fingerprint is cleared so the next plan reads the sources.  Returns the new
        generation."""
        frame = frame.select([*schema.names, HASH, KEY])
        with self.transaction() as db:
            _rebase(db, target, dataset, frame)
            return _record(db, target, dataset, schema, frame.height, None, None)

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


@dataclass(frozen=True)
class JournalRows:
    """The rows a journal entry wrote (a ``RowSource``): counted, and read chunk by chunk."""

    store: StateStore
    batch_id: str
    height: int
    target: str
    dataset: str

    def slices(self, rows: int) -> Iterator[pl.DataFrame]:
        chunks = self.store.db.execute(
            "SELECT chunk FROM snapshot_chunks WHERE target=? AND dataset=? AND batch_id=? "
            "ORDER BY chunk", (self.target, self.dataset, self.batch_id)).fetchall()
        for (chunk,) in chunks:
            yield snap.decode(self.store._blob(self.target, self.dataset, chunk, "data"))


def _rebase(db: sqlite3.Connection, target: str, dataset: str, frame: pl.DataFrame) -> None:
    """``frame`` becomes the dataset's only run: every folded batch is merged into it."""
    _write_base(db, target, dataset, frame)
    db.execute("UPDATE journal SET status='compacted', dels=NULL "
               "WHERE target=? AND dataset=? AND status='done'", (target, dataset))


def _record(db: sqlite3.Connection, target: str, dataset: str, schema: Schema, rows: int,
            fingerprint: list[FileStamp] | None, spec_hash: str | None) -> int:
    """Note what the dataset now holds and what it was made from; returns the new generation.
    No fingerprint means the sources must be read again by the next plan."""
    db.execute(
        "UPDATE datasets SET generation = generation + 1, schema_json=?, fingerprint_json=?, "
        "spec_hash=?, rows=?, hash_version=?, applied_at=? WHERE target=? AND dataset=?",
        (schema.to_json(), json.dumps([s.to_dict() for s in fingerprint]) if fingerprint else None,
         spec_hash, rows, hash_version(), now(), target, dataset))
    generation = db.execute("SELECT generation FROM datasets WHERE target=? AND dataset=?",
                            (target, dataset)).fetchone()[0]
    return int(generation)


def _write_base(db: sqlite3.Connection, target: str, dataset: str, frame: pl.DataFrame) -> None:
    """Replace every chunk of the dataset (base and folded batches) with a fresh base."""
    db.execute("DELETE FROM snapshot_chunks WHERE target=? AND dataset=?", (target, dataset))
    _write_chunks(db, target, dataset, [frame], None)


def _write_chunks(db: sqlite3.Connection, target: str, dataset: str,
                  frames: Iterable[pl.DataFrame], batch_id: str | None) -> int:
    """Store ``frames`` (one slice at a time: each is sorted into its own chunks, so chunks of
    different slices may cover overlapping key ranges).  Returns how many rows were stored."""
    number = db.execute("SELECT COALESCE(MAX(chunk) + 1, 0) FROM snapshot_chunks WHERE target=? "
                        "AND dataset=?", (target, dataset)).fetchone()[0]
    written = 0
    for frame in frames:
        for rows, data, keys, low, high in snap.chunks(frame):
            db.execute("INSERT INTO snapshot_chunks (target, dataset, chunk, rows, data, keys, "
                       "min_key, max_key, batch_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (target, dataset, number, rows, data, keys, low, high, batch_id))
            number += 1
        written += frame.height
    return written
