"""Progress bars on stderr for apply (rich's progress display; loaded by the commands that
write, never by a plan)."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.progress import (BarColumn, Progress, ProgressColumn, Task, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text

from .sync.progress import Reporter
from .ui import VERBOSE, console, escape, note, quiet


class RowsColumn(ProgressColumn):
    """``1,234,567/2,000,000 rows  410,000 rows/s``: counts with thousands separators."""

    def render(self, task: Task) -> Text:
        total = f"{int(task.total):,}" if task.total is not None else "?"
        speed = f"  {task.speed:,.0f} rows/s" if task.speed else ""
        return Text(f"{int(task.completed):,}/{total} rows{speed}")


class BarReporter(Reporter):
    """Progress bars on stderr, shown only on a terminal and for work worth watching: rows
    written as the target takes them, the rate, the time spent and the time left."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._progress: Progress | None = None
        self._tasks: dict[str, Any] = {}
        self._started: dict[str, tuple[float, int]] = {}

    def start(self, dataset_id: str, total: int) -> None:
        self._started[dataset_id] = (time.perf_counter(), total)
        note(f"applying {dataset_id}: {total:,} row change(s)", level=VERBOSE)
        if not self.enabled or total < 1000 or quiet():
            return
        if self._progress is None:
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                      RowsColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                                      console=console(stderr=True), transient=True)
            self._progress.start()
        self._tasks[dataset_id] = self._progress.add_task(f"applying {dataset_id}", total=total)

    def stage(self, dataset_id: str, what: str) -> None:
        if self._progress is not None and dataset_id in self._tasks:
            self._progress.update(self._tasks[dataset_id],
                                  description=f"{what} {escape(dataset_id)}")

    def advance(self, dataset_id: str, rows: int) -> None:
        if self._progress is not None and dataset_id in self._tasks:
            self._progress.advance(self._tasks[dataset_id], rows)

    def done(self, dataset_id: str) -> None:
        started, total = self._started.pop(dataset_id, (time.perf_counter(), 0))
        note(f"{dataset_id}: {total:,} row change(s) sent in {time.perf_counter() - started:.2f}s",
             level=VERBOSE)
        if self._progress is not None and dataset_id in self._tasks:
            self._progress.remove_task(self._tasks.pop(dataset_id))
        if self._progress is not None and not self._tasks:
            self._progress.stop()
            self._progress = None

    def note(self, message: str) -> None:
        note(message)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        self._tasks.clear()
