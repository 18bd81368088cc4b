"""One reconcile pass of ``syncer watch``: settle the batches left open, then plan and apply each
dataset through the same building blocks as ``syncer apply`` (:func:`~syncer.sync.plan.build_plan`,
:class:`~syncer.sync.execute.Executor`), record the pass in the runs table, report drift.

A failing dataset is handed to the :class:`~syncer.watch.schedule.Schedule` (it backs off and is
retried, or waits for its source to change); the other datasets go ahead.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import StateError, SyncError, TargetError
from ..model.project import Dataset, Project
from ..secrets import redact
from ..state import StateStore
from ..sync.execute import Executor
from ..sync.plan import Planned, build_plan
from ..sync.progress import Reporter
from ..sync.session import RunRecord, Session
from .changes import wait_until_written
from .config import WatchConfig
from .api import run_summary
from .events import event
from .status import Status, iso
from .schedule import Schedule


@dataclass
class _Run:
    """One reconcile: the session's store, the executor, the run recorded in the history
    (begun on the first real change) and what happened to each dataset."""

    store: StateStore
    executor: Executor
    record: RunRecord
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("applied", "unchanged", "failed", "blocked"), 0))


class Reconciler:
    """Reconciles datasets on request; :meth:`reconcile` is one pass."""

    def __init__(self, config: WatchConfig, stop: threading.Event, status: Status,
                 schedule: Schedule, reporter: Reporter | None = None) -> None:
        self.config = config
        self.stop = stop
        self.status = status
        self.schedule = schedule
        self.reporter = reporter  # the progress of long applies (``watch -v``)

    def reconcile(self, project: Project, held: Session, info: dict[str, object], ids: set[str],
                  reason: str) -> None:
        """Plan and apply ``ids``, one dataset at a time, through apply's building blocks, in
        the watcher's session; ``info`` is what the runs table records about the manifests
        (:func:`~syncer.sync.session.run_info`)."""
        started = time.monotonic()
        datasets = [d for d in project.datasets if d.id in ids]
        self.schedule.pending -= ids
        done: set[str] = set()
        self.wait_until_written(datasets)
        # the session's store stays open for the watcher's life; its drivers close after a pass
        executor = Executor(project, held.store, held.drivers, self.reporter)
        run = _Run(held.store, executor, RunRecord(held.store, executor.run_id, "watch",
                                                   self.config.manifests, info=info))
        stopped: BaseException | None = None
        try:
            for ds in self._settle(run, datasets):
                if self.stop.is_set():
                    break
                done.add(ds.id)
                try:
                    outcome = self._one(ds, project, run, drift_check=reason == "interval")
                except SyncError as exc:  # the state's or a target's, past the plan: back
                    # off (a bug is not caught: it stops the watcher)
                    self.schedule.failed(ds, str(exc), retry=True)
                    outcome = "failed"
                self._held(ds, run.store)
                run.counts[outcome] = run.counts.get(outcome, 0) + 1
        except SyncError as exc:  # the state store failed: retry what is left
            for ds in datasets:
                if ds.id not in done:
                    self.schedule.failed(ds, str(exc), retry=True)
        except BaseException as exc:  # a forced stop, Ctrl-C, or a bug
            stopped = exc
            raise
        finally:
            self._finish(run, held, stopped)
        self.status.reconciled()
        counts = run.counts
        seconds = time.monotonic() - started
        summary = ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "nothing to do"
        event(logging.INFO, "reconcile", f"{reason}: {len(datasets)} dataset(s): {summary} "
              f"({seconds:.3f}s)", reason=reason, datasets=len(datasets), seconds=seconds,
              **{k: counts.get(k, 0) for k in ("applied", "failed", "blocked")})

    def wait_until_written(self, datasets: list[Dataset]) -> None:
        """Wait until no source of ``datasets`` was modified within the last step (see
        :func:`~syncer.watch.changes.wait_until_written`)."""
        wait_until_written((f for ds in datasets for f in ds.files), self.config.step_ms,
                           self.stop)

    def _settle(self, run: _Run, datasets: list[Dataset]) -> list[Dataset]:
        """Settle batches a crash or an outage left open before re-planning their datasets
        (as apply does); when that fails, those datasets wait and the others go ahead."""
        open_ids = {f"{b.target}/{b.dataset}" for b in run.store.open_batches()}
        if not open_ids & {d.id for d in datasets}:
            return datasets
        try:
            for note in run.executor.settle_open_batches():
                event(logging.INFO, "settle", note)
        except SyncError as exc:  # the target is still down: retry later (a bug stops the watcher)
            message = redact(str(exc))
            for ds in datasets:
                if ds.id in open_ids:
                    self.schedule.failed(ds, f"cannot settle the batch left open: {message}",
                                         retry=True)
            return [d for d in datasets if d.id not in open_ids]
        return datasets

    def _one(self, ds: Dataset, project: Project, run: _Run, drift_check: bool = False) -> str:
        started = time.monotonic()
        heal = drift_check and self.config.self_heal
        try:
            planned = build_plan(project, run.store, [ds], filtered=True,
                                 refresh=run.executor.driver if heal else None, keep_actual=heal)
        except SyncError as exc:
            # a bad source waits for its next change; state or target trouble is retried
            self.schedule.failed(ds, str(exc), retry=isinstance(exc, (StateError, TargetError)))
            return "failed"
        try:
            return self._apply_one(ds, planned, run, started, heal, drift_check)
        finally:
            planned.close()

    def _apply_one(self, ds: Dataset, planned: Planned, run: _Run, started: float, heal: bool,
                   drift_check: bool) -> str:
        plan_seconds = time.monotonic() - started
        item = planned.plan.datasets[0]
        self.status.planned(ds.id, plan_seconds, {
            "mode": item.mode, "inserts": item.inserts, "updates": item.updates,
            "deletes": item.deletes, "warnings": list(item.warnings),
            "samples": item.to_json()["samples"]} if item.has_changes else None)
        where = {"target": ds.target.name, "dataset": ds.name}
        if item.blocked:
            self.schedule.cleared(ds.id)
            self.status.blocked(ds.id, item.blocked)
            event(logging.WARNING, "blocked", f"{ds.id}: blocked by a safety guard, not applied: "
                  f"{item.blocked}", **where, reason=item.blocked, inserts=item.inserts,
                  updates=item.updates, deletes=item.deletes)
            return "blocked"
        if item.drift is not None:
            self._drift(ds, item.drift.rows, item.drift, healing=True)
        if item.has_changes:
            event(logging.INFO, "plan", f"{ds.id} ({item.mode}): +{item.inserts} ~{item.updates} "
                  f"-{item.deletes}", **where, mode=item.mode, inserts=item.inserts,
                  updates=item.updates, deletes=item.deletes, seconds=plan_seconds)
            run.record.begin()
            self.status.applying(ds.id)
        result = run.executor.apply(planned).datasets[0]
        if item.has_changes:
            run.record.summaries.append(result.to_json())
        if result.error:
            self.schedule.failed(ds, result.error, retry=True)
            return "failed"
        commit = run.record.info.get("git_commit") if run.record.info else None
        self.status.applied(ds.id, result.inserts, result.updates, result.deletes,
                            result.seconds, item.has_changes,
                            commit=None if commit is None else str(commit))
        if item.has_changes:
            event(logging.INFO, "apply", f"{ds.id}: applied +{result.inserts} ~{result.updates} "
                  f"-{result.deletes} in {result.seconds:.3f}s", **where, inserts=result.inserts,
                  updates=result.updates, deletes=result.deletes, seconds=result.seconds)
        if self.schedule.succeeded(ds.id):
            event(logging.INFO, "recovered", f"{ds.id}: in sync again", **where)
        if heal:
            self.status.drift(ds.id, 0)  # repaired
        elif drift_check:
            self._check_drift(ds, run)
        return "applied" if item.has_changes else "unchanged"

    def _check_drift(self, ds: Dataset, run: _Run) -> None:
        """Read the target back and report drift (log and metric); nothing is repaired."""
        from ..sync.refresh import check

        try:
            [found] = check(run.store, [ds], run.executor.driver)
        except SyncError as exc:
            event(logging.WARNING, "drift", f"{ds.id}: cannot read the target back: "
                  f"{redact(str(exc))}", target=ds.target.name, dataset=ds.name)
            return
        self._drift(ds, found.drift.rows, found.drift, healing=False)

    def _drift(self, ds: Dataset, rows: int, found: Any, *, healing: bool) -> None:
        self.status.drift(ds.id, rows, {**found.to_json(), "repairing": healing})
        if not rows:
            return
        what = "repairing it" if healing else "not repaired (run with --self-heal, or " \
            "`syncer apply --refresh`)"
        event(logging.WARNING, "drift", f"{ds.id}: drift: ~{found.changed} changed "
              f"+{found.added} added -{found.removed} removed outside syncer; {what}",
              target=ds.target.name, dataset=ds.name, changed=found.changed, added=found.added,
              removed=found.removed)

    def _finish(self, run: _Run, held: Session, stopped: BaseException | None) -> None:
        """Record the pass in the history (the same outcome words as apply's) and close the
        drivers (a reloaded manifest may point a target elsewhere)."""
        try:
            if stopped is None:
                run.record.finish()
            else:  # never masks what stopped the pass
                run.record.abort(stopped)
        finally:
            held.drivers.close()
        if stopped is None and (run.record.begun or not self.status.runs):
            try:  # the page's history: read again only when this pass added to it
                self.status.history([run_summary(r) for r in reversed(run.store.runs())])
            except SyncError:
                pass  # the state is failing: the datasets say so

    def _held(self, ds: Dataset, store: StateStore) -> None:
        """What the state holds of ``ds`` now, for the page: rows, source files, fingerprint."""
        try:
            record = store.dataset(ds.target.name, ds.name)
        except SyncError:
            return
        stamps = (record.fingerprint if record is not None else None) or []
        self.status.holds(ds.id, {
            "files": ds.relative_files(), "rows": None if record is None else record.rows,
            "applied_at": None if record is None else record.applied_at,
            "fingerprint": [{"path": s.path, "size": s.size, "digest": s.digest[:16],
                             "modified": iso(s.mtime_ns / 1e9)} for s in stamps] or None})
