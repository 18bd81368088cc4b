"""How applied rows are kept in the state: sorted, compressed Arrow IPC chunks plus deltas.

A dataset's snapshot is its *base* (chunks of rows sorted by identity, each stored twice: the
whole rows, and just ``__k``/``__h`` so a plan loads a million identities in milliseconds) plus
the *deltas* of every batch folded since (the journal's ``done`` entries, applied in order).
Compaction folds the deltas into a new base; it runs only when they have grown large, so a small
change costs a small write, like an LSM tree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import io

if TYPE_CHECKING:
    import polars as pl

from ..model.schema import HASH, KEY

OP = "__op"
CHUNK_ROWS = 131_072
#: rows of a chunk's record batches (whole rows): a lookup of a few rows decodes only theirs
BATCH_ROWS = 8_192
#: a lookup of more rows than this in one chunk decodes the chunk whole
FEW_ROWS = 32


def encode(frame: pl.DataFrame, compression: Literal["lz4", "zstd"] = "lz4",
           batch_rows: int | None = None) -> bytes:
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compression=compression, record_batch_size=batch_rows)
    return buffer.getvalue()


def decode(blob: bytes, columns: list[str] | None = None) -> pl.DataFrame:
    import polars as pl
    return pl.read_ipc(io.BytesIO(blob), columns=columns)


def decode_rows(blob: bytes, positions: list[int]) -> pl.DataFrame:
    """The rows at ``positions`` (ascending) of a chunk's whole rows.  Each is a slice the IPC
    reader serves from its own record batch (:data:`BATCH_ROWS`; a chunk written whole, before
    batches, is one batch), so a few rows cost a few batches, not the chunk."""
    import polars as pl
    if len(positions) > FEW_ROWS:
        return decode(blob)[positions]
    return pl.concat([pl.scan_ipc(io.BytesIO(blob)).slice(at, 1).collect() for at in positions])


def apply_run(base: pl.DataFrame | None, puts: pl.DataFrame | None,
              dels: pl.DataFrame | None) -> pl.DataFrame | None:
    """Replay one folded batch on a snapshot frame: its deleted and rewritten identities go,
    its rows come in."""
    import polars as pl
    if base is None:
        return puts
    touched = [f.select(KEY) for f in (dels, puts) if f is not None and f.height]
    if touched:
        base = base.join(pl.concat(touched), on=KEY, how="anti")
    if puts is None or not puts.height:
        return base
    return pl.concat([base, puts.select([c for c in base.columns if c in puts.columns])],
                     how="diagonal_relaxed")


def chunks(frame: pl.DataFrame) -> list[tuple[int, bytes, bytes, str | None, str | None]]:
    """Split a base (sorted by identity) into (rows, data, keys, min_key, max_key) chunks.

    Chunks are compressed on two threads (polars compresses outside the GIL).  The rows are
    zstd (a million rows: ~48 MB, where lz4 made 80; they are read rarely, and every byte is
    written twice, to the WAL and then the database); the identities, which every plan reads,
    are lz4, the fastest to decode."""
    from concurrent.futures import ThreadPoolExecutor

    frame = frame.sort(KEY)
    parts = [frame.slice(start, CHUNK_ROWS) for start in range(0, max(frame.height, 1), CHUNK_ROWS)]

    def one(part: pl.DataFrame) -> tuple[int, bytes, bytes, str | None, str | None]:
        keys = part.get_column(KEY)
        return (part.height, encode(part, "zstd", BATCH_ROWS), encode(part.select(KEY, HASH)),
                str(keys.min()) if part.height else None,
                str(keys.max()) if part.height else None)

    if len(parts) == 1:
        return [one(parts[0])]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(one, parts))


def needs_compaction(base_rows: int, delta_rows: int, deltas: int) -> bool:
    """Merge the folded batches into one base when many piled up, or when several together
    rival the base in size.  A single batch (a first load, a reload) is already a fine base."""
    return deltas >= 16 or (deltas > 1 and base_rows > 0 and delta_rows * 2 >= base_rows)
