"""A large UTF-8 CSV parsed on every core, in file order, with pyarrow's exact semantics.

pyarrow's streaming CSV reader parses one block after another on one thread: for the bench's
108 MB file that is most of the read phase, while the other core waits.  Here the file is cut
into segments of about :data:`SEGMENT` bytes, each just after a newline; each segment is parsed
by a pyarrow reader of its own (the same options as the serial reader) on a worker thread, and
the frames are handed on in file order, a few segments ahead at most (memory stays flat).

A cut is a row boundary only if the newline before it ends a row, which a byte search cannot
know: the newline may be inside a quoted value (``"two\\nlines"``).  The parse itself tells: a
segment whose reader was inside quotes at its end reads the newline into the open value, which
is the last column of its last row (a row with fewer or more fields is a parse error), so that
value ends in a newline.  A segment that ends in such a value, that has no rows, or that fails
to parse at all is not trusted: :class:`Unsafe` is raised before any of its rows are handed on,
and the caller reads the rest of the file serially (which also finds and reports a real error
exactly as before).  A value that really ends in a newline costs a serial read, never a wrong row.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl

#: bytes per segment: the serial reader's block size (per-block work amortised, little memory)
SEGMENT = 4 << 20
#: a file smaller than this is read serially (one or two segments gain nothing)
MIN_BYTES = 3 * SEGMENT
#: a segment over this many times SEGMENT (its lines are that long) is not read whole: the
#: serial reader streams the rest of the file
_LONGEST = 8
#: how far a cut looks for the next newline at a time
_PROBE = 64 << 10


class Unsafe(Exception):
    """A segment cannot be trusted (see the module docstring): read the rest serially."""


def workers() -> int:
    """Parsing threads: the cores this process may use (two on the bench machine)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        usable = os.cpu_count() or 1
    return max(1, min(usable, 4))


def parallel_blocks(path: Path, options: tuple[Any, Any, Any]) -> Iterator[pl.DataFrame]:
    """The rows of ``path`` as frames in file order, parsed ``workers()`` segments at a time.

    ``options`` are the serial reader's (read, parse, convert) options, its ``skip_rows``
    skipping the header.  Raises :class:`Unsafe` (before yielding the segment concerned) when a
    segment cannot be trusted, or a pyarrow error of a segment; a file-system error as itself.
    """
    import pyarrow as pa

    size = path.stat().st_size
    if size < MIN_BYTES or not hasattr(os, "pread"):  # (no pread: Windows)
        raise Unsafe(f"{path}: read serially")
    count = -(-size // SEGMENT)
    threads = workers()
    fd = os.open(path, os.O_RDONLY)
    pool = ThreadPoolExecutor(threads, thread_name_prefix="syncer-csv")
    pending: deque[Future[tuple[pl.DataFrame, bool]]] = deque()
    try:
        submitted = 0
        for index in range(count):
            while submitted < count and len(pending) <= threads:
                pending.append(pool.submit(_segment, fd, size, submitted, count, options))
                submitted += 1
            frame, trusted = pending.popleft().result()
            if not trusted:
                raise Unsafe(f"segment {index} of {path} ends inside a quoted value")
            if frame.height:
                yield frame
            del frame
            pa.default_memory_pool().release_unused()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        os.close(fd)


def _segment(fd: int, size: int, index: int, count: int, options: tuple[Any, Any, Any]
             ) -> tuple[pl.DataFrame, bool]:
    """Parse segment ``index``; also say whether its end is a proven row boundary (the last
    segment's always is: it ends with the file)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    start, end = _cut(fd, size, index), _cut(fd, size, index + 1)
    last = index == count - 1
    if end <= start:  # past the end (trusted), or inside a line longer than a segment
        return pl.DataFrame(), last or start >= size
    if end - start > _LONGEST * SEGMENT:  # lines of many segments (or no \n at all): stream them
        return pl.DataFrame(), False
    data = os.pread(fd, end - start, start)
    read, parse, convert = options
    # one block for the whole segment (no row straddles two), the header in the first only
    read = pacsv.ReadOptions(encoding=read.encoding, column_names=read.column_names,
                             skip_rows=read.skip_rows if index == 0 else 0,
                             block_size=len(data) + 1, use_threads=False)
    table = pacsv.read_csv(pa.BufferReader(data), read_options=read, parse_options=parse,
                           convert_options=convert)
    del data
    trusted = last or (table.num_rows > 0 and not _ends_in_newline(table))
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame, trusted


def arrow_options(header: list[str], encoding: str, delimiter: str, quote: str | bool,
                  block: int) -> tuple[Any, Any, Any]:
    """pyarrow's (read, parse, convert) options for a source: every column as text, only an
    empty field null."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    return (
        pacsv.ReadOptions(encoding=encoding, column_names=header, skip_rows=1, block_size=block),
        pacsv.ParseOptions(delimiter=delimiter, quote_char=quote, newlines_in_values=True),
        pacsv.ConvertOptions(
            column_types={name: pa.large_string() for name in header},
            # only an empty field is null: pyarrow's default list ("NA", "null", "nan",
            # "N/A", ...) would turn real text such as the country code NA into nulls
            null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=True),
    )


def _ends_in_newline(table: Any) -> bool:
    value = table.column(table.num_columns - 1)[table.num_rows - 1].as_py()
    return isinstance(value, str) and value.endswith("\n")


def _cut(fd: int, size: int, index: int) -> int:
    """Where segment ``index`` starts: just after the first newline at or after
    ``index * SEGMENT`` (0 for the first, ``size`` past the end or when no newline follows)."""
    if index == 0:
        return 0
    at = index * SEGMENT
    while at < size:
        probe = os.pread(fd, _PROBE, at)
        found = probe.find(b"\n")
        if found >= 0:
            return at + found + 1
        at += len(probe) or size
    return size
