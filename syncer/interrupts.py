"""Ctrl-C, noticed wherever it lands.

Python raises KeyboardInterrupt in the main thread, but a library may catch it on the way: an
ADBC bulk load that reads its rows from Python turns it into an error of its own, a gRPC call
into a status.  While :func:`watching`, the SIGINT handler also sets a flag, so whoever sees a
library error can tell it was an interrupt (:func:`requested`) and stop as one.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_requested = threading.Event()


def requested() -> bool:
    """Whether Ctrl-C was pressed since :func:`watching` began."""
    return _requested.is_set()


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    _requested.set()
    signal.default_int_handler(signum, frame)  # raises KeyboardInterrupt


@contextmanager
def watching() -> Iterator[None]:
    """Note every SIGINT for the length of the block (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _requested.clear()
    previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
