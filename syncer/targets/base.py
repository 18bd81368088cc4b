"""The driver protocol every target implements, and the batch it is given.

A driver turns batches of row changes into its target's own API calls.  The executor guarantees
that a batch is written to the state journal before :meth:`Driver.apply` is called and folded into
the snapshot only after it returns; :meth:`Driver.settle` answers, after a crash, whether a batch
whose outcome is unknown landed, so nothing is lost or delivered twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..errors import TargetError

if TYPE_CHECKING:
    import httpx
    import polars as pl

    from ..model.manifest import DatasetSpec, TargetSpec

    from ..model.schema import Schema

#: rows in a slice of a streamed batch (two state chunks); a driver may read one or two ahead
SLICE_ROWS = 262_144


class RowSource(Protocol):
    """Rows to write that are read when needed, a slice at a time, as often as needed."""

    @property
    def height(self) -> int: ...

    def slices(self, rows: int) -> Iterator[pl.DataFrame]: ...


@dataclass(frozen=True)
class Batch:
    """One unit of work sent to a target.

    ``reset`` asks the target to drop every row of the dataset first (full replace).
    ``upserts`` holds whole rows (value columns) to insert or update; ``deletes`` the key columns
    of rows to delete.  Both carry ``__k`` (row identity) and ``__line`` (source line, or null).
    For a driver that streams (``Driver.streams``) the rows to write may come as ``stream``
    instead (``upserts`` is then empty): read them with :meth:`upsert_slices`.  A driver that
    writes a batch in parts says so with :meth:`wrote` (the progress a person watches).
    """

    id: str
    target: str
    dataset: DatasetSpec
    schema: Schema
    reset: bool
    upserts: pl.DataFrame
    deletes: pl.DataFrame
    stream: RowSource | None = None
    #: called with the rows of each part written (set by the executor)
    progress: Callable[[int], None] | None = field(default=None, compare=False, repr=False)
    #: waits for the batch's journal entry, which the executor writes beside the load for a
    #: driver that says ``overlaps_journal = True`` (see :meth:`before_commit`)
    journaled: Callable[[], None] | None = field(default=None, compare=False, repr=False)

    def before_commit(self) -> None:
        """Wait until the state has written this batch down.  A driver whose target commits
        a batch in one transaction (and says ``overlaps_journal = True``) calls it right
        before that commit: the target never holds a batch the state's journal lacks, so a
        crash between the two commits is settled from the journal as before."""
        if self.journaled is not None:
            self.journaled()

    def wrote(self, rows: int) -> None:
        """``rows`` more of this batch were written (or deleted)."""
        if self.progress is not None and rows:
            self.progress(rows)

    @property
    def upsert_rows(self) -> int:
        return self.stream.height if self.stream is not None else self.upserts.height

    @property
    def size(self) -> int:
        return self.upsert_rows + self.deletes.height

    def upsert_slices(self, rows: int | None = None) -> Iterator[pl.DataFrame]:
        """The rows to write, about ``rows`` (SLICE_ROWS) at a time."""
        if self.stream is not None:
            yield from self.stream.slices(rows or SLICE_ROWS)
        elif self.upserts.height:
            yield self.upserts


@dataclass(frozen=True)
class RowError:
    """A row the target rejected: ``index`` is its position in the batch's upserts or deletes."""

    kind: str  # "upsert" | "delete"
    index: int
    message: str


class BatchRefused(TargetError):
    """The target refused a whole batch (nothing of it landed) because of one row: ``row`` is
    that row (a one-row frame of the batch's rows, with ``__src``/``__row`` when known), so the
    executor can name its source file and line."""

    def __init__(self, message: str, row: pl.DataFrame, reason: str) -> None:
        super().__init__(message)
        self.row = row
        self.reason = reason


