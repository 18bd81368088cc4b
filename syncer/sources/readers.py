"""Readers: one data file -> a polars frame of raw columns (text, or native types for Parquet).

CSV/TSV go through pyarrow's multi-threaded parser (it rejects ragged rows, skips blank lines,
transcodes any Python codec and treats empty and ``""`` alike as null, so re-quoting a file is not
a change).  JSON is parsed with the standard library, values turned into one canonical text form;
JSON Lines are streamed in blocks to the same text (jsonl.py).  Parquet is read by polars.  Every failure becomes a SourceError that names
the file and, when it can be known, the line.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ..errors import SourceError
from ..model.manifest import SourceSpec
from .ahead import read_ahead
from .csv_parallel import Unsafe, arrow_options, parallel_blocks
from .header import check_named, read_header
from .jsonl import decode_text, frame_from_records, read_jsonl, too_deep
from .lines import line_of_offset


@dataclass(frozen=True)
class RawFile:
    """A source file opened for reading: its column names, and its rows in blocks."""

    columns: list[str]
    batches: Iterator[pl.DataFrame]


def read_file(path: Path, fmt: str, source: SourceSpec,
              columns: list[str] | None = None) -> RawFile:
    """Open one file; its blocks have one column per source column, rows in file order.
    ``columns``: the source columns the dataset declares (None: all; JSON Lines reads its
    header from the first block when it holds them all)."""
    with _translated(path):
        if fmt in ("csv", "tsv"):
            return _read_csv(path, fmt, source)
        if fmt == "jsonl":
            header, blocks = read_jsonl(path, source.encoding, columns)
            # the next block is parsed on a worker thread while the caller works on this one
            return RawFile(header, read_ahead(_guarded(path, blocks)))
        if fmt == "json":
            return _whole(_read_json(path, source))
        if fmt == "parquet":
            return _read_parquet(path)
    raise SourceError(path, f"unsupported format '{fmt}'")


def _whole(frame: pl.DataFrame) -> RawFile:
    return RawFile(frame.columns, iter([frame]))


def _guarded(path: Path, blocks: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    """``blocks``, with file-system errors met while they are read as SourceErrors."""
    with _translated(path):
        yield from blocks


@contextmanager
def _translated(path: Path) -> Iterator[None]:
    """File-system errors, at open or in the middle of a read, as SourceErrors."""
    try:
        yield
    except FileNotFoundError:
        raise SourceError(path, "the source file disappeared while it was being read",
                          hint="make sure nothing deletes or renames it during a run") from None
    except IsADirectoryError:
        raise SourceError(path, "the source is a directory, not a file") from None
    except PermissionError:
        raise SourceError(path, "permission denied", hint="make the file readable") from None


def _read_csv(path: Path, fmt: str, source: SourceSpec) -> RawFile:
    """Stream the file through pyarrow in blocks; each block becomes a polars frame."""
    delimiter = source.delimiter or ("\t" if fmt == "tsv" else ",")
    try:
        header = _header(path, delimiter, source.quotechar, source.encoding)
    except UnicodeDecodeError as exc:
        raise _decode_error(path, source.encoding) or SourceError(
            path, f"the header is not valid {source.encoding} ({exc.reason})", line=1) from None
    # the next block is parsed on a worker thread while the caller works on this one
    return RawFile(header, read_ahead(_csv_blocks(path, source, delimiter, header)))


def _csv_blocks(path: Path, source: SourceSpec, delimiter: str,
                header: list[str]) -> Iterator[pl.DataFrame]:
    import pyarrow as pa

    utf8 = codecs.lookup(source.encoding).name in ("utf-8", "utf-8-sig")
    block, yielded = _BLOCK, 0
    if utf8:
        # in UTF-8 a NUL byte is a NUL character: one memchr over the raw bytes replaces a
        # search of every decoded value
        try:
            with _translated(path):
                if _has_nul(path):
                    raise _stray_error(path, source.encoding)
                # on every core; from a segment it cannot trust on, read serially (below)
                for frame in parallel_blocks(path, arrow_options(header, "utf8", delimiter,
                                                                 source.quotechar, block)):
                    yielded += frame.height
                    yield frame
                return
        except (Unsafe, pa.ArrowException, UnicodeDecodeError):
            pass
    while True:
        skip = yielded  # after a restart, the rows already yielded are read again and dropped
        try:
            with _translated(path):
                for frame in _arrow_blocks(path, source, delimiter, header, utf8, block):
                    if skip:
                        dropped = min(skip, frame.height)
                        frame, skip = frame.slice(dropped), skip - dropped
                        if not frame.height:
                            continue
                    if not utf8 and frame.width and frame.select(pl.any_horizontal(
                            pl.all().str.contains(_STRAY, literal=True).fill_null(False)
                    ).any()).item():
                        raise _stray_error(path, source.encoding)
                    yielded += frame.height
                    yield frame
                return
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            # a field longer than a block: read again with bigger blocks
            if "straddl" in str(exc) and block < _MAX_BLOCK:
                block *= 8
                continue
            if "Could not skip initial" in str(exc) and _header_only(path, source, delimiter):
                return  # a header with no newline after it: no rows, not an error
            raise _diagnose(path, source, delimiter, str(exc)) from None


def _arrow_blocks(path: Path, source: SourceSpec, delimiter: str, header: list[str], utf8: bool,
                  block: int) -> Iterator[pl.DataFrame]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    read, parse, convert = arrow_options(header, "utf8" if utf8 else source.encoding, delimiter,
                                         source.quotechar, block)
    reader = pacsv.open_csv(path, read_options=read, parse_options=parse,
                            convert_options=convert)
    pool = pa.default_memory_pool()
    for batch in reader:
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        del batch
        yield frame
        # the block was freed on other threads: give its pages back now, or the allocator
        # keeps every block's (about 150 MB over a 100 MB file)
        pool.release_unused()


_STRAY = "\x00"  # a NUL: binary data, never text (JSON sources refuse it too)


def _has_nul(path: Path) -> bool:
    buffer = bytearray(8 << 20)  # one buffer, reused (see fingerprint._hash)
    with path.open("rb", buffering=0) as handle:
        while size := handle.readinto(buffer):
            if buffer.find(b"\x00", 0, size) >= 0:
                return True
    return False


def _stray_error(path: Path, encoding: str) -> SourceError:
    text = path.read_bytes().decode(encoding, errors="replace")
    line = text.count("\n", 0, max(text.find("\x00"), 0)) + 1
    return SourceError(path, "the file contains a NUL byte", line=line,
                       hint="remove it; is this really a text file?")


_MAX_BLOCK = 1 << 30  # a field may be up to ~1 GB
_BLOCK = 4 << 20  # ~40k rows a block: per-block work amortised, little memory in flight


def _diagnose(path: Path, source: SourceSpec, delimiter: str, text: str) -> SourceError:
    """The parser failed: find out why and where, reading the file again (error path only)."""
    decode = _decode_error(path, source.encoding)
    if decode is not None:
        return decode
    return _csv_error(path, source, delimiter, text)


def _decode_error(path: Path, encoding: str) -> SourceError | None:
    """The first undecodable bytes of ``path`` as an error with their line, or None."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    line = 1
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line += chunk.count(b"\n", 0, exc.start)
                return SourceError(path, f"byte 0x{chunk[exc.start]:02x} is not valid {encoding}",
                                   line=line,
                                   hint="set `encoding:` on the source (e.g. cp932 for "
                                        "Shift_JIS files), or fix the file")
            line += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return SourceError(path, f"the file ends in the middle of a {encoding} character",
                               line=line, hint="the file was cut short, or is not "
                                               f"{encoding}: set `encoding:` on the source")
    return None


