"""Turn raw columns into the dataset's typed, normalised columns (vectorised per column).

Each type has one canonical value, so ``10.0`` and ``10.00`` are the same float, ``TRUE`` and
``1`` the same boolean, ``2024/01/05`` and ``2024-01-05`` the same date, and JSON is re-encoded
with sorted keys.  A value that does not fit its type is an error naming the file and line.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import SourceError
from ..model.schema import ROW, Column, Schema

LineLookup = Callable[[list[int]], dict[int, int]]



def normalise(raw: pl.DataFrame, schema: Schema, path: Path, lines: LineLookup) -> pl.DataFrame:
    """Select, rename and type ``raw``'s columns as ``schema`` says; keep the ``__row`` column."""
    available = [c for c in raw.columns if c != ROW]
    if not available and raw.height == 0:
        # an empty JSON array or JSON Lines file has no columns to check: it is zero rows
        return pl.DataFrame(schema={**schema.polars_schema, ROW: pl.Int64()})
    absent_keys = [k for k in schema.key if k not in schema.names]
    if absent_keys:
        close = difflib.get_close_matches(absent_keys[0], available, n=1)
        hint = (f"did you mean '{close[0]}'?" if close else
                f"the file has: {', '.join(available) or '(no columns)'}")
        raise SourceError(path, f"key column '{absent_keys[0]}' is not in the file", line=1,
                          hint=hint)
    missing = [c for c in schema.columns if c.source not in available]
    if missing:
        column = missing[0]
        close = difflib.get_close_matches(column.source, available, n=1)
        hint = (f"did you mean '{close[0]}'?" if close else
                f"the file has: {', '.join(available) or '(no columns)'}")
        raise SourceError(path, f"column '{column.source}' is not in the file", line=1, hint=hint)
    out = [_convert(raw.get_column(c.source), c, path, raw, lines).alias(c.name)
           for c in schema.columns]
    return pl.DataFrame([*out, raw.get_column(ROW)])


def _convert(series: pl.Series, column: Column, path: Path, raw: pl.DataFrame,
             lines: LineLookup) -> pl.Series:
    text = _as_text(series) if column.type != "vector" else series
    if column.type == "string":
        return text
    if column.type == "vector":
        return _vector(series, column, path, raw, lines)
    if column.type in _CLEAN:
        # the common case first: every value already in canonical form (no padding, the
        # first format), so one parse decides; only a column where it leaves a value unread
        # pays for stripping, fallbacks and the search for the culprit
        value = _CLEAN[column.type](text)
        if value.null_count() == text.null_count():
            return _finite(value, path, raw, text, column, lines)
    stripped = text.str.strip_chars()
    blank = stripped.is_null() | (stripped == "")
    if column.type == "integer":
        value = stripped.cast(pl.Int64, strict=False)
        # "12.0" (a spreadsheet's way of writing 12) is accepted as the integer 12
        value = value.fill_null(_integral(stripped.cast(pl.Float64, strict=False)))
        hint = "use a whole number, or declare the column as float"
    elif column.type == "float":
        value = stripped.cast(pl.Float64, strict=False)
        hint = "use a number such as 12.5"
    elif column.type == "boolean":
        value = _boolean(stripped)
        hint = "use true/false, yes/no or 1/0"
    elif column.type == "date":
        iso = stripped.str.slice(0, 10)
        value = iso.str.to_date("%Y-%m-%d", strict=False)
        value = value.fill_null(iso.str.to_date("%Y/%m/%d", strict=False))
        hint = "use a date such as 2024-01-31"
    elif column.type == "json":
        value = stripped.map_elements(_canonical_json, return_dtype=pl.String, skip_nulls=True)
        hint = "use valid JSON"
    else:  # pragma: no cover - the manifest model allows no other type
        raise AssertionError(column.type)
    # a blank value is null in every type (each parse above reads "" as null)
    bad = value.is_null() & ~blank
    if bad.any():
        _fail(path, raw, bad, text, column, hint, lines)
    return _finite(value, path, raw, text, column, lines)


def _finite(value: pl.Series, path: Path, raw: pl.DataFrame, text: pl.Series, column: Column,
            lines: LineLookup) -> pl.Series:
    """NaN and infinities are refused: SQLite stores NaN as NULL, JSON (Hexabase) and the
    vector stores have no spelling for them, so they could never round-trip (see
    docs/manifests.md)."""
    if value.dtype == pl.Float64:
        odd = ~value.is_finite().fill_null(True)
    elif value.dtype == pl.List(pl.Float32()):
        odd = (~value.list.eval(pl.element().is_finite()).list.all()).fill_null(False)
    else:
        return value
    if odd.any():  # (the error path: values shown as text, whatever their dtype)
        text = text if text.dtype == pl.String else _as_text(text)
        _fail(path, raw, odd, text, column, "write a finite number (NaN and infinities cannot "
              "be stored and compared in every target)", lines, "is not a finite number")
    return value


