"""Drift: what a target holds, read back and compared with what the state says syncer applied.

A driver's optional ``read_back(dataset, schema)`` yields the target's rows in blocks with the
dataset's columns, in whatever types the target keeps (SQLite's 0/1 booleans and text dates,
Hexabase's numbers as strings, Milvus' float32 vectors).  :func:`read_actual` puts every block
through the same normalisation the sources go through and hashes it, so a row the target holds
unchanged hashes exactly like the declared row; blocks are spooled to disk as they arrive.
:func:`compare` then tells rows changed, added or removed outside syncer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import SourceError, SyncError, TargetError
from ..model.changes import DatasetDrift, Drift
from ..model.project import Dataset
from ..model.schema import HASH, KEY, ROW, Column, Schema, display_key
from ..sources.normalise import normalise
from ..sources.spool import Spool
from ..state import StateStore
from ..targets.base import Driver, ReadsBack
from ..targets.registry import open_probe
from .diff import compare_identities, duplicated, first_keys, samples
from .progress import Progress
from .read import load_snapshot, stream_rows

SAMPLES = 3


def supports(driver: Driver) -> bool:
    return isinstance(driver, ReadsBack)


def back_schema(schema: Schema) -> Schema:
    """The schema with every column read from a target column of its own name (values as
    syncer wrote them: no null markers, datetimes in UTC)."""
    return Schema(tuple(Column(c.name, c.type, c.name, c.dim, c.scale) for c in schema.columns),
                  schema.key)


def normalise_back(block: pl.DataFrame, schema: Schema, where: str) -> pl.DataFrame:
    """One block read from a target, typed and normalised exactly as source rows are."""
    raw = block.with_columns(pl.int_range(0, block.height, dtype=pl.Int64).alias(ROW))
    try:
        frame = normalise(raw, back_schema(schema), Path(where), lambda rows: {})
    except SourceError as exc:
        raise TargetError(f"{where}: a value read back does not fit its column: "
                          f"{exc.problem.message}") from None
    return frame.drop(ROW)


def read_actual(driver: Driver, dataset: Any, schema: Schema, spool: Spool, *,
                unique: bool = True, progress: Progress | None = None) -> pl.DataFrame:
    """Read the target's rows of ``dataset`` into ``spool`` (normalised, hashed); return the
    identities and hashes (``__k``, ``__h``).  The rows themselves stay on disk.  With
    ``unique``, a key the target holds more than once is an error (rows cannot be compared).
    ``progress`` hears how many rows were read so far."""
    if not isinstance(driver, ReadsBack):
        raise TargetError(f"target '{dataset.target.name}' ({dataset.target.type}) cannot read "
                          "its rows back")
    where = f"{dataset.target.name}/{dataset.name}"
    read = 0
    for block in driver.read_back(dataset.spec, schema):
        if block.height:
            spool.write(schema.hashed(normalise_back(block, schema, where)))
            read += block.height
            if progress is not None:
                progress(f"reading back {where}: {read:,} rows")
    scanned = spool.scan()
    if scanned is None:
        return schema.empty_frame().select(KEY, HASH)
    if not schema.key:
        # a keyless identity counts equal rows: needs them all (as the planner does)
        frame = schema.digest(scanned.collect())
        spool.files.clear()
        spool.write(frame)
        return frame.select(KEY, HASH)
    keys = scanned.select(KEY, HASH).collect()
    if unique:
        dupes = duplicate_keys(keys, schema)
        if dupes:
            raise TargetError(f"{where}: the target holds {len(dupes)} key(s) more than once "
                              f"({_listed(dupes)}), so its rows cannot be compared",
                              hint="remove the duplicates in the target")
    return keys


def _listed(keys: list[str]) -> str:
    return "; ".join(keys[:10]) + (f"; ... and {len(keys) - 10} more" if len(keys) > 10 else "")


def actual_rows(spool: Spool, schema: Schema, keys: list[str] | None = None) -> pl.DataFrame:
    """The read-back rows (all, or those with these identities) from the spool."""
    scanned = spool.scan()
    if scanned is None:
        return schema.empty_frame()
    if keys is not None:
        scanned = scanned.filter(pl.col(KEY).is_in(keys))
    return scanned.select([*schema.names, HASH, KEY]).collect()


def duplicate_keys(actual: pl.DataFrame, schema: Schema) -> list[str]:
    """Identities the target holds more than once (a keyed dataset only)."""
    if not schema.key:
        return []
    dupes = duplicated(actual.select(KEY, HASH))
    return sorted({display_key(k) for k in dupes.get_column(KEY).to_list()})


def compare(actual: pl.DataFrame, state: pl.DataFrame | None, schema: Schema, spool: Spool,
            old_rows: Any) -> Drift:
    """Drift of ``actual`` (the target's ``__k``/``__h``) against ``state`` (the snapshot's).
    ``old_rows(keys)`` returns the state's rows with those identities, for the samples."""
    snap = state if state is not None else schema.empty_frame().select(KEY, HASH)
    added, removed, changed = compare_identities(actual.select(KEY, HASH), snap.select(KEY, HASH))
    keys = {op: first_keys(frame, schema, SAMPLES)
            for op, frame in (("+", added), ("~", changed), ("-", removed))}
    wanted_new = keys["+"] + keys["~"]
    wanted_old = keys["~"] + keys["-"]
    new = actual_rows(spool, schema, wanted_new) if wanted_new else schema.empty_frame()
    old = old_rows(wanted_old) if wanted_old else None
    return Drift(changed.height, added.height, removed.height,
                 samples(schema, keys, new, old))