def _header_only(path: Path, source: SourceSpec, delimiter: str) -> bool:
    import csv

    with path.open(encoding=source.encoding, newline="", errors="replace") as handle:
        records = csv.reader(handle, delimiter=delimiter, quotechar=source.quotechar)
        return next(records, None) is not None and next(records, None) is None


def _header(path: Path, delimiter: str, quote: str, encoding: str) -> list[str]:
    return read_header(path, delimiter, quote, encoding)  # (a seam for the tests)


def _csv_error(path: Path, source: SourceSpec, delimiter: str, text: str) -> SourceError:
    """Turn a pyarrow parse error into a message with the real line number (slow path only)."""
    import csv

    with path.open(encoding=source.encoding, newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter, quotechar=source.quotechar, strict=True)
        try:
            expected = len(next(reader))
            for record in reader:
                if record and len(record) != expected:
                    return SourceError(path, f"row has {len(record)} fields, the header has {expected}",
                                       line=reader.line_num,
                                       hint="fix the row (a missing delimiter or an unquoted "
                                            f"'{delimiter}' inside a value?)")
        except csv.Error as exc:
            return SourceError(path, f"malformed CSV: {exc}", line=reader.line_num,
                               hint="check the quoting on that line")
    return SourceError(path, f"cannot parse CSV: {text.splitlines()[0] if text else 'unknown error'}")


