"""Batches for a driver with a batch size are cut from the rows to write read a slice at a
time: the same batches, in the same order, as cutting them from every row read at once."""

from __future__ import annotations

import polars as pl
import pytest

from syncer.model.schema import HASH, KEY
from syncer.sync import send
from syncer.sync.batches import batches_of
from syncer.sync.rows import Rows
from syncer.targets import base


def rows_in_parts(total: int, part: int) -> Rows:
    frame = pl.DataFrame({KEY: [f"k{i}" for i in range(total)], HASH: list(range(total)),
                          "v": [f"value {i}" for i in range(total)]})
    parts = tuple(frame.slice(start, part).lazy() for start in range(0, total, part))
    return Rows(pl.concat(parts), frame.select(KEY, HASH), everything=True, parts=parts)


def expected(frame: pl.DataFrame, deletes: pl.DataFrame, size: int) -> list[tuple[list[str], list[str]]]:
    out = [([], deletes.get_column(KEY).slice(s, size).to_list())
           for s in range(0, deletes.height, size)]
    out += [(frame.get_column(KEY).slice(s, size).to_list(), [])
            for s in range(0, frame.height, size)]
    return out or [([], [])]


@pytest.mark.parametrize(("total", "part", "slice_rows", "size"),
                         [(100, 7, 10, 3), (100, 30, 10, 25), (57, 57, 10, 10), (0, 5, 10, 4),
                          (64, 8, 16, 16), (10, 3, 4, 100)])
def test_batches_cut_from_slices_are_those_of_the_whole(
        monkeypatch: pytest.MonkeyPatch, total: int, part: int, slice_rows: int, size: int) -> None:
    monkeypatch.setattr(base, "SLICE_ROWS", slice_rows)
    rows = rows_in_parts(total, part) if total else Rows.of(
        pl.DataFrame({KEY: [], HASH: [], "v": []},
                     schema={KEY: pl.String, HASH: pl.Int64, "v": pl.String}))
    deletes = pl.DataFrame({KEY: [f"d{i}" for i in range(5)]})
    got = [(up.get_column(KEY).to_list(), dels.get_column(KEY).to_list())
           for up, dels in batches_of(rows, deletes, size)]
    assert got == expected(rows.collect(), deletes, size)
    assert all(up.columns == [KEY, HASH, "v"] for up, _ in batches_of(rows, deletes, size))


def test_the_rows_are_read_as_the_batches_are_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first batch goes out before the second slice is read: memory holds one slice."""
    monkeypatch.setattr(base, "SLICE_ROWS", 10)
    rows = rows_in_parts(100, 10)
    read: list[int] = []
    original = rows.slices

    def counting(n: int):  # type: ignore[no-untyped-def]
        for frame in original(n):
            read.append(frame.height)
            yield frame

    monkeypatch.setattr(Rows, "slices", lambda self, n: counting(n))
    batches = batches_of(rows, pl.DataFrame({KEY: []}, schema={KEY: pl.String}), 5)
    next(batches)
    assert read == [10]
    assert sum(up.height for up, _ in batches) == 95
    assert read == [10] * 10
    assert send.batches_of is batches_of
