"""``syncer watch``: reconcile once, then keep the targets in line as manifests and sources change.

::

    changes()      watchfiles -> debounced batches of the paths that matter (empty: a timer tick)
    Watcher.run()  hold the state lock; reconcile everything; then, per batch: reload the
                   manifests when they changed, mark the datasets affected, reconcile the ones
                   that are due (not backing off); every ``interval`` re-plan everything

A reconcile goes through the same building blocks as ``syncer apply`` (settle the journal,
:func:`~syncer.sync.plan.build_plan`, :class:`~syncer.sync.execute.Executor`), one dataset at a time, so
a bad source or a target that is down only holds up its own datasets: they back off exponentially
(capped) and are retried, and the process never exits because of them.

Settings come from the argument, else the environment (``SYNCER_WATCH_*``), else the default, as
in watchfiles.  Nothing here knows about the CLI framework or the terminal: events are logged on
the ``syncer.watch`` logger, one line each (:class:`EventFormatter`: text or JSON lines).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import watchfiles

from ..errors import StateError, SyncError, TargetError
from ..sync.execute import Executor
from .health import Status
from ..state.lock import StateLock
from ..sync.plan import Planned, build_plan
from ..model.project import Dataset, Project, load_project
from ..sync.session import run_info
from ..secrets import redact
from ..state.sqlite import StateStore
from .changes import WatchSet, changes, wait_until_written
from .config import WatchConfig
from .events import event, log
from .signals import StopSignals, StopTimeout


@dataclass
class _Run:
    """One reconcile's bookkeeping: the runs-table entry is opened on the first real change."""

    store: StateStore
    executor: Executor
    info: dict[str, object]
    begun: bool = False
    summaries: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("applied", "unchanged", "failed", "blocked"), 0))

    def begin(self) -> None:
        if not self.begun:
            self.store.begin_run(self.executor.run_id, "watch", self.info)
            self.begun = True


