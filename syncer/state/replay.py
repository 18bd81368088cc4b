"""Snapshot chunks read and written, over any storage: a dataset's rows are its base chunks
replayed with every folded batch's chunks and deleted identities, in order."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

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
        numbers = [c.number for c in storage.chunks(target, dataset, batch_id)
                   if wanted is None or c.min_key is None or c.max_key is None
                   or any(c.min_key <= k <= c.max_key for k in keys or [])]
        if wanted is not None and column == "data":
            # the identities (a tenth of the size) say which chunks hold a wanted row, and
            # where: chunks written a slice at a time cover overlapping key ranges
            places = _decoded(numbers, lambda n: storage.blob(target, dataset, n, "keys"),
                              lambda blob: None if blob is None else _positions(blob, wanted))
            held = [(n, at) for n, at in zip(numbers, places) if at is None or at]
            parts = _decoded(held, lambda pair: (
                                 chunk_blob(storage, target, dataset, pair[0], column), pair[1]),
                             lambda pair: snap.decode(pair[0]).join(wanted, on=KEY, how="semi")
                             if pair[1] is None else snap.decode_rows(*pair))
        else:
            parts = _decoded(numbers, lambda n: chunk_blob(storage, target, dataset, n, column),
                             lambda blob: snap.decode(blob) if wanted is None
                             else snap.decode(blob).join(wanted, on=KEY, how="semi"))
        puts = pl.concat(parts, how="diagonal_relaxed") if parts else None
        gone = snap.decode(dels) if dels is not None else None
        frame = puts if batch_id is None else snap.apply_run(None if reset else frame,
                                                             puts, gone)
    return frame


def _positions(keys_blob: bytes, wanted: pl.DataFrame) -> list[int]:
    """Where the wanted identities are in a chunk (its keys and rows are in the same order)."""
    import polars as pl
    found = snap.decode(keys_blob, [KEY]).with_row_index("at").join(wanted, on=KEY, how="semi")
    return sorted(found.get_column("at").cast(pl.Int64).to_list())


A = TypeVar("A")
B = TypeVar("B")
T = TypeVar("T")


def _decoded(numbers: list[A], fetch: Callable[[A], B], decode: Callable[[B], T]
             ) -> list[T]:
    """``decode(fetch(n))`` for each chunk number, in order: two chunks at a time, decoded on
    two threads (polars decodes and joins outside the GIL).  The blobs are fetched on this
    thread, which alone uses the storage's connection, and at most two are held at once."""
    if len(numbers) < 2:
        return [decode(fetch(n)) for n in numbers]
    from concurrent.futures import ThreadPoolExecutor

    out: list[T] = []
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="syncer-chunks") as pool:
        for start in range(0, len(numbers), 2):
            out += pool.map(decode, [fetch(n) for n in numbers[start:start + 2]])
    return out


def chunk_frame(storage: Storage, target: str, dataset: str, chunk: int, column: Blob) -> pl.DataFrame:
    return snap.decode(chunk_blob(storage, target, dataset, chunk, column))


def chunk_blob(storage: Storage, target: str, dataset: str, chunk: int, column: Blob
               ) -> bytes:
    """A chunk's ``column`` blob; a missing one is a damaged state."""
    blob = storage.blob(target, dataset, chunk, column)
    if blob is None:
        raise StateError(f"chunk {chunk} of {target}/{dataset} has no {column} in the "
                         f"state {storage.location}", hint="restore the state from a backup")
    return blob

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
