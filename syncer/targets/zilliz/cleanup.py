"""What becomes of the import files a zilliz target staged (:class:`Cleanup`): a batch's files
are deleted once its job completed and the executor folded the batch; those of a batch settled
after a crash once the driver closes; and whatever earlier runs left in a dataset's staging folder
(a crash, a failed job) when the dataset is written next, at a time no batch of it is open.
``keep_staged: true`` keeps them all.  A failure to delete never fails a sync: the next sweep
tries again."""

from __future__ import annotations

import re
from collections.abc import Callable

from ...errors import TargetError
from ..base import Batch
from .stage import Stage

#: the name of a file syncer stages: ``<run id>-<8 hex>.<...>`` (import files and job notes)
LEFTOVER = re.compile(r"^[0-9A-Za-z_]+-[0-9a-f]{8}\.[0-9a-z.]*(parquet|json|job)$")


def staged_by(name: str, batch_id: str) -> bool:
    """Whether a staged file name (``<batch>.parquet``, ``<batch>.2.json``, ``<batch>.json.job``)
    belongs to ``batch_id``."""
    return name.startswith(f"{batch_id}.")


class Cleanup:
    """The staged files of one zilliz target, and when they go."""

    def __init__(self, stage: Callable[[], Stage], keep: bool) -> None:
        self._stage, self.keep = stage, keep
        #: the files of batches whose job completed here, by batch: deleted once it is folded
        self.staged: dict[str, list[str]] = {}
        #: the files of batches settled here: deleted when the driver closes
        self.settled: list[str] = []

    def completed(self, batch_id: str, keys: list[str]) -> None:
        """The job of ``batch_id`` completed: its files go once the batch is folded."""
        self.staged[batch_id] = keys

    def discard(self, batch_id: str) -> None:
        """The batch was folded: delete its staged files."""
        self._delete(self.staged.pop(batch_id, []))

    def forget(self, batch: Batch) -> None:
        """The outcome of ``batch`` is settled (it is folded or abandoned next): its staged
        files go when the driver closes."""
        if self.keep:
            return
        stage = self._stage()
        folder = stage.folder(batch.target, batch.dataset.name)
        self.settled += [k for k in stage.listed(folder) if staged_by(k[len(folder):], batch.id)]

    def discard_settled(self) -> None:
        doomed, self.settled = self.settled, []
        self._delete(doomed)

    def sweep(self, target: str, dataset: str) -> None:
        """Delete what earlier runs left in the dataset's staging folder: called when no batch
        of the dataset is open (the executor settled them before)."""
        if self.keep:
            return
        stage = self._stage()
        folder = stage.folder(target, dataset)
        self._delete([k for k in stage.listed(folder) if LEFTOVER.match(k[len(folder):])])

    def _delete(self, keys: list[str]) -> None:
        if keys and not self.keep:
            try:
                self._stage().delete(keys)
            except TargetError:
                pass  # never fail a sync over cleaning up: the next run sweeps them
