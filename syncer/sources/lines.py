"""Map record numbers back to line numbers, for error messages only (the slow path).

The fast readers count records, not lines: a quoted value may span lines, and blank lines are
skipped.  When an error must name a line, these helpers rescan the file once.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ..model.manifest import SourceSpec


def line_of_offset(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def json_element_offsets(text: str) -> list[int]:
    """Character offsets where each element of a top-level JSON array starts."""
    decoder = json.JSONDecoder()
    offsets: list[int] = []
    position = text.index("[") + 1
    length = len(text)
    while position < length:
        while position < length and text[position] in " \t\r\n,":
            position += 1
        if position >= length or text[position] == "]":
            break
        offsets.append(position)
        _, position = decoder.raw_decode(text, position)
    return offsets


def record_lines(path: Path, fmt: str, source: SourceSpec, records: list[int]) -> dict[int, int]:
    """Line number (1-based) of each 0-based data record in ``records``."""
    wanted = set(records)
    found: dict[int, int] = {}
    if not wanted:
        return found
    if fmt in ("csv", "tsv"):
        delimiter = source.delimiter or ("\t" if fmt == "tsv" else ",")
        return csv_line_of_record(path, source.encoding, delimiter, source.quotechar, wanted)
    if fmt == "parquet":
        return {r: r + 1 for r in wanted}
    text = path.read_bytes().decode(source.encoding, errors="replace").lstrip("\ufeff")
    if fmt == "jsonl":
        index = 0
        for number, raw in enumerate(text.split("\n"), start=1):  # as the reader splits
            if raw.strip():
                if index in wanted:
                    found[index] = number
                index += 1
        return found
    for index, offset in enumerate(json_element_offsets(text)):
        if index in wanted:
            found[index] = line_of_offset(text, offset)
    return found


def csv_line_of_record(path: Path, encoding: str, delimiter: str, quote: str,
                       wanted: set[int]) -> dict[int, int]:
    found: dict[int, int] = {}
    with path.open(encoding=encoding, newline="", errors="replace") as handle:
        reader = csv.reader(handle, delimiter=delimiter, quotechar=quote)
        start = 1
        next(reader, None)
        start = reader.line_num + 1
        index = 0
        for record in reader:
            if record:
                if index in wanted:
                    # the record starts on the first non-blank line after the previous one
                    found[index] = start
                    if len(found) == len(wanted):
                        break
                index += 1
            start = reader.line_num + 1
    return found
