"""Batches of a fixed size cut from the rows to write, read a slice at a time (for drivers whose
API takes a bounded number of rows per call: Hexabase, Milvus, Zilliz)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext

import polars as pl

from ..targets import base
from .rows import Rows


def batches_of(upserts: Rows, deletes: pl.DataFrame, size: int,
             reading: Callable[[], AbstractContextManager[object]] = nullcontext,
             ) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
    """Batches of ``size`` rows: deletes first (so a key that moves is never deleted after its
    new row), then writes, cut from ``upserts`` read a slice at a time (inside ``reading()``):
    the batches are the same as if every row had been read first, the memory is not."""
    empty_up, empty_del = upserts.empty(), deletes.clear()
    for start in range(0, deletes.height, size):
        yield empty_up, deletes.slice(start, size)
    held: list[pl.DataFrame] = []  # rows read and not yet sent: fewer than ``size``
    count = 0
    slices = iter(upserts.slices(max(size, base.SLICE_ROWS)))
    while True:
        with reading():
            frame = next(slices, None)
        if frame is None:
            break
        if held:
            frame = pl.concat([*held, frame])
            held, count = [], 0
        whole = frame.height - frame.height % size
        for start in range(0, whole, size):
            yield frame.slice(start, size), empty_del
        if whole < frame.height:
            held, count = [frame.slice(whole)], frame.height - whole
    if count:
        yield pl.concat(held), empty_del
    if upserts.height == 0 and deletes.height == 0:
        yield empty_up, empty_del
