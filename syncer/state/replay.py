"""Snapshot chunks read and written, over any storage: a dataset's rows are its base chunks
replayed with every folded batch's chunks and deleted identities, in order."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..errors import StateError
from ..model.schema import KEY
from . import chunks as snap
from .storage import Blob, Chunk, Storage

if TYPE_CHECKING:
    import polars as pl


def read(storage: Storage, target: str, dataset: str, column: Blob,
          keys: list[str] | None = None) -> pl.DataFrame | None:
    """Replay the runs (the base, then every folded batch), reading ``column`` ("data":
    whole rows, "keys": ``__k``/``__h``) of their chunks; with ``keys``, only chunks whose
    key range may hold one of them."""
    import polars as pl
    if not storage.datasets(target, dataset):
        return None
    wanted = pl.DataFrame({KEY: keys}, schema={KEY: pl.String}) if keys is not None else None
    runs: list[tuple[str | None, bool, bytes | None]] = [(None, False, None)]
    runs += [(f.batch_id, f.reset, f.dels) for f in storage.folded(target, dataset)]
    frame: pl.DataFrame | None = None
    for batch_id, reset, dels in runs:
        parts = []
        for chunk in storage.chunks(target, dataset, batch_id):
            low, high = chunk.min_key, chunk.max_key
            if wanted is not None and low is not None and high is not None and not any(
                    low <= k <= high for k in keys or []):
                continue
            if wanted is not None and column == "data" and not holds(
                    storage, target, dataset, chunk.number, wanted):
                continue
            part = chunk_frame(storage, target, dataset, chunk.number, column)
            parts.append(part.join(wanted, on=KEY, how="semi") if wanted is not None else part)
        puts = pl.concat(parts, how="diagonal_relaxed") if parts else None
        gone = snap.decode(dels) if dels is not None else None
        frame = puts if batch_id is None else snap.apply_run(None if reset else frame,
                                                             puts, gone)
    return frame

def holds(storage: Storage, target: str, dataset: str, chunk: int, wanted: pl.DataFrame) -> bool:
    """Whether the chunk holds one of ``wanted``, told by its identities (a tenth of its
    size): chunks written a slice at a time cover overlapping key ranges, so a range
    alone would send a lookup through the rows of many chunks."""
    blob = storage.blob(target, dataset, chunk, "keys")
    return blob is None or snap.decode(blob, [KEY]).join(wanted, on=KEY, how="semi").height > 0

def chunk_frame(storage: Storage, target: str, dataset: str, chunk: int, column: Blob) -> pl.DataFrame:
    blob = storage.blob(target, dataset, chunk, column)
    if blob is None:
        raise StateError(f"chunk {chunk} of {target}/{dataset} has no {column} in the "
                         f"state {storage.location}", hint="restore the state from a backup")
    return snap.decode(blob)

def write_chunks(storage: Storage, target: str, dataset: str, frames: Iterable[pl.DataFrame],
                  batch_id: str | None) -> int:
    """Store ``frames`` (one slice at a time: each is sorted into its own chunks, so chunks
    of different slices may cover overlapping key ranges).  Returns the rows stored."""
    number = storage.next_chunk(target, dataset)
    written = 0
    for frame in frames:
        for rows, data, keys, low, high in snap.chunks(frame):
            storage.insert_chunk(target, dataset, Chunk(number, rows, low, high), data,
                                      keys, batch_id)
            number += 1
        written += frame.height
    return written
