"""What ``syncer watch`` reports about itself: ``/healthz`` (JSON) and ``/metrics`` (Prometheus
text format, version 0.0.4, written by :mod:`.metrics`), served on 127.0.0.1 by the standard
library's ``http.server`` in a daemon thread.

The watch loop writes into a :class:`Status`; the server only reads it, under the status lock and
for the time it takes to render, so a slow scrape never holds up a reconcile.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..errors import SyncError
from .metrics import Exposition, Histogram


@dataclass
class DatasetStatus:
    """One dataset as the watcher last saw it, plus its counters since the watcher started."""

    target: str
    dataset: str
    status: str = "pending"  # pending | ok | error | blocked
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
    plan_seconds: Histogram = field(default_factory=Histogram)
    apply_seconds: Histogram = field(default_factory=Histogram)

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "dataset": self.dataset, "status": self.status,
                "last_success": _iso(self.last_success), "last_error": self.last_error,
                "blocked": self.blocked, "failures": self.failures,
                "next_retry": _iso(self.next_retry), "applies": self.applies,
                "inserted": self.inserted, "updated": self.updated, "deleted": self.deleted}


class Status:
    """The watcher's shared state: written by the loop, read by the health server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.time()
        self.running = False
        self.last_reconcile: float | None = None
        self.reconciles = 0
        self.manifest_error: str | None = None
        self.manifest_errors = 0
        self.datasets: dict[str, DatasetStatus] = {}
        self.standby_for: str | None = None  # the active watcher, while this one stands by

    # -- written by the loop ----------------------------------------------------------------
    def set_running(self, running: bool) -> None:
        with self._lock:
            self.running = running

    def standby(self, holder: str | None) -> None:
        """Another watcher holds the state (``holder`` names it): this one waits to take over;
        None once it holds the lock itself."""
        with self._lock:
            self.standby_for = holder

    def declare(self, ids: list[tuple[str, str]]) -> None:
        """The datasets the manifests declare now (``(target, dataset)`` pairs); others go."""
        with self._lock:
            wanted = {f"{t}/{d}": (t, d) for t, d in ids}
            self.datasets = {key: self.datasets.get(key) or DatasetStatus(*pair)
                             for key, pair in wanted.items()}

    def manifests(self, error: str | None) -> None:
        with self._lock:
            if error is not None:
                self.manifest_errors += 1
            self.manifest_error = error

    def planned(self, dataset_id: str, seconds: float) -> None:
        with self._lock:
            if (item := self.datasets.get(dataset_id)) is not None:
                item.plan_seconds.observe(seconds)

    def applied(self, dataset_id: str, inserts: int, updates: int, deletes: int,
                seconds: float, changed: bool) -> None:
        with self._lock:
            if (item := self.datasets.get(dataset_id)) is None:
                return
            if changed:
                item.applies += 1
                item.inserted += inserts
                item.updated += updates
                item.deleted += deletes
                item.apply_seconds.observe(seconds)
            item.status, item.failures, item.next_retry = "ok", 0, None
            item.last_error = item.blocked = None
            item.last_success = time.time()

    def failed(self, dataset_id: str, error: str, failures: int, retry_in: float | None) -> None:
        with self._lock:
            if (item := self.datasets.get(dataset_id)) is None:
                return
            item.status, item.last_error, item.failures = "error", error, failures
            item.errors += 1
            item.next_retry = None if retry_in is None else time.time() + retry_in

    def blocked(self, dataset_id: str, reason: str) -> None:
        with self._lock:
            if (item := self.datasets.get(dataset_id)) is not None:
                item.status, item.blocked, item.next_retry = "blocked", reason, None

    def drift(self, dataset_id: str, rows: int) -> None:
        with self._lock:
            if (item := self.datasets.get(dataset_id)) is not None:
                item.drift_rows = rows

    def reconciled(self) -> None:
        with self._lock:
            self.reconciles += 1
            self.last_reconcile = time.time()

    # -- read by the server -----------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        with self._lock:
            state = ("standby" if self.standby_for is not None else
                     "ok" if self.running else "stopped")
            return {"status": state, "active": self.standby_for,
                    "started": _iso(self.started), "last_reconcile": _iso(self.last_reconcile),
                    "reconciles": self.reconciles,
                    "manifests": {"valid": self.manifest_error is None,
                                  "error": self.manifest_error},
                    "datasets": {key: item.to_json() for key, item in self.datasets.items()}}

    def metrics(self) -> str:
        """Every metric in the Prometheus text exposition format."""
        out = Exposition()
        with self._lock:
            out.metric("syncer_watch_up", "gauge", "1 while the watch loop runs.",
                       [({}, 1 if self.running else 0)])
            out.metric("syncer_watch_standby", "gauge",
                       "1 while this watcher stands by (another one holds the state).",
                       [({}, 1 if self.standby_for is not None else 0)])
            out.metric("syncer_watch_start_time_seconds", "gauge",
                       "When the watcher started (Unix time).", [({}, self.started)])
            out.metric("syncer_reconciles_total", "counter", "Reconcile passes run.",
                       [({}, self.reconciles)])
            if self.last_reconcile is not None:
                out.metric("syncer_last_reconcile_time_seconds", "gauge",
                           "When the last reconcile pass ended (Unix time).",
                           [({}, self.last_reconcile)])
            out.metric("syncer_manifests_valid", "gauge",
                       "1 when the manifests on disk are valid (0: running on the last valid ones).",
                       [({}, 0 if self.manifest_error else 1)])
            out.metric("syncer_manifest_errors_total", "counter",
                       "Reloads that found invalid manifests.", [({}, self.manifest_errors)])
            items = list(self.datasets.values())
            per = [(_labels(d), d) for d in items]
            out.metric("syncer_applies_total", "counter",
                       "Applies that changed the target.", [(lb, d.applies) for lb, d in per])
            out.metric("syncer_rows_inserted_total", "counter", "Rows inserted.",
                       [(lb, d.inserted) for lb, d in per])
            out.metric("syncer_rows_updated_total", "counter", "Rows updated.",
                       [(lb, d.updated) for lb, d in per])
            out.metric("syncer_rows_deleted_total", "counter", "Rows deleted.",
                       [(lb, d.deleted) for lb, d in per])
            out.metric("syncer_errors_total", "counter",
                       "Failed plans or applies (source, target or unexpected errors).",
                       [(lb, d.errors) for lb, d in per])
            out.metric("syncer_consecutive_failures", "gauge",
                       "Failures since the last success (the backoff grows with it).",
                       [(lb, d.failures) for lb, d in per])
            out.metric("syncer_blocked", "gauge", "1 when the last plan was blocked by a safety guard.",
                       [(lb, 1 if d.status == "blocked" else 0) for lb, d in per])
            out.metric("syncer_last_success_time_seconds", "gauge",
                       "When the dataset was last found or made in sync (Unix time).",
                       [(lb, d.last_success) for lb, d in per if d.last_success is not None])
            out.metric("syncer_drift_rows", "gauge",
                       "Rows changed, added or removed outside syncer at the last drift check "
                       "(interval passes; 0 once repaired).",
                       [(lb, d.drift_rows) for lb, d in per if d.drift_rows is not None])
            out.histogram("syncer_plan_duration_seconds", "Time to plan one dataset.",
                          [(lb, d.plan_seconds) for lb, d in per])
            out.histogram("syncer_apply_duration_seconds",
                          "Time to apply one dataset's changes to its target.",
                          [(lb, d.apply_seconds) for lb, d in per])
        return out.text()


