"""Run a plan through the drivers: each dataset's batches (sent by :mod:`.send`), the state
commit, and the batches a crash left open, settled before anything new is planned.

For every batch: write it to the journal, send it, fold it into the snapshot once the target
confirmed it.  An error whose outcome is unknown is settled with the driver before anything
else is sent.  A failing dataset does not stop the others; the result says which failed.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace

from .. import interrupts
from ..errors import Interrupted, StateLost, SyncError
from ..model.plan import DatasetPlan
from ..model.project import Dataset, Project
from ..model.schema import ROW, SRC, Schema
from ..profile import phase
from ..secrets import redact
from ..state import StateStore
from ..targets.base import Driver
from .plan import Planned
from .progress import Reporter
from .rejected import batch_from_delta
from .send import Sender, known_rows, mark
from .session import Drivers


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
            known = known_rows(self.store, dataset)
            replay = batch_from_delta(batch.batch_id, dataset, schema, reset, rows)
            if driver.streams:  # the rows it wrote are read only if the driver asks for them
                replay = replace(replay, stream=self.store.journal_rows(batch.batch_id))
            landed = driver.settle(replay, known)
            if landed:
                mark(driver, dataset.spec, batch.batch_id)
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
            Sender(self.store, self.reporter, self.run_id, dataset, driver,
                   capabilities).send(item, schema)
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
