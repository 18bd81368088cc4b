"""JSON Lines, streamed: the file is read in blocks of about :data:`BLOCK` bytes of whole lines,
each parsed by pyarrow's JSON reader into a polars frame of text columns.

Measured on 1,000,000 lines of ``{"id", "title", "embedding": [8 floats]}`` (100 MB, 8 MB
blocks, 2 shared cores), parsing alone: pyarrow.json 0.9 s, ``pl.read_ndjson`` with a ``String``
schema 1.4 s, ``str.json_path_match`` 1.4 s a column, the standard library's ``json.loads``
4.4 s.  pyarrow is the fastest, and its typed columns (int64, double, list<double>) can be turned
into the text the standard library path gives (:func:`text`) with vectorised casts; polars'
``String`` schema cannot (it writes ``2.0`` as ``2``, nested values with spaces), and
``json_path_match`` keeps an object's key order and writes ``1e-05`` as ``0.00001``.  The whole
reader (checks, parse, text) takes 3.4-4.3 s for that file, and about one block's memory; the
whole-file reader of before took 26 s and 1.3 GB.

The fast path must accept exactly what ``json.loads`` accepts and give exactly its text, so a
block goes the careful way (per line, the code of before, bounded to one block) when pyarrow
could differ: a control character in the block, a line that does not start with ``{`` (pyarrow
reads a ``null`` line as an empty row, and crashes on a file of just ``null``), a parse error
(the careful path then names the line), or a row count unlike the line count (two objects on one
line).  Single values are redone per value when pyarrow's type loses what ``json.loads`` keeps:
integral doubles (``1`` and ``1.0`` are both a double once a column holds ``2.5``), numbers
below 1e-4 (written with an exponent, which polars spells differently), NaN and infinities,
objects (key order) and other nested values.

The header must be known before the first block is consumed: with ``columns:`` declared it is
the first block's own keys when they hold every declared column (the common case: no extra
pass); otherwise (no ``columns:``, or a declared column missing from the first block) a first
pass over the file collects every key in first-seen order, as the whole-file reader did.
"""

from __future__ import annotations

import codecs
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl

from ..errors import SourceError
from .header import check_bom

#: bytes of whole lines parsed at once: per-block work amortised, little memory in flight
BLOCK = 8 << 20

# bytes that send a block the careful way: control characters other than \n and \r (raw ones
# inside strings are errors for json.loads); a lone \r is checked apart
_CONTROL = bytes(range(0x20)).replace(b"\n", b"").replace(b"\r", b"")
_FLAGS = bytes(0 if i in _CONTROL else 1 for i in range(256))  # translate(): 0 where control


class Block:
    """Whole lines of the file: their text (no trailing newline) and the first one's number."""

    def __init__(self, text: str, first: int) -> None:
        self.text, self.first = text, first
        self._numbered: list[tuple[int, str]] | None = None
        self._dense = False  # every line opens an object: row i is line first + i

    def numbered(self) -> list[tuple[int, str]]:
        """(line number, text) of each non-blank line (as the careful path reads them)."""
        if self._numbered is None:
            self._numbered = [(self.first + i, raw) for i, raw in enumerate(self.text.split("\n"))
                              if raw.strip()]
        return self._numbered

    def dense(self) -> str | None:
        """The non-blank lines, each opening an object (pyarrow's input); None when a line does
        not start with ``{`` (pyarrow reads a ``null`` line as an empty row)."""
        text = self.text
        # the common case, counted in C: every line starts with "{", so none is blank
        if text.startswith("{") and text.count("\n{") == text.count("\n"):
            self._dense = True
            return text
        lines = [raw for _, raw in self.numbered()]
        if not all(raw.lstrip(" ").startswith("{") for raw in lines):
            return None
        return "\n".join(lines)

    def rows(self, indexes: list[int]) -> list[tuple[int, str]]:
        """(line number, text) of the block's rows ``indexes`` (0-based, blank lines skipped)."""
        if self._dense and self._numbered is None:
            lines = self.text.split("\n")
            return [(self.first + i, lines[i]) for i in indexes]
        numbered = self.numbered()
        return [numbered[i] for i in indexes]


