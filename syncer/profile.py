"""Where the time goes: phases timed per dataset, shown by ``plan --profile`` and
``apply --profile`` (read, snapshot, diff, samples, write, state...).

Timing is always collected (a perf_counter per phase costs nothing next to the phases) and
printed only when asked, so the numbers describe the very run the user watched.  With each
phase goes the process's peak memory when it ended, so a phase that raises it stands out.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

_times: dict[tuple[str, str], float] = {}
_peaks: dict[tuple[str, str], float] = {}


@contextmanager
def phase(dataset: str, name: str) -> Iterator[None]:
    """Add the time spent in the ``with`` block to ``dataset``'s ``name`` phase."""
    start = time.perf_counter()
    try:
        yield
    finally:
        key = (dataset, name)
        _times[key] = _times.get(key, 0.0) + time.perf_counter() - start
        _peaks[key] = peak_mb()


def peak_mb() -> float:
    """The process's peak resident memory so far, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024  # bytes / KiB


def report() -> list[tuple[str, str, float, float]]:
    """Every (dataset, phase, seconds, peak MB at its end) so far, in the order first seen."""
    return [(dataset, name, seconds, _peaks[dataset, name])
            for (dataset, name), seconds in _times.items()]


def reset() -> None:
    _times.clear()
    _peaks.clear()
