"""Compaction in bounded memory: the base and the folded batches merged a key range at a time.

A compaction rewrites a dataset's base from its runs (the base, then every folded batch with
its deleted identities, replayed as :func:`syncer.state.replay.read` does).  Replaying every run
whole would build the whole snapshot in memory (ten million rows: 3.4 GB), so the identities are
cut into ranges of about :data:`RANGE_BYTES` of decoded rows each, and the runs replayed one
range at a time:

1. the identities of every chunk (``keys`` blobs, a tenth of the rows' size) are sampled, a
   chunk at a time, and the sample's quantiles become the ranges' bounds;
2. every chunk's rows (and every batch's deleted identities) are decoded once, a chunk at a
   time, and cut by range into spill files (lz4 Arrow IPC in a temporary folder);
3. the old chunks are deleted, and each range is replayed from its spill files alone (the same
   :func:`~syncer.state.chunks.apply_run` on the same pieces, in the same order) and written as
   new base chunks.

Replay touches one identity at a time (a later run's put or delete drops the earlier rows with
that identity), so replaying each range and joining the results is the replay of the whole.
The column set stays the whole replay's: each run's pieces are concatenated behind an empty frame
of each of its chunks' schemas.  A snapshot that fits in one range is replayed in memory, with
no spill.  All of it runs inside the caller's storage transaction: a crash leaves the old state.

A rehash (keyless identities count equal rows: ``hash#n``) needs rows of equal content in the
same range: ranges are then cut on the identity's hash part (see :func:`_group`).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DiskFull
from ..model.schema import HASH, KEY, Schema
from ..space import is_full
from . import chunks as snap
from . import replay
from .storage import Chunk, Storage

if TYPE_CHECKING:
    import polars as pl

#: decoded rows (as polars estimates their size) replayed at once; a range's replay holds about
#: three times this (its pieces, the replayed frame, its sorted copy and the chunks being
#: encoded).  A 3M-row, 100-batch compaction (bench/compaction.py, the one-pass replay):
#: 32 MB ranges peaked at 280 MB, 16 MB at 220, 8 MB at 187, all in 7-9 s; 16 MB keeps the
#: spill files (one per chunk and range) to a few thousand at 10M rows
RANGE_BYTES = 16 << 20
#: identities sampled for the ranges' bounds, at most (every n-th of each chunk)
SAMPLE = 1 << 16
PART = "__part"


@dataclass
class Run:
    """One run of the replay, and the schema of each of its chunks (an empty frame each)."""

    batch_id: str | None
    reset: bool
    dels: bytes | None
    chunks: list[Chunk]
    empties: list[pl.DataFrame] = field(default_factory=list)


class Spill:
    """Pieces of rows by (range, run, kind): in memory for a single range, else in files."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.held: dict[tuple[int, int, str], list[pl.DataFrame]] = {}
        self.files: dict[tuple[int, int, str], list[Path]] = {}

    def put(self, part: int, run: int, kind: str, frame: pl.DataFrame) -> None:
        where = (part, run, kind)
        if self.folder is None:
            self.held.setdefault(where, []).append(frame)
            return
        paths = self.files.setdefault(where, [])
        path = self.folder / f"{part}-{run}-{kind}-{len(paths)}.arrow"
        paths.append(path)
        try:
            frame.write_ipc(path, compression="lz4")
        except OSError as exc:
            raise _full(exc, self.folder) from None

    def take(self, part: int, run: int, kind: str) -> list[pl.DataFrame]:
        """The pieces of a (range, run, kind), forgotten as they are handed out."""
        import polars as pl
        where = (part, run, kind)
        if self.folder is None:
            return self.held.pop(where, [])
        frames = [pl.read_ipc(path) for path in self.files.get(where, [])]
        for path in self.files.pop(where, []):
            path.unlink()
        return frames


