"""What can be known of a source from its first bytes: the CSV header, the byte order mark an
encoding needs, a Parquet file's column names; and the rules a file's own column names must
follow when they become the dataset's columns (no ``columns:`` declared).

Used by the readers and by ``syncer validate``, so validate refuses what plan would.  A header
is read from at most :data:`MAX_HEADER_BYTES`: a file of zeros or one endless line is refused
from its first megabyte, never read whole.
"""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

from ..errors import Problem, SourceError
from ..model.manifest import SourceSpec
from ..model.names import column_problems

MAX_HEADER_BYTES = 1 << 20
# Python's csv refuses fields over 128 KiB by default ("field larger than field limit"); a
# header is bounded above and the error path (line numbers) reads fields of any length
csv.field_size_limit(1 << 30)

_BOMS = {"utf-16": (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE),
         "utf-32": (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)}


def check_bom(path: Path, encoding: str, head: bytes) -> None:
    """``utf-16`` / ``utf-32`` without a byte order mark would be guessed (wrongly, often):
    refuse, and name the encodings that say the byte order."""
    name = codecs.lookup(encoding).name
    boms = _BOMS.get(name)
    if boms and head and not head.startswith(boms):
        raise SourceError(path, f"the file starts with no {encoding} byte order mark", line=1,
                          hint=f"set `encoding: {name}-le` or `{name}-be` (the byte order), or "
                               "`utf-8` if the file is UTF-8")


def read_header(path: Path, delimiter: str, quote: str, encoding: str) -> list[str]:
    """The names in the first record of a CSV file (stripped, BOM removed), checked to be
    unique and non-empty; SourceErrors at line 1 otherwise."""
    with path.open("rb") as handle:
        head = handle.read(MAX_HEADER_BYTES + 1)
    check_bom(path, encoding, head)
    complete = len(head) <= MAX_HEADER_BYTES
    # undecodable bytes after the header are the rows' business (the reader names their line)
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head, final=complete)
    bad, nul, end = (_find(text, c) for c in ("\ufffd", "\x00", "\n"))
    if bad < min(nul, end):  # the first line is not text in this encoding
        raise _undecodable(path, head, encoding)
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise SourceError(path, "the file contains a NUL byte", line=line,
                          hint="remove it; is this really a text file?")
    buffer = io.StringIO(text, newline="")
    try:
        first = next(csv.reader(buffer, delimiter=delimiter, quotechar=quote), None)
    except csv.Error as exc:
        raise SourceError(path, f"malformed header: {exc}", line=1,
                          hint="check the quoting of the header row") from None
    if not complete and buffer.tell() >= len(text):
        raise SourceError(path, f"the header row is longer than {MAX_HEADER_BYTES >> 20} MiB",
                          line=1, hint="is this really a CSV file, with a header row?")
    if first is None or not any(cell.strip() for cell in first):
        raise SourceError(path, "the file is empty: there is no header row",
                          line=1, hint="add a header row naming the columns")
    if any("\ufffd" in cell for cell in first):
        raise _undecodable(path, head, encoding)
    names = [cell.lstrip("\ufeff").strip() for cell in first]
    seen: set[str] = set()
    for index, name in enumerate(names):
        if not name:
            raise SourceError(path, f"column {index + 1} of the header has no name", line=1,
                              hint="give every column a name in the header row")
        if name in seen:
            raise SourceError(path, f"the header names column '{name}' twice", line=1,
                              hint="rename one of the two columns")
        seen.add(name)
    return names


def _find(text: str, char: str) -> int:
    at = text.find(char)
    return len(text) if at < 0 else at


def _undecodable(path: Path, head: bytes, encoding: str) -> SourceError:
    try:
        head.decode(encoding)
    except UnicodeDecodeError as exc:
        return SourceError(path, f"byte 0x{head[exc.start]:02x} is not valid {encoding}",
                           line=head.count(b"\n", 0, exc.start) + 1,
                           hint="set `encoding:` on the source (e.g. cp932 for Shift_JIS "
                                "files), or fix the file")
    return SourceError(path, f"the header is not valid {encoding}", line=1,
                       hint="set `encoding:` on the source")


def check_columns(path: Path, names: list[str]) -> None:
    """A file's column names as the dataset's columns (no ``columns:``): what the target or
    syncer's bookkeeping cannot hold is an error at line 1 (the header, or the first row)."""
    found = column_problems(names)
    if found:
        _, message, hint = found[0]
        more = f" (and {len(found) - 1} more problems with its column names)" if len(found) > 1 else ""
        raise SourceError(path, message + more, line=1, hint=hint)


def parquet_names(path: Path) -> list[str]:
    """A Parquet file's column names, from its footer; unnamed columns are errors."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]

    try:
        names: list[str] = pq.read_schema(path).names
    except Exception as exc:  # pyarrow raises several types for a bad file
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SourceError(path, f"not a readable Parquet file ({first})",
                          hint="check that the file is Parquet, or set `format:`") from None
    check_named(path, names)
    return names


def check_named(path: Path, names: list[str]) -> None:
    for index, name in enumerate(names):
        if not name.strip():
            raise SourceError(path, f"column {index + 1} has no name",
                              hint="give every column a name when writing the file")


def source_problems(path: Path, fmt: str, source: SourceSpec, declared: dict[str, str] | None,
                    key: list[str]) -> list[Problem]:
    """What ``syncer validate`` can tell of one source file without reading its rows.
    ``declared``: output column -> source column (None: every column of the file)."""
    try:
        if fmt in ("csv", "tsv"):
            names = read_header(path, source.delimiter or ("\t" if fmt == "tsv" else ","),
                                source.quotechar, source.encoding)
        elif fmt == "parquet":
            names = parquet_names(path)
        else:  # JSON: the columns are known only once every row is read
            with path.open("rb") as handle:
                check_bom(path, source.encoding, handle.read(4))
            return []
        if declared is None:
            check_columns(path, names)
            wanted = {k: k for k in key}
        else:
            wanted = declared
        for name, column in wanted.items():
            if column not in names:
                what = "key column" if declared is None else "column"
                raise SourceError(path, f"{what} '{column}' is not in the file", line=1)
    except SourceError as exc:
        return [exc.problem]
    except OSError as exc:
        return [Problem(path, None, f"cannot read the source: {exc.strerror}")]
    return []