class Watcher:
    """The watch loop.  :meth:`run` returns once ``stop`` is set (by a signal, or a caller)."""

    def __init__(self, config: WatchConfig, stop: threading.Event | None = None,
                 status: Status | None = None, signals: StopSignals | None = None) -> None:
        self.config = config
        self.stop = stop or threading.Event()
        self.status = status or Status()
        self.signals = signals
        self.project: Project | None = None
        self.watch_set = WatchSet.of(config.manifests, None)
        self.pending: set[str] = set()            # datasets to re-plan
        self.failures: dict[str, int] = {}        # consecutive failures per dataset
        self.retry_at: dict[str, float] = {}      # monotonic time a failing dataset is due
        self.manifest_error: str | None = None
        self._info: dict[str, object] = {}

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> None:
        """Hold the state lock; reconcile everything; follow changes until stopped.

        Invalid manifests at start are an error (there is nothing valid to run on); later they
        are logged and the last valid ones are kept."""
        lock = StateLock(self.config.state)
        lock.acquire("watch")
        ending = ""
        try:
            if lock.stale is not None:
                event(logging.WARNING, "lock", "a lock left by a dead process was released: "
                      + lock.stale.describe())
            self._use(load_project(self.config.manifests))
            assert self.project is not None
            self.status.set_running(True)
            event(logging.INFO, "start",
                  f"watching {_show(self.config.manifests)}: {len(self.project.datasets)} "
                  f"dataset(s) in {len(self.project.targets)} target(s); state "
                  f"{_show(self.config.state)}; full re-plan every {self.config.interval:g}s",
                  manifests=str(self.config.manifests), state=str(self.config.state),
                  datasets=len(self.project.datasets), interval=self.config.interval,
                  debounce_ms=self.config.debounce_ms, pid=os.getpid())
            # every dataset is due; the first batch is a tick once the watch is up, so nothing
            # that changes during the first reconcile is missed
            self.pending = {d.id for d in self.project.datasets}
            reason = "start"
            next_full = time.monotonic() + self.config.interval
            for batch in changes(lambda: self.watch_set, self.stop,
                                 debounce_ms=self.config.debounce_ms, step_ms=self.config.step_ms):
                watched = (self.watch_set.dirs, self.watch_set.recursive)
                if batch:
                    self._on_changes(batch)
                    reason = "change" if reason == "retry" else reason
                if time.monotonic() >= next_full:
                    self._reload()
                    self.pending |= {d.id for d in self.project.datasets}
                    next_full = time.monotonic() + self.config.interval
                    reason = "interval"
                if (self.watch_set.dirs, self.watch_set.recursive) != watched:
                    continue  # the watch restarts on the new directories first, then reconcile
                self._run_due(reason)
                reason = "retry"
            ending = "stopped"
        except KeyboardInterrupt:
            ending = "interrupted"
            raise
        finally:
            self.status.set_running(False)
            lock.release()
            if ending == "stopped":
                event(logging.INFO, "stopped", "stopped; the state lock is released")
            elif ending == "interrupted":
                event(logging.WARNING, "stopped", "interrupted: a batch in flight stays in the "
                      "journal and the next run settles it; the state lock is released")

    def _run_due(self, reason: str) -> None:
        now = time.monotonic()
        due = {i for i in self.pending if self.retry_at.get(i, 0.0) <= now}
        if not due or self.stop.is_set():
            return
        try:
            if self.signals is not None:
                with self.signals.in_flight():
                    self._reconcile(due, reason)
            else:
                self._reconcile(due, reason)
        except StopTimeout:
            event(logging.WARNING, "stop", f"the dataset in flight did not finish within "
                  f"{self.config.stop_grace:g}s: interrupted; its batch stays in the journal and "
                  "the next run settles it with the target")

    # -- changes ----------------------------------------------------------------------------
    def _on_changes(self, batch: set[tuple[watchfiles.Change, str]]) -> None:
        paths = {path for _, path in batch}
        manifests = any(self.watch_set.is_manifest(p) for p in paths)
        # a source that appeared or left may change what a glob matches: reload to find out
        moved = any(change != watchfiles.Change.modified for change, p in batch
                    if not self.watch_set.is_manifest(p))
        shown = sorted(_show(Path(p)) for p in paths)
        event(logging.INFO, "change", ", ".join(shown[:10]) + (
            f" and {len(shown) - 10} more" if len(shown) > 10 else ""), paths=shown)
        affected = self.watch_set.datasets(paths)
        if manifests or moved:
            affected |= self._reload()
        assert self.project is not None
        self.pending |= affected & {d.id for d in self.project.datasets}

    def _reload(self) -> set[str]:
        """Load the manifests again; return the datasets that are new or declared differently.
        Invalid manifests are logged and the last valid ones kept."""
        assert self.project is not None
        try:
            project = load_project(self.config.manifests)
        except Exception as exc:  # noqa: BLE001 - a manifest problem never stops the watcher
            message = redact(str(exc)) if isinstance(exc, SyncError) else f"{type(exc).__name__}: {exc}"
            self.manifest_error = message
            self.status.manifests(message)
            event(logging.ERROR, "manifests", "invalid manifests; still running on the last "
                  f"valid ones: {message}", error=message)
            return set()
        old = {d.id: d for d in self.project.datasets}
        new = {d.id: d for d in project.datasets}
        changed = {i for i, d in new.items() if old.get(i) != d}
        removed = sorted(old.keys() - new.keys())
        self._use(project)
        if self.manifest_error is not None:
            event(logging.INFO, "manifests", "the manifests are valid again")
            self.manifest_error = None
            self.status.manifests(None)
        if changed:
            event(logging.INFO, "manifests", f"reloaded: {len(changed)} dataset(s) new or "
                  f"changed: {', '.join(sorted(changed))}", datasets=sorted(changed))
        for gone in removed:
            self.pending.discard(gone)
            self.failures.pop(gone, None)
            self.retry_at.pop(gone, None)
            target, _, name = gone.partition("/")
            event(logging.WARNING, "orphaned", f"{gone} is no longer declared; its target data "
                  "is left alone (`syncer state forget` drops it from the state)",
                  target=target, dataset=name)
        return changed

    def _use(self, project: Project) -> None:
        self.project = project
        self.watch_set = WatchSet.of(self.config.manifests, project)
        self.status.declare([(d.target.name, d.name) for d in project.datasets])
        self._info = run_info(self.config.manifests)  # once per load: it asks git

    # -- reconcile --------------------------------------------------------------------------
    def _reconcile(self, ids: set[str], reason: str) -> None:
        """Plan and apply ``ids``, one dataset at a time, through apply's building blocks."""
        assert self.project is not None
        started = time.monotonic()
        project = self.project
        datasets = [d for d in project.datasets if d.id in ids]
        self.pending -= ids
        done: set[str] = set()
        run: _Run | None = None
        self._wait_until_written(datasets)
        try:
            with StateStore(self.config.state) as store:
                run = _Run(store, Executor(project, store), self._info)
                interrupted = True  # until the loop ends normally (a forced stop, a bug)
                try:
                    for ds in self._settle(run, datasets):
                        if self.stop.is_set():
                            break
                        done.add(ds.id)
                        try:
                            outcome = self._one(ds, project, run,
                                                drift_check=reason == "interval")
                        except Exception as exc:  # noqa: BLE001 - a bug: log it, back off
                            self._failed(ds, f"unexpected {type(exc).__name__}: {exc}",
                                         retry=True, exc=exc)
                            outcome = "failed"
                        run.counts[outcome] = run.counts.get(outcome, 0) + 1
                    interrupted = False
                finally:
                    self._finish(run, interrupted)
        except Exception as exc:  # noqa: BLE001 - the state store failed: retry what is left
            for ds in datasets:
                if ds.id not in done:
                    self._failed(ds, f"{type(exc).__name__}: {exc}" if not isinstance(
                        exc, SyncError) else str(exc), retry=True, exc=exc)
        self.status.reconciled()
        counts = run.counts if run else {}
        seconds = time.monotonic() - started
        summary = ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "nothing to do"
        event(logging.INFO, "reconcile", f"{reason}: {len(datasets)} dataset(s): {summary} "
              f"({seconds:.3f}s)", reason=reason, datasets=len(datasets), seconds=seconds,
              **{k: counts.get(k, 0) for k in ("applied", "failed", "blocked")})

    def _wait_until_written(self, datasets: list[Dataset]) -> None:
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
        except Exception as exc:  # noqa: BLE001 - the target is still down: retry later
            message = redact(str(exc)) if isinstance(exc, SyncError) else f"{type(exc).__name__}: {exc}"
            for ds in datasets:
                if ds.id in open_ids:
                    self._failed(ds, f"cannot settle the batch left open: {message}", retry=True)
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
            self._failed(ds, str(exc), retry=isinstance(exc, (StateError, TargetError)))
            return "failed"
        try:
            return self._apply_one(ds, planned, run, started, heal, drift_check)
        finally:
            planned.close()

    def _apply_one(self, ds: Dataset, planned: Planned, run: _Run, started: float, heal: bool,
                   drift_check: bool) -> str:
        plan_seconds = time.monotonic() - started
        self.status.planned(ds.id, plan_seconds)
        item = planned.plan.datasets[0]
        where = {"target": ds.target.name, "dataset": ds.name}
        if item.blocked:
            self.failures.pop(ds.id, None)
            self.retry_at.pop(ds.id, None)
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
            run.begin()
        result = run.executor.apply(planned).datasets[0]
        if item.has_changes:
            run.summaries.append(result.to_json())
        if result.error:
            self._failed(ds, result.error, retry=True)
            return "failed"
        self.status.applied(ds.id, result.inserts, result.updates, result.deletes,
                            result.seconds, item.has_changes)
        if item.has_changes:
            event(logging.INFO, "apply", f"{ds.id}: applied +{result.inserts} ~{result.updates} "
                  f"-{result.deletes} in {result.seconds:.3f}s", **where, inserts=result.inserts,
                  updates=result.updates, deletes=result.deletes, seconds=result.seconds)
        self.retry_at.pop(ds.id, None)
        if self.failures.pop(ds.id, None):
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
        self.status.drift(ds.id, found.drift.rows)

    def _drift(self, ds: Dataset, rows: int, found: Any, *, healing: bool) -> None:
        if not rows:
            return
        what = "repairing it" if healing else "not repaired (run with --self-heal, or " \
            "`syncer apply --refresh`)"
        event(logging.WARNING, "drift", f"{ds.id}: drift: ~{found.changed} changed "
              f"+{found.added} added -{found.removed} removed outside syncer; {what}",
              target=ds.target.name, dataset=ds.name, changed=found.changed, added=found.added,
              removed=found.removed)

    def _finish(self, run: _Run, interrupted: bool) -> None:
        try:
            if run.begun:
                outcome = "interrupted" if interrupted else "failed" if any(
                    s.get("error") for s in run.summaries) else "ok"
                run.store.finish_run(run.executor.run_id, outcome, run.summaries)
        finally:
            run.executor.close()

    def _failed(self, ds: Dataset, error: str, *, retry: bool,
                exc: BaseException | None = None) -> None:
        count = self.failures[ds.id] = self.failures.get(ds.id, 0) + 1
        error = redact(error)
        delay: float | None = None
        if retry:
            delay = min(self.config.max_backoff, self.config.backoff * 2 ** (count - 1))
            delay *= 0.75 + random.random() / 4  # jitter: targets coming back are not stampeded
            self.pending.add(ds.id)
            self.retry_at[ds.id] = time.monotonic() + delay
        else:
            self.retry_at.pop(ds.id, None)
        self.status.failed(ds.id, error, count, delay)
        then = (f"retrying in {delay:.1f}s" if delay is not None
                else "waiting for the source or manifest to change")
        log.error(f"{ds.id}: {error} ({then})",
                  exc_info=exc if exc is not None and not isinstance(exc, SyncError) else None,
                  extra={"event": "error", "fields": {
                      "target": ds.target.name, "dataset": ds.name, "error": error,
                      "failures": count, "retry_in": delay}})


def _show(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
