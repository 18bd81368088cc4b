"""``syncer state copy``: a whole state moved between backends (SQLite and PostgreSQL), row for
row (datasets, snapshot chunks, the journal, the history), then verified: the same datasets,
generations, open batches, and each snapshot's rows and row hashes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import StateError
from ..model.schema import HASH, KEY
from .storage import COLUMNS, Storage

if TYPE_CHECKING:
    from .store import ChunkStore


def copy_storage(source: Storage, destination: Storage) -> None:
    """Copy every row of ``source`` into ``destination`` in one transaction of the latter."""
    with destination.transaction():
        for table in COLUMNS:
            destination.import_rows(table, source.export_rows(table))


def copy_to_sqlite(source: Storage, destination: Path) -> None:
    """A consistent copy of ``source`` as a new SQLite state database (a backup)."""
    from .sqlite.storage import SqliteStorage

    if destination.exists():
        raise StateError(f"{destination} already exists", hint="choose a new file name")
    target = SqliteStorage(destination)
    try:
        copy_storage(source, target)
    finally:
        target.close()


def copy_state(source: ChunkStore, destination: ChunkStore) -> Checked:
    """Copy ``source`` into ``destination``, which must hold nothing of this project yet, and
    verify the copy before it is committed (a copy that does not match leaves nothing)."""
    if destination.storage.holds_anything():
        raise StateError(f"{destination.location} already holds a state for this project",
                         hint="copy into an empty state (another file, schema or "
                              "?project=NAME), or remove that one first")
    with destination.storage.transaction():
        for table in COLUMNS:
            destination.storage.import_rows(table, source.storage.export_rows(table))
        return verify(source, destination)


@dataclass(frozen=True)
class Checked:
    """What a verified copy holds."""

    datasets: int
    rows: int
    runs: int


def verify(source: ChunkStore, copy: ChunkStore) -> Checked:
    """Compare the copy with its source; a difference is a StateError naming it."""
    mine, theirs = source.datasets(), copy.datasets()
    problems: list[str] = []
    if [(d.id, d.generation, d.rows, d.schema) for d in mine] != [
            (d.id, d.generation, d.rows, d.schema) for d in theirs]:
        problems.append("the datasets or their generations differ")
    if source.open_batches() != copy.open_batches():
        problems.append("the open batches differ")
    if len(source.runs()) != len(copy.runs()):
        problems.append("the history differs")
    rows = 0
    for item in mine:
        want, got = (_digest(s.snapshot_keys(item.target, item.dataset)) for s in (source, copy))
        if want != got:
            problems.append(f"{item.id}: the snapshot differs ({want[0]} row(s) in the source, "
                            f"{got[0]} in the copy)")
        rows += want[0]
    if problems:
        raise StateError(f"the copy in {copy.location} does not match {source.location}: "
                         + "; ".join(problems), hint="drop the copy and run the command again")
    return Checked(len(mine), rows, len(source.runs()))


def _digest(frame: object) -> tuple[int, int]:
    """(rows, an order-free hash of every row's identity and row hash)."""
    import polars as pl

    if not isinstance(frame, pl.DataFrame) or frame.height == 0:
        return 0, 0
    hashed = frame.select(pl.struct(KEY, HASH).hash(seed=17).alias("h"))
    return frame.height, int(hashed.get_column("h").cast(pl.UInt64).sum() % (1 << 64))
