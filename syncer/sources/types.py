"""Parsers of the types with a canonical text form: date, datetime and decimal (vectorised).

Each takes a column of stripped text (null where the source had no value) and returns the
typed column, null where a value did not parse, plus the special reasons a value may be
refused, as :data:`Rule` s (a mask, what is wrong, how to fix it), most specific first.  The
caller turns the first bad row of a column into its message.
"""

from __future__ import annotations

import polars as pl

#: a mask of rows, what is wrong with them ("has a time of day") and the fix
Rule = tuple[pl.Series, str, str]

_DATE = r"(\d{4}[-/]\d{1,2}[-/]\d{1,2})"
_DATE_ONLY = rf"^{_DATE}(?:[Tt ](.*))?$"
_MIDNIGHT = r"^00:00(?::00(?:[.,]0+)?)?$"
_DATETIME = (rf"^{_DATE}"
             r"(?:[Tt ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"   # time, seconds optional
             r"\s*(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$")             # Z, +09, +0900, +09:00
_DECIMAL = r"^([+-]?)(\d*)(?:\.(\d*))?$"

DATE_HINT = "use a date such as 2024-01-31"
DATETIME_HINT = ("use ISO 8601, e.g. 2013-01-01T10:00:00Z, 2013-01-01T19:00:00+09:00, or "
                 "2013-01-01 10:00 (taken in the column's `timezone:`)")


def _run(text: pl.Series, pattern: str, *exprs: pl.Expr) -> list[pl.Series]:
    """``exprs`` over the capture groups of ``pattern`` in ``text`` (columns ``g1``, ``g2``...,
    null where the pattern does not match): the regex runs once per value."""
    groups = text.str.extract_groups(pattern).struct.unnest()
    groups.columns = [f"g{name}" for name in groups.columns]
    out = groups.select(*exprs)
    return [out.to_series(i) for i in range(out.width)]


def dates(text: pl.Series) -> tuple[pl.Series, list[Rule]]:
    """``2024-01-31`` or ``2024/01/31``; a midnight written after it (``2024-01-31 00:00:00``,
    as databases and spreadsheets export a date) is accepted, any other time of day refused:
    dropping it would merge distinct values."""
    # (polars' cache of parsed values costs more than the parse of an ISO date)
    day = (pl.col("g1").str.replace_all("/", "-", literal=True)
           .str.to_date("%Y-%m-%d", strict=False, cache=False))
    time = pl.col("g2")
    midnight = time.is_null() | time.str.contains(_MIDNIGHT)
    value, timed = _run(
        text, _DATE_ONLY,
        pl.when(midnight).then(day).alias("v"),
        (time.is_not_null() & ~midnight & day.is_not_null()).fill_null(False).alias("timed"))
    return value, [(timed, "has a time of day (a date column keeps the date only)",
                    "declare the column `type: datetime` to keep the time, or write the date "
                    "alone")]


_CANONICAL = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{0,5}[1-9])?Z$"


def canonical_datetimes(text: pl.Series) -> pl.Series:
    """``text`` when every value is already a valid canonical datetime (what syncer writes, and
    reads back from a target): two cheap passes instead of the general parse.  Otherwise all
    null, and the caller takes the general path (:func:`datetimes`)."""
    parsed = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_unit="us", strict=False,
                                 cache=False)
    if parsed.null_count() == text.null_count() and text.str.contains(_CANONICAL).all():
        return text
    return pl.repeat(None, text.len(), dtype=pl.String, eager=True)


def datetimes(text: pl.Series, timezone: str) -> tuple[pl.Series, list[Rule]]:
    """ISO 8601 instants as canonical UTC text ``2013-01-01T10:00:00Z`` (a fraction of a second
    only when there is one, to the microsecond).  A value with an offset (``Z``, ``+09``,
    ``+0900``, ``+09:00``) is that instant; a naive one is read in ``timezone``."""
    g = pl.col
    day = g("g1").str.replace_all("/", "-", literal=True)
    fraction = g("g5").fill_null("")
    wall = pl.format("{}T{}:{}:{}.{}", day, g("g2").fill_null("00").str.zfill(2),
                     g("g3").fill_null("00"), g("g4").fill_null("00"),
                     pl.concat_str(fraction, pl.lit("000000")).str.slice(0, 6))
    local = wall.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", time_unit="us", strict=False,
                                cache=False)
    hours = g("g8").cast(pl.Int32, strict=False)
    minutes = g("g9").fill_null("00").cast(pl.Int32, strict=False)
    shift = (hours * 60 + minutes) * pl.when(g("g7") == "-").then(-1).otherwise(1)
    offset = g("g6").is_not_null() | g("g7").is_not_null()
    sane = (g("g6").is_not_null() | ((hours < 24) & (minutes < 60))).fill_null(False)
    aware = local.dt.replace_time_zone("UTC") - pl.duration(minutes=shift.fill_null(0))
    zoned = (local.dt.replace_time_zone(timezone, ambiguous="null", non_existent="null")
             .dt.convert_time_zone("UTC"))
    fine = fraction.str.slice(6).str.contains("[1-9]")
    utc = (pl.when(fine).then(None)
           .when(offset & sane).then(aware)
           .when(~offset).then(zoned))
    micro = utc.dt.microsecond()
    text_form = pl.concat_str(
        utc.dt.to_string("%Y-%m-%dT%H:%M:%S"),
        pl.when(micro > 0).then(pl.concat_str(
            pl.lit("."), micro.cast(pl.String).str.zfill(6).str.strip_chars_end("0")))
        .otherwise(pl.lit("")),
        pl.lit("Z"))
    value, gap, too_fine = _run(
        text, _DATETIME,
        text_form.alias("v"),
        (~offset & local.is_not_null() & zoned.is_null()).fill_null(False).alias("gap"),
        (fine & local.is_not_null()).fill_null(False).alias("fine"))
    return value, [
        (gap, f"does not exist or is ambiguous in {timezone} (a daylight saving change)",
         "write the value with its offset, e.g. 2013-10-27T02:30:00+01:00"),
        (too_fine, "is finer than a microsecond", "syncer keeps datetimes to the microsecond: "
         "round the value in the file")]


def decimals(text: pl.Series, scale: int) -> tuple[pl.Series, list[Rule]]:
    """Exact decimals as canonical text with ``scale`` digits after the point: ``12.5``,
    ``+12.500`` and ``012.50`` are all ``12.50`` (scale 2).  A value with more significant
    digits than the scale is refused, never rounded."""
    whole = pl.col("g2").str.strip_chars_start("0")
    whole = pl.when(whole == "").then(pl.lit("0")).otherwise(whole)
    part = pl.col("g3").fill_null("")
    kept = pl.concat_str(part, pl.lit("0" * scale)).str.slice(0, scale)
    digits = pl.col("g2").str.len_chars() + part.str.len_chars()
    precise = part.str.slice(scale).str.contains("[1-9]")
    zero = (whole == "0") & ~kept.str.contains("[1-9]")
    sign = pl.when((pl.col("g1") == "-") & ~zero).then(pl.lit("-")).otherwise(pl.lit(""))
    number = (pl.concat_str(sign, whole, pl.lit("."), kept) if scale
              else pl.concat_str(sign, whole))
    value, over = _run(
        text, _DECIMAL,
        pl.when((digits > 0) & ~precise).then(number).alias("v"),
        ((digits > 0) & precise).fill_null(False).alias("over"))
    return value, [(over, f"has more than {scale} digit(s) after the point",
                    "round it in the file, or raise the column's `scale:`")]
