"""Import files: a batch's rows written as the service reads them.

* Parquet (the default, what Zilliz recommends and pymilvus's ``BulkWriter`` writes): one column
  per field; vectors as fixed-size lists of float32 (``dim`` values), JSON fields as their text,
  dates as ISO text, and, when the collection has dynamic fields, a ``$meta`` column of JSON
  text.  The frame is written a slice at a time (one Parquet row group per slice) to a file on
  disk, never as one document in memory, and a new file is started before one would pass the
  per-file limit.
* JSON (``import_format: json``): ``{"rows": [...]}``, one object per row, split in halves until
  each part is under the limit.

Nothing here talks to the network: :mod:`.jobs` uploads the files and imports them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from ...model.schema import Column, Schema

#: the documented limit of one import file (Milvus: 16 GB)
MAX_FILE_BYTES = 16 * 1024 ** 3
#: the documented limit of files in one import request
MAX_FILES_PER_JOB = 1024
#: rows per Parquet row group (one slice of the frame in memory as Arrow at a time)
ROW_GROUP_ROWS = 10_000
#: the extensions syncer stages, by format
EXTENSIONS = {"parquet": "parquet", "json": "json"}


@dataclass(frozen=True)
class ImportPart:
    """One import file: where its content is (a file on disk, or bytes), its size, the index of
    its first row in the frame, and how many rows it holds."""

    path: Path | None
    data: bytes | None
    size: int
    first_row: int
    rows: int


def import_file(frame: pl.DataFrame, schema: Schema) -> bytes:
    """``{"rows": [...]}``: one object per row; dates as ISO text, JSON columns as JSON text
    (the service parses a string given for a JSON field), vectors as lists of floats."""
    json_columns = [c.name for c in schema.columns if c.type == "json"]
    if json_columns:
        frame = frame.with_columns([pl.when(pl.col(c) == "null").then(None).otherwise(pl.col(c))
                                    .alias(c) for c in json_columns])
    return b'{"rows": ' + frame.write_json().encode("utf-8") + b"}\n"


def json_parts(frame: pl.DataFrame, schema: Schema, max_bytes: int, writer: Any = None,
               first_row: int = 0) -> list[ImportPart]:
    """JSON import files of ``frame``, each under ``max_bytes`` (halved until it is)."""
    data = (writer or import_file)(frame, schema)
    if len(data) <= max_bytes or frame.height <= 1:
        return [ImportPart(None, data, len(data), first_row, frame.height)]
    half = frame.height // 2
    return [*json_parts(frame.slice(0, half), schema, max_bytes, writer, first_row),
            *json_parts(frame.slice(half), schema, max_bytes, writer, first_row + half)]


def arrow_schema(schema: Schema, dynamic: bool) -> Any:
    """The Parquet columns of a dataset's import files."""
    import pyarrow as pa

    types = {"integer": pa.int64(), "float": pa.float64(), "boolean": pa.bool_(),
             "string": pa.string(), "date": pa.string(), "json": pa.string()}
    fields = []
    for column in schema.columns:
        if column.type == "vector":
            kind = pa.list_(pa.float32(), column.dim or -1)
        else:
            kind = types[column.type]
        fields.append(pa.field(column.name, kind, nullable=column.type != "vector"))
    if dynamic:
        fields.append(pa.field("$meta", pa.string()))
    return pa.schema(fields)


def arrow_table(frame: pl.DataFrame, schema: Schema, dynamic: bool) -> Any:
    """One slice of the frame as the Arrow table of an import file."""
    import pyarrow as pa

    target = arrow_schema(schema, dynamic)
    columns = [_arrow_column(frame.get_column(c.name), c, target.field(c.name).type)
               for c in schema.columns]
    if dynamic:
        columns.append(pa.array(["{}"] * frame.height, pa.string()))
    return pa.Table.from_arrays(columns, schema=target)


def _arrow_column(series: pl.Series, column: Column, kind: Any) -> Any:
    import pyarrow as pa

    if column.type == "vector":
        flat = series.explode().cast(pl.Float32).to_arrow()
        return pa.FixedSizeListArray.from_arrays(flat, column.dim or 0)
    if column.type == "date":
        series = series.dt.to_string("%Y-%m-%d")
    elif column.type == "json":  # canonical JSON text; JSON null is a null field
        series = pl.Series(series.name, series).replace("null", None)
    return series.to_arrow().cast(kind)


def parquet_parts(frame: pl.DataFrame, schema: Schema, dynamic: bool, directory: Path, *,
                  max_bytes: int = MAX_FILE_BYTES,
                  group_rows: int | None = None) -> list[ImportPart]:
    """Parquet import files of ``frame`` in ``directory``, a row group per ``group_rows`` rows,
    a new file before one would pass ``max_bytes``."""
    import pyarrow.parquet as pq

    import pyarrow as pa

    parts: list[ImportPart] = []
    writer: Any = None
    sink: Any = None
    path = directory
    first = rows = groups = 0

    def finish() -> None:
        nonlocal writer
        if writer is not None:
            writer.close()
            sink.close()
            parts.append(ImportPart(path, None, path.stat().st_size, first, rows))
            writer = None

    for start, table in _slices(frame, schema, dynamic, group_rows or ROW_GROUP_ROWS):
        if writer is not None and sink.tell() + table.nbytes + _footer(
                groups + 1, table.num_columns) > max_bytes:
            finish()
        if writer is None:
            path = directory / f"part-{len(parts) + 1:05d}.parquet"
            sink = pa.OSFile(str(path), "wb")
            writer = pq.ParquetWriter(sink, table.schema)
            first, rows, groups = start, 0, 0
        writer.write_table(table, row_group_size=max(1, table.num_rows))
        rows += table.num_rows
        groups += 1
    finish()
    return parts


def _footer(groups: int, columns: int) -> int:
    """Room for the Parquet footer (schema and row-group metadata), written when a file closes:
    a generous estimate, so a file stays under the limit."""
    return 1024 + 256 * groups * columns


def _slices(frame: pl.DataFrame, schema: Schema, dynamic: bool,
            group_rows: int) -> Iterator[tuple[int, Any]]:
    for start in range(0, frame.height, max(1, group_rows)):
        yield start, arrow_table(frame.slice(start, group_rows), schema, dynamic)