def _read_json(path: Path, source: SourceSpec) -> pl.DataFrame:
    text = decode_text(path, source.encoding)
    if not text.strip():
        raise SourceError(path, "the file is empty", line=1, hint="write `[]` for no rows")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(path, f"invalid JSON: {exc.msg}", line=exc.lineno,
                          hint="check brackets, commas and quotes on that line") from None
    except RecursionError:
        raise too_deep(path, _deep_line(text)) from None
    if not isinstance(value, list):
        raise SourceError(path, f"expected a top-level array of objects, found {type(value).__name__}",
                          line=1, hint="write the rows as [{...}, {...}]")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise SourceError(path, f"row {index + 1} is a {type(item).__name__}, not an object",
                              line=line_of_offset(text, _element_offset(text, index)),
                              hint="every array element must be an object")
    try:
        frame = frame_from_records(path, value, [])
    except SourceError as exc:
        if exc.line is not None or "nested" not in exc.message:
            raise
        raise too_deep(path, _deep_line(text)) from None
    if value and not frame.width:
        raise SourceError(path, "every row is an empty object: the file has no columns", line=1,
                          hint="write the rows' fields, or `[]` for no rows")
    return frame


def _deep_line(text: str) -> int | None:
    """The line where the nesting is deepest first reached past 500 levels (error path)."""
    import re

    depth = 0
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text):
        token = match.group(0)
        if token in "[{":
            depth += 1
            if depth > 500:
                return line_of_offset(text, match.start())
        elif token in "]}":
            depth -= 1
    return None


def _element_offset(text: str, index: int) -> int:
    from .lines import json_element_offsets

    offsets = json_element_offsets(text)
    return offsets[index] if index < len(offsets) else 0


#: rows of a Parquet file read at once: a larger file is read in slices of this many rows
PARQUET_SLICE = 262_144


def _read_parquet(path: Path) -> RawFile:
    """A Parquet file, in slices of PARQUET_SLICE rows (polars reads the row groups a slice
    needs), so a file of millions of rows is never whole in memory; a smaller one at once."""
    try:
        lazy = pl.scan_parquet(path)
        columns = lazy.collect_schema().names()
        total = lazy.select(pl.len()).collect().item()
        whole = pl.read_parquet(path) if total <= PARQUET_SLICE else None
    except Exception as exc:  # polars raises several unrelated types for a bad file
        raise _parquet_error(path, exc) from None
    check_named(path, columns)
    if whole is not None:
        return _whole(whole)

    def slices() -> Iterator[pl.DataFrame]:
        for start in range(0, total, PARQUET_SLICE):
            try:
                frame = lazy.slice(start, PARQUET_SLICE).collect()
            except Exception as exc:
                raise _parquet_error(path, exc) from None
            yield frame

    return RawFile(columns, slices())


def _parquet_error(path: Path, exc: Exception) -> SourceError:
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return SourceError(path, f"not a readable Parquet file ({first})",
                       hint="check that the file is Parquet, or set `format:`")
