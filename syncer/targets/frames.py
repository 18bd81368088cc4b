"""Rows read back from a target as polars frames: the helpers every driver's ``read_back`` uses.

A target answers rows as tuples (SQLite) or dicts (HTTP and Milvus answers); both become frames
with the dataset's columns, and a column whose values do not share one type is read as text
(drift normalises it afterwards, as it does source values).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

import polars as pl


def read_blocks(rows: Iterator[tuple[Any, ...]], names: list[str], size: int
                ) -> Iterator[pl.DataFrame]:
    """Group tuples into frames of ``size`` rows; a column of mixed types is read as text."""
    block: list[tuple[Any, ...]] = []
    for row in rows:
        block.append(row)
        if len(block) >= size:
            yield frame_of(block, names)
            block = []
    if block:
        yield frame_of(block, names)


def frame_of(rows: list[tuple[Any, ...]] | list[dict[str, Any]], names: list[str]) -> pl.DataFrame:
    """Tuples (in ``names`` order) or dicts (by name; a missing name is null) as a frame."""
    columns: dict[str, list[Any]]
    if rows and isinstance(rows[0], dict):
        columns = {n: [r.get(n) for r in rows] for n in names}
    else:
        tuples = cast("list[tuple[Any, ...]]", rows)
        columns = {n: [r[i] for r in tuples] for i, n in enumerate(names)}
    return pl.DataFrame([series(n, v) for n, v in columns.items()])


def series(name: str, values: list[Any]) -> pl.Series:
    """One column; JSON objects as their text, and mixed types as text."""
    if any(isinstance(v, dict) for v in values):  # JSON objects: as text, keys as they are
        values = [v if v is None or isinstance(v, str) else json.dumps(v, default=str)
                  for v in values]
    try:
        return pl.Series(name, values)
    except (TypeError, ValueError, pl.exceptions.PolarsError):
        return pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String)
