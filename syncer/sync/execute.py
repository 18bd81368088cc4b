"""Run a plan through the drivers: batches, the journal, and the state commit.

For every batch: write it to the journal, send it, fold it into the snapshot once the target
confirmed it.  An error whose outcome is unknown is settled with the driver before anything
else is sent.  A failing dataset does not stop the others; the result says which failed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace

import polars as pl

from .. import interrupts
from ..errors import Interrupted, StateLost, SyncError, TargetError
from ..model.plan import DatasetPlan
from .batches import batches_of
from .inflight import failed, send_overlapped
from .rejected import batch_from_delta, position, rejected_keys, rows_rejected
from .beside import JournalBeside
from .plan import Planned
from .session import Drivers
from ..profile import phase
from .progress import Reporter
from ..model.manifest import DatasetSpec
from ..model.project import Dataset, Project
from ..model.schema import ROW, SRC, Schema
from ..secrets import redact
from ..state import StateStore
from ..targets import base
from ..targets.base import (Batch, BatchRefused, Capabilities, Driver, Marks, Overlaps, Pending,
                            RowError, RowSource)


@dataclass
class DatasetResult:
    id: str
    inserts: int = 0
    updates: int = 0
    deletes: int = 0
    seconds: float = 0.0
    error: str | None = None
    skipped: str | None = None

    def to_json(self) -> dict[str, object]:
        """Named by ``target`` and ``dataset``, like every other JSON output."""
        target, _, name = self.id.partition("/")
        return {"target": target, "dataset": name, "inserts": self.inserts, "updates": self.updates,
                "deletes": self.deletes, "seconds": round(self.seconds, 3), "error": self.error,
                "skipped": self.skipped}


@dataclass
class ApplyResult:
    run_id: str
    datasets: list[DatasetResult] = field(default_factory=list)

    @property
    def failed(self) -> list[DatasetResult]:
        return [d for d in self.datasets if d.error]


class Executor:
    """Applies plans through the session's drivers (one per target)."""

    def __init__(self, project: Project, store: StateStore, drivers: Drivers,
                 reporter: Reporter | None = None, run_id: str | None = None) -> None:
        self.project = project
        self.store = store
        self.drivers = drivers
        self.reporter = reporter or Reporter()
        self.run_id = run_id or uuid.uuid4().hex[:12]

    def driver(self, dataset: Dataset) -> Driver:
        return self.drivers.of(dataset)

    # -- recovery ---------------------------------------------------------------------------
    def settle_open_batches(self) -> list[str]:
        """Ask the targets about batches a crash left open; fold those that landed."""
        notes: list[str] = []
        by_id = {d.id: d for d in self.project.datasets}
        for batch in self.store.open_batches():
            dataset = by_id.get(f"{batch.target}/{batch.dataset}")
            if dataset is None:
                notes.append(f"batch {batch.batch_id} of {batch.target}/{batch.dataset} is open, "
                             "but the dataset is no longer declared; left as it is")
                continue
            driver = self.driver(dataset)
            schema, reset, rows = self.store.journal_entry(batch.batch_id,
                                                           with_puts=not driver.streams)
            known = self._known_rows(dataset)
            replay = batch_from_delta(batch.batch_id, dataset, schema, reset, rows)
            if driver.streams:  # the rows it wrote are read only if the driver asks for them
                replay = replace(replay, stream=self.store.journal_rows(batch.batch_id))
            landed = driver.settle(replay, known)
            if landed:
                _mark(driver, dataset.spec, batch.batch_id)
                self.store.fold_batch(batch.batch_id)
            else:
                self.store.abandon_batch(batch.batch_id)
            notes.append(f"settled batch {batch.batch_id} of {dataset.id}: "
                         f"{'it had landed' if landed else 'it had not landed'}")
        return notes

    # -- apply ------------------------------------------------------------------------------
    def apply(self, planned: Planned) -> ApplyResult:
        """Apply every dataset of the plan; a failing one does not stop the others.  Ctrl-C
        stops at once, as :class:`~syncer.errors.Interrupted` saying what was applied."""
        result = ApplyResult(self.run_id)
        items = planned.plan.datasets
        for index, item in enumerate(items):
            dataset = planned.datasets[item.id]
            outcome = DatasetResult(item.id)
            result.datasets.append(outcome)
            if item.blocked:
                outcome.skipped = "blocked"
                continue
            started = time.monotonic()
            try:
                try:
                    self._apply_dataset(item, dataset, planned, outcome)
                finally:
                    outcome.seconds = time.monotonic() - started
            except StateLost:
                raise  # nothing more can be recorded: stop here (the next run settles)
            except SyncError as exc:
                if not interrupts.requested():
                    outcome.error = redact(str(exc))
                    continue
                # a library turned the interrupt into an error of its own (ADBC, gRPC)
                raise _interrupted(result, [i.id for i in items[index + 1:]]) from None
            except KeyboardInterrupt:
                raise _interrupted(result, [i.id for i in items[index + 1:]]) from None
        return result

    def _apply_dataset(self, item: DatasetPlan, dataset: Dataset, planned: Planned,
                       outcome: DatasetResult) -> None:
        schema = planned.schemas[item.id]
        stamps = planned.stamps.get(item.id)
        target = dataset.target
        actual = planned.actual.get(item.id) if planned.actual is not None else None
        recorded = self.store.dataset(target.name, dataset.name)
        location = dataset.location
        if actual is None and item.moved_from is not None and item.diff is not None:
            actual = schema.empty_frame()  # planned as a full load where it now goes
        if actual is not None and (actual.height or recorded is not None):
            # a refreshed plan diffs against what the target holds: record that first, so the
            # batches fold onto the truth (strangers kept by the mode stay known, not drift)
            self.store.ensure_dataset(target.name, dataset.name, target.type,
                                      dataset.spec.table_name, dataset.spec.mode, location)
            with phase(item.id, "state"):
                self.store.replace_snapshot(target.name, dataset.name, schema=schema,
                                            frame=actual)
            # bound to the target again: its marker is the state's now
            seen = planned.found.get(item.id)
            self.store.set_marker(target.name, dataset.name, seen.marker if seen else None)
            recorded = self.store.dataset(target.name, dataset.name)
        elif recorded is not None and recorded.location is None:
            # recorded by a syncer that did not keep where: where it is applied now
            self.store.ensure_dataset(target.name, dataset.name, target.type,
                                      dataset.spec.table_name, dataset.spec.mode, location)
        if item.diff is None or not item.has_changes:
            if item.record_only or item.diff is not None:
                rows = (item.diff.current if item.diff is not None else
                        recorded.rows if recorded is not None else None)
                self.store.ensure_dataset(target.name, dataset.name, target.type,
                                          dataset.spec.table_name, dataset.spec.mode, location)
                self.store.commit_dataset(target.name, dataset.name, schema=schema,
                                          fingerprint=stamps, spec_hash=item.spec_hash, rows=rows)
            return
        driver = self.driver(dataset)
        # the target is checked first: a dataset whose target refuses it leaves no trace in state
        with phase(item.id, "prepare"):
            capabilities = driver.prepare(dataset.spec, schema)
        fresh = self.store.dataset(target.name, dataset.name) is None
        self.store.ensure_dataset(target.name, dataset.name, target.type,
                                  dataset.spec.table_name, dataset.spec.mode, location)
        try:
            self._send_all(item, dataset, driver, schema, capabilities)
        except SyncError:
            if fresh:
                self._forget_unapplied(dataset)
            raise
        with phase(item.id, "state"):
            self.store.commit_dataset(target.name, dataset.name, schema=schema,
                                      fingerprint=stamps, spec_hash=item.spec_hash,
                                      rows=item.diff.current + item.inserts - item.deletes)
        outcome.inserts, outcome.updates, outcome.deletes = item.inserts, item.updates, item.deletes

    def _forget_unapplied(self, dataset: Dataset) -> None:
        """A dataset applied for the first time failed before any of its batches landed: leave
        no generation-0 record behind (one with a batch folded, or still open, is kept: the
        next run settles or continues it)."""
        name = (dataset.target.name, dataset.name)
        if any((b.target, b.dataset) == name for b in self.store.open_batches()):
            return
        snapshot = self.store.snapshot_keys(*name)
        if snapshot is None or snapshot.height == 0:
            try:
                self.store.forget(*name)
            except SyncError:
                pass  # the state is failing too (a full disk): the error in flight says so

    def _send_all(self, item: DatasetPlan, dataset: Dataset, driver: Driver,
                  schema: Schema, capabilities: Capabilities) -> None:
        assert item.diff is not None
        changes = item.diff.changes
        target = dataset.target
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
        total = changes.upserts.height + changes.deletes.height
        self.reporter.start(item.id, total)
        shown: dict[str, _Shown] = {}

        def cut() -> Iterator[Batch]:
            for number, (upserts, deletes, stream) in enumerate(batches):
                batch_id = f"{self.run_id}-{uuid.uuid4().hex[:8]}"
                shown[batch_id] = _Shown(self.reporter, item.id)
                yield Batch(batch_id, target.name, dataset.spec, schema,
                            changes.reset and number == 0, upserts, deletes, stream,
                            progress=shown[batch_id].advance)

        def finish(batch: Batch, pending: Pending,
                   journaled: Callable[[], bool] = lambda: True) -> None:
            self._outcome(batch, dataset, driver, capabilities, pending, journaled)
            rows = shown.pop(batch.id)
            rows.advance(batch.size - rows.rows)  # what the driver did not report itself

        if capabilities.in_flight > 1 and isinstance(driver, Overlaps):
            overlapping = driver
            send_overlapped(cut(), capabilities.in_flight, overlapping.overlaps,
                            lambda batch: self._submit(batch, dataset, overlapping), finish)
        else:
            for batch in cut():
                finish(*self._start(batch, dataset, driver))
        self.reporter.done(item.id)

    def _known_rows(self, dataset: Dataset) -> int:
        keys = self.store.snapshot_keys(dataset.target.name, dataset.name)
        return 0 if keys is None else keys.height

    def _start(self, batch: Batch, dataset: Dataset, driver: Driver
               ) -> tuple[Batch, Pending, Callable[[], bool]]:
        """Journal ``batch``; the batch as sent, what applies it (the driver's ``apply``) and
        whether its journal entry was written, asked once the apply failed."""
        beside = self._journal(batch, dataset, driver)
        self.reporter.stage(dataset.id, "writing")
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

    def _submit(self, batch: Batch, dataset: Dataset, driver: Overlaps) -> Pending:
        """Journal ``batch`` and send it without waiting (a driver that :class:`Overlaps`:
        its batches are cut to size, never streamed, so the journal is written first)."""
        self.reporter.stage(dataset.id, "recording")
        self._write_journal(batch, dataset, batch.upsert_slices())
        self.reporter.stage(dataset.id, "writing")
        try:
            with phase(dataset.id, "write"):
                return driver.submit(batch)
        except TargetError as exc:
            return failed(exc)  # settled in its turn, once the batches sent before it ended

    def _outcome(self, batch: Batch, dataset: Dataset, driver: Driver,
                 capabilities: Capabilities, pending: Pending,
                 journaled: Callable[[], bool] = lambda: True) -> None:
        """Wait for a sent batch; fold what landed, settle it when its outcome is unknown."""
        try:
            with phase(dataset.id, "write"):
                rejected = pending()
        except TargetError as exc:
            if journaled() and not interrupts.requested():  # interrupted: the next run settles
                self._settle_failed(batch, dataset, driver, capabilities)
            if isinstance(exc, BatchRefused):  # name the row's source file and line
                raise TargetError(f"{exc.message}\n  {position(exc.row, 0, dataset)}: {exc.reason}",
                                  hint=exc.hint) from None
            raise
        # interrupted or a bug (any other exception): the outcome is unknown; the journal entry
        # stays open and the next run settles it with the target before planning anything new
        _mark(driver, batch.dataset, batch.id)  # a failure leaves the entry open, to settle
        if not rejected:
            with phase(dataset.id, "state"):
                self.store.fold_batch(batch.id)
            _folded(driver, batch)
            return
        self.store.fold_batch(batch.id, rejected=rejected_keys(batch, rejected))
        _folded(driver, batch)
        raise rows_rejected(batch, dataset, rejected)

    def _journal(self, batch: Batch, dataset: Dataset, driver: Driver) -> JournalBeside | None:
        """Write the batch down before it is sent; for a streamed batch and a driver that
        commits it in one transaction, beside the load instead (see :mod:`.beside`)."""
        if batch.stream is not None and getattr(driver, "overlaps_journal", False):
            return JournalBeside(lambda rows: self._write_journal(batch, dataset, rows),
                                 batch.upsert_slices())
        self.reporter.stage(dataset.id, "recording")
        self._write_journal(batch, dataset, batch.upsert_slices())
        return None

    def _write_journal(self, batch: Batch, dataset: Dataset, rows: Iterable[pl.DataFrame]) -> None:
        with phase(dataset.id, "state"):
            self.store.open_batch(self.run_id, batch.id, batch.target, dataset.name,
                                  batch.schema, batch.reset, rows, batch.deletes)

    def _settle_failed(self, batch: Batch, dataset: Dataset, driver: Driver,
                       capabilities: Capabilities) -> None:
        # the rows held before the (unfolded) failed batch, read only now: read before every
        # batch, it replayed all folded so far (10M rows into zilliz: 100 replays, > 1 GB)
        try:
            known = self._known_rows(dataset) if capabilities.max_batch_rows is not None else 0
            landed = driver.settle(batch, known)
        except SyncError:
            return  # still unknown: leave the entry open for the next run
        if landed:
            try:
                _mark(driver, batch.dataset, batch.id)
            except SyncError:
                return  # landed, but not marked: left open, the next run settles it again
            self.store.fold_batch(batch.id)
        else:
            self.store.abandon_batch(batch.id)


def _mark(driver: Driver, dataset: DatasetSpec, batch_id: str) -> None:
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


def _interrupted(result: ApplyResult, not_started: list[str]) -> Interrupted:
    """What an interrupt left: the datasets applied, the one in flight, those not started."""
    current = result.datasets[-1]
    current.error = "interrupted"
    applied = [d.id for d in result.datasets[:-1] if not d.error and not d.skipped]
    lines = [f"applied: {', '.join(applied) if applied else 'none'}",
             f"interrupted: {current.id} (a batch in flight was rolled back, or is settled with "
             "the target by the next apply)"]
    if not_started:
        lines.append(f"not started: {', '.join(not_started)}")
    error = Interrupted("the apply was interrupted; run it again to finish:\n"
                        + "\n".join(f"  {line}" for line in lines))
    error.result = result  # type: ignore[attr-defined]
    return error


__all__ = ["ApplyResult", "DatasetResult", "Executor", "Reporter", "ROW", "SRC", "Schema"]
