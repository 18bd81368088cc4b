"""The state's rules, whatever holds it: snapshot replay, the journal, folds and compaction.

Per dataset: the applied snapshot (row identity, row hash and row values, kept as compressed
Arrow IPC chunks so millions of rows load and save in a fraction of a second), the source
fingerprint, the schema and a generation number that every change increments.  A journal
records each batch *before* it is sent (its rows become chunks tagged with the batch); marking
it done in one transaction folds its effect into the snapshot.  An entry left open by a crash
is settled with the target on the next run.  The tables and blobs live in a backend's
:class:`~syncer.state.storage.Storage`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StateError
from ..model.schema import HASH, KEY, Schema, hash_version
from ..sources.fingerprint import FileStamp
from . import chunks as snap
from . import compact as compaction
from . import replay
from .base import DatasetState, Lock, OpenBatch, now
from .storage import Entry, Storage

if TYPE_CHECKING:
    import polars as pl

OP = snap.OP


class ChunkStore:
    """A :class:`~syncer.state.base.StateStore` over any storage.  Use as a context manager;
    every write is one transaction of the storage."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    @property
    def location(self) -> str:
        return self.storage.location

    @property
    def schema_version(self) -> int:
        return self.storage.schema_version

    def __enter__(self) -> ChunkStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.storage.close()

    def lock(self, command: str, timeout: float = 0.0) -> Lock:
        return self.storage.lock(command, timeout)

    @contextmanager
    def locked(self, command: str, timeout: float = 0.0) -> Iterator[Lock]:
        held = self.lock(command, timeout)
        try:
            yield held
        finally:
            held.release()

    def backup(self, destination: Path) -> None:
        self.storage.backup(destination)

    # -- datasets ---------------------------------------------------------------------------
    def datasets(self) -> list[DatasetState]:
        return self.storage.datasets()

    def dataset(self, target: str, dataset: str) -> DatasetState | None:
        found = self.storage.datasets(target, dataset)
        return found[0] if found else None

    def ensure_dataset(self, target: str, dataset: str, target_type: str, table: str,
                       mode: str, location: str | None = None) -> None:
        with self.storage.transaction():
            self.storage.upsert_dataset(target, dataset, target_type, table, mode, location)

    def set_marker(self, target: str, dataset: str, marker: str | None) -> None:
        with self.storage.transaction():
            self.storage.set_marker(target, dataset, marker)

    def forget(self, target: str, dataset: str) -> bool:
        with self.storage.transaction():
            return self.storage.delete_dataset(target, dataset)

    # -- the snapshot -----------------------------------------------------------------------
    def snapshot(self, target: str, dataset: str) -> pl.DataFrame | None:
        """The applied rows: the base plus every batch folded since, replayed in order."""
        return replay.read(self.storage, target, dataset, "data")

    def snapshot_keys(self, target: str, dataset: str) -> pl.DataFrame | None:
        """Only ``__k`` and ``__h`` of the applied rows: all a plan needs to diff."""
        frame = replay.read(self.storage, target, dataset, "keys")
        return frame.select(KEY, HASH) if frame is not None else None

    def snapshot_rows(self, target: str, dataset: str, keys: list[str]) -> pl.DataFrame | None:
        """The applied rows with these identities (reads only the chunks whose range holds one)."""
        if not keys:
            return None
        return replay.read(self.storage, target, dataset, "data", keys)

    def commit_dataset(self, target: str, dataset: str, *, schema: Schema,
                       fingerprint: list[FileStamp] | None, spec_hash: str | None,
                       rows: int | None = None) -> int:
        """Record that the dataset is in sync with this source fingerprint and schema.

        The deltas of the batches just folded stay in the journal; the base is rewritten (and
        the deltas dropped) only when they grew large, or when the rows must be rehashed because
        the schema or the hash function changed.  ``rows``: how many rows the snapshot now
        holds, when the caller knows (else they are counted).  Returns the new generation.
        """
        stored = self.dataset(target, dataset)
        old_schema = stored.schema if stored is not None else None
        rehash = old_schema is not None and stored is not None and (
            stored.hash_version != hash_version() or old_schema != schema)
        deltas, delta_rows = self.storage.folded_size(target, dataset)
        compact = rehash or snap.needs_compaction(self.storage.base_rows(target, dataset),
                                                  delta_rows, deltas)
        with self.storage.transaction():
            if compact:
                # a key range at a time: never the whole snapshot in memory (compact.py)
                rows = compaction.rebase(self.storage, target, dataset, schema,
                                         old_schema if rehash else None)
            elif rows is None:
                keys = self.snapshot_keys(target, dataset)
                rows = keys.height if keys is not None else 0
            return self._record(target, dataset, schema, rows, fingerprint, spec_hash)

    def replace_snapshot(self, target: str, dataset: str, *, schema: Schema,
                         frame: pl.DataFrame) -> int:
        """Record ``frame`` (rows with ``__h``/``__k``) as what the target holds: the snapshot
        becomes exactly these rows (``syncer adopt``, and ``apply --refresh`` before it repairs).
        The source fingerprint is cleared so the next plan reads the sources.  Returns the new
        generation."""
        frame = frame.select([*schema.names, HASH, KEY])
        with self.storage.transaction():
            self._rebase(target, dataset, frame)
            return self._record(target, dataset, schema, frame.height, None, None)

    def _rebase(self, target: str, dataset: str, frame: pl.DataFrame) -> None:
        """``frame`` becomes the dataset's only run: every folded batch is merged into it."""
        self.storage.delete_chunks(target, dataset, None, everything=True)
        replay.write_chunks(self.storage, target, dataset, [frame], None)
        self.storage.compact_folded(target, dataset)

    def _record(self, target: str, dataset: str, schema: Schema, rows: int,
                fingerprint: list[FileStamp] | None, spec_hash: str | None) -> int:
        """Note what the dataset now holds and what it was made from; returns the new
        generation.  No fingerprint means the sources must be read again by the next plan."""
        stamps = json.dumps([s.to_dict() for s in fingerprint]) if fingerprint else None
        return self.storage.record_dataset(target, dataset, {
            "schema_json": schema.to_json(), "fingerprint_json": stamps, "spec_hash": spec_hash,
            "rows": rows, "hash_version": hash_version(), "applied_at": now()})

    # -- the journal ------------------------------------------------------------------------
    def open_batch(self, run_id: str, batch_id: str, target: str, dataset: str, schema: Schema,
                   reset: bool, puts: Iterable[pl.DataFrame], dels: pl.DataFrame) -> None:
        """Write a batch down before it is sent: its rows (``puts``, read a slice at a time)
        become (not yet visible) snapshot chunks, its deleted identities (``dels``) go into the
        journal entry.  Written once, folded later by a status change alone."""
        names = [*schema.names, HASH, KEY]
        dels = dels.select([*schema.key, KEY])
        with self.storage.transaction():
            written = replay.write_chunks(self.storage, target, dataset,
                                          (p.select(names) for p in puts), batch_id)
            entry = Entry(batch_id, target, dataset, "open", reset, written, schema.to_json(),
                          snap.encode(dels) if dels.height else None)
            self.storage.insert_entry(run_id, entry, hash_version(), dels.height)

    def _entry(self, batch_id: str) -> Entry:
        entry = self.storage.entry(batch_id)
        if entry is None:
            raise StateError(f"batch {batch_id} is not in the journal")
        return entry

    def journal_entry(self, batch_id: str, *, with_puts: bool = True
                      ) -> tuple[Schema, bool, pl.DataFrame]:
        """An open batch as it was written down: its schema, reset flag and rows (``__op``);
        without ``with_puts``, only the deleted ones (see :meth:`journal_rows` for the rest)."""
        import polars as pl
        entry = self._entry(batch_id)
        puts = list(self.journal_rows(batch_id).slices(0)) if with_puts else []
        parts = [p.with_columns(pl.lit("put").alias(OP)) for p in puts]
        if entry.dels is not None:
            parts.append(snap.decode(entry.dels).with_columns(pl.lit("del").alias(OP)))
        schema = Schema.from_json(entry.schema_json)
        # every column of the schema, even for a batch that only deletes (its parts carry the
        # key columns alone): drivers settle it like any other
        empty = schema.empty_frame().with_columns(pl.lit("put").alias(OP)).clear()
        return schema, entry.reset, pl.concat([empty, *parts], how="diagonal_relaxed")

    def journal_rows(self, batch_id: str) -> JournalRows:
        """An open batch's written rows, to be read a chunk at a time (a crashed first load of
        millions of rows is settled without holding them)."""
        entry = self._entry(batch_id)
        return JournalRows(self, batch_id, entry.upserts, entry.target, entry.dataset)

    def fold_batch(self, batch_id: str, rejected: list[str] | None = None) -> None:
        """The target confirmed the batch: its rows become part of the snapshot (one transaction).

        ``rejected`` lists the identities (``__k``) of rows the target refused; they are left
        out, so the state records only what the target confirmed.  A batch that reset the
        dataset makes every earlier run dead: those chunks are dropped here.
        """
        with self.storage.transaction():
            entry = self.storage.entry(batch_id)
            if entry is None or entry.status != "open":
                raise StateError(f"batch {batch_id} is not open in the journal")
            target, dataset = entry.target, entry.dataset
            if rejected:
                self._drop_rejected(entry, rejected)
            if entry.reset:
                for earlier in self.storage.folded(target, dataset):
                    self.storage.delete_chunks(target, dataset, earlier.batch_id)
                self.storage.delete_chunks(target, dataset, None)
                self.storage.compact_folded(target, dataset)
            self.storage.set_status(batch_id, "done")
            self.storage.bump_generation(target, dataset)
            # the target holds this batch's marker now (written with the batch, where it can)
            self.storage.set_marker(target, dataset, batch_id)

    def _drop_rejected(self, entry: Entry, rejected: list[str]) -> None:
        import polars as pl
        refused = pl.col(KEY).is_in(rejected)
        target, dataset, batch_id = entry.target, entry.dataset, entry.batch_id
        kept = [replay.chunk_frame(self.storage, target, dataset, c.number, "data")
                .filter(~refused) for c in self.storage.chunks(target, dataset, batch_id)]
        self.storage.delete_chunks(target, dataset, batch_id)
        if kept:
            replay.write_chunks(self.storage, target, dataset, [pl.concat(kept)], batch_id)
        if entry.dels is not None:
            left = snap.decode(entry.dels).filter(~refused)
            self.storage.set_dels(batch_id, snap.encode(left) if left.height else None)

    def abandon_batch(self, batch_id: str) -> None:
        """The target did not take the batch: forget it and its rows."""
        with self.storage.transaction():
            entry = self.storage.entry(batch_id)
            if entry is not None and entry.status == "open":
                self.storage.delete_chunks(entry.target, entry.dataset, batch_id)
                self.storage.set_status(batch_id, "abandoned")

    def open_batches(self) -> list[OpenBatch]:
        return self.storage.open_entries()

    def last_batch_abandoned(self, target: str, dataset: str) -> bool:
        """Whether the last batch sent to the dataset was abandoned: settled as not landed
        (an idempotent batch whose outcome was unknown is: the next plan sends it again), or
        refused.  Until a batch of it folds, the target's count may differ from the state's."""
        return self.storage.last_status(target, dataset) == "abandoned"

    # -- runs (history) ---------------------------------------------------------------------
    def begin_run(self, run_id: str, command: str, info: dict[str, Any]) -> None:
        with self.storage.transaction():
            self.storage.insert_run(run_id, command, now(), info)

    def finish_run(self, run_id: str, outcome: str, summary: list[dict[str, Any]]) -> None:
        with self.storage.transaction():
            self.storage.finish_run(run_id, now(), outcome, json.dumps(summary))

    def runs(self) -> list[dict[str, Any]]:
        out = []
        for item in self.storage.runs():
            item["summary"] = json.loads(item["summary"]) if item["summary"] else []
            out.append(item)
        return out


@dataclass(frozen=True)
class JournalRows:
    """The rows a journal entry wrote (a ``RowSource``): counted, and read chunk by chunk."""

    store: ChunkStore
    batch_id: str
    height: int
    target: str
    dataset: str

    def slices(self, rows: int) -> Iterator[pl.DataFrame]:
        for chunk in self.store.storage.chunks(self.target, self.dataset, self.batch_id):
            yield replay.chunk_frame(self.store.storage, self.target, self.dataset,
                                     chunk.number, "data")
