"""The embedded SQLite target: a local database file, the default that runs anywhere.

Each batch is applied in one transaction that also records the batch id in the target database
(``_syncer_batches``), so after a crash between the target commit and the state commit,
:meth:`SqliteDriver.settle` tells for certain whether the batch landed.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import polars as pl

from ...errors import DiskFull, SyncError, TargetError
from ...space import is_full
from ...model.manifest import DatasetSpec
from ...model.schema import Schema
from ..base import Batch, Capabilities, RowError
from ..frames import read_blocks
from ..nopandas import without_pandas
from .config import SqliteTarget
from .probe import DATASETS

MARKERS = "_syncer_batches"
# column types as sqlite-utils maps them: str TEXT, int INTEGER, float REAL.  A datetime is its
# canonical ISO text in UTC (``2013-01-01T10:00:00Z``: sorts in time order, and SQLite's date
# functions read it); a decimal is TEXT too, because a NUMERIC column would turn ``12.50`` into
# the binary float 12.5 and lose exactness (CAST(x AS REAL) where arithmetic is wanted)
_PY_TYPES: dict[str, type] = {"string": str, "integer": int, "float": float, "boolean": int,
                              "date": str, "datetime": str, "decimal": str, "json": str,
                              "vector": str}


def _database(db: sqlite3.Connection) -> Any:
    """sqlite-utils' Database over ``db``, for the DDL."""
    with without_pandas():
        from sqlite_utils import Database
    return Database(db)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SqliteDriver:
    """Driver for ``type: sqlite``."""

    streams = True  # rows are ingested a slice at a time, in that one transaction
    overlaps_journal = True  # ... which commits after Batch.before_commit

    def __init__(self, target: SqliteTarget, *, transport: object = None) -> None:
        self.target = target
        self.path = Path(target.path)
        self._db: sqlite3.Connection | None = None
        self._fresh = False  # the database file was created by this run (see db)
        self._adbc: Any = None
        #: tables prepare() found missing: created by the first batch, in its transaction, so
        #: a first apply that fails leaves no empty table behind
        self._to_create: dict[str, str] = {}

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # a database this run creates is loaded in rollback-journal mode: nobody reads
                # it yet, and WAL would write a first load twice (to the WAL, then into the
                # file: 1M rows 2.4 s instead of 1.6).  WAL after its first batch (or, should
                # that fail, at the next open), so readers never wait on a writer after that
                self._fresh = not self.path.exists()
                self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
                if not self._fresh:
                    self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute(f"CREATE TABLE IF NOT EXISTS {MARKERS} "
                                 "(batch_id TEXT PRIMARY KEY, dataset TEXT, applied_at TEXT)")
                self._db.execute(f"CREATE TABLE IF NOT EXISTS {DATASETS} (table_name TEXT "
                                 "PRIMARY KEY, dataset TEXT, batch_id TEXT, applied_at TEXT)")
            except (sqlite3.Error, OSError) as exc:
                raise self._failed(exc, f"cannot open SQLite target '{self.target.name}' at "
                                        f"{self.path}") from None
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._adbc is not None:
            self._adbc.close()
            self._adbc = None

    # -- protocol ---------------------------------------------------------------------------
    def prepare(self, dataset: DatasetSpec, schema: Schema) -> Capabilities:
        """Create the table from the declared columns (key as primary key), or add the columns
        a schema change brought, and make sure upserts have a unique index on the key.  A
        dataset's change goes as one batch: one transaction."""
        self._prepare_table(dataset, schema)
        return Capabilities(max_batch_rows=None)

    def _prepare_table(self, dataset: DatasetSpec, schema: Schema) -> None:
        table = _database(self.db).table(dataset.table_name)
        try:
            if not table.exists():
                self._to_create[dataset.table_name] = table.db.create_table_sql(
                    dataset.table_name, {c.name: _PY_TYPES[c.type] for c in schema.columns},
                    pk=schema.key[0] if len(schema.key) == 1 else (schema.key or None))
                return
            for column in schema.columns:
                if column.name not in table.columns_dict:
                    table.add_column(column.name, _PY_TYPES[column.type])
            if schema.key and not _unique_on(table, schema.key):
                table.create_index(list(schema.key), f"{dataset.table_name}_syncer_key",
                                   unique=True, if_not_exists=True)
        except sqlite3.Error as exc:
            raise self._failed(exc, f"SQLite target '{self.target.name}', table "
                                    f"{dataset.table_name}") from None

    def apply(self, batch: Batch) -> list[RowError]:
        """One transaction: reset, deletes, upserts and the batch marker commit together.

        Rows travel as Arrow through ADBC's bulk ingest (C, no per-row Python), a slice at a
        time: straight into the table when it is being (re)loaded, else through a temporary
        table and one ``INSERT ... ON CONFLICT DO UPDATE`` / ``DELETE ... IN`` statement each.
        """
        table = quote(batch.dataset.table_name)
        schema = batch.schema
        conn = self._bulk()
        cursor = conn.cursor()
        committed = False
        try:
            if batch.dataset.table_name in self._to_create:
                cursor.execute(self._to_create[batch.dataset.table_name])
            loading = batch.reset or self._empty(cursor, table)
            if batch.reset:
                cursor.execute(f"DELETE FROM {table}")
            if batch.deletes.height:
                keys = ", ".join(quote(k) for k in schema.key)
                cursor.adbc_ingest("_syncer_deletes", _arrow(batch.deletes, schema, list(schema.key)),
                                   mode="replace", temporary=True)
                cursor.execute(f"DELETE FROM {table} WHERE ({keys}) IN "
                               f"(SELECT {keys} FROM temp._syncer_deletes)")
                batch.wrote(batch.deletes.height)
            if batch.upsert_rows:
                # one ingest per slice, in the one transaction: ADBC holds Ctrl-C until the
                # call returns (SQLite cannot cancel it), so a slice is the longest wait
                into = batch.dataset.table_name if loading else "_syncer_upserts"
                for number, rows in enumerate(_slices(batch, schema)):
                    cursor.adbc_ingest(into, rows, mode="append" if loading or number else
                                       "replace", temporary=not loading)
                    batch.wrote(rows.num_rows)
                if not loading:
                    cursor.execute(_upsert_sql(table, schema))
            cursor.execute(f"INSERT INTO {MARKERS} VALUES (?, ?, datetime('now'))",
                           (batch.id, batch.dataset.name))
            # the marker a plan checks: the last batch syncer wrote to this table
            cursor.execute(f"INSERT INTO {DATASETS} VALUES (?, ?, ?, datetime('now')) ON "
                           "CONFLICT (table_name) DO UPDATE SET dataset=excluded.dataset, "
                           "batch_id=excluded.batch_id, applied_at=excluded.applied_at",
                           (batch.dataset.table_name, batch.dataset.name, batch.id))
            batch.before_commit()  # the state's journal holds the batch before the target does
            conn.commit()
            committed = True
            if self._fresh:
                self._fresh = False
                self._to_wal()
            return []
        except (sqlite3.Error, _adbc_error()) as exc:  # ADBC raises its own DB-API error classes
            if isinstance(exc.__cause__, KeyboardInterrupt):  # ADBC's form of Ctrl-C
                raise KeyboardInterrupt from None
            raise self._failed(exc, f"SQLite target '{self.target.name}', table "
                                    f"{batch.dataset.table_name}") from None
        finally:
            if committed:
                self._to_create.pop(batch.dataset.table_name, None)
            else:  # whatever failed (a bug too): nothing of the batch stays
                _roll_back(conn)
            cursor.close()

    def _to_wal(self) -> None:
        """Switch the database this run created to WAL, unless a reader holds it (then the
        next open does); the batch is committed either way."""
        try:
            self.db.execute("PRAGMA busy_timeout = 200")
            self.db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error:
            pass
        finally:
            self.db.execute("PRAGMA busy_timeout = 30000")

    def _failed(self, exc: BaseException, what: str) -> SyncError:
        """SQLite's error as syncer's: a full disk says so (and where), anything else names
        the target and keeps SQLite's message."""
        if is_full(exc, self.path):
            return DiskFull(f"the SQLite target '{self.target.name}'", self.path, str(exc))
        return TargetError(f"{what}: {exc}")

    def _bulk(self) -> Any:
        """The ADBC connection used for writes (opened once, after the table exists)."""
        if self._adbc is None:
            with without_pandas():
                import adbc_driver_sqlite.dbapi as adbc

            self._adbc = adbc.connect(str(self.path))
        return self._adbc

    @staticmethod
    def _empty(cursor: Any, table: str) -> bool:
        cursor.execute(f"SELECT 1 FROM {table} LIMIT 1")
        return cursor.fetchone() is None

    def settle(self, batch: Batch, known_rows: int) -> bool:
        row = self.db.execute(f"SELECT 1 FROM {MARKERS} WHERE batch_id = ?", (batch.id,)).fetchone()
        return row is not None

    def read_back(self, dataset: DatasetSpec, schema: Schema, block_rows: int = 50_000
                  ) -> Iterator[pl.DataFrame]:
        """The table's rows, ``block_rows`` at a time (nothing when the table does not exist)."""
        table = dataset.table_name
        if self._db is None and not self.path.exists():
            return  # no database yet: nothing to read, and reading must not create one
        existing = [r[1] for r in self.db.execute(f"PRAGMA table_info({quote(table)})")]
        if not existing:
            return
        names = schema.names
        cols = ", ".join(quote(n) if n in existing else f"NULL AS {quote(n)}" for n in names)
        try:
            cursor = self.db.execute(f"SELECT {cols} FROM {quote(table)}")
        except sqlite3.Error as exc:
            raise TargetError(f"SQLite target '{self.target.name}': {exc}") from None
        rows = iter(lambda: cursor.fetchmany(block_rows), [])
        yield from read_blocks((r for chunk in rows for r in chunk), names, block_rows)

    # -- helpers ----------------------------------------------------------------------------