@dataclass(frozen=True)
class Capabilities:
    """What a driver tells the executor about a dataset once it prepared it."""

    #: largest number of rows the executor puts into one batch (None: no limit)
    max_batch_rows: int | None = None
    #: how many of the dataset's batches may wait on the target at once (a driver that
    #: :class:`Overlaps`; 1: each is followed to its end before the next is sent)
    in_flight: int = 1


class Driver(Protocol):
    """What the executor needs from a target."""

    #: whether :meth:`apply` reads a batch's rows with ``Batch.upsert_slices`` (then the
    #: executor may hand it a ``stream`` instead of ``upserts``)
    streams: bool

    def prepare(self, dataset: DatasetSpec, schema: Schema) -> Capabilities:
        """Check or create the target-side table before the first batch (nothing sent on error);
        return how the dataset's batches are to be cut."""

    def apply(self, batch: Batch) -> list[RowError]:
        """Apply ``batch``; return once the target confirmed it, with the rows it rejected (the
        others landed).  Raise TargetError when the batch as a whole failed or its outcome is
        unknown (the executor then calls :meth:`settle`)."""

    def settle(self, batch: Batch, known_rows: int) -> bool:
        """Tell whether ``batch`` landed, after a crash or an unknown outcome.  ``known_rows`` is
        how many rows the state says the dataset held before the batch."""

    def close(self) -> None:
        """Release connections.

        A driver may also have ``folded(batch)``: the executor calls it once the batch is folded
        into the state (the zilliz driver deletes the batch's staged import files then)."""


@runtime_checkable
class ReadsBack(Protocol):
    """A driver that can read a dataset's rows back from its target (drift, adopt, refresh)."""

    def read_back(self, dataset: DatasetSpec, schema: Schema) -> Iterator[pl.DataFrame]:
        """The target's rows of ``dataset``, in blocks with the dataset's columns, in whatever
        types the target keeps (nothing when its table does not exist)."""


@runtime_checkable
class Marks(Protocol):
    """A driver whose target keeps syncer's marker apart from the rows (a collection's
    properties): the executor calls :meth:`mark` once a batch landed, before folding it."""

    def mark(self, dataset: DatasetSpec, batch_id: str) -> None: ...


#: waits for a submitted batch's outcome: the rows the target rejected (see :class:`Overlaps`)
Pending = Callable[[], "list[RowError]"]


@runtime_checkable
class Overlaps(Protocol):
    """A driver whose target queues a batch and confirms it later (an import job): the executor
    may send the next batches while one waits, up to ``Capabilities.in_flight`` of them.

    Each batch is still written to the journal before :meth:`submit` and folded only once its
    ``Pending`` returned, in the order they were sent; a batch that failed is settled as
    before.  Only batches the driver calls independent (:meth:`overlaps`) are sent while
    others wait: their outcome must be knowable alone after a crash (a key-field import, an
    import job found by its batch id), never by a count several open batches would blur."""

    def overlaps(self, batch: Batch) -> bool:
        """Whether ``batch`` may be sent while other batches of its dataset wait."""

    def submit(self, batch: Batch) -> Pending:
        """Send ``batch`` and return without waiting for its outcome; the returned callable
        waits for it (raising TargetError as :meth:`Driver.apply` would)."""


@dataclass(frozen=True)
class Found:
    """What a target holds for one dataset, looked at cheaply: no row is read."""

    #: the table / datastore / collection exists (and the database or file holding it)
    exists: bool
    #: how many rows it holds (one count)
    rows: int = 0
    #: the last batch syncer wrote there, as the target's marker says (None: no marker)
    marker: str | None = None
    #: whether this target keeps syncer's marker at all (False: judged by the count alone)
    marks: bool = False


class Probe(Protocol):
    """A light look at one target (no driver, no polars): ``look`` answers :class:`Found` for
    a dataset, or raises TargetError when the target cannot be reached."""

    def look(self, dataset: DatasetSpec) -> Found: ...

    def close(self) -> None: ...


class DriverFactory(Protocol):
    def __call__(self, target: TargetSpec, *,
                 transport: httpx.BaseTransport | None = None) -> Driver: ...