def rebase(storage: Storage, target: str, dataset: str, schema: Schema,
           old_schema: Schema | None) -> int:
    """Merge every folded batch into a new base (rehashed under ``schema`` when ``old_schema``
    is given), a range of identities at a time.  Call inside a storage transaction.  Returns
    the rows of the new base."""
    runs = _runs(storage, target, dataset)
    group = _group(keyless_rehash=old_schema is not None and not schema.key)
    bounds = _bounds(storage, target, dataset, runs, group)
    with _spill(len(bounds) + 1) as spill:
        _cut(storage, target, dataset, runs, group, bounds, spill)
        storage.delete_chunks(target, dataset, None, everything=True)
        rows, last = 0, None
        for part in range(len(bounds) + 1):
            frame = _replay(runs, part, spill)
            frame = schema.empty_frame() if frame is None else frame
            if old_schema is not None:
                # the planner compared rows rehashed under ``schema``: store them so, or the
                # next plan would see every row that was not rewritten as changed
                frame = schema.rehash(frame, old_schema)
            last = frame.select([c for c in [*schema.names, HASH, KEY] if c in frame.columns])
            if last.height:
                replay.write_chunks(storage, target, dataset, [last], None)
                rows += last.height
        if rows == 0 and last is not None:
            replay.write_chunks(storage, target, dataset, [last.clear()], None)
    storage.compact_folded(target, dataset)
    return rows


def _runs(storage: Storage, target: str, dataset: str) -> list[Run]:
    """The runs replay reads, from the last reset on (a reset drops every earlier row and
    ignores its own deletes: :func:`~syncer.state.chunks.apply_run` with no base)."""
    runs = [Run(None, False, None, storage.chunks(target, dataset, None))]
    runs += [Run(f.batch_id, f.reset, f.dels, storage.chunks(target, dataset, f.batch_id))
             for f in storage.folded(target, dataset)]
    last_reset = max((i for i, r in enumerate(runs) if r.reset), default=0)
    if last_reset:
        runs = runs[last_reset:]
        runs[0].dels = None
    return runs


def _group(keyless_rehash: bool) -> pl.Expr:
    """What the ranges cut on: the identity, or, when keyless rows are rehashed (their new
    identities count equal rows, so all rows of equal content must be in one range), the hash
    part of the old identity (``hash#n``: equal rows share it; a keyed identity has no ``#``
    and stays whole)."""
    import polars as pl
    key = pl.col(KEY)
    return key.str.split("#").list.first() if keyless_rehash else key


