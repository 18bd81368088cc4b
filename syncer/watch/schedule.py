"""Which datasets of ``syncer watch`` are due, and how long a failing one backs off."""

from __future__ import annotations

import logging
import random
import time

from ..model.project import Dataset
from ..secrets import redact
from .config import WatchConfig
from .events import event
from .status import Status


class Schedule:
    """The datasets to re-plan (:attr:`pending`: changed, new, or due for the interval pass) and
    the backoff of the failing ones: a dataset is due when pending and not waiting for a retry."""

    def __init__(self, config: WatchConfig, status: Status) -> None:
        self.config = config
        self.status = status
        self.pending: set[str] = set()            # datasets to re-plan
        self.failures: dict[str, int] = {}        # consecutive failures per dataset
        self.retry_at: dict[str, float] = {}      # monotonic time a failing dataset is due

    def due(self) -> set[str]:
        now = time.monotonic()
        return {i for i in self.pending if self.retry_at.get(i, 0.0) <= now}

    def succeeded(self, dataset_id: str) -> bool:
        """The dataset is in sync: no retry is due; whether it was failing until now."""
        self.retry_at.pop(dataset_id, None)
        return bool(self.failures.pop(dataset_id, None))

    def cleared(self, dataset_id: str) -> None:
        """The dataset neither failed nor succeeded (blocked): no failures, no retry."""
        self.failures.pop(dataset_id, None)
        self.retry_at.pop(dataset_id, None)

    def forget(self, dataset_id: str) -> None:
        """The dataset is no longer declared."""
        self.pending.discard(dataset_id)
        self.failures.pop(dataset_id, None)
        self.retry_at.pop(dataset_id, None)

    def failed(self, ds: Dataset, error: str, *, retry: bool) -> None:
        """Log the failure; with ``retry``, the dataset is due again after a backoff (doubling,
        capped, with jitter), else it waits for its source or manifest to change."""
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
        event(logging.ERROR, "error", f"{ds.id}: {error} ({then})", target=ds.target.name,
              dataset=ds.name, error=error, failures=count, retry_in=delay)
