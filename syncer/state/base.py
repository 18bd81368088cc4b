"""What every state backend offers: the ``StateStore`` protocol and the records it returns.

The executor, the planner's reader, the drift check, the watcher and the ``state`` commands use
a store through this protocol only; :func:`syncer.state.open_state` picks the backend from the
location (a path: SQLite).  A backend is the backend-neutral :class:`~syncer.state.store.ChunkStore`
over its own :class:`~syncer.state.storage.Storage` (tables, blobs, transactions, a lock).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..model.schema import Schema
from ..sources.fingerprint import FileStamp

if TYPE_CHECKING:
    import polars as pl


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class DatasetState:
    """The state's record of one dataset (no rows)."""

    target: str
    dataset: str
    target_type: str
    table_name: str
    mode: str
    generation: int
    spec_hash: str | None
    schema: Schema | None
    fingerprint: list[FileStamp] | None
    rows: int
    applied_at: str | None
    #: the row hash function the snapshot was hashed with (None: never recorded)
    hash_version: str | None = None
    #: where the dataset was applied: the target's resolved location (``TargetSpec.location``;
    #: None: recorded by a syncer that did not keep it)
    location: str | None = None
    #: the last batch syncer wrote to the target for this dataset: the marker the target keeps
    marker: str | None = None

    @property
    def id(self) -> str:
        return f"{self.target}/{self.dataset}"


@dataclass(frozen=True)
class OpenBatch:
    batch_id: str
    target: str
    dataset: str


@dataclass(frozen=True)
class Holder:
    """Who holds a state's lock: named when another apply is refused."""

    pid: int
    host: str
    started_at: str
    command: str
    user: str | None = None  # recorded by the PostgreSQL state's lock

    def describe(self) -> str:
        by = f" by {self.user}" if self.user else ""
        return f"pid {self.pid} on {self.host} ({self.command}{by}, since {self.started_at})"


class Lock(Protocol):
    """A held lock on a state; ``stale`` names a dead holder whose lock was taken over."""

    @property
    def stale(self) -> Holder | None: ...

    def alive(self) -> bool:
        """Whether the lock is still held (a PostgreSQL lock dies with its connection)."""

    def release(self) -> None: ...


class RowSource(Protocol):
    """Rows read when needed, a slice at a time (a journal entry's rows, a spool's)."""

    @property
    def height(self) -> int: ...

    def slices(self, rows: int) -> Iterator[pl.DataFrame]: ...


class StateStore(Protocol):
    """What syncer applied, per dataset, and the journal of batches on their way."""

    @property
    def location(self) -> str:
        """Where the state lives, for messages (never with a password)."""

    @property
    def schema_version(self) -> int: ...

    def __enter__(self) -> StateStore: ...

    def __exit__(self, *exc: object) -> None: ...

    def close(self) -> None: ...

    def lock(self, command: str, timeout: float = 0.0) -> Lock:
        """Take the state's exclusive lock (waiting up to ``timeout`` seconds), or raise
        LockError naming the holder."""

    def locked(self, command: str, timeout: float = 0.0) -> AbstractContextManager[Lock]:
        """:meth:`lock` for the length of a ``with`` block."""

    def backup(self, destination: Path) -> None: ...

    # datasets
    def datasets(self) -> list[DatasetState]: ...

    def dataset(self, target: str, dataset: str) -> DatasetState | None: ...

    def ensure_dataset(self, target: str, dataset: str, target_type: str, table: str,
                       mode: str, location: str | None = None) -> None:
        """Create or update the dataset's record (where it is applied: ``location`` when
        given)."""

    def set_marker(self, target: str, dataset: str, marker: str | None) -> None:
        """Record the marker the target holds for the dataset (adopt, refresh)."""

    def forget(self, target: str, dataset: str) -> bool: ...

    # the snapshot
    def snapshot(self, target: str, dataset: str) -> pl.DataFrame | None: ...

    def snapshot_keys(self, target: str, dataset: str) -> pl.DataFrame | None: ...

    def snapshot_rows(self, target: str, dataset: str, keys: list[str]) -> pl.DataFrame | None: ...

    def commit_dataset(self, target: str, dataset: str, *, schema: Schema,
                       fingerprint: list[FileStamp] | None, spec_hash: str | None,
                       rows: int | None = None) -> int: ...

    def replace_snapshot(self, target: str, dataset: str, *, schema: Schema,
                         frame: pl.DataFrame) -> int: ...

    # the journal
    def open_batch(self, run_id: str, batch_id: str, target: str, dataset: str, schema: Schema,
                   reset: bool, puts: Iterable[pl.DataFrame], dels: pl.DataFrame) -> None: ...

    def journal_entry(self, batch_id: str, *, with_puts: bool = True
                      ) -> tuple[Schema, bool, pl.DataFrame]: ...

    def journal_rows(self, batch_id: str) -> RowSource: ...

    def fold_batch(self, batch_id: str, rejected: list[str] | None = None) -> None: ...

    def abandon_batch(self, batch_id: str) -> None: ...

    def open_batches(self) -> list[OpenBatch]: ...

    def last_batch_abandoned(self, target: str, dataset: str) -> bool: ...

    # runs (the history)
    def begin_run(self, run_id: str, command: str, info: dict[str, Any]) -> None: ...

    def finish_run(self, run_id: str, outcome: str, summary: list[dict[str, Any]]) -> None: ...

    def runs(self) -> list[dict[str, Any]]: ...