def _labels(item: DatasetStatus) -> dict[str, str]:
    return {"target": item.target, "dataset": item.dataset}


def _iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


# -- the server -------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # the stdlib's name for it
        path = self.path.split("?", 1)[0]
        status = self.server.status
        if path == "/healthz":
            health = status.health()
            code = 200 if health["status"] in ("ok", "standby") else 503
            self._send(code, "application/json", json.dumps(health, indent=2) + "\n")
        elif path == "/metrics":
            self._send(200, "text/plain; version=0.0.4; charset=utf-8", status.metrics())
        else:
            self._send(404, "text/plain; charset=utf-8", "not found: try /healthz or /metrics\n")

    def _send(self, code: int, content_type: str, body: str) -> None:
        data = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # scrapes are not events worth a log line


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, status: Status, host: str, port: int) -> None:
        self.status = status
        super().__init__((host, port), _Handler)


class HealthServer:
    """Serve ``status`` on ``host:port`` (port 0: any free port) from a daemon thread.

    Use as a context manager; :attr:`url` is the address actually bound.
    """

    def __init__(self, status: Status, port: int, host: str = "127.0.0.1") -> None:
        try:
            self._server = _Server(status, host, port)
        except OSError as exc:
            raise SyncError(f"cannot serve /healthz on {host}:{port}: {exc.strerror or exc}",
                            hint="choose another --health-port (0 picks a free one)") from None
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.2}, name="syncer-health",
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> HealthServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
