"""Turn raw columns into the dataset's typed, normalised columns (vectorised per column).

Each type has one canonical value, so ``10.0`` and ``10.00`` are the same float, ``TRUE`` and
``1`` the same boolean, ``2024/01/05`` and ``2024-01-05`` the same date, and JSON is re-encoded
with sorted keys.  A value that does not fit its type is an error naming the file and line.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import Problem, SourceError
from ..model.schema import KEY, ROW, Column, Schema
from .types import (DATE_HINT, DATETIME_HINT, Rule, canonical_datetimes, dates, datetimes,
                    decimals)

LineLookup = Callable[[list[int]], dict[int, int]]

_FINITE = ("is not a finite number", "write a finite number (NaN and infinities cannot be stored "
           "and compared in every target)")


@dataclass(frozen=True)
class BadValues:
    """The values of one column that do not fit its type, in one block (or, summed, a file):
    the first of them (its record, its message) and how many rows have one.  ``column`` is the
    source column, or ``__k`` for empty key values."""

    column: str
    record: int
    count: int
    message: str
    hint: str

    def problem(self, path: Path, lines: LineLookup) -> Problem:
        more = f" ({self.count - 1} more rows like it)" if self.count > 1 else ""
        return Problem(path, lines([self.record]).get(self.record), self.message + more,
                       self.hint, None if self.column == KEY else self.column, self.count)


def normalise(raw: pl.DataFrame, schema: Schema, path: Path, lines: LineLookup) -> pl.DataFrame:
    """Select, rename and type ``raw``'s columns as ``schema`` says; keep the ``__row`` column.
    Values that do not fit: a SourceError naming every bad column (see :func:`typed`)."""
    frame, bad = typed(raw, schema, path)
    if bad:
        raise SourceError.of([b.problem(path, lines) for b in bad])
    return frame


def typed(raw: pl.DataFrame, schema: Schema, path: Path) -> tuple[pl.DataFrame, list[BadValues]]:
    """:func:`normalise` without raising for bad values: the frame (whose bad values are null)
    and one :class:`BadValues` per column that holds any.  Columns missing from the file are
    still a SourceError (nothing else can be said about the file)."""
    available = [c for c in raw.columns if c != ROW]
    if not available and raw.height == 0:
        # an empty JSON array or JSON Lines file has no columns to check: it is zero rows
        return pl.DataFrame(schema={**schema.polars_schema, ROW: pl.Int64()}), []
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
    out, bad = [], []
    for c in schema.columns:
        value, found = _convert(raw.get_column(c.source), c, raw, path)
        out.append(value.alias(c.name))
        bad.extend(found)
    return pl.DataFrame([*out, raw.get_column(ROW)]), bad


def _nulled(text: pl.Series, markers: tuple[str, ...]) -> pl.Series:
    """``text`` with the values the dataset declares null markers (``NA``, ``\\N``) as nulls."""
    if not markers:
        return text
    return pl.select(pl.when(text.is_in(markers)).then(pl.lit(None, pl.String))
                     .otherwise(text)).to_series()


def _convert(series: pl.Series, column: Column, raw: pl.DataFrame, path: Path
             ) -> tuple[pl.Series, list[BadValues]]:
    if column.type == "vector":
        if series.dtype == pl.String:
            series = _nulled(series, column.nulls)
        return _vector(series, column, raw, path)
    text = _nulled(_as_text(series), column.nulls)
    if column.type == "string":
        return text, []
    if column.type in _CLEAN:
        # the common case first: every value already in canonical form (no padding, the
        # first format), so one parse decides; only a column where it leaves a value unread
        # pays for stripping, fallbacks and the search for the culprit
        value = _CLEAN[column.type](text)
        if value.null_count() == text.null_count():
            return value, _report(raw, text, column, _finite(value))
    stripped = text.str.strip_chars()
    blank = stripped.is_null() | (stripped == "")
    rules: list[Rule] = []
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
        value, rules = dates(stripped)
        hint = DATE_HINT
    elif column.type == "datetime":
        value, rules = datetimes(stripped, column.timezone)
        hint = DATETIME_HINT
    elif column.type == "decimal":
        value, rules = decimals(stripped, column.scale or 0)
        hint = "use plain digits such as 12.50 (no exponent, no thousands separator)"
    elif column.type == "json":
        value = stripped.map_elements(_canonical_json, return_dtype=pl.String, skip_nulls=True)
        hint = "use valid JSON"
    else:  # pragma: no cover - the manifest model allows no other type
        raise AssertionError(column.type)
    # a blank value is null in every type (each parse above reads "" as null)
    bad = value.is_null() & ~blank
    rules = [*rules, (bad, f"is not a valid {column.type}", hint), *_finite(value)]
    return value, _report(raw, text, column, rules)


def _finite(value: pl.Series) -> list[Rule]:
    """NaN and infinities are refused: SQLite stores NaN as NULL, JSON (Hexabase) and the
    vector stores have no spelling for them, so they could never round-trip (see
    docs/manifests.md)."""
    if value.dtype == pl.Float64:
        odd = ~value.is_finite().fill_null(True)
    elif value.dtype == pl.List(pl.Float32()):
        odd = (~value.list.eval(pl.element().is_finite()).list.all()).fill_null(False)
    else:
        return []
    return [(odd, *_FINITE)]


def _report(raw: pl.DataFrame, text: pl.Series, column: Column, rules: list[Rule]
            ) -> list[BadValues]:
    """The rows any rule refuses, as one BadValues (empty when none): the message is the first
    rule that refuses the first of them."""
    if not rules:
        return []
    bad = pl.select(pl.any_horizontal([mask for mask, _, _ in rules])).to_series()
    count = int(bad.sum())
    if not count:
        return []
    first = int(bad.arg_true()[0])
    what, hint = next((w, h) for mask, w, h in rules if mask[first])
    if text.dtype != pl.String:  # (the error path: values shown as text, whatever their dtype)
        text = _as_text(text)
    # a rule may say it all itself (a vector's length: its values are no help)
    message = what if what.startswith("vector ") else (
        f"column '{column.source}': {text[first]!r} {what}")
    return [BadValues(column.source, int(raw.get_column(ROW)[first]), count, message, hint)]


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
    "date": lambda text: text.str.to_date("%Y-%m-%d", strict=False, cache=False),
    "datetime": canonical_datetimes,
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


def _vector(series: pl.Series, column: Column, raw: pl.DataFrame, path: Path
            ) -> tuple[pl.Series, list[BadValues]]:
    target = pl.List(pl.Float32())
    rules: list[Rule] = []
    if series.dtype == pl.String:
        parsed = series.map_elements(_float_list, return_dtype=target, skip_nulls=True)
        rules.append((parsed.is_null() & series.is_not_null(), f"is not a valid {column.type}",
                      "write the vector as a JSON array of numbers"))
    else:
        try:
            parsed = series.cast(target)
        except pl.exceptions.PolarsError:
            raise SourceError(path, f"column '{column.source}' is not a list of numbers",
                              hint="store vectors as a list of floats") from None
    wrong = (parsed.list.len() != column.dim).fill_null(False)
    if wrong.any():
        first = int(wrong.arg_true()[0])
        record = int(raw.get_column(ROW)[first])
        rules.append((wrong, f"vector '{column.name}' has {parsed.list.len()[first]} values, "
                      f"expected dim {column.dim} (row {record + 1})",
                      f"every vector must have exactly {column.dim} numbers"))
    return parsed, _report(raw, series, column, [*rules, *_finite(parsed)])


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