_BOOLEANS = {**{t: True for t in ("true", "t", "yes", "y", "1", "on")},
             **{f: False for f in ("false", "f", "no", "n", "0", "off")}}


def _boolean(text: pl.Series) -> pl.Series:
    return text.str.to_lowercase().replace_strict(_BOOLEANS, default=None,
                                                  return_dtype=pl.Boolean)


def _plain_boolean(text: pl.Series) -> pl.Series:
    """Booleans spelled ``true``/``false`` (as most writers do): two comparisons, where the
    general case maps every value through a table.  Any other spelling: all null, so the
    caller falls back to :func:`_boolean`."""
    true = text == "true"
    if (true | (text == "false")).sum() == text.len() - text.null_count():
        return true
    return pl.repeat(None, text.len(), dtype=pl.Boolean, eager=True)


_CLEAN: dict[str, Callable[[pl.Series], pl.Series]] = {
    "integer": lambda text: text.cast(pl.Int64, strict=False),
    "float": lambda text: text.cast(pl.Float64, strict=False),
    "boolean": _plain_boolean,
    "date": lambda text: text.str.to_date("%Y-%m-%d", strict=False),
}


def _integral(as_float: pl.Series) -> pl.Series:
    ok = as_float.is_not_null() & (as_float == as_float.floor()) & (as_float.abs() < 2**53)
    return pl.select(pl.when(ok).then(as_float).otherwise(None).cast(pl.Int64)).to_series()


def _canonical_json(value: str) -> str | None:
    try:
        return json.dumps(json.loads(value), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False)
    except (ValueError, RecursionError):
        return None


def _vector(series: pl.Series, column: Column, path: Path, raw: pl.DataFrame,
            lines: LineLookup) -> pl.Series:
    target = pl.List(pl.Float32())
    if series.dtype == pl.String:
        parsed = series.map_elements(_float_list, return_dtype=target, skip_nulls=True)
        bad = parsed.is_null() & series.is_not_null()
        if bad.any():
            _fail(path, raw, bad, series, column, "write the vector as a JSON array of numbers", lines)
    else:
        try:
            parsed = series.cast(target)
        except pl.exceptions.PolarsError:
            raise SourceError(path, f"column '{column.source}' is not a list of numbers",
                              hint="store vectors as a list of floats") from None
    wrong = parsed.list.len() != column.dim
    if wrong.fill_null(False).any():
        row = int(wrong.fill_null(False).arg_true()[0])
        found = parsed.list.len()[row]
        line = lines([int(raw.get_column(ROW)[row])]).get(int(raw.get_column(ROW)[row]))
        raise SourceError(path, f"vector '{column.name}' has {found} values, expected dim {column.dim}"
                          f" (row {row + 1})", line=line,
                          hint=f"every vector must have exactly {column.dim} numbers")
    return _finite(parsed, path, raw, series, column, lines)


def _float_list(value: str) -> list[float] | None:
    try:
        data = json.loads(value)
    except ValueError:
        return None
    if not isinstance(data, list) or not all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in data
    ):
        return None
    return [float(x) for x in data]


def _as_text(series: pl.Series) -> pl.Series:
    """Canonical text for a column of any dtype (Parquet brings native types)."""
    dtype = series.dtype
    if dtype == pl.String:
        return series
    if dtype == pl.Boolean:
        return series.cast(pl.String).str.to_lowercase()
    if dtype.is_temporal():
        return series.dt.to_string("iso")
    if dtype.is_numeric() or dtype == pl.Null:
        return series.cast(pl.String)
    return series.map_elements(lambda v: _dump(v), return_dtype=pl.String, skip_nulls=True)


def _dump(value: Any) -> str:
    if hasattr(value, "to_list"):
        value = value.to_list()
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _fail(path: Path, raw: pl.DataFrame, bad: pl.Series, text: pl.Series, column: Column,
          hint: str, lines: LineLookup, what: str = "") -> None:
    positions = bad.arg_true()
    first = int(positions[0])
    record = int(raw.get_column(ROW)[first])
    line = lines([record]).get(record)
    value = text[first]
    more = f" ({len(positions) - 1} more rows like it)" if len(positions) > 1 else ""
    what = what or f"is not a valid {column.type}"
    raise SourceError(path, f"column '{column.source}': {value!r} {what}{more}", line=line,
                      hint=hint)
