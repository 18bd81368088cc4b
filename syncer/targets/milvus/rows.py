"""Rows as Milvus takes them: a batch's upserts as entities, the rows Milvus would refuse (checked
column-wise before anything is sent), requests cut under the gRPC limit, filters, and the
comparison of what was sent with what a collection holds.  Shared with the zilliz target."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import polars as pl

from ...model.schema import Column, Schema
from ..base import Batch, RowError
from .schema import Field

#: largest estimated payload of one insert/upsert request (Milvus refuses gRPC messages > 64 MB)
MAX_REQUEST_BYTES = 48 * 1024 * 1024
_ROW_OVERHEAD = 16


def milvus_rows(batch: Batch, fields: list[Field]) -> tuple[list[dict[str, Any]], list[RowError]]:
    """The batch's upserts as Milvus rows, and the rows Milvus would refuse (not included)."""
    frame = batch.upserts
    if frame.height == 0:
        return [], []
    by_name = {f.name: f for f in fields}
    problems: dict[int, str] = {}
    columns: dict[str, list[Any]] = {}
    for column in batch.schema.columns:
        series = frame.get_column(column.name)
        field = by_name.get(column.name)
        for index, message in refusals(series, column, field):
            problems.setdefault(index, message)
        columns[column.name] = values_of(series, column)
    names = list(columns)
    rows = [dict(zip(names, values)) for values in zip(*columns.values())]
    if problems:
        rows = [row for index, row in enumerate(rows) if index not in problems]
    errors = [RowError("upsert", index, message) for index, message in sorted(problems.items())]
    return rows, errors


def plain_row(row: dict[str, Any], schema: Schema) -> dict[str, Any]:
    """An entity as plain Python values: vectors as lists of floats, JSON as its text."""
    out: dict[str, Any] = {}
    for column in schema.columns:
        value = row.get(column.name)
        if column.type == "vector" and value is not None:
            value = [float(x) for x in value]
        elif column.type == "json":
            value = None if value is None else json.dumps(value, sort_keys=True)
        out[column.name] = value
    return out


def values_of(series: pl.Series, column: Column) -> list[Any]:
    if column.type == "date":
        return series.dt.to_string("%Y-%m-%d").to_list()
    if column.type == "json":
        # canonical JSON text; pymilvus sends a str as encoded JSON.  JSON null is a null field
        return [None if value == "null" else value for value in series.to_list()]
    return series.to_list()


def refusals(series: pl.Series, column: Column, field: Field | None) -> Iterator[tuple[int, str]]:
    """Rows of one column that Milvus would refuse, with why (checked column-wise)."""
    name = column.name
    if column.type == "vector":
        missing = series.is_null()
        for index in missing.arg_true().to_list():
            yield index, f"'{name}' has no vector (Milvus needs one on every row)"
        lengths = series.list.len()
        wrong = (lengths != column.dim).fill_null(False)
        for index in wrong.arg_true().to_list():
            yield index, f"vector '{name}' has {lengths[index]} values, expected dim {column.dim}"
        finite = series.list.eval(pl.element().is_finite()).list.all().fill_null(True)
        for index in (~finite).arg_true().to_list():
            yield index, f"vector '{name}' holds NaN or infinity"
        return
    if field is not None and not field.nullable:
        for index in series.is_null().arg_true().to_list():
            yield index, f"'{name}' is empty, and field '{name}' is not nullable"
    if column.type == "json":
        scalar = series.is_not_null() & (series != "null") & ~series.str.slice(0, 1).is_in(["{", "["])
        for index in scalar.arg_true().to_list():
            yield index, (f"'{name}' holds a JSON scalar ({series[index][:40]}); a Milvus JSON "
                          "field takes an object or an array")
    if column.type in ("string", "json") and field is not None and field.max_length:
        size = series.str.len_bytes()
        for index in (size > field.max_length).fill_null(False).arg_true().to_list():
            yield index, (f"'{name}' is {size[index]} bytes, over the field's max_length "
                          f"{field.max_length}")


def chunks(rows: list[dict[str, Any]], schema: Schema) -> Iterator[list[dict[str, Any]]]:
    """Split rows into requests whose estimated size stays under MAX_REQUEST_BYTES."""
    sizes = row_sizes(rows, schema)
    start, total = 0, 0
    for index, size in enumerate(sizes):
        if total and total + size > MAX_REQUEST_BYTES:
            yield rows[start:index]
            start, total = index, 0
        total += size
    if start < len(rows):
        yield rows[start:]


def row_sizes(rows: list[dict[str, Any]], schema: Schema) -> list[int]:
    sizes = [_ROW_OVERHEAD] * len(rows)
    for column in schema.columns:
        name = column.name
        if column.type == "vector":
            width = 4 * (column.dim or 0) + 8
            sizes = [s + width for s in sizes]
        elif column.type in ("string", "json", "date", "datetime", "decimal"):
            sizes = [s + 8 + (len(r[name].encode()) if r[name] is not None else 0)
                     for s, r in zip(sizes, rows)]
        else:
            sizes = [s + 9 for s in sizes]
    return sizes


def same_rows(rows: list[dict[str, Any]], found: dict[Any, dict[str, Any]], pk: str,
          schema: Schema) -> bool:
    """Whether every row is held with exactly these values."""
    for row in rows:
        held = found.get(key_of(row[pk]))
        if held is None:
            return False
        for column in schema.columns:
            if not equal(row[column.name], held.get(column.name), column):
                return False
    return True


def equal(sent: Any, held: Any, column: Column) -> bool:
    if sent is None or held is None:
        return sent is None and held is None
    if column.type == "vector":
        return [float(x) for x in sent] == [float(x) for x in held]
    if column.type == "json":
        held_value = json.loads(held) if isinstance(held, (str, bytes)) else held
        return bool(json.loads(sent) == held_value)
    if column.type == "float":
        return bool(sent == held or (math.isnan(sent) and math.isnan(float(held))))
    return bool(sent == held)


def key_of(value: Any) -> Any:
    return value if isinstance(value, str) else int(value)


def is_int_key(schema: Schema) -> bool:
    return schema.column(schema.key[0]).type == "integer"


def in_filter(pk: str, keys: list[Any]) -> str:
    """``pk in [...]`` with every key a literal (strings escaped as JSON strings are)."""
    literals = (str(int(k)) if not isinstance(k, str) else json.dumps(k, ensure_ascii=False)
                for k in keys)
    return f"{pk} in [{', '.join(literals)}]"
