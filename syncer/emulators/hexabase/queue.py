"""The import queue (:class:`ImportWorker`): a thread that runs queued imports one at a time."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading

from ..base import FaultInjector
from .csvfile import parse_csv
from .model import ImportFailure, ImportOptions
from .store import HexabaseStore

logger = logging.getLogger(__name__)


class ImportWorker:
    """Runs queued imports one at a time, in order, each after ``delay`` seconds in the queue."""

    def __init__(self, store: HexabaseStore, delay: float, fixed_fields: bool,
                 faults: FaultInjector | None = None) -> None:
        self._store, self._delay, self._fixed_fields = store, delay, fixed_fields
        self._faults = faults
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name="hexabase-import-queue", daemon=True
        )
        self._thread.start()

    def notify(self) -> None:
        """A task was queued."""
        self._wake.set()

    def stop(self) -> None:
        """Stop after the task in hand (an unfinished task is picked up again on restart)."""
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            # Clear before looking, so a task queued after the look still wakes us.
            self._wake.clear()
            task = self._store.next_task()
            if task is None:
                self._wake.wait()
                continue
            # a slow queue (injected): the task stays queued longer, and so do those behind it
            extra = self._faults.queue_delay() if self._faults is not None else 0.0
            if self._stop.wait(self._delay + extra):
                return
            self._run(task)

    def _run(self, task: sqlite3.Row) -> None:
        qt_id = task["qt_id"]
        if not self._store.start_task(qt_id):
            return
        item_count: int | None = None
        try:
            ds = self._store.find_datastore(task["d_id"])
            if ds is None:
                raise ImportFailure("not found", "the datastore no longer exists")
            table = parse_csv(task["csv"])
            item_count = len(table.rows)
            options = ImportOptions(**json.loads(task["options"]))
            self._store.apply_import(
                ds, table, options, fixed_fields=self._fixed_fields, task=qt_id
            )
        except ImportFailure as failure:
            self._store.fail_task(qt_id, 3, failure.entry, item_count)
        except Exception as exc:
            logger.exception("queued import %s failed", qt_id)
            entry = {
                "description": f"internal emulator error: {exc}",
                "error": "abnormal",
                "error_level": "ERROR",
            }
            self._store.fail_task(qt_id, 4, entry, item_count)
