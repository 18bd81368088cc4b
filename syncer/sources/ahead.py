"""Read ahead: run an iterator of blocks on a worker thread while the caller uses earlier ones.

Parsing a CSV block (pyarrow) and normalising, hashing and spooling the one before it (polars)
both release the GIL, so on two cores the read phase takes about the longer of the two instead of
their sum.  Errors raised by the iterator reach the caller at the block where they happened.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_END = object()
_POLL = 0.05  # how often a blocked worker checks whether the caller has gone away


def read_ahead(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """``items``, produced on a worker thread up to ``depth`` items ahead of the caller.

    The worker starts at the first ``next()``.  When the caller stops early (an error, a
    ``break``, Ctrl-C), the worker stops at its next item and ``items`` is closed.
    """
    slots: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(depth)
    stop = threading.Event()

    def put(item: object, error: BaseException | None = None) -> bool:
        while not stop.is_set():
            try:
                slots.put((item, error), timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_END)
        except BaseException as exc:  # handed to the caller, raised there
            put(_END, exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=work, name="syncer-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item, error = slots.get()
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()
