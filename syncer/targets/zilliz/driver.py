"""The Zilliz Cloud target: rows go in through import jobs, as the service documents it.

A change is written as import files (Parquet by default, or JSON: ``import_format:``), uploaded
to the stage bucket under ``<prefix>/<target>/<dataset>/<batch id>.parquet`` (``.2.parquet``, ...
past the per-file limit), imported into the dataset's ``partition:`` (if any) with
``jobs/import/create`` and followed with ``getProgress`` until it is ``Completed`` or ``Failed``
(its reason shown, with the file and the batch row when the reason names one).  The staged files
of a batch are deleted once it is settled (``keep_staged: true`` keeps them); what a crash left
is swept from the dataset's staging folder by the next run that writes the dataset.  An import is
insert-only and keeps duplicate primary keys, so:

* ``upsert`` -> ``entities/delete`` of the removed keys and of the keys about to be written,
  then one import of the new and changed rows;
* ``append`` -> one import of the new rows;
* ``replace`` -> with ``alias:``, a fresh collection ``<table>__<batch id>`` is created and
  imported into, then the alias is created or moved to it and the collection it pointed to is
  dropped (readers never see half the data); without ``alias:``, drop + create + import.

The collection is created on first apply from the declared columns (through the cluster
endpoint); an existing one whose schema differs is refused before anything is sent.  Before each
job the job list is checked, so a collection never has 10,000 pending jobs; every request passes a
client-side limiter (20 requests/s by default).  Errors arrive as HTTP 200 with a non-zero
``code``: they become one TargetError with the server's message.

An import is never sent twice: when the outcome of ``jobs/import/create`` is unknown, or after a
crash, the job is looked up by the batch id its file name carries (a ``.job`` note next to the
staged file names it; else the job list is scanned) and followed; an append whose job cannot be
found any more is judged by whether its keys are in the collection.

The REST calls are in :mod:`.rest`, the stage bucket in :mod:`.stage` (boto3 is imported there,
when a zilliz target is applied: syncer runs without it), the import jobs in :mod:`.jobs`, the
collections and aliases in :mod:`.collections`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import polars as pl

from ...errors import TargetError
from ...model.manifest import DatasetSpec
from ...model.schema import Schema
from ..alias_swap import AliasSwap
from ..base import Batch, Capabilities, Pending, RowError
from ..frames import frame_of
from ..milvus.rows import refusals
from ..milvus.schema import Field, schema_mismatch
from .collections import QUERY_WINDOW, Collections, fields_of_answer
from .config import ZillizDataset, ZillizTarget
from .jobs import MAX_PENDING_JOBS, ImportFailed, Jobs
from .rest import RateLimiter, Rest
from .stage import Stage


class ZillizDriver:
    """Driver for ``type: zilliz``."""

    streams = False  # a batch's rows are sent as one frame

    def __init__(self, target: ZillizTarget, *,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.target = target
        self._name = f"zilliz target '{target.name}'"
        self.rest = Rest(target, self._name, transport=transport)
        self.collections = Collections(self.rest)
        self.jobs = Jobs(self.rest, target)
        #: outcomes this process knows for sure (a job it followed to its end)
        self._outcomes: dict[str, bool] = {}
        #: (dataset, collection) pairs whose collection this process created empty for the
        #: dataset: only this dataset's batches import into it, and a plan's batches carry
        #: distinct keys, so an upsert has nothing to delete there before it imports
        self._created: set[tuple[str, str]] = set()

    def close(self) -> None:
        try:
            # the batches settled here were folded or abandoned since
            self.jobs.cleanup.discard_settled()
        finally:
            self.rest.close()

    # -- protocol ---------------------------------------------------------------------------
    def prepare(self, dataset: DatasetSpec, schema: Schema) -> Capabilities:
        spec = _spec(dataset)
        self.jobs.check_cluster()
        self.jobs.stage()
        # any batch of this dataset a crash left open was settled before: what is staged for
        # it now is left over
        self.jobs.cleanup.sweep(self.target.name, dataset.name)
        if spec.alias:
            # the alias may move only once the new collection holds every row: one batch
            # (one import job), never several
            self._swap(spec).check()
            return Capabilities(max_batch_rows=None)
        self._prepare_collection(spec, schema)
        return Capabilities(max_batch_rows=self.target.max_rows_per_import,
                            in_flight=self.target.max_imports_in_flight)

    def _prepare_collection(self, spec: ZillizDataset, schema: Schema) -> None:
        name = spec.table_name
        self._forget_created(name)  # another dataset may have written it since
        info = self.collections.describe(name)
        if info is None:
            self.collections.create(name, spec, schema)
            self._created.add((spec.name, name))
            if spec.partition:
                self.collections.ensure_partition(name, spec.partition)
            return
        problems = self.collections.differences(info, spec, schema)
        if problems:
            raise schema_mismatch(self._name, name, problems)
        self.collections.know_fields(name, fields_of_answer(info))
        if spec.partition:
            self.collections.ensure_partition(name, spec.partition)

    def apply(self, batch: Batch) -> list[RowError]:
        return self.submit(batch)()

    def overlaps(self, batch: Batch) -> bool:
        """A batch that adds to the collection may import beside others: its job is found by
        the batch id it carries, and its keys are its own (a plan's batches never share one),
        so each is settled alone.  A reset (drop, empty, or a new collection under the
        alias) is sent once every earlier batch ended, and ends before the next is sent."""
        return not batch.reset

    def submit(self, batch: Batch) -> Pending:
        """Send the batch: the keys it replaces deleted, its rows staged and its import job
        created; what follows the job to its end."""
        spec = _spec(batch.dataset)
        if batch.reset and spec.alias:
            errors = self._replace_into_alias(batch, spec)
            return lambda: errors
        name = spec.table_name
        if batch.reset and spec.partition:
            self.collections.empty_partition(name, spec.partition)
        elif batch.reset:
            self.collections.drop(name)
            self.collections.create(name, spec, batch.schema)
            self._forget_created(name)
            self._created.add((spec.name, name))
        frame, errors, positions = import_rows(batch, self.collections.fields_of(name))
        if spec.mode == "upsert" and (spec.name, name) not in self._created:
            # an import keeps duplicate keys: the rows it replaces must go first (none can be
            # in a collection this process created for the dataset: a first load sends no
            # entities/delete, which at 1,000 keys a request was one request per 1,000 rows)
            keys = [*batch.deletes.get_column(batch.schema.key[0]).to_list(),
                    *frame.get_column(batch.schema.key[0]).to_list()]
            self.collections.delete_keys(name, batch.schema, keys, spec.partition)
        imported = self._start_import(batch, spec, name, frame, positions) if frame.height else None

        def pending() -> list[RowError]:
            if imported is not None:
                imported()
            self._outcomes[batch.id] = True
            return errors

        return pending

    def _forget_created(self, collection: str) -> None:
        self._created = {pair for pair in self._created if pair[1] != collection}

    def settle(self, batch: Batch, known_rows: int) -> bool:
        if batch.id in self._outcomes:
            return self._outcomes[batch.id]
        landed = self._settle(batch)
        self.jobs.cleanup.forget(batch)  # folded or abandoned next, it needs its files no more
        return landed

    def folded(self, batch: Batch) -> None:
        """The executor folded ``batch`` into the state: its staged files may go."""
        self.jobs.cleanup.discard(batch.id)

    def _settle(self, batch: Batch) -> bool:
        spec = _spec(batch.dataset)
        if batch.reset and spec.alias:
            return self._settle_alias(batch, spec)
        name = spec.table_name
        collections = self.collections
        if collections.describe(name) is None:
            return False
        pk = batch.schema.key[0]
        if batch.upserts.height == 0:
            # deletes only (idempotent): landed when none of the keys is left.  Judged before the
            # rows are looked at: rebuilt from the journal, such a batch has no value columns
            return not collections.present(name, batch.schema,
                                           batch.deletes.get_column(pk).to_list(),
                                           partition=spec.partition)
        frame, _errors, _positions = import_rows(batch, collections.fields_of(name))
        if frame.height == 0:
            # every row would be refused: nothing was imported, only the deletes were sent
            return not collections.present(name, batch.schema,
                                           batch.deletes.get_column(pk).to_list(),
                                           partition=spec.partition)
        job = self.jobs.find_finished(batch, name)
        if job is not None and job.get("state") == "Completed":
            return True
        if spec.mode == "upsert" or batch.reset:
            # deletes and a reload are safe to send again: "not landed" makes the next plan do so
            return False
        # an insert-only batch (append, or a later part of a replace): never import it twice.
        # Its keys are new ones; a job the service no longer lists is judged by them
        keys = frame.get_column(pk).to_list()
        present = collections.present(name, batch.schema, keys, count=True,
                                      partition=spec.partition)
        if present == len(keys):
            return True
        if present == 0:
            return False
        raise TargetError(f"{self._name}: cannot tell whether batch {batch.id} landed in "
                          f"'{name}': {present} of its {len(keys)} keys are there and its import "
                          "job is not listed", hint="check the collection, then `syncer state "
                                                    "forget` the dataset or re-run apply")

    def mark(self, dataset: DatasetSpec, batch_id: str) -> None:
        """The batch landed: the collection's properties name it (the marker a plan checks)."""
        spec = _spec(dataset)
        name = self.collections.alias_target(spec.alias) if spec.alias else spec.table_name
        if name is not None:
            self.collections.mark(name, batch_id, spec.partition)

    def read_back(self, dataset: DatasetSpec, schema: Schema, page: int = 1000
                  ) -> Iterator[pl.DataFrame]:
        """The collection's entities through the cluster's ``entities/query``, ``page`` at a
        time by offset; nothing when the collection does not exist.  Offset paging reaches the
        service's query window (16 384 entities) and no further: a larger collection is refused
        with a clear message rather than read in part."""
        spec = _spec(dataset)
        name = spec.alias if spec.alias else spec.table_name
        if self.collections.describe(name) is None:
            return
        total = self.collections.count(name, spec.partition)
        if total > QUERY_WINDOW:
            raise TargetError(f"{self._name}: '{name}' holds {total} entities; reading back more "
                              f"than {QUERY_WINDOW} (the query window) is not supported yet")
        names = schema.names
        for offset in range(0, total, page):
            rows = self.collections.query_page(name, names, offset,
                                               min(page, QUERY_WINDOW - offset), spec.partition)
            if not rows:
                return
            yield frame_of([plain_row(r, schema) for r in rows], names)

    # -- imports ----------------------------------------------------------------------------
    def _import(self, batch: Batch, spec: ZillizDataset, collection: str, frame: pl.DataFrame,
                positions: list[int]) -> None:
        self._start_import(batch, spec, collection, frame, positions)()

    def _start_import(self, batch: Batch, spec: ZillizDataset, collection: str,
                      frame: pl.DataFrame, positions: list[int]) -> Callable[[], None]:
        """Stage the rows and create the job; what follows it (a failed job: not landed)."""
        follow = self.jobs.start(batch, spec, collection, frame, positions)

        def ended() -> None:
            try:
                follow()
            except ImportFailed:
                self._outcomes[batch.id] = False
                raise

        return ended

    # -- alias replace ----------------------------------------------------------------------
    def _swap(self, spec: ZillizDataset) -> AliasSwap:
        assert spec.alias is not None
        return AliasSwap(self.collections, self._name, spec.table_name, spec.alias)

    def _replace_into_alias(self, batch: Batch, spec: ZillizDataset) -> list[RowError]:
        swap = self._swap(spec)
        name = swap.staging(batch.id)

        def build() -> list[RowError]:
            self.collections.drop(name)
            self.collections.create(name, spec, batch.schema)
            frame, errors, positions = import_rows(batch, self.collections.fields_of(name))
            if frame.height:
                try:
                    self._import(batch, spec, name, frame, positions)
                except TargetError:
                    if self._outcomes.get(batch.id) is False:  # the job failed: nobody reads it
                        self.collections.drop(name)
                    raise
            return errors

        errors = swap.replace(name, build)
        self._outcomes[batch.id] = True
        return errors

    def _settle_alias(self, batch: Batch, spec: ZillizDataset) -> bool:
        swap = self._swap(spec)
        name = swap.staging(batch.id)

        def complete() -> bool:
            # the new collection holds every row when its job completed: the crash came before
            # the alias moved
            job = self.jobs.find_finished(batch, name) if batch.upserts.height else None
            return job is not None and job.get("state") == "Completed"

        return swap.settle(name, complete)


# -- rows ----------------------------------------------------------------------------------------

def import_rows(batch: Batch, fields: list[Field]) -> tuple[pl.DataFrame, list[RowError], list[int]]:
    """The batch's upserts the service would take (value columns only), the rows it would
    refuse (as row errors: no vector, NaN, a JSON scalar, text over max_length, ...), and for
    each kept row its index in the batch."""
    frame = batch.upserts
    by_name = {f.name: f for f in fields}
    problems: dict[int, str] = {}
    for column in batch.schema.columns:
        for index, message in refusals(frame.get_column(column.name), column,
                                       by_name.get(column.name)):
            problems.setdefault(index, message)
    out = frame.select(batch.schema.names)
    keep = list(range(frame.height))
    if problems:
        keep = [i for i in keep if i not in problems]
        out = out[keep] if keep else out.clear()
    errors = [RowError("upsert", index, message) for index, message in sorted(problems.items())]
    return out, errors, keep


def plain_row(row: dict[str, Any], schema: Schema) -> dict[str, Any]:
    """An entity as the dataset's columns: vectors as floats, JSON fields as their text."""
    out: dict[str, Any] = {}
    for column in schema.columns:
        value = row.get(column.name)
        if column.type == "vector" and value is not None:
            value = [float(x) for x in value]
        elif column.type == "json" and value is not None and not isinstance(value, str):
            value = json.dumps(value, sort_keys=True)
        out[column.name] = value
    return out


def _spec(dataset: DatasetSpec) -> ZillizDataset:
    if not isinstance(dataset, ZillizDataset):  # pragma: no cover - the registry pairs them
        raise TargetError(f"dataset '{dataset.name}' is not a zilliz dataset")
    return dataset


__all__ = ["MAX_PENDING_JOBS", "RateLimiter", "Stage", "ZillizDriver"]