def _roll_back(conn: Any) -> None:
    """Undo the batch (its table too, if it made it).  SQLite may have ended the transaction
    itself (a full disk): then there is nothing to roll back, and the error that ended it is
    the one to report."""
    try:
        conn.rollback()
    except (sqlite3.Error, _adbc_error()):
        pass


def _adbc_error() -> type[Exception]:
    """The base class of ADBC's errors (its DB-API ``Error``), once ADBC is loaded."""
    from adbc_driver_manager import Error

    return Error


def _unique_on(table: Any, key: tuple[str, ...]) -> bool:
    """Whether the primary key or a unique index covers exactly the key columns."""
    if tuple(table.pks) == key:
        return True
    return any(index.unique and tuple(index.columns) == key for index in table.indexes)


def _upsert_sql(table: str, schema: Schema) -> str:
    cols = ", ".join(quote(n) for n in schema.names)
    # ``WHERE true`` keeps SQLite from reading ON CONFLICT as part of the SELECT's join
    sql = f"INSERT INTO {table} ({cols}) SELECT {cols} FROM temp._syncer_upserts WHERE true"
    if not schema.key:
        return sql
    conflict = ", ".join(quote(k) for k in schema.key)
    others = [n for n in schema.names if n not in schema.key]
    update = ", ".join(f"{quote(n)} = excluded.{quote(n)}" for n in others)
    return sql + (f" ON CONFLICT ({conflict}) DO UPDATE SET {update}" if update
                  else f" ON CONFLICT ({conflict}) DO NOTHING")


