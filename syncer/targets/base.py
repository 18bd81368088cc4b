"""The driver protocol every target implements, and the batch it is given.

A driver turns batches of row changes into its target's own API calls.  The executor guarantees
that a batch is written to the state journal before :meth:`Driver.apply` is called and folded into
the snapshot only after it returns; :meth:`Driver.settle` answers, after a crash, whether a batch
whose outcome is unknown landed, so nothing is lost or delivered twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import polars as pl

from ..manifest import DatasetSpec, TargetSpec

if TYPE_CHECKING:
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


class Driver(Protocol):
    """What the executor needs from a target."""

    #: largest number of rows the executor puts into one batch (None: no limit)
    max_batch_rows: int | None

    def prepare(self, dataset: DatasetSpec, schema: Schema) -> None:
        """Check or create the target-side table before the first batch (nothing sent on error)."""

    def apply(self, batch: Batch) -> None:
        """Apply ``batch`` and return only once the target confirmed it; raise TargetError if not."""

    def settle(self, batch_id: str, dataset: DatasetSpec) -> bool:
        """Tell whether the batch ``batch_id`` landed (after a crash or an unknown outcome)."""

    def close(self) -> None:
        """Release connections."""


class DriverFactory(Protocol):
    def __call__(self, target: TargetSpec) -> Driver: ...
