"""Reading what a plan compares: the declared rows of a dataset's sources, and the snapshot
of what was applied (identities and row hashes), rehashed when the hashing changed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..model.project import Dataset
from ..model.schema import HASH, KEY, Schema, hash_version
from ..state import StateStore

if TYPE_CHECKING:
    import polars as pl

    from ..sources.rows import RowStream


def stream_rows(dataset: Dataset) -> RowStream:
    """The dataset's rows as they are read (the readers load on first use)."""
    from ..sources.rows import stream_rows as read

    return read(dataset)


def load_snapshot(store: StateStore, ds: Dataset, schema: Schema) -> pl.DataFrame | None:
    """The applied identities and hashes, rehashed when they were hashed by another version
    or schema (the rare path that reads the whole rows)."""
    state = store.dataset(ds.target.name, ds.name)
    if state is None:
        return None
    if state.hash_version not in (None, hash_version()) or state.schema != schema:
        snapshot = store.snapshot(ds.target.name, ds.name)
        if snapshot is None:
            return None
        return schema.rehash(snapshot, state.schema).select(KEY, HASH)
    return store.snapshot_keys(ds.target.name, ds.name)