def _slices(batch: Batch, schema: Schema) -> Iterator[Any]:
    """The batch's rows as Arrow tables, one slice at a time (a first load of millions of
    rows is never whole in memory), all in the first slice's layout.  The next slice is read on
    a worker while ADBC writes this one: both release the GIL."""
    from ...sources.ahead import read_ahead

    tables = read_ahead((_arrow(frame, schema, schema.names) for frame in batch.upsert_slices()),
                        depth=1)
    first = next(tables, None)
    if first is None:
        first = _arrow(batch.upserts, schema, schema.names)
    layout = first.schema
    for table in itertools.chain([first], tables):
        yield table if table.schema == layout else table.cast(layout)


def _arrow(frame: pl.DataFrame, schema: Schema, names: list[str]) -> Any:
    """The columns as an Arrow table, sharing the frame's memory: ADBC takes string views, and
    writes dates as ISO text and booleans as 0/1 itself (as sqlite-utils stores them).  Only
    vectors are converted, to JSON text."""
    columns = []
    for name in names:
        expr = pl.col(name)
        if schema.column(name).type == "vector":
            expr = expr.map_elements(lambda v: json.dumps(v.to_list()), return_dtype=pl.String,
                                     skip_nulls=True)
        columns.append(expr)
    return frame.select(columns).to_arrow(compat_level=pl.CompatLevel.newest())