#: more ``[`` and ``{`` on one line than this: the careful way.  pyarrow's parser and polars'
#: conversion of its nested types recurse: polars crashed the process at 1,000 levels (512
#: passed, 400 on a thread); a line of more than 100 lists or objects is read per line
MAX_OPENERS = 100


def _plain(dense: str, data: bytes) -> bool:
    """No control character in ``data`` but line ends (LF, CRLF), and no line nested deep
    enough to matter: pyarrow may read it."""
    if b"\x00" in data.translate(_FLAGS):
        return False
    if data.count(b"\r") != data.count(b"\r\n") + data.endswith(b"\r"):
        return False
    if data.count(b"[") + data.count(b"{") <= MAX_OPENERS:
        return True
    # an upper bound of each line's depth (brackets inside strings count too), in Rust
    lines = pl.Series([dense]).str.split("\n").explode()
    most = (lines.str.count_matches("[", literal=True)
            + lines.str.count_matches("{", literal=True)).max()
    return isinstance(most, int) and most <= MAX_OPENERS


class Parsed(NamedTuple):
    """A block's rows as text columns; ``rows`` too, since a block of ``{}`` has no columns."""

    frame: pl.DataFrame
    rows: int


def read_jsonl(path: Path, encoding: str,
               wanted: list[str] | None) -> tuple[list[str], Iterator[pl.DataFrame]]:
    """The file's columns, and its rows in blocks of text columns, each with exactly those
    columns.  ``wanted``: the source columns the dataset declares (None: every key)."""
    _prescan(path, encoding)
    blocks = _blocks(path, encoding)
    first = next(blocks, None)
    head = _parse(path, first) if first is not None else Parsed(pl.DataFrame(), 0)
    if wanted is not None and all(name in head.frame.columns for name in wanted):
        header = [name for name in head.frame.columns if name in wanted]
    else:
        header = _all_keys(path, encoding)
    return header, _frames(path, header, head, blocks)


def _frames(path: Path, header: list[str], head: Parsed,
            rest: Iterator[Block]) -> Iterator[pl.DataFrame]:
    yielded = False
    for parsed in _chain(head, (_parse(path, block) for block in rest)):
        if parsed.rows:
            yielded = True
            yield _conform(parsed, header)
    if not yielded:  # no rows: one empty frame without columns, as the whole-file reader gave
        yield pl.DataFrame()


def _chain(head: Parsed, rest: Iterator[Parsed]) -> Iterator[Parsed]:
    yield head
    yield from rest


def _conform(parsed: Parsed, header: list[str]) -> pl.DataFrame:
    """The block with the header's columns in its order (null where it lacks a key)."""
    frame = parsed.frame
    if frame.columns == header:
        return frame
    return pl.DataFrame([frame.get_column(name) if name in frame.columns
                         else pl.repeat(None, parsed.rows, dtype=pl.String, eager=True).alias(name)
                         for name in header])


def _all_keys(path: Path, encoding: str) -> list[str]:
    """Every key of the file in first-seen order (a first pass, block by block)."""
    keys: dict[str, None] = {}
    rows = 0
    for block in _blocks(path, encoding):
        parsed = _parse(path, block)
        rows += parsed.rows
        keys.update(dict.fromkeys(parsed.frame.columns))
    if rows and not keys:
        raise SourceError(path, "every row is an empty object: the file has no columns", line=1,
                          hint="write the rows' fields, or `[]` for no rows")
    return list(keys)


def _prescan(path: Path, encoding: str) -> None:
    """Bytes that are not text in ``encoding``, then NUL characters, anywhere in the file, are
    said before any JSON error, as when the whole file was decoded first (one decode, ~0.1 s
    for 100 MB)."""
    with path.open("rb") as handle:
        check_bom(path, encoding, handle.read(4))
    line = 1
    for chunk in _decoded(path, encoding):
        _check_nul(path, chunk, line)
        line += chunk.count("\n")


