"""Writing one batch into PostgreSQL: one transaction on an ADBC connection (libpq driver).

Rows go as Arrow through ADBC's bulk ingest, which encodes them to PostgreSQL's binary COPY
format in C, a slice (``Batch.upsert_slices``) at a time, so a first load of millions of rows is
never whole in memory.  Measured against psycopg's ``Copy.write_row`` (binary, ``set_types``) on
the same rows it was faster and used a fraction of the CPU (docs/postgres.md), so it is the
loader.  By mode:

* ``replace`` (``batch.reset``): a new table is created and loaded beside the live one, its
  primary key built after the load, and swapped in by rename; readers see the old table or the
  new one, never a half-loaded or empty one.
* ``append``, or any load into an empty table: COPY straight into the table.
* ``upsert``: COPY into a temporary staging table, then ``INSERT ... ON CONFLICT DO UPDATE``;
  deletes: the keys COPYed into another, then ``DELETE ... USING``.

The batch id goes into ``_syncer_batches`` in the same transaction, and into
``_syncer_datasets`` as the last batch written to the table (the marker every plan checks).  Columns PostgreSQL cannot
take from Arrow in binary (jsonb, vector) always go through staging and are cast there.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import polars as pl

from ...errors import TargetError
from ...model.schema import Schema
from ..base import Batch, BatchRefused
from ..nopandas import without_pandas
from . import ddl, errors
from .config import SWAP_MARK, PostgresTarget

STAGE = "_syncer_stage"
DELETES = "_syncer_deletes"


def _adbc() -> Any:
    try:
        with without_pandas():
            import adbc_driver_postgresql.dbapi as adbc
    except ImportError:
        raise TargetError("the postgres target needs ADBC's PostgreSQL driver",
                          hint="pip install 'syncer-data[postgres]'") from None
    return adbc


def _adbc_error() -> type[Exception]:
    from adbc_driver_manager import Error

    return Error


class Loader:
    """The write connection of one target, and the transaction of each batch."""

    def __init__(self, target: PostgresTarget, markers: str, datasets: str) -> None:
        self.target = target
        self.schema = target.schema_
        self.markers = ddl.qualified(self.schema, markers)
        self.datasets = ddl.qualified(self.schema, datasets)
        self._conn: Any = None
        #: the slice being COPYed (its offset in the batch, its rows): names a refused row
        self._sent: tuple[int, pl.DataFrame] | None = None

    @property
    def conn(self) -> Any:
        if self._conn is None:
            try:
                self._conn = _adbc().connect(self.target.url)
            except _adbc_error() as exc:
                raise TargetError(f"cannot connect to PostgreSQL target '{self.target.name}' "
                                  f"({self.target.display}): {errors.message(exc)}") from None
        return self._conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except _adbc_error():
                pass  # a connection the server already dropped

    def apply(self, batch: Batch) -> None:
        conn = self.conn
        cursor = conn.cursor()
        committed = False
        name = batch.dataset.table_name
        self._sent = None
        try:
            if batch.reset:
                self._replace(cursor, batch)
            else:
                self._change(cursor, batch)
            cursor.execute(f"INSERT INTO {self.markers} (batch_id, dataset) VALUES ($1, $2)",
                           (batch.id, batch.dataset.name))
            # the marker a plan checks: the last batch syncer wrote to this table
            cursor.execute(f"INSERT INTO {self.datasets} (table_name, dataset, batch_id) "
                           "VALUES ($1, $2, $3) ON CONFLICT (table_name) DO UPDATE SET "
                           "dataset = EXCLUDED.dataset, batch_id = EXCLUDED.batch_id, "
                           "applied_at = now()", (name, batch.dataset.name, batch.id))
            batch.before_commit()  # the state's journal holds the batch before the target does
            conn.commit()
            committed = True
        except _adbc_error() as exc:  # ADBC raises its own DB-API error classes
            if isinstance(exc.__cause__, KeyboardInterrupt):  # ADBC's form of Ctrl-C
                raise KeyboardInterrupt from None
            raise self._refused(exc, name) from None
        finally:
            try:
                cursor.close()
                if not committed:  # whatever failed (an interrupt, a bug): nothing of it stays
                    conn.rollback()
            except _adbc_error():
                self.close()  # the connection is gone: the server rolled back

    def _refused(self, exc: Exception, table: str) -> TargetError:
        text = (f"PostgreSQL target '{self.target.name}' ({self.target.display}), table "
                f"{self.schema}.{table}: {errors.message(exc)}")
        line = errors.copy_line(exc)
        if line is not None and self._sent is not None:
            offset, rows = self._sent
            if 0 < line <= rows.height:
                reason = errors.diagnostics(exc).get("message_primary", "rejected")
                return BatchRefused(text + " (nothing of the batch was written)",
                                    rows.slice(line - 1, 1), reason)
        return TargetError(text)

    # -- the modes ---------------------------------------------------------------------------
    def _replace(self, cursor: Any, batch: Batch) -> None:
        """Load a new table and swap it in by rename (the old one dropped), in this transaction."""
        schema, name = batch.schema, batch.dataset.table_name
        new, old = f"{name}{SWAP_MARK}new", f"{name}{SWAP_MARK}old"
        for leftover in (new, old):  # a crash between two statements leaves nothing: still, be sure
            cursor.execute(f"DROP TABLE IF EXISTS {ddl.qualified(self.schema, leftover)}")
        cursor.execute(ddl.create_table(schema, ddl.qualified(self.schema, new), key=False))
        self._load(cursor, batch, new)
        if schema.key:
            cursor.execute(ddl.add_key(schema, ddl.qualified(self.schema, new)))
        live = ddl.qualified(self.schema, name)
        cursor.execute(f"ALTER TABLE IF EXISTS {live} RENAME TO {ddl.quote(old)}")
        cursor.execute(f"ALTER TABLE {ddl.qualified(self.schema, new)} RENAME TO "
                       f"{ddl.quote(name)}")
        cursor.execute(f"DROP TABLE IF EXISTS {ddl.qualified(self.schema, old)}")
        if schema.key:  # the key's constraint (and index) named after the live table
            cursor.execute(f"ALTER TABLE {live} RENAME CONSTRAINT {ddl.quote(new + '_pkey')} "
                           f"TO {ddl.quote(name + '_pkey')}")

    def _change(self, cursor: Any, batch: Batch) -> None:
        schema = batch.schema
        table = ddl.qualified(self.schema, batch.dataset.table_name)
        if batch.deletes.height and schema.key:
            keys = batch.deletes.select(list(schema.key))
            cursor.adbc_ingest(DELETES, _arrow(keys, schema, list(schema.key)), mode="replace",
                               temporary=True)
            # without statistics the planner takes the temporary table for a big one and scans
            # the whole target table (1M rows: 1.2 s) instead of probing its key index (0.15 s)
            cursor.execute(f"ANALYZE pg_temp.{ddl.quote(DELETES)}")
            cursor.execute(ddl.delete_using(schema, table, f"pg_temp.{ddl.quote(DELETES)}"))
            batch.wrote(batch.deletes.height)
        if not batch.upsert_rows:
            return
        if batch.dataset.mode == "upsert" and not self._empty(cursor, table):
            self._stage(cursor, batch)
            cursor.execute(f"ANALYZE pg_temp.{ddl.quote(STAGE)}")
            cursor.execute(ddl.upsert(schema, table, f"pg_temp.{ddl.quote(STAGE)}"))
        else:  # append, or the first load of an upsert: nothing to conflict with
            self._load(cursor, batch, batch.dataset.table_name)

    @staticmethod
    def _empty(cursor: Any, table: str) -> bool:
        cursor.execute(f"SELECT 1 FROM {table} LIMIT 1")
        return cursor.fetchone() is None

    def _load(self, cursor: Any, batch: Batch, into: str) -> None:
        """COPY the batch's rows into the table ``into`` of the target schema (through the
        staging table when some column must be cast)."""
        if not batch.upsert_rows:
            return
        if ddl.needs_staging(batch.schema):
            self._stage(cursor, batch)
            cols = ", ".join(ddl.quote(n) for n in batch.schema.names)
            cursor.execute(f"INSERT INTO {ddl.qualified(self.schema, into)} ({cols}) "
                           + ddl.cast_select(batch.schema, f"pg_temp.{ddl.quote(STAGE)}"))
            return
        for _ in self._ingest(cursor, batch, into, db_schema_name=self.schema, mode="append"):
            pass

    def _stage(self, cursor: Any, batch: Batch) -> None:
        """COPY the rows into a temporary staging table (dropped at commit or rollback)."""
        for _ in self._ingest(cursor, batch, STAGE, temporary=True, mode="create"):
            pass

    def _ingest(self, cursor: Any, batch: Batch, into: str, mode: str, **where: Any
                ) -> Iterator[int]:
        """Ingest slice after slice (the first with ``mode``, the rest appended); yields the
        number of each slice once written."""
        if mode == "create":
            cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{ddl.quote(into)}")
        offset = 0
        for number, (frame, table) in enumerate(_slices(batch, batch.schema)):
            self._sent = (offset, frame)
            cursor.adbc_ingest(into, table, mode=mode if number == 0 else "append", **where)
            batch.wrote(table.num_rows)
            offset += table.num_rows
            yield number
        self._sent = None


def _slices(batch: Batch, schema: Schema) -> Iterator[tuple[pl.DataFrame, Any]]:
    """The batch's rows a slice at a time, each with its Arrow table (all in the first one's
    layout).  The next slice is read on a worker while ADBC writes this one."""
    from ...sources.ahead import read_ahead

    pairs = read_ahead(((frame, _arrow(frame, schema, schema.names))
                        for frame in batch.upsert_slices() if frame.height), depth=1)
    first = next(pairs, None)
    if first is None:
        return
    layout = first[1].schema
    for frame, table in itertools.chain([first], pairs):
        yield frame, table if table.schema == layout else table.cast(layout)


def _arrow(frame: pl.DataFrame, schema: Schema, names: list[str]) -> Any:
    """The columns as an Arrow table sharing the frame's memory (ADBC takes string views)."""
    return frame.select(names).to_arrow(compat_level=pl.CompatLevel.newest())
