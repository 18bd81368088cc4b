"""Reading ahead on a worker thread: the caller sees the same items, errors where they happened,
and an early stop ends the worker."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from syncer.sources.ahead import read_ahead


def _workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "syncer-read-ahead"]


def test_items_arrive_in_order() -> None:
    assert list(read_ahead(iter(range(100)), depth=3)) == list(range(100))
    assert list(read_ahead(iter([]))) == []
    assert _workers() == []


def test_an_error_reaches_the_caller_after_the_items_before_it() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("bad block")

    seen: list[int] = []
    with pytest.raises(ValueError, match="bad block"):
        for item in read_ahead(items()):
            seen.append(item)
    assert seen == [1, 2]
    assert _workers() == []


def test_the_worker_starts_at_the_first_item_and_stops_when_the_caller_does() -> None:
    started = threading.Event()
    closed = threading.Event()

    def items() -> Iterator[int]:
        started.set()
        try:
            for number in range(10_000):
                yield number
        finally:
            closed.set()

    ahead = read_ahead(items(), depth=2)
    time.sleep(0.05)
    assert not started.is_set()  # nothing is read before it is asked for
    assert next(ahead) == 0
    ahead.close()  # the caller stops (a break, an error, Ctrl-C)
    assert closed.wait(5)
    assert _workers() == []


def test_a_csv_error_in_a_later_block_is_reported_with_its_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Through the real reader: blocks parsed ahead still surface a bad row as a SourceError
    naming its line, after the good blocks before it."""
    from syncer.errors import SourceError
    from syncer.model.manifest import SourceSpec
    from syncer.sources.readers import read_file

    rows = "".join(f"{i},name {i}\n" for i in range(500_000))  # some 8 MB: several blocks
    path = tmp_path / "big.csv"
    path.write_text(f"id,name\n{rows}500000,name,extra\n")
    raw = read_file(path, "csv", SourceSpec(path="big.csv"))
    seen = 0
    with pytest.raises(SourceError) as caught:
        for block in raw.batches:
            seen += block.height
    assert seen > 0  # the good blocks came first
    assert caught.value.problem.line == 500_002
    assert _workers() == []
