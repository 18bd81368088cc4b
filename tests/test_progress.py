"""Progress where there is no bar: ``syncer watch -v`` logs it, and ``drift`` / ``adopt`` say
how far the read-back got.  (The bar at a terminal: tests/test_terminal.py.)"""

from __future__ import annotations

import logging

import pytest

from syncer.watch.progress import LogReporter


def test_watch_logs_a_long_apply_about_once_a_second(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    reporter = LogReporter(every=1.0, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="syncer.watch")
    reporter.start("shop/items", 2_000_000)
    for _ in range(8):  # a slice every half second
        now[0] += 0.5
        reporter.advance("shop/items", 250_000)
    reporter.done("shop/items")
    lines = [r.getMessage() for r in caplog.records if getattr(r, "event", "") == "progress"]
    assert lines == [f"shop/items: {n:,}/2,000,000 rows written (500,000 rows/s)"
                     for n in (500_000, 1_000_000, 1_500_000, 2_000_000)]


def test_a_small_apply_logs_no_progress(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    reporter = LogReporter(clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="syncer.watch")
    reporter.start("shop/items", 10)
    now[0] += 5
    reporter.advance("shop/items", 10)
    assert not caplog.records
