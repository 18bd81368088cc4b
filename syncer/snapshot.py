"""How applied rows are kept in the state: sorted, compressed Arrow IPC chunks plus deltas.

A dataset's snapshot is its *base* (chunks of rows sorted by identity, each stored twice: the
whole rows, and just ``__k``/``__h`` so a plan loads a million identities in milliseconds) plus
the *deltas* of every batch folded since (the journal's ``done`` entries, applied in order).
Compaction folds the deltas into a new base; it runs only when they have grown large, so a small
change costs a small write, like an LSM tree.
"""

from __future__ import annotations

import io

import polars as pl

from .schema import HASH, KEY

OP = "__op"
CHUNK_ROWS = 250_000


def encode(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compression="lz4")
    return buffer.getvalue()


def decode(blob: bytes, columns: list[str] | None = None) -> pl.DataFrame:
    return pl.read_ipc(io.BytesIO(blob), columns=columns)


def apply_delta(base: pl.DataFrame | None, delta: pl.DataFrame) -> pl.DataFrame:
    """Fold one batch's effect (``__op`` put/del rows) into a snapshot frame."""
    columns = base.columns if base is not None else [c for c in delta.columns if c != OP]
    puts = delta.filter(pl.col(OP) == "put").select([c for c in columns if c in delta.columns])
    if base is None:
        return puts
    kept = base.join(delta.select(KEY), on=KEY, how="anti")
    return pl.concat([kept, puts], how="diagonal_relaxed")


def chunks(frame: pl.DataFrame) -> list[tuple[int, bytes, bytes, str | None, str | None]]:
    """Split a base (sorted by identity) into (rows, data, keys, min_key, max_key) chunks."""
    frame = frame.sort(KEY)
    out = []
    for start in range(0, max(frame.height, 1), CHUNK_ROWS):
        part = frame.slice(start, CHUNK_ROWS)
        keys = part.get_column(KEY)
        out.append((part.height, encode(part), encode(part.select(KEY, HASH)),
                    keys.min() if part.height else None, keys.max() if part.height else None))
    return out


def needs_compaction(base_rows: int, delta_rows: int, deltas: int) -> bool:
    """Rewrite the base when the deltas are a quarter of it, or many small ones piled up."""
    return deltas > 0 and (base_rows == 0 or delta_rows * 4 >= base_rows or deltas >= 64)
