"""What the watch loop knows about itself and every dataset: :class:`Status`.

The loop writes into it; the health server reads it (``/healthz``, ``/metrics``, ``/api/status``
and the page), under the status lock and only for the time it takes to copy, so a slow reader
never holds up a reconcile.  Every write bumps :attr:`Status.version`, which a reader can wait on
(the page's long poll).  Transitions worth telling a person about (failing, recovered, blocked,
drift, takeover) are handed to the listeners as :class:`Notice` values, after the lock is
released; a listener must not block (the notifier queues them).
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .metrics import Histogram, exposition

#: how many runs of the history the status keeps (the newest)
HISTORY = 20


@dataclass(frozen=True)
class Notice:
    """A transition worth a notification: ``failed``, ``recovered``, ``blocked``, ``drift`` or
    ``takeover`` (target and dataset are None for the watcher's own)."""

    event: str
    message: str
    target: str | None = None
    dataset: str | None = None
    at: float = field(default_factory=time.time)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class DatasetStatus:
    """One dataset as the watcher last saw it, plus its counters since the watcher started."""

    target: str
    dataset: str
    status: str = "pending"  # pending | ok | error | blocked (what /healthz says)
    phase: str | None = None  # planned | applying, while a change is on its way
    applies: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    errors: int = 0
    failures: int = 0  # consecutive failures (what the backoff is computed from)
    last_success: float | None = None  # wall clock (time.time())
    last_error: str | None = None
    blocked: str | None = None
    next_retry: float | None = None  # wall clock
    drift_rows: int | None = None  # rows found drifted at the last check (None: not checked)
    drift: dict[str, Any] | None = None  # the last drift found: counts and samples
    plan: dict[str, Any] | None = None  # the last plan with changes: counts and samples
    last_apply: dict[str, Any] | None = None  # at, seconds, inserts, updates, deletes, commit
    held: dict[str, Any] | None = None  # the state's record: rows, files, fingerprint
    plan_seconds: Histogram = field(default_factory=Histogram)
    apply_seconds: Histogram = field(default_factory=Histogram)

    @property
    def id(self) -> str:
        return f"{self.target}/{self.dataset}"

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "dataset": self.dataset, "status": self.status,
                "last_success": iso(self.last_success), "last_error": self.last_error,
                "blocked": self.blocked, "failures": self.failures,
                "next_retry": iso(self.next_retry), "applies": self.applies,
                "inserted": self.inserted, "updated": self.updated, "deleted": self.deleted}


