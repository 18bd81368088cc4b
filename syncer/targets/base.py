"""The driver protocol every target implements, and the batch it is given.

A driver turns batches of row changes into its target's own API calls.  The executor guarantees
that a batch is written to the state journal before :meth:`Driver.apply` is called and folded into
the snapshot only after it returns; :meth:`Driver.settle` answers, after a crash, whether a batch
whose outcome is unknown landed, so nothing is lost or delivered twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..manifest import DatasetSpec, TargetSpec

if TYPE_CHECKING:
    import polars as pl

    from ..schema import Schema


@dataclass(frozen=True)
class Batch:
    """One unit of work sent to a target.

    ``reset`` asks the target to drop every row of the dataset first (full replace).
    ``upserts`` holds whole rows (value columns) to insert or update; ``deletes`` the key columns
    of rows to delete.  Both carry ``__k`` (row identity) and ``__line`` (source line, or null).
    """

    id: str
    target: str
    dataset: DatasetSpec
    schema: Schema
    reset: bool
    upserts: pl.DataFrame
    deletes: pl.DataFrame

    @property
    def size(self) -> int:
        return self.upserts.height + self.deletes.height


@dataclass(frozen=True)
class RowError:
    """A row the target rejected: ``index`` is its position in the batch's upserts or deletes."""

    kind: str  # "upsert" | "delete"
    index: int
    message: str


class Driver(Protocol):
    """What the executor needs from a target."""

    #: largest number of rows the executor puts into one batch (None: no limit)
    max_batch_rows: int | None

    def prepare(self, dataset: DatasetSpec, schema: Schema) -> None:
        """Check or create the target-side table before the first batch (nothing sent on error)."""

    def apply(self, batch: Batch) -> list[RowError]:
        """Apply ``batch``; return once the target confirmed it, with the rows it rejected (the
        others landed).  Raise TargetError when the batch as a whole failed or its outcome is
        unknown (the executor then calls :meth:`settle`)."""

    def settle(self, batch: Batch, known_rows: int) -> bool:
        """Tell whether ``batch`` landed, after a crash or an unknown outcome.  ``known_rows`` is
        how many rows the state says the dataset held before the batch."""

    def close(self) -> None:
        """Release connections."""


class DriverFactory(Protocol):
    def __call__(self, target: TargetSpec) -> Driver: ...
