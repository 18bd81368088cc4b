"""``GET /api/status``: the status page's data as a versioned JSON document.

``format_version`` is 1, like ``plan --json``: fields may be added within a version, none removed
or changed in meaning.  docs/watch.md (section "Status page and /api/status") describes every
field.  Every text that comes from a user or a server (errors, reasons, sample values) passes
through :func:`~syncer.secrets.redact`; the page escapes it when it shows it.
"""

from __future__ import annotations

import time
from typing import Any

from ..secrets import redact
from .status import DatasetStatus, Status, iso

FORMAT_VERSION = 1

#: the ``state`` of a dataset, as the page shows it, in order of precedence
STATES = ("standby", "applying", "planned", "failing", "blocked", "drifted", "in_sync", "pending")


def document(status: Status) -> dict[str, Any]:
    """The ``/api/status`` document of ``status`` (a snapshot, read without its lock)."""
    now = time.time()
    watcher = {
        "state": ("standby" if status.on_standby else "running" if status.running
                  else "stopped"),
        "started": iso(status.started), "uptime_seconds": round(now - status.started, 3),
        "reconciles": status.reconciles, "last_reconcile": iso(status.last_reconcile),
        "next_full_check": iso(status.next_full_check),
        "manifests_valid": status.manifest_error is None,
        "manifest_error": _text(status.manifest_error),
        **{k: _plain(v) for k, v in status.watcher.items()},
    }
    datasets = [dataset(item, status.on_standby) for item in status.datasets.values()]
    return {"format_version": FORMAT_VERSION, "version": status.version, "now": iso(now),
            "watcher": watcher,
            "counts": {state: sum(d["state"] == state for d in datasets) for state in STATES},
            "datasets": datasets, "runs": [_plain(r) for r in status.runs]}


def state_of(item: DatasetStatus, standby: bool = False) -> str:
    """One word for the dataset (see :data:`STATES`)."""
    if standby:
        return "standby"
    if item.phase is not None:
        return item.phase
    if item.status == "error":
        return "failing"
    if item.status == "blocked":
        return "blocked"
    if item.status == "ok":
        return "drifted" if item.drift_rows else "in_sync"
    return "pending"


def dataset(item: DatasetStatus, standby: bool = False) -> dict[str, Any]:
    held = item.held or {}
    return {
        "target": item.target, "dataset": item.dataset, "state": state_of(item, standby),
        "status": item.status,
        "blocked": _text(item.blocked), "error": _text(item.last_error),
        "failures": item.failures, "next_retry": iso(item.next_retry),
        "last_success": iso(item.last_success),
        "files": held.get("files", []), "rows": held.get("rows"),
        "applied_at": held.get("applied_at"), "fingerprint": held.get("fingerprint"),
        "last_apply": _stamped(item.last_apply),
        "plan": _stamped(item.plan),
        "drift_rows": item.drift_rows, "drift": _stamped(item.drift),
        "counters": {"applies": item.applies, "inserted": item.inserted,
                     "updated": item.updated, "deleted": item.deleted, "errors": item.errors},
    }


def run_summary(row: dict[str, Any]) -> dict[str, Any]:
    """A row of the state's ``runs`` table, as ``syncer history --json`` shapes it (briefly)."""
    datasets = [{"target": d.get("target"), "dataset": d.get("dataset"),
                 "inserts": d.get("inserts", 0), "updates": d.get("updates", 0),
                 "deletes": d.get("deletes", 0), "error": d.get("error")}
                for d in row.get("summary") or []]
    return {"run_id": row.get("id"), "command": row.get("command"),
            "started_at": row.get("started_at"), "finished_at": row.get("finished_at"),
            "git_commit": row.get("git_commit"), "outcome": row.get("outcome") or "unfinished",
            "datasets": datasets}


def _stamped(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {k: iso(v) if k == "at" else _plain(v) for k, v in values.items()}


def _text(value: str | None) -> str | None:
    return None if value is None else redact(value)


def _plain(value: Any) -> Any:
    """``value`` as JSON holds it, every text redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (int, float, bool)):
        return value
    return redact(str(value))
