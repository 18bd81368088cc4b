"""The Prometheus text exposition format (version 0.0.4): histograms, the text itself, and
:func:`exposition`, every metric of a watcher's :class:`~syncer.watch.status.Status`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .status import DatasetStatus, Status

#: upper bounds (seconds) of the duration histograms' buckets
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass
class Histogram:
    """A Prometheus histogram: cumulative bucket counts, sum and count."""

    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    total: float = 0.0
    count: int = 0

    def observe(self, seconds: float) -> None:
        self.total += seconds
        self.count += 1
        for index, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self.buckets[index] += 1



class Exposition:
    """Builds the text format: ``# HELP`` and ``# TYPE`` once per metric, then its samples."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def metric(self, name: str, kind: str, help_text: str,
               samples: list[tuple[dict[str, str], float]]) -> None:
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        self.lines += [f"{name}{_render(labels)} {_number(value)}" for labels, value in samples]

    def histogram(self, name: str, help_text: str,
                  samples: list[tuple[dict[str, str], Histogram]]) -> None:
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
        for labels, hist in samples:
            for bound, count in zip(BUCKETS, hist.buckets):
                self.lines.append(f"{name}_bucket{_render({**labels, 'le': _number(bound)})} {count}")
            self.lines.append(f"{name}_bucket{_render({**labels, 'le': '+Inf'})} {hist.count}")
            self.lines.append(f"{name}_sum{_render(labels)} {_number(hist.total)}")
            self.lines.append(f"{name}_count{_render(labels)} {hist.count}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _render(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _escape(value: str) -> str:
    """A label value as the text format wants it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))



def exposition(status: Status) -> str:
    """Every metric of ``status`` (a snapshot: read without its lock) in the text format."""
    out = Exposition()
    out.metric("syncer_watch_up", "gauge", "1 while the watch loop runs.",
               [({}, 1 if status.running else 0)])
    out.metric("syncer_watch_standby", "gauge",
               "1 while this watcher stands by (another one holds the state).",
               [({}, 1 if status.on_standby else 0)])
    out.metric("syncer_watch_start_time_seconds", "gauge",
               "When the watcher started (Unix time).", [({}, status.started)])
    out.metric("syncer_reconciles_total", "counter", "Reconcile passes run.",
               [({}, status.reconciles)])
    if status.last_reconcile is not None:
        out.metric("syncer_last_reconcile_time_seconds", "gauge",
                   "When the last reconcile pass ended (Unix time).",
                   [({}, status.last_reconcile)])
    out.metric("syncer_manifests_valid", "gauge",
               "1 when the manifests on disk are valid (0: running on the last valid ones).",
               [({}, 0 if status.manifest_error else 1)])
    out.metric("syncer_manifest_errors_total", "counter",
               "Reloads that found invalid manifests.", [({}, status.manifest_errors)])
    per = [(_labels(d), d) for d in status.datasets.values()]
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
