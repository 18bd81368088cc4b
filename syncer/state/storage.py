"""The small storage interface a state backend implements: rows of four tables and their blobs.

:class:`~syncer.state.store.ChunkStore` holds every rule of the state (replaying chunks and
folded batches, compaction, what a fold or a reset drops); a backend only stores and finds:
dataset records, snapshot chunks (compressed Arrow IPC blobs with their key range), journal
entries and runs, each write inside :meth:`Storage.transaction`.  SQLite implements it in
:mod:`syncer.state.sqlite`; another database implements the same few statements.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from ..model.schema import Schema
from ..sources.fingerprint import FileStamp
from .base import DatasetState, Lock, OpenBatch

Blob = Literal["data", "keys"]

#: the columns of each table a copy moves, in every backend (a backend's own columns, like the
#: journal's ``id`` or PostgreSQL's ``project``, stay its own; the order of the rows is kept)
COLUMNS = {
    "datasets": ["target", "dataset", "target_type", "table_name", "mode", "generation",
                 "spec_hash", "schema_json", "fingerprint_json", "rows", "hash_version",
                 "applied_at", "location", "marker"],
    "snapshot_chunks": ["target", "dataset", "chunk", "rows", "min_key", "max_key", "batch_id",
                        "keys", "data"],
    "journal": ["run_id", "batch_id", "target", "dataset", "status", "reset", "upserts",
                "deletes", "hash_version", "schema_json", "dels", "created_at", "finished_at"],
    "runs": ["id", "command", "started_at", "finished_at", "user", "host", "pid", "git_commit",
             "outcome", "summary", "git_dirty", "syncer_version"],
}
ORDER = {"datasets": "target, dataset", "snapshot_chunks": "target, dataset, chunk",
         "journal": "id", "runs": "started_at, id"}


@dataclass(frozen=True)
class Chunk:
    """One stored chunk, without its blobs: its number, key range and the batch that wrote it."""

    number: int
    rows: int
    min_key: str | None
    max_key: str | None


@dataclass(frozen=True)
class Entry:
    """A journal entry, without the rows its batch wrote (those are chunks tagged with it)."""

    batch_id: str
    target: str
    dataset: str
    status: str  # open | done | compacted | abandoned
    reset: bool
    upserts: int
    schema_json: str
    dels: bytes | None


@dataclass(frozen=True)
class Folded:
    """A folded batch, as the snapshot replays it."""

    batch_id: str
    reset: bool
    dels: bytes | None


class Storage(Protocol):
    """Tables and blobs of one state; every method but the readers runs inside
    :meth:`transaction` when the store writes."""

    @property
    def location(self) -> str: ...

    @property
    def schema_version(self) -> int: ...

    def transaction(self) -> AbstractContextManager[None]: ...

    def close(self) -> None: ...

    def lock(self, command: str, timeout: float) -> Lock: ...

    def backup(self, destination: Path) -> None: ...

    # a whole state, for `syncer state copy` (tables: datasets, snapshot_chunks, journal, runs)
    def holds_anything(self) -> bool: ...

    def export_rows(self, table: str) -> Iterator[dict[str, Any]]:
        """Every row of ``table`` (named columns, in the order they were written)."""

    def import_rows(self, table: str, rows: Iterator[dict[str, Any]]) -> None: ...

    # datasets
    def datasets(self, target: str | None = None, dataset: str | None = None
                 ) -> list[DatasetState]: ...

    def upsert_dataset(self, target: str, dataset: str, target_type: str, table: str,
                       mode: str, location: str | None) -> None:
        """Create or update the record (``location`` None: keep the recorded one)."""

    def set_marker(self, target: str, dataset: str, marker: str | None) -> None: ...

    def record_dataset(self, target: str, dataset: str, values: dict[str, Any]) -> int:
        """Set ``values`` (schema_json, fingerprint_json, spec_hash, rows, hash_version,
        applied_at) and increment the generation; return the new generation."""

    def bump_generation(self, target: str, dataset: str) -> None: ...

    def delete_dataset(self, target: str, dataset: str) -> bool:
        """Drop the record, its chunks and its journal (but compacted entries)."""

    # snapshot chunks
    def chunks(self, target: str, dataset: str, batch_id: str | None) -> list[Chunk]:
        """The chunks of the base (``batch_id`` None) or of one batch, in order."""

    def blob(self, target: str, dataset: str, chunk: int, column: Blob) -> bytes | None: ...

    def next_chunk(self, target: str, dataset: str) -> int: ...

    def insert_chunk(self, target: str, dataset: str, chunk: Chunk, data: bytes, keys: bytes,
                     batch_id: str | None) -> None: ...

    def delete_chunks(self, target: str, dataset: str, batch_id: str | None,
                      everything: bool = False) -> None:
        """Delete one batch's chunks, or the base's (``batch_id`` None), or, with
        ``everything``, every chunk of the dataset."""

    def base_rows(self, target: str, dataset: str) -> int: ...

    # the journal
    def insert_entry(self, run_id: str, entry: Entry, hash_version: str, deletes: int) -> None: ...

    def entry(self, batch_id: str) -> Entry | None: ...

    def folded(self, target: str, dataset: str) -> list[Folded]:
        """The dataset's ``done`` entries, oldest first."""

    def folded_size(self, target: str, dataset: str) -> tuple[int, int]:
        """How many ``done`` entries, and their rows (upserts + deletes)."""

    def set_status(self, batch_id: str, status: str) -> None:
        """``done`` or ``abandoned`` (with a finish time; abandoned drops its dels)."""

    def set_dels(self, batch_id: str, dels: bytes | None) -> None: ...

    def compact_folded(self, target: str, dataset: str, keep: str | None = None) -> None:
        """Mark the dataset's ``done`` entries (but ``keep``) compacted, dropping their dels."""

    def open_entries(self) -> list[OpenBatch]: ...

    def last_status(self, target: str, dataset: str) -> str | None:
        """The status of the dataset's newest journal entry (None: it has none)."""

    # runs
    def insert_run(self, run_id: str, command: str, started_at: str, info: dict[str, Any]
                   ) -> None: ...

    def finish_run(self, run_id: str, finished_at: str, outcome: str, summary: str) -> None: ...

    def runs(self) -> Iterator[dict[str, Any]]: ...


def flag(value: object) -> int | None:
    """A yes/no stored as 1/0 in every backend (a state copied between them stays the same)."""
    return None if value is None else int(bool(value))


def dataset_of(row: tuple[Any, ...] | list[Any]) -> DatasetState:
    """A dataset record from its columns, in the order of ``COLUMNS["datasets"]``."""
    (target, dataset, target_type, table, mode, generation, spec_hash, schema_json,
     fingerprint_json, rows, hash_version, applied_at, location, marker) = row
    return DatasetState(
        target, dataset, target_type, table, mode, int(generation), spec_hash,
        Schema.from_json(schema_json) if schema_json else None,
        [FileStamp(**s) for s in json.loads(fingerprint_json)] if fingerprint_json else None,
        int(rows), applied_at, hash_version, location, marker)