def _bounds(storage: Storage, target: str, dataset: str, runs: list[Run],
            group: pl.Expr) -> list[str]:
    """The ranges' lower bounds (but the first's): quantiles of a sample of the identities,
    read a chunk's ``keys`` blob at a time; none when the rows fit in one range."""
    import polars as pl
    rows = sum(c.rows for r in runs for c in r.chunks)
    per_row = _row_bytes(storage, target, dataset, runs)
    ranges = math.ceil(rows * per_row / RANGE_BYTES) if rows else 1
    if ranges <= 1:
        return []
    step = max(1, rows // SAMPLE)
    sample: list[pl.Series] = []
    for run in runs:
        for chunk in run.chunks:
            blob = replay.chunk_blob(storage, target, dataset, chunk.number, "keys")
            keys = snap.decode(blob, [KEY])
            sample.append(keys.select(group).to_series().gather_every(step))
    ordered = pl.concat(sample).sort()
    picks = [ordered[len(ordered) * i // ranges] for i in range(1, ranges)]
    return sorted(set(picks))


def _row_bytes(storage: Storage, target: str, dataset: str, runs: list[Run]) -> float:
    """Decoded bytes a row takes, from the first chunk of the first and the last run (the
    columns are the same in all, or the rehash changed them between those)."""
    sizes = []
    for run in {id(r): r for r in (runs[0], runs[-1]) if r.chunks}.values():
        first = replay.chunk_frame(storage, target, dataset, run.chunks[0].number, "data")
        if first.height:
            sizes.append(first.estimated_size() / first.height)
    return max(sizes, default=1.0)


@contextmanager
def _spill(ranges: int) -> Iterator[Spill]:
    if ranges == 1:
        yield Spill(None)
        return
    try:
        made = tempfile.TemporaryDirectory(prefix="syncer-compact-")
    except OSError as exc:
        raise _full(exc, tempfile.gettempdir()) from None
    with made as folder:
        yield Spill(Path(folder))


def _full(exc: OSError, where: Path | str) -> OSError | DiskFull:
    """A full TMPDIR as syncer's own error, naming it (anything else as it was)."""
    if not is_full(exc, where):
        return exc
    return DiskFull("the state's compaction (TMPDIR)", where, str(exc))


def _cut(storage: Storage, target: str, dataset: str, runs: list[Run], group: pl.Expr,
         bounds: list[str], spill: Spill) -> None:
    """Decode each chunk (and each batch's deletes) once and spill it cut by range."""
    for index, run in enumerate(runs):
        for chunk in run.chunks:
            frame = replay.chunk_frame(storage, target, dataset, chunk.number, "data")
            if not any(e.schema == frame.schema for e in run.empties):
                run.empties.append(frame.clear())
            _spill_cut(frame, index, "puts", group, bounds, spill)
        if run.dels is not None:
            _spill_cut(snap.decode(run.dels).select(KEY), index, "dels", group, bounds, spill)


def _spill_cut(frame: pl.DataFrame, run: int, kind: str, group: pl.Expr, bounds: list[str],
               spill: Spill) -> None:
    import polars as pl
    if not bounds:
        spill.put(0, run, kind, frame)
        return
    parts = pl.Series(bounds, dtype=pl.String).search_sorted(frame.select(group).to_series(),
                                                             side="right")
    cut = frame.with_columns(parts.alias(PART))
    for (part,), piece in cut.partition_by(PART, as_dict=True, maintain_order=True).items():
        spill.put(int(part), run, kind, piece.drop(PART))


def _replay(runs: list[Run], part: int, spill: Spill) -> pl.DataFrame | None:
    """The replay of one range: what :func:`syncer.state.replay.read` makes of its pieces,
    in one pass instead of one :func:`~syncer.state.chunks.apply_run` per run (each of which
    copied the range's rows so far: a hundred batches copied it a hundred times, and the
    copies freed raised the peak by 300 MB in a 10M-row load's commit).

    Replaying runs in order leaves, for each identity, the rows of the last run that put it,
    unless a later run deleted it (a run that deletes and puts an identity puts it); the
    columns are those of the first run with chunks (the base, or the first batch over none),
    later runs' rows taking its columns.  Runs are cut at the last reset (:func:`_runs`)."""
    import polars as pl
    puts: list[pl.DataFrame] = []
    dels: list[pl.DataFrame] = []
    for index, run in enumerate(runs):
        pieces = spill.take(part, index, "puts")
        if run.chunks:
            frame = pl.concat([*run.empties, *pieces], how="diagonal_relaxed")
            puts.append(frame.with_columns(pl.lit(index, dtype=pl.UInt32).alias(RUN)))
        gone = spill.take(part, index, "dels") if run.dels is not None else []
        if puts:  # (deletes before the first rows delete nothing)
            dels += [g.select(KEY).with_columns(pl.lit(index, dtype=pl.UInt32).alias(DEL))
                     for g in gone]
    if not puts:
        return None
    columns = [c for c in puts[0].columns if c != RUN]
    rows = pl.concat(puts, how="diagonal_relaxed") if len(puts) > 1 else puts[0]
    del puts
    if len(runs) > 1:
        rows = rows.filter(pl.col(RUN) == pl.col(RUN).max().over(KEY))
    if dels:
        last = pl.concat(dels).group_by(KEY).agg(pl.col(DEL).max())
        rows = rows.join(last, on=KEY, how="left").filter(
            pl.col(DEL).is_null() | (pl.col(RUN) >= pl.col(DEL)))
    return rows.select(columns)


RUN, DEL = "__run", "__del_run"