def check(store: StateStore, datasets: list[Dataset], driver_of: Callable[[Dataset], Driver],
          progress: Progress | None = None) -> list[DatasetDrift]:
    """Read every dataset's target back and compare it with the state (no writes anywhere)."""
    out: list[DatasetDrift] = []
    for ds in datasets:
        state = store.dataset(ds.target.name, ds.name)
        schema = state.schema if state is not None and state.schema is not None else \
            stream_rows(ds).schema
        with Spool() as spool:
            actual = read_actual(driver_of(ds), ds, schema, spool, progress=progress)
            snapshot = load_snapshot(store, ds, schema) if state is not None else None
            found = compare(actual, snapshot, schema, spool,
                            lambda keys, ds=ds: store.snapshot_rows(ds.target.name, ds.name, keys))
        out.append(DatasetDrift(ds.target.name, ds.name, found))
    return out


def adopt(store: StateStore, ds: Dataset, driver: Driver, progress: Progress | None = None
          ) -> int:
    """Record what the target of ``ds`` holds as applied; returns the rows adopted.  Refuses a
    keyed dataset whose key is not unique in the target."""
    schema = stream_rows(ds).schema
    if any(b.target == ds.target.name and b.dataset == ds.name for b in store.open_batches()):
        raise SyncError(f"{ds.id} has a batch left open by an interrupted apply",
                        hint="run `syncer apply` first to settle it")
    with Spool() as spool:
        actual = read_actual(driver, ds, schema, spool, unique=False, progress=progress)
        dupes = duplicate_keys(actual, schema)
        if dupes:
            shown = _listed(dupes)
            raise SyncError(f"cannot adopt {ds.id}: the key ({', '.join(schema.key)}) is not "
                            f"unique in the target: {len(dupes)} duplicated key(s): {shown}",
                            hint="remove the duplicates in the target, or fix `key:` in the "
                                 "manifest")
        rows = actual_rows(spool, schema)
    store.ensure_dataset(ds.target.name, ds.name, ds.target.type, ds.spec.table_name,
                         ds.spec.mode, ds.location)
    store.replace_snapshot(ds.target.name, ds.name, schema=schema, frame=rows)
    # the state is that target's now: it takes the marker the target holds
    probe = open_probe(ds.target)
    try:
        store.set_marker(ds.target.name, ds.name, probe.look(ds.spec).marker)
    finally:
        probe.close()
    return rows.height
