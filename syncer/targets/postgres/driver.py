"""The PostgreSQL target: tables in one schema of a database, loaded with binary COPY.

Two connections per target, both opened on first use: psycopg's (autocommit) for the table
definitions, ``settle`` and ``read_back`` (a server-side cursor), and ADBC's libpq driver for the
batches (Arrow straight into binary COPY, in C: see :mod:`.load`).  Each batch is one
transaction that also records its id in ``_syncer_batches`` in the target schema, so after a
crash between the target's commit and the state's, :meth:`PostgresDriver.settle` knows for
certain whether the batch landed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import polars as pl

from ...errors import TargetError
from ...model.manifest import DatasetSpec
from ...model.schema import Schema
from ..base import Batch, Capabilities, RowError
from ..frames import read_blocks
from . import ddl, errors
from .config import PostgresTarget, register_password
from .load import Loader
from .probe import DATASETS, connect, load_psycopg

MARKERS = "_syncer_batches"
APPLICATION = "syncer target"


class PostgresDriver:
    """Driver for ``type: postgres``."""

    streams = True  # rows are COPYed a slice at a time, in the batch's one transaction
    overlaps_journal = True  # ... which commits after Batch.before_commit

    def __init__(self, target: PostgresTarget, *, transport: object = None) -> None:
        self.target = target
        self.schema = target.schema_
        register_password(target.url)
        self._db: Any = None
        self._loader: Loader | None = None

    # -- connections ------------------------------------------------------------------------
    def where(self, table: str | None = None) -> str:
        place = f"PostgreSQL target '{self.target.name}' ({self.target.display}"
        return place + (f", table {self.schema}.{table})" if table else ")")

    def fail(self, exc: BaseException, table: str | None = None) -> TargetError:
        return TargetError(f"{self.where(table)}: {errors.message(exc)}")

    @property
    def db(self) -> Any:
        """The control connection (autocommit)."""
        if self._db is None:
            self._db = connect(self.target, APPLICATION)
        return self._db

    def _query(self, sql: str, params: dict[str, Any] | tuple[Any, ...] = (),
               table: str | None = None) -> list[tuple[Any, ...]]:
        psycopg = load_psycopg()
        try:
            cursor = self.db.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []
        except psycopg.Error as exc:
            if self._db is not None and self._db.broken:  # reconnect next time (watch)
                self._db.close()
                self._db = None
            raise self.fail(exc, table) from None

    def close(self) -> None:
        if self._loader is not None:
            self._loader.close()
            self._loader = None
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- protocol ---------------------------------------------------------------------------
    def prepare(self, dataset: DatasetSpec, schema: Schema) -> Capabilities:
        """Create the schema, the marker table and the dataset's table (the declared columns,
        the key as primary key); an existing table must fit (declared columns it lacks are
        added); any other difference is refused, listed."""
        table = dataset.table_name
        if not self._query("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)):
            self._query(f"CREATE SCHEMA IF NOT EXISTS {ddl.quote(self.schema)}")
        self._query(f"CREATE TABLE IF NOT EXISTS {ddl.qualified(self.schema, MARKERS)} "
                    "(batch_id text PRIMARY KEY, dataset text NOT NULL, "
                    "applied_at timestamptz NOT NULL DEFAULT now())")
        self._query(f"CREATE TABLE IF NOT EXISTS {ddl.qualified(self.schema, DATASETS)} "
                    "(table_name text PRIMARY KEY, dataset text NOT NULL, batch_id text NOT "
                    "NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        vectors = [c.name for c in schema.columns if c.type == "vector"]
        if vectors and not self._query("SELECT 1 FROM pg_type WHERE typname = 'vector'"):
            database = self._query("SELECT current_database()")[0][0]
            raise TargetError(
                f"{self.where(table)}: column '{vectors[0]}' is a vector, and the pgvector "
                f"extension is not installed in database '{database}'",
                hint="run CREATE EXTENSION vector; in that database (pgvector must be installed "
                     "on the server), or declare the column as json")
        found = self.existing(table)
        if found is None:
            self._query(ddl.create_table(schema, ddl.qualified(self.schema, table)), table=table)
            return Capabilities(max_batch_rows=None)
        problems = ddl.differences(schema, found)
        missing = [c for c in schema.columns if c.name not in found.columns]
        if problems:
            raise TargetError(f"{self.where(table)}: the table exists and does not match the "
                              "declared columns:\n" + "\n".join(f"  - {p}" for p in problems),
                              hint="change the table or the manifest's `columns:` and `key:`, "
                                   "or set another `table:`")
        for column in missing:  # a column the manifest gained: added, empty
            self._query(f"ALTER TABLE {ddl.qualified(self.schema, table)} ADD COLUMN "
                        f"{ddl.quote(column.name)} {ddl.pg_type(column)}", table=table)
        return Capabilities(max_batch_rows=None)

    def existing(self, table: str) -> ddl.Existing | None:
        """The columns and unique keys of ``table`` (None: there is no such table)."""
        rel = self._query("SELECT to_regclass(%s)::text",
                          (ddl.qualified(self.schema, table),))[0][0]
        if rel is None:
            return None
        params = {"rel": ddl.qualified(self.schema, table)}
        columns = self._query(ddl.EXISTING_SQL, params, table)
        unique = self._query(ddl.UNIQUE_SQL, params, table)
        return ddl.Existing({name: kind for name, kind, _ in columns},
                            frozenset(name for name, _, required in columns if required),
                            frozenset(tuple(names) for (names,) in unique))

    def apply(self, batch: Batch) -> list[RowError]:
        """One transaction: the rows (binary COPY), the deletes and the batch marker."""
        if self._loader is None:
            self._loader = Loader(self.target, MARKERS, DATASETS)
        self._loader.apply(batch)
        return []

    def settle(self, batch: Batch, known_rows: int) -> bool:
        found = self._query(f"SELECT 1 FROM {ddl.qualified(self.schema, MARKERS)} "
                            "WHERE batch_id = %s", (batch.id,)) if self._markers() else []
        return bool(found)

    def _markers(self) -> bool:
        rel = self._query("SELECT to_regclass(%s)::text", (ddl.qualified(self.schema, MARKERS),))
        return rel[0][0] is not None

    def read_back(self, dataset: DatasetSpec, schema: Schema, block_rows: int = 50_000
                  ) -> Iterator[pl.DataFrame]:
        """The table's rows in key order, ``block_rows`` at a time, through a server-side
        cursor (memory stays bounded however large the table); nothing when it does not
        exist."""
        table = dataset.table_name
        found = self.existing(table)
        if found is None:
            return
        sql = ddl.select_back(schema, ddl.qualified(self.schema, table), list(found.columns))
        psycopg = load_psycopg()
        try:
            with self.db.transaction(), self.db.cursor(name="syncer_read_back") as cursor:
                cursor.itersize = block_rows
                cursor.execute(sql)
                rows = iter(lambda: cursor.fetchmany(block_rows), [])
                yield from read_blocks((r for chunk in rows for r in chunk), schema.names,
                                       block_rows)
        except psycopg.Error as exc:
            raise self.fail(exc, table) from None
