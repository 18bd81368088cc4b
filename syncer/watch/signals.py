"""Stopping ``syncer watch``: SIGINT and SIGTERM ask it to stop; a grace bounds the dataset in
flight."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .events import event


class StopTimeout(BaseException):
    """The stop grace ran out with a reconcile in flight (raised in the main thread).

    A BaseException, so that no ``except Exception`` on the way mistakes it for a failure."""


class StopSignals:
    """SIGINT and SIGTERM as a request to stop.

    The first one sets ``stop``: no new change is taken, the dataset in flight is finished and
    the loop ends.  A second one raises KeyboardInterrupt at once; ``grace`` seconds after the
    first, a reconcile still in flight is interrupted with :class:`StopTimeout`.  Either way the
    journal keeps the batch that was interrupted and the next run settles it with the target.
    Outside the main thread (an in-process caller) nothing is installed: set ``stop`` instead.
    """

    def __init__(self, stop: threading.Event, grace: float) -> None:
        self.stop = stop
        self.grace = grace
        self._previous: dict[int, Any] = {}
        self._in_flight = False
        self._expired = False
        self._timer: threading.Timer | None = None
        self._closing = threading.Lock()  # no late kill once the old handlers are back
        self._closed = False

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._closing:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        self._in_flight = True
        try:
            yield
        finally:
            self._in_flight = False

    def _handle(self, signum: int, _frame: object) -> None:
        if self._expired:
            if self._in_flight:
                raise StopTimeout
            return
        if self.stop.is_set():
            raise KeyboardInterrupt
        self.stop.set()
        name = signal.Signals(signum).name
        event(logging.INFO, "stop", f"{name}: stopping (finishing the dataset in flight)",
              signal=name)
        if self._in_flight and self.grace > 0 and hasattr(signal, "pthread_kill"):
            main = threading.main_thread().ident
            assert main is not None
            self._timer = threading.Timer(self.grace, self._expire, (main, signum))
            self._timer.daemon = True
            self._timer.start()

    def _expire(self, main: int, signum: int) -> None:
        with self._closing:
            if self._closed:
                return
            self._expired = True
            signal.pthread_kill(main, signum)  # to the main thread: it interrupts a blocking call
