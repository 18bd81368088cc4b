"""``syncer watch -v``: the progress of a long apply as log lines (a ``progress`` event about
once a second: rows written, of how many, and the rate), since a service has no bar to draw."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ..sync.progress import Reporter
from .events import event

#: applies smaller than this finish before a line would help
MIN_ROWS = 1000


class LogReporter(Reporter):
    def __init__(self, every: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.clock = clock
        self._rows: dict[str, list[float]] = {}  # id -> [done, total, started, last logged]

    def start(self, dataset_id: str, total: int) -> None:
        if total >= MIN_ROWS:
            now = self.clock()
            self._rows[dataset_id] = [0, total, now, now]

    def advance(self, dataset_id: str, rows: int) -> None:
        state = self._rows.get(dataset_id)
        if state is None:
            return
        state[0] += rows
        now = self.clock()
        if now - state[3] >= self.every:
            state[3] = now
            done, total, started = int(state[0]), int(state[1]), state[2]
            rate = done / (now - started) if now > started else 0.0
            target, _, name = dataset_id.partition("/")
            event(logging.INFO, "progress", f"{dataset_id}: {done:,}/{total:,} rows written "
                  f"({rate:,.0f} rows/s)", target=target, dataset=name, rows=done, total=total,
                  rate=round(rate))

    def done(self, dataset_id: str) -> None:
        self._rows.pop(dataset_id, None)

    def close(self) -> None:
        self._rows.clear()
