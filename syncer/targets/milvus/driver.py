"""The Milvus target, through pymilvus ``MilvusClient``: a Milvus server, or Milvus Lite embedded.

``append`` -> insert; ``upsert`` -> delete the removed keys, then upsert the new and changed
rows; ``replace`` -> with ``alias:``, load a new collection ``<table>__<batch>`` with every row,
then create or move the alias to it and drop the collection it pointed to (readers never see
half the data); without ``alias:``, delete every entity and insert.  The collection is created on
first apply from the declared columns; an existing one whose schema differs is refused.

Rows Milvus would refuse (no vector, a vector of the wrong length or with NaN, a string over the
field's ``max_length``, a JSON scalar, a null where the field is not nullable) are rejected before
anything is sent and reported with their source line.  Every insert or upsert request stays
under the 64 MB gRPC limit (rows are split by estimated size).

The calls themselves are in :mod:`.client` (pymilvus is imported there, when a milvus target is
applied: syncer runs without it), the rows in :mod:`.rows`, the schemas in :mod:`.schema`.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from ...errors import TargetError
from ...model.manifest import DatasetSpec
from ...model.schema import Schema
from ..alias_swap import AliasSwap
from ..base import Batch, Capabilities, RowError
from ..frames import frame_of
from .client import Client, field_of
from .config import MilvusDataset, MilvusTarget
from .rows import key_of, milvus_rows, plain_row, same_rows
from .schema import declared_fields, schema_differences, schema_mismatch

#: rows per batch the executor sends (an alias replace goes as one batch, see ``prepare``)
MAX_BATCH_ROWS = 10_000
#: Milvus Lite (run inside this process since milvus-lite 3) buffers the rows written until its
#: memtable holds 128 MB of Arrow (about 1.6M rows of an id, a title and an 8-dim vector), and
#: its flush then turns every buffered row into Python objects (about 600 bytes a row: a 1M-row
#: load peaked 630 MB higher in the flush at close).  Flushed every this many rows, its flushes
#: stay small.  A Milvus server flushes by itself (and rate-limits explicit flushes): not there.
LITE_FLUSH_ROWS = 100_000


class MilvusDriver:
    """Driver for ``type: milvus``."""

    streams = False  # a batch's rows are sent as one frame

    def __init__(self, target: MilvusTarget, *, transport: object = None) -> None:
        self.target = target
        self.client = Client(target)
        self._unflushed: dict[str, int] = {}  # rows written since the last flush, by collection

    def close(self) -> None:
        self.client.close()

    @property
    def _name(self) -> str:
        return self.client.name

    # -- protocol ---------------------------------------------------------------------------
    def prepare(self, dataset: DatasetSpec, schema: Schema) -> Capabilities:
        spec = _spec(dataset)
        if spec.alias:
            # the alias may move only once the new collection holds every row: one batch
            # (split into requests under 64 MB by the driver), never several
            self._swap(spec).check()
            return Capabilities(max_batch_rows=None)
        self._prepare_collection(spec, schema)
        return Capabilities(max_batch_rows=MAX_BATCH_ROWS)

    def _prepare_collection(self, spec: MilvusDataset, schema: Schema) -> None:
        name = spec.table_name
        declared = declared_fields(schema)
        if not self.client.exists(name):
            self.client.create(name, spec, schema)
            return
        info = self.client.describe(name)
        existing = [field_of(f) for f in info.get("fields", [])]
        problems = schema_differences(declared, existing, dynamic=spec.dynamic_fields,
                                      existing_dynamic=bool(info.get("enable_dynamic_field")),
                                      auto_id=bool(info.get("auto_id")))
        problems += self.client.index_problems(name, spec)
        if problems:
            raise schema_mismatch(self._name, name, problems)
        self.client.know_fields(name, existing)
        self.client.load(name)

    def apply(self, batch: Batch) -> list[RowError]:
        spec = _spec(batch.dataset)
        if batch.reset and spec.alias:
            return self._replace_into_alias(batch, spec)
        name = spec.alias if spec.alias else spec.table_name
        rows, errors = milvus_rows(batch, self.client.fields_of(name))
        if batch.reset:
            self.client.delete_all(name, batch.schema)
        if batch.deletes.height:
            self.client.delete_keys(name, batch.schema, batch.deletes)
            batch.wrote(batch.deletes.height)
        if rows:
            method = "upsert" if spec.mode == "upsert" else "insert"
            def wrote(count: int) -> None:
                batch.wrote(count)
                self._written(name, count)

            self.client.write(name, method, rows, batch.schema, wrote)
        return errors

    def _written(self, name: str, rows: int) -> None:
        """Count rows written into ``name``; on Milvus Lite, flush every LITE_FLUSH_ROWS."""
        if not self.target.is_lite:
            return
        held = self._unflushed.get(name, 0) + rows
        if held >= LITE_FLUSH_ROWS:
            self.client.call(f"flushing '{name}'", "flush", name)
            held = 0
        self._unflushed[name] = held

    def settle(self, batch: Batch, known_rows: int) -> bool:
        spec = _spec(batch.dataset)
        if batch.reset and spec.alias:
            return self._swap(spec, batch).settle(self._staging(batch, spec), lambda: False)
        client = self.client
        name = spec.alias if spec.alias else spec.table_name
        if not client.exists(name):
            return False
        client.load(name)
        pk = batch.schema.key[0]
        if batch.deletes.height:
            gone = batch.deletes.get_column(pk).to_list()
            if client.fetch(name, batch.schema, gone, [pk]):
                return False  # a key to delete is still there: delete again
        rows, _errors = milvus_rows(batch, client.fields_of(name))
        if not rows and not batch.reset:
            return True
        found = client.fetch(name, batch.schema, [r[pk] for r in rows], batch.schema.names)
        if batch.reset:
            # a full reload: landed only when the collection holds exactly the batch's rows;
            # otherwise it may be half emptied, and reporting "not landed" would leave it so,
            # while the state still lists the old rows: reload again (idempotent)
            if client.count(name) == len(rows) and same_rows(rows, found, pk, batch.schema):
                return True
            client.delete_all(name, batch.schema)
            client.write(name, "insert", rows, batch.schema)
            return True
        if spec.mode == "upsert":
            # upserts and deletes are idempotent: "not landed" makes the next plan send it again
            return same_rows(rows, found, pk, batch.schema)
        # an insert (append, or a later batch of a replace): never insert a key twice
        missing = [r for r in rows if key_of(r[pk]) not in found]
        if len(missing) == len(rows):
            return False
        if missing:
            client.write(name, "insert", missing, batch.schema)
        return True

    def mark(self, dataset: DatasetSpec, batch_id: str) -> None:
        """The batch landed: the collection's properties name it (the marker a plan checks)."""
        spec = _spec(dataset)
        name = self.client.alias_target(spec.alias) if spec.alias else spec.table_name
        if name is not None:
            self.client.mark(name, batch_id)

    def read_back(self, dataset: DatasetSpec, schema: Schema, batch_size: int = 1000
                  ) -> Iterator[pl.DataFrame]:
        """The collection's entities through a query iterator (strong consistency), a block of
        ``batch_size`` at a time; nothing when the collection does not exist.  Vectors come back
        as float32 lists, JSON fields as objects."""
        spec = _spec(dataset)
        name = spec.alias if spec.alias else spec.table_name
        if not self.client.exists(name):
            return
        self.client.load(name)
        names = schema.names
        for rows in self.client.read(name, names, batch_size):
            yield frame_of([plain_row(r, schema) for r in rows], names)

    # -- alias replace ----------------------------------------------------------------------
    def _swap(self, spec: MilvusDataset, batch: Batch | None = None) -> AliasSwap:
        assert spec.alias is not None
        marker = f"{batch.target}/{batch.dataset.name}" if batch is not None else None
        return AliasSwap(self.client, self._name, spec.table_name, spec.alias, marker)

    def _staging(self, batch: Batch, spec: MilvusDataset) -> str:
        return self._swap(spec).staging(batch.id)

    def _replace_into_alias(self, batch: Batch, spec: MilvusDataset) -> list[RowError]:
        swap = self._swap(spec, batch)
        name = swap.staging(batch.id)

        def build() -> list[RowError]:
            if self.client.exists(name):
                self.client.drop(name)
            self.client.create(name, spec, batch.schema, marker=swap.marker)
            rows, errors = milvus_rows(batch, declared_fields(batch.schema))
            if rows:
                self.client.write(name, "insert", rows, batch.schema,
                                  lambda count: self._written(name, count))
            return errors

        return swap.replace(name, build)


def _spec(dataset: DatasetSpec) -> MilvusDataset:
    if not isinstance(dataset, MilvusDataset):  # pragma: no cover - the registry pairs them
        raise TargetError(f"dataset '{dataset.name}' is not a milvus dataset")
    return dataset


__all__ = ["MAX_BATCH_ROWS", "MilvusDriver"]