def _blocks(path: Path, encoding: str) -> Iterator[Block]:
    """The file's text in blocks of whole lines, decoded and checked for NUL characters."""
    pending, line, start = "", 1, True
    for chunk in _decoded(path, encoding):
        if start:
            chunk, start = chunk.lstrip("\ufeff"), False
        pending += chunk
        cut = pending.rfind("\n")
        if cut >= 0:
            text, pending = pending[:cut], pending[cut + 1:]
            _check_nul(path, text, line)
            yield Block(text, line)
            line += text.count("\n") + 1
    _check_nul(path, pending, line)  # what follows the last newline (maybe nothing)
    yield Block(pending, line)


def _decoded(path: Path, encoding: str) -> Iterator[str]:
    """The file's text, decoded a block at a time (an undecodable byte: the error naming its
    line)."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    with path.open("rb") as handle:
        while True:
            data = handle.read(BLOCK)
            try:
                chunk = decoder.decode(data, final=not data)
            except UnicodeDecodeError:
                decode_text(path, encoding)  # raises the error naming the line
                raise
            if chunk:
                yield chunk
            if not data:
                return


def _check_nul(path: Path, text: str, first: int) -> None:
    at = text.find("\x00")
    if at >= 0:
        raise SourceError(path, "the file contains a NUL byte", line=first + text.count("\n", 0, at),
                          hint="remove it; is this really a text file?")


def _parse(path: Path, block: Block) -> Parsed:
    """One block as text columns: pyarrow when it reads what json.loads would, else per line."""
    import pyarrow as pa
    import pyarrow.json as pajson

    dense = block.dense()
    if dense == "":
        return Parsed(pl.DataFrame(), 0)
    if dense is None:
        return _careful(path, block)
    data = dense.encode("utf-8")
    if not _plain(dense, data):
        return _careful(path, block)
    try:
        # pyarrow's 1 MB default blocks: parsed on every core
        table = pajson.read_json(io.BytesIO(data))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _careful(path, block)
    if table.num_rows != dense.count("\n") + 1:
        return _careful(path, block)
    frame = pl.from_arrow(table, rechunk=False)
    assert isinstance(frame, pl.DataFrame)
    return Parsed(_texts(path, block, frame), table.num_rows)


def _careful(path: Path, block: Block) -> Parsed:
    """The block read line by line with the standard library: the exact error, or its rows."""
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    for number, raw in block.numbered():
        records.append(parse_line(path, raw, number))
        lines.append(number)
    return Parsed(frame_from_records(path, records, lines), len(records))


def parse_line(path: Path, raw: str, number: int) -> dict[str, Any]:
    """One JSON Lines record, or the SourceError naming its line."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SourceError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", line=number,
                          hint="each line must be one JSON object") from None
    except RecursionError:
        raise too_deep(path, number) from None
    if not isinstance(value, dict):
        raise SourceError(path, f"expected a JSON object, found {type(value).__name__}",
                          line=number, hint="each line must be one JSON object")
    return value


def _texts(path: Path, block: Block, frame: pl.DataFrame) -> pl.DataFrame:
    """pyarrow's typed columns as :func:`text` writes them; values it cannot be trusted with
    (see the module docstring) are redone from their line."""
    out = []
    for series in frame.get_columns():
        value, redo = _vector_text(series)
        if redo is not None and redo.any():
            value = _redo(path, block, series.name, value, redo)
        out.append(value.alias(series.name))
    return pl.DataFrame(out)


