"""Where the time goes: phases timed per dataset, shown by ``plan --profile`` and
``apply --profile`` (read, snapshot, diff, samples, write, state...).

Timing is always collected (a perf_counter per phase costs nothing next to the phases) and
printed only when asked, so the numbers describe the very run the user watched.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

_times: dict[tuple[str, str], float] = {}


@contextmanager
def phase(dataset: str, name: str) -> Iterator[None]:
    """Add the time spent in the ``with`` block to ``dataset``'s ``name`` phase."""
    start = time.perf_counter()
    try:
        yield
    finally:
        key = (dataset, name)
        _times[key] = _times.get(key, 0.0) + time.perf_counter() - start


def report() -> list[tuple[str, str, float]]:
    """Every (dataset, phase, seconds) measured so far, in the order first seen."""
    return [(dataset, name, seconds) for (dataset, name), seconds in _times.items()]


def reset() -> None:
    _times.clear()
