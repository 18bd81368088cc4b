"""Reading an import CSV: decoding and splitting it into rows (:func:`parse_csv`), and reading a
cell as a number."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from .model import ImportFailure


@dataclass(frozen=True)
class CsvTable:
    """A parsed CSV: the header and ``(line number, values)`` per data row (header = line 1)."""

    header: tuple[str, ...]
    rows: tuple[tuple[int, tuple[str, ...]], ...]


def parse_csv(data: bytes) -> CsvTable:
    """Decode (UTF-8 without BOM, else CP932) and parse an import CSV."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp932")
        except UnicodeDecodeError as exc:
            raise ImportFailure(
                "invalid encoding", "the file is neither UTF-8 nor Shift_JIS (CP932)"
            ) from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = tuple(next(reader))
        rows: list[tuple[int, tuple[str, ...]]] = []
        # line_num counts physical lines read so far, so a record starts one after the last one.
        last_line = reader.line_num
        for values in reader:
            if values:  # csv yields [] for a blank line: not a row
                rows.append((last_line + 1, tuple(values)))
            last_line = reader.line_num
    except StopIteration:
        raise ImportFailure("empty file", "the file has no header row") from None
    except csv.Error as exc:
        raise ImportFailure("invalid csv", f"line {reader.line_num}: {exc}") from exc
    duplicates = sorted({c for c in header if header.count(c) > 1})
    if duplicates:
        raise ImportFailure("invalid header", f"duplicate columns: {', '.join(duplicates)}")
    return CsvTable(header, tuple(rows))


def is_number(value: str) -> bool:
    """Whether a cell holds a finite number."""
    try:
        number = float(value)
    except ValueError:
        return False
    return number == number and abs(number) != float("inf")


def as_number(value: str) -> int | float | str | None:
    """A number cell's value (``None`` when empty; the text itself when it is no number)."""
    text = value.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return value  # stored with validate=false: hand it back as it came
