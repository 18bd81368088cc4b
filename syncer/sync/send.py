"""One dataset's change sent through its driver: cut into batches, each written to the journal,
sent, and folded into the snapshot once the target confirmed it.  An error whose outcome is
unknown is settled with the driver before anything else is sent; batches a driver calls
independent may wait on the target side by side (see :mod:`.inflight`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace

import polars as pl

from .. import interrupts
from ..errors import SyncError, TargetError
from ..model.manifest import DatasetSpec
from ..model.plan import DatasetPlan
from ..model.project import Dataset
from ..model.schema import Schema
from ..profile import phase
from ..state import StateStore
from ..targets import base
from ..targets.base import (Batch, BatchRefused, Capabilities, Driver, Marks, Overlaps, Pending,
                            RowError, RowSource)
from .batches import batches_of
from .beside import JournalBeside
from .inflight import failed, send_overlapped
from .progress import Reporter
from .rejected import position, rejected_keys, rows_rejected


class Sender:
    """Sends the batches of one dataset's change through ``driver``."""

    def __init__(self, store: StateStore, reporter: Reporter, run_id: str, dataset: Dataset,
                 driver: Driver, capabilities: Capabilities) -> None:
        self.store, self.reporter, self.run_id = store, reporter, run_id
        self.dataset, self.driver, self.capabilities = dataset, driver, capabilities

    def send(self, item: DatasetPlan, schema: Schema) -> None:
        """Every batch of ``item``'s change, in order; raises the first failure."""
        assert item.diff is not None
        changes = item.diff.changes
        dataset, driver, capabilities = self.dataset, self.driver, self.capabilities
        batches: Iterable[tuple[pl.DataFrame, pl.DataFrame, RowSource | None]]
        if driver.streams and capabilities.max_batch_rows is None and (
                changes.upserts.height > base.SLICE_ROWS):
            # one batch whose rows are read a slice at a time, by the journal and then the
            # target: a first load of millions of rows is never whole in memory (a smaller
            # batch is read once, below, rather than once by each of them)
            batches = [(changes.upserts.empty(), changes.deletes, changes.upserts)]
        elif capabilities.max_batch_rows is None:
            with phase(item.id, "write"):  # the rows to write, read from where the plan left them
                collected = changes.upserts.collect()
            batches = [(collected, changes.deletes, None)]
        else:
            # batches cut from the rows read a slice at a time: memory holds one slice and one
            # batch, not every row to write (each batch is journaled, then sent, as before)
            batches = ((up, dels, None) for up, dels in
                       batches_of(changes.upserts, changes.deletes, capabilities.max_batch_rows,
                                  lambda: phase(item.id, "write")))
        self.reporter.start(item.id, changes.upserts.height + changes.deletes.height)
        shown: dict[str, _Shown] = {}

        def cut() -> Iterator[Batch]:
            for number, (upserts, deletes, stream) in enumerate(batches):
                batch_id = f"{self.run_id}-{uuid.uuid4().hex[:8]}"
                shown[batch_id] = _Shown(self.reporter, item.id)
                yield Batch(batch_id, dataset.target.name, dataset.spec, schema,
                            changes.reset and number == 0, upserts, deletes, stream,
                            progress=shown[batch_id].advance)

        def finish(batch: Batch, pending: Pending,
                   journaled: Callable[[], bool] = lambda: True) -> None:
            self._outcome(batch, pending, journaled)
            rows = shown.pop(batch.id)
            rows.advance(batch.size - rows.rows)  # what the driver did not report itself

        if capabilities.in_flight > 1 and isinstance(driver, Overlaps):
            send_overlapped(cut(), capabilities.in_flight, driver.overlaps, self._submit, finish)
        else:
            for batch in cut():
                finish(*self._start(batch))
        self.reporter.done(item.id)

    def _start(self, batch: Batch) -> tuple[Batch, Pending, Callable[[], bool]]:
        """Journal ``batch``; the batch as sent, what applies it (the driver's ``apply``) and
        whether its journal entry was written, asked once the apply failed."""
        driver = self.driver
        beside = self._journal(batch)
        self.reporter.stage(self.dataset.id, "writing")
        if beside is None:
            return batch, lambda: driver.apply(batch), lambda: True
        sent = replace(batch, journaled=beside.wait)

        def apply() -> list[RowError]:
            try:
                rejected = driver.apply(sent)
                beside.wait()  # the driver waited before its commit: this returns at once
            except TargetError:
                raise  # the journal is stopped by the question below
            except BaseException:
                beside.abandon()  # the thread is done with the state before anything else
                raise
            return rejected

        # a journal stopped before it was written leaves nothing to settle: the driver
        # commits only after it (before_commit), so nothing of the batch landed
        return sent, apply, beside.abandon

    def _submit(self, batch: Batch) -> Pending:
        """Journal ``batch`` and send it without waiting (a driver that :class:`Overlaps`:
        its batches are cut to size, never streamed, so the journal is written first)."""
        assert isinstance(self.driver, Overlaps)
        self.reporter.stage(self.dataset.id, "recording")
        self._write_journal(batch, batch.upsert_slices())
        self.reporter.stage(self.dataset.id, "writing")
        try:
            with phase(self.dataset.id, "write"):
                return self.driver.submit(batch)
        except TargetError as exc:
            return failed(exc)  # settled in its turn, once the batches sent before it ended

    def _outcome(self, batch: Batch, pending: Pending,
                 journaled: Callable[[], bool] = lambda: True) -> None:
        """Wait for a sent batch; fold what landed, settle it when its outcome is unknown."""
        dataset, driver = self.dataset, self.driver
        try:
            with phase(dataset.id, "write"):
                rejected = pending()
        except TargetError as exc:
            if journaled() and not interrupts.requested():  # interrupted: the next run settles
                self._settle_failed(batch)
            if isinstance(exc, BatchRefused):  # name the row's source file and line
                raise TargetError(f"{exc.message}\n  {position(exc.row, 0, dataset)}: {exc.reason}",
                                  hint=exc.hint) from None
            raise
        # interrupted or a bug (any other exception): the outcome is unknown; the journal entry
        # stays open and the next run settles it with the target before planning anything new
        mark(driver, batch.dataset, batch.id)  # a failure leaves the entry open, to settle
        if not rejected:
            with phase(dataset.id, "state"):
                self.store.fold_batch(batch.id)
            _folded(driver, batch)
            return
        self.store.fold_batch(batch.id, rejected=rejected_keys(batch, rejected))
        _folded(driver, batch)
        raise rows_rejected(batch, dataset, rejected)

    def _journal(self, batch: Batch) -> JournalBeside | None:
        """Write the batch down before it is sent; for a streamed batch and a driver that
        commits it in one transaction, beside the load instead (see :mod:`.beside`)."""
        if batch.stream is not None and getattr(self.driver, "overlaps_journal", False):
            return JournalBeside(lambda rows: self._write_journal(batch, rows),
                                 batch.upsert_slices())
        self.reporter.stage(self.dataset.id, "recording")
        self._write_journal(batch, batch.upsert_slices())
        return None

    def _write_journal(self, batch: Batch, rows: Iterable[pl.DataFrame]) -> None:
        with phase(self.dataset.id, "state"):
            self.store.open_batch(self.run_id, batch.id, batch.target, self.dataset.name,
                                  batch.schema, batch.reset, rows, batch.deletes)

    def _settle_failed(self, batch: Batch) -> None:
        # the rows held before the (unfolded) failed batch, read only now: read before every
        # batch, it replayed all folded so far (10M rows into zilliz: 100 replays, > 1 GB)
        try:
            batched = self.capabilities.max_batch_rows is not None
            known = known_rows(self.store, self.dataset) if batched else 0
            landed = self.driver.settle(batch, known)
        except SyncError:
            return  # still unknown: leave the entry open for the next run
        if landed:
            try:
                mark(self.driver, batch.dataset, batch.id)
            except SyncError:
                return  # landed, but not marked: left open, the next run settles it again
            self.store.fold_batch(batch.id)
        else:
            self.store.abandon_batch(batch.id)


def known_rows(store: StateStore, dataset: Dataset) -> int:
    """How many rows the state says the dataset holds (a replay of its snapshot's keys)."""
    keys = store.snapshot_keys(dataset.target.name, dataset.name)
    return 0 if keys is None else keys.height


def mark(driver: Driver, dataset: DatasetSpec, batch_id: str) -> None:
    """The batch landed: a target that keeps syncer's marker apart from the rows names it."""
    if isinstance(driver, Marks):
        driver.mark(dataset, batch_id)


def _folded(driver: Driver, batch: Batch) -> None:
    """Tell a driver that wants to know (an optional ``folded(batch)``: the zilliz driver then
    deletes the batch's staged files) that the batch is folded into the state."""
    hook = getattr(driver, "folded", None)
    if hook is not None:
        hook(batch)


class _Shown:
    """Rows of one batch reported to the progress display so far."""

    def __init__(self, reporter: Reporter, dataset_id: str) -> None:
        self.reporter, self.dataset_id, self.rows = reporter, dataset_id, 0

    def advance(self, rows: int) -> None:
        if rows > 0:
            self.rows += rows
            self.reporter.advance(self.dataset_id, rows)
