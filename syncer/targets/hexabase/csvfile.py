"""The CSV a hexabase import uploads, and the map from its lines back to the batch's rows."""

from __future__ import annotations

import bisect
import json

import polars as pl

from ...model.schema import Schema

DELETE = "_delete_"


def csv_of(frame: pl.DataFrame, schema: Schema, *, delete: bool) -> tuple[str, list[int]]:
    """The CSV to upload and, per row, the CSV line it starts on (the header is line 1)."""
    if delete:
        out = frame.select(list(schema.key)).with_columns(pl.lit("1").alias(DELETE))
    else:
        out = frame.select(schema.names)
        vectors = [c.name for c in schema.columns if c.type == "vector"]
        for name in vectors:
            out = out.with_columns(pl.col(name).map_elements(
                lambda v: json.dumps(v.to_list()), return_dtype=pl.String, skip_nulls=True))
    text = out.write_csv(date_format="%Y-%m-%d")
    # a value holding newlines spans several CSV lines: count them to map lines back to rows
    breaks = out.select(pl.sum_horizontal([pl.col(c).cast(pl.String).str.count_matches("\n")
                                           .fill_null(0) for c in out.columns])).to_series()
    starts = (pl.Series([0, *breaks.to_list()[:-1]]).cum_sum() + pl.int_range(out.height, eager=True) + 2
              if out.height else pl.Series([], dtype=pl.Int64))
    return text, [int(x) for x in starts.to_list()]


def row_of_line(lines: list[int], line: int) -> int:
    """The batch row whose CSV record starts at or before ``line``."""
    return max(0, bisect.bisect_right(lines, line) - 1)
