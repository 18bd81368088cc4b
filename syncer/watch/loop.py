"""``syncer watch``: reconcile once, then keep the targets in line as manifests and sources change.

::

    changes()      watchfiles -> debounced batches of the paths that matter (empty: a timer tick)
    Watcher.run()  hold the state lock; reconcile everything; then, per batch: reload the
                   manifests when they changed, mark the datasets affected, reconcile the ones
                   that are due (not backing off); every ``interval`` re-plan everything

A reconcile (:class:`~syncer.watch.reconcile.Reconciler`) goes through the same building blocks
as ``syncer apply`` (settle the journal, :func:`~syncer.sync.plan.build_plan`,
:class:`~syncer.sync.execute.Executor`), one dataset at a time, so a bad source or a target that
is down only holds up its own datasets: they back off exponentially (capped) and are retried
(:class:`~syncer.watch.schedule.Schedule`), and the process never exits because of them.

Settings come from the argument, else the environment (``SYNCER_WATCH_*``), else the default, as
in watchfiles.  Nothing here knows about the CLI framework or the terminal: events are logged on
the ``syncer.watch`` logger, one line each (:class:`~syncer.watch.events.EventFormatter`:
text or JSON lines).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import watchfiles

from ..errors import LockError, StateLost, SyncError
from ..model.project import Dataset, Project, load_project
from ..secrets import redact
from ..sync.progress import Reporter
from ..state import Lock, StateStore, open_state
from ..sync.session import Drivers, Session, run_info, session
from .changes import WatchSet, changes
from .config import WatchConfig
from .events import bug, event
from .status import Status
from .reconcile import Reconciler
from .schedule import Schedule
from .signals import StopSignals, StopTimeout


#: how often the watcher makes sure it still holds the state's lock (a PostgreSQL lock dies with
#: its connection: the watcher then stops working and stands by, or exits)
LOCK_CHECK_SECONDS = 1.0


class Watcher:
    """The watch loop.  :meth:`run` returns once ``stop`` is set (by a signal, or a caller)."""

    def __init__(self, config: WatchConfig, stop: threading.Event | None = None,
                 status: Status | None = None, signals: StopSignals | None = None,
                 reporter: Reporter | None = None) -> None:
        self.config = config
        self.stop = stop or threading.Event()
        self.status = status or Status()
        self.signals = signals
        self.project: Project | None = None
        self.watch_set = WatchSet.of(config.manifests, None)
        self.schedule = Schedule(config, self.status)
        self.reconciler = Reconciler(config, self.stop, self.status, self.schedule, reporter)
        self.manifest_error: str | None = None
        self._info: dict[str, object] = {}
        self.held: Session | None = None  # the state, locked, while :meth:`run` runs

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> None:
        """Hold the state lock; reconcile everything; follow changes until stopped.

        Invalid manifests at start are an error (there is nothing valid to run on); later they
        are logged and the last valid ones are kept.  A bug (any exception but a
        :class:`~syncer.errors.SyncError`) is logged with its traceback and raised: the
        watcher stops."""
        with open_state(self.config.state) as store, Drivers() as drivers:
            while True:
                lock = self._take_lock(store)
                if lock is None:
                    return  # stopped while standing by
                self.held = Session(store, drivers, lock)
                try:
                    self._run(self.held)
                    return
                except StateLost as exc:  # the lock died with its connection: another
                    if not self.config.standby:  # watcher may hold the state now
                        raise
                    event(logging.WARNING, "standby", f"lost the state's lock ({exc.message}); "
                          "standing by", error=exc.message)
                finally:
                    self.held = None
                    lock.release()
                # step down: a standby that polls meanwhile gets the lock first
                if self.stop.wait(2 * self._poll + 0.5):
                    return

    @property
    def _poll(self) -> float:
        """How often a standby asks for the lock: well within the takeover time."""
        return min(1.0, self.config.takeover / 5)

    def _take_lock(self, store: StateStore) -> Lock | None:
        """The state's lock.  Held by another watcher: refused (exit 1), or with ``standby``,
        wait for it (reported on /healthz and /metrics) and take over within ``takeover``
        seconds of it dying; None when stopped meanwhile."""
        waiting: str | None = None
        while True:
            try:
                lock = store.lock("watch")
            except LockError as exc:
                if not self.config.standby:
                    raise
                if waiting is None:
                    event(logging.INFO, "standby", f"standing by: {exc.message}; taking over "
                          f"within {self.config.takeover:g}s of it stopping", holder=exc.message)
                waiting = exc.message
                self.status.standby(waiting)
                if self.stop.wait(self._poll):
                    return None
                continue
            if waiting is not None:
                event(logging.WARNING, "takeover", "took over: the active watcher is gone "
                      f"({waiting})", previous=waiting)
            self.status.standby(None)
            return lock

    def _run(self, held: Session) -> None:
        ending = ""
        try:
            if held.lock is not None and held.lock.stale is not None:
                event(logging.WARNING, "lock", "a lock left by a dead process was released: "
                      + held.lock.stale.describe())
            self._use(load_project(self.config.manifests))
            assert self.project is not None
            self.status.describe(manifests=_show(self.config.manifests),
                                 state_store=redact(held.store.location),
                                 interval=self.config.interval, self_heal=self.config.self_heal,
                                 pid=os.getpid())
            self.status.set_running(True)
            event(logging.INFO, "start",
                  f"watching {_show(self.config.manifests)}: {len(self.project.datasets)} "
                  f"dataset(s) in {len(self.project.targets)} target(s); state "
                  f"{_shown_state(held)}; full re-plan every {self.config.interval:g}s",
                  manifests=str(self.config.manifests), state=_shown_state(held),
                  datasets=len(self.project.datasets), interval=self.config.interval,
                  debounce_ms=self.config.debounce_ms, pid=os.getpid())
            # every dataset is due; the first batch is a tick once the watch is up, so nothing
            # that changes during the first reconcile is missed
            self.schedule.pending = {d.id for d in self.project.datasets}
            reason = "start"
            next_full = self._next_full_check()
            next_check = time.monotonic() + LOCK_CHECK_SECONDS
            for batch in changes(lambda: self.watch_set, self.stop,
                                 debounce_ms=self.config.debounce_ms, step_ms=self.config.step_ms):
                if held.lock is not None and time.monotonic() >= next_check:
                    if not held.lock.alive():  # never work on a state another may now hold
                        raise StateLost(f"lost the lock on the state {held.store.location}")
                    next_check = time.monotonic() + LOCK_CHECK_SECONDS
                watched = (self.watch_set.dirs, self.watch_set.recursive)
                if batch:
                    self._on_changes(batch)
                    reason = "change" if reason == "retry" else reason
                if time.monotonic() >= next_full:
                    self._reload()
                    self.schedule.pending |= {d.id for d in self.project.datasets}
                    next_full = self._next_full_check()
                    reason = "interval"
                if (self.watch_set.dirs, self.watch_set.recursive) != watched:
                    continue  # the watch restarts on the new directories first, then reconcile
                self._run_due(reason)
                reason = "retry"
            ending = "stopped"
        except KeyboardInterrupt:
            ending = "interrupted"
            raise
        except SyncError:
            raise  # expected, at start (the manifests, a directory): the CLI says so, exit 1
        except Exception as exc:  # a bug: logged here, once, with its traceback; the CLI exits 3
            bug(exc, "a bug in syncer stops the watcher")
            raise
        finally:
            self.status.set_running(False)
            if ending == "stopped":
                event(logging.INFO, "stopped", "stopped; the state lock is released")
            elif ending == "interrupted":
                event(logging.WARNING, "stopped", "interrupted: a batch in flight stays in the "
                      "journal and the next run settles it; the state lock is released")

    def _next_full_check(self) -> float:
        """When the next interval pass is due (monotonic), told to the status (wall clock)."""
        self.status.full_check_at(time.time() + self.config.interval)
        return time.monotonic() + self.config.interval

    def _run_due(self, reason: str) -> None:
        due = self.schedule.due()
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
        self.schedule.pending |= affected & {d.id for d in self.project.datasets}

    def _reload(self) -> set[str]:
        """Load the manifests again; return the datasets that are new or declared differently.
        Invalid manifests are logged and the last valid ones kept."""
        assert self.project is not None
        try:
            project = load_project(self.config.manifests)
        except SyncError as exc:  # a manifest problem never stops the watcher (a bug does)
            message = redact(str(exc))
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
            self.schedule.forget(gone)
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
        """Plan and apply ``ids`` (see :meth:`Reconciler.reconcile`)."""
        assert self.project is not None
        if self.held is not None:
            self.reconciler.reconcile(self.project, self.held, self._info, ids, reason)
            return
        with session(self.config.state, "watch", write=True) as held:  # a pass on its own
            self.reconciler.reconcile(self.project, held, self._info, ids, reason)

    def _wait_until_written(self, datasets: list[Dataset]) -> None:
        self.reconciler.wait_until_written(datasets)


def _shown_state(held: Session) -> str:
    location = held.store.location  # a URL without its password
    return _show(Path(location)) if "://" not in location else location


def _show(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