class Status:
    """The watcher's shared state: written by the loop, read by the health server."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._listeners: list[Callable[[Notice], None]] = []
        self._pending_notices: list[Notice] = []
        self.version = 0
        self.started = time.time()
        self.running = False
        self.on_standby = False
        self.active: str | None = None  # the watcher holding the state, while this one waits
        self.last_reconcile: float | None = None
        self.next_full_check: float | None = None  # wall clock
        self.reconciles = 0
        self.manifest_error: str | None = None
        self.manifest_errors = 0
        self.datasets: dict[str, DatasetStatus] = {}
        self.watcher: dict[str, Any] = {}  # manifests, state location, interval, notify URLs
        self.runs: list[dict[str, Any]] = []  # the newest runs of the history, newest first

    def listen(self, listener: Callable[[Notice], None]) -> None:
        """Call ``listener`` with every :class:`Notice` (from the loop's thread; never block)."""
        self._listeners.append(listener)

    # -- written by the loop ----------------------------------------------------------------
    def _changed(self, notices: list[Notice] | None = None) -> None:
        """Called with the lock held: a new version for the readers waiting on one."""
        self.version += 1
        self._lock.notify_all()
        self._pending_notices.extend(notices or ())

    def _notify(self) -> None:
        """Hand the notices gathered under the lock to the listeners (outside it)."""
        with self._lock:
            notices, self._pending_notices = self._pending_notices, []
        for notice in notices:
            for listener in self._listeners:
                listener(notice)

    def set_running(self, running: bool) -> None:
        with self._lock:
            self.running = running
            self._changed()

    def standby(self, active: str | None) -> None:
        """A standby watcher: ``active`` names the watcher that holds the state while this one
        waits; None when this one holds it (after a wait: notified as ``takeover``)."""
        waiting = active is not None
        with self._lock:
            took_over = self.on_standby and not waiting
            self.on_standby = waiting
            self.active = active
            self._changed([Notice("takeover", "this watcher took over: the active one is gone")]
                          if took_over else None)
        self._notify()

    def describe(self, **watcher: Any) -> None:
        """What the page shows about the watcher itself (manifests, state location, interval)."""
        with self._lock:
            self.watcher.update(watcher)
            self._changed()

    def declare(self, ids: list[tuple[str, str]]) -> None:
        """The datasets the manifests declare now (``(target, dataset)`` pairs); others go."""
        with self._lock:
            wanted = {f"{t}/{d}": (t, d) for t, d in ids}
            self.datasets = {key: self.datasets.get(key) or DatasetStatus(*pair)
                             for key, pair in wanted.items()}
            self._changed()

    def manifests(self, error: str | None) -> None:
        with self._lock:
            if error is not None:
                self.manifest_errors += 1
            self.manifest_error = error
            self._changed()

    def planned(self, dataset_id: str, seconds: float,
                plan: dict[str, Any] | None = None) -> None:
        """Planned in ``seconds``; ``plan`` (counts and samples), when it has changes, is what
        will be applied next (the dataset shows as planned until it is applying)."""
        with self._lock:
            if (item := self.datasets.get(dataset_id)) is not None:
                item.plan_seconds.observe(seconds)
                if plan is not None:
                    item.plan = {**plan, "at": time.time()}
                    item.phase = "planned"
                self._changed()

    def applying(self, dataset_id: str) -> None:
        with self._lock:
            if (item := self.datasets.get(dataset_id)) is not None:
                item.phase = "applying"
                self._changed()

    def applied(self, dataset_id: str, inserts: int, updates: int, deletes: int,
                seconds: float, changed: bool, commit: str | None = None) -> None:
        with self._lock:
            if (item := self.datasets.get(dataset_id)) is None:
                return
            recovered = item.status == "error"
            if changed:
                item.applies += 1
                item.inserted += inserts
                item.updated += updates
                item.deleted += deletes
                item.apply_seconds.observe(seconds)
                item.last_apply = {"at": time.time(), "seconds": seconds, "inserts": inserts,
                                   "updates": updates, "deletes": deletes, "git_commit": commit}
            item.status, item.failures, item.next_retry, item.phase = "ok", 0, None, None
            item.last_error = item.blocked = None
            item.last_success = time.time()
            self._changed([Notice("recovered", f"{dataset_id}: in sync again", item.target,
                                  item.dataset)] if recovered else None)
        self._notify()

    def failed(self, dataset_id: str, error: str, failures: int, retry_in: float | None) -> None:
        with self._lock:
            if (item := self.datasets.get(dataset_id)) is None:
                return
            first = item.status != "error"
            item.status, item.last_error, item.failures = "error", error, failures
            item.errors += 1
            item.phase = None
            item.next_retry = None if retry_in is None else time.time() + retry_in
            self._changed([Notice("failed", f"{dataset_id}: {error}", item.target, item.dataset,
                                  details={"error": error, "retry_in": retry_in})]
                          if first else None)
        self._notify()

    def blocked(self, dataset_id: str, reason: str) -> None:
        with self._lock:
            if (item := self.datasets.get(dataset_id)) is None:
                return
            new = item.status != "blocked" or item.blocked != reason
            item.status, item.blocked, item.next_retry, item.phase = "blocked", reason, None, None
            self._changed([Notice("blocked", f"{dataset_id}: blocked by a safety guard, not "
                                  f"applied: {reason}", item.target, item.dataset,
                                  details={"reason": reason})] if new else None)
        self._notify()

    def drift(self, dataset_id: str, rows: int, found: dict[str, Any] | None = None) -> None:
        """Rows found drifted at a check (0: none, or repaired); ``found``: counts and samples."""
        with self._lock:
            if (item := self.datasets.get(dataset_id)) is None:
                return
            new = bool(rows) and rows != item.drift_rows
            item.drift_rows = rows
            if rows and found is not None:
                item.drift = {**found, "at": time.time()}
            self._changed([Notice("drift", f"{dataset_id}: {rows} row(s) changed outside syncer",
                                  item.target, item.dataset, details=dict(found or {}))]
                          if new else None)
        self._notify()

    def holds(self, dataset_id: str, held: dict[str, Any]) -> None:
        """The state's record of the dataset: rows, source files, fingerprint, applied at."""
        with self._lock:
            if (item := self.datasets.get(dataset_id)) is not None and item.held != held:
                item.held = held
                self._changed()

    def history(self, runs: list[dict[str, Any]]) -> None:
        with self._lock:
            self.runs = runs[:HISTORY]
            self._changed()

    def full_check_at(self, when: float) -> None:
        with self._lock:
            self.next_full_check = when
            self._changed()

    def reconciled(self) -> None:
        with self._lock:
            self.reconciles += 1
            self.last_reconcile = time.time()
            self._changed()

    # -- read by the server -----------------------------------------------------------------
    def wait(self, since: int, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for a version newer than ``since``; the version."""
        with self._lock:
            self._lock.wait_for(lambda: self.version != since, timeout)
            return self.version

    def wake(self) -> None:
        """Release every waiting reader (the server stops)."""
        with self._lock:
            self.version += 1
            self._lock.notify_all()

    def snapshot(self) -> Status:
        """A consistent copy to render from, without the lock or the listeners."""
        with self._lock:
            snap = copy.copy(self)
            snap.datasets = copy.deepcopy(self.datasets)
            snap.watcher, snap.runs = dict(self.watcher), list(self.runs)
        return snap

    def health(self) -> dict[str, Any]:
        with self._lock:
            state = "standby" if self.on_standby else "ok" if self.running else "stopped"
            return {"status": state, "active": self.active,
                    "started": iso(self.started), "last_reconcile": iso(self.last_reconcile),
                    "reconciles": self.reconciles,
                    "manifests": {"valid": self.manifest_error is None,
                                  "error": self.manifest_error},
                    "datasets": {key: item.to_json() for key, item in self.datasets.items()}}

    def metrics(self) -> str:
        """Every metric in the Prometheus text exposition format."""
        return exposition(self.snapshot())


def iso(stamp: float | None) -> str | None:
    """A wall-clock time as ISO 8601 UTC with milliseconds and a ``Z``."""
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")