def _vector_text(series: pl.Series) -> tuple[pl.Series, pl.Series | None]:
    """The column as text, and which of its values must be redone (None: none)."""
    dtype = series.dtype
    if dtype == pl.String:
        return series, None
    if dtype == pl.Boolean:
        return series.cast(pl.String).str.to_lowercase(), None
    if dtype == pl.Int64 or dtype == pl.Null:
        return series.cast(pl.String), None
    if dtype == pl.Float64:
        return series.cast(pl.String), _odd_floats(pl.col(series.name), series)
    if dtype == pl.List(pl.Int64):  # (list.join skips nulls: a list holding one is redone)
        return _joined(series), _odd_floats(_elements(series, pl.element().is_null()), series)
    if dtype == pl.List(pl.Float64):
        odd = _elements(series, pl.element().is_null() | _odd(pl.element()))
        return _joined(series), _odd_floats(odd, series)
    return pl.Series(series.name, [None] * series.len(), dtype=pl.String), series.is_not_null()


def _odd(value: pl.Expr) -> pl.Expr:
    """Doubles polars does not write as repr() does, or that were integers in the file."""
    return ~value.is_finite() | (value == value.floor()) | (value.abs() < 1e-4)


def _elements(series: pl.Series, test: pl.Expr) -> pl.Expr:
    return pl.col(series.name).list.eval(test).list.any()


def _odd_floats(expr: pl.Expr, series: pl.Series) -> pl.Series:
    if series.dtype == pl.Float64:
        expr = _odd(expr)
    return series.to_frame().select(expr.fill_null(False)).to_series()


def _joined(series: pl.Series) -> pl.Series:
    return series.to_frame().select(
        pl.concat_str(pl.lit("["), pl.col(series.name).list.eval(pl.element().cast(pl.String))
                      .list.join(","), pl.lit("]"))).to_series()


def _redo(path: Path, block: Block, name: str, value: pl.Series, redo: pl.Series) -> pl.Series:
    """``value`` with the rows in ``redo`` written by :func:`text` from a json.loads of their line."""
    rows = redo.arg_true().to_list()
    fixed = []
    for number, raw in block.rows(rows):
        try:
            fixed.append(text(parse_line(path, raw, number).get(name)))
        except (RecursionError, ValueError):  # nested past what json.dumps can write
            raise too_deep(path, number) from None
    return value.scatter(rows, pl.Series(fixed, dtype=pl.String))


def text(value: Any) -> str | None:
    """One canonical text form for a JSON value (a column without a declared type)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def frame_from_records(path: Path, records: list[dict[str, Any]],
                       lines: list[int]) -> pl.DataFrame:
    """Records as text columns in first-seen key order (a block's, or a JSON array's)."""
    columns: dict[str, list[str | None]] = {}
    for index, record in enumerate(records):
        for name in record:
            if name not in columns:
                columns[name] = [None] * index
        for name, values in columns.items():
            try:
                values.append(text(record.get(name)))
            except (RecursionError, ValueError):  # nested past what json.dumps can write
                raise too_deep(path, lines[index] if lines else None, index) from None
    if not columns:  # (polars has no frame of rows without columns: the caller counts them)
        return pl.DataFrame()
    return pl.DataFrame({name: pl.Series(name, values, dtype=pl.String)
                         for name, values in columns.items()}, height=len(records))


def too_deep(path: Path, line: int | None, index: int | None = None) -> SourceError:
    where = f" (row {index + 1})" if index is not None and line is None else ""
    return SourceError(path, f"a value is nested deeper than Python can read{where}", line=line,
                       hint="flatten the value; a row needs a few levels of nesting at most")


def decode_text(path: Path, encoding: str) -> str:
    """The whole file as text (JSON arrays; for JSON Lines, the error path of a bad byte)."""
    data = path.read_bytes()
    check_bom(path, encoding, data[:4])
    try:
        decoded = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SourceError(path, f"bytes at offset {exc.start} are not valid {encoding}", line=line,
                          hint="set `encoding:` on the source") from None
    if "\x00" in decoded:
        line = decoded.count("\n", 0, decoded.index("\x00")) + 1
        raise SourceError(path, "the file contains a NUL byte", line=line,
                          hint="remove it; is this really a text file?")
    return decoded.lstrip("\ufeff")
