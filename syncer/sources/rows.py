"""A dataset's rows: its files read, normalised and hashed, as a stream of blocks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import polars as pl

from ..errors import Problem, SourceError
from ..model.project import Dataset
from ..model.schema import KEY, ROW, SRC, Schema, display_key
from .lines import record_lines
from .header import check_columns
from .normalise import BadValues, LineLookup, typed
from .readers import read_file

__all__ = ["RowStream", "SourceRows", "duplicate_keys", "load_rows", "stream_rows"]


@dataclass(frozen=True)
class SourceRows:
    """A dataset's declared rows: typed value columns plus ``__k``, ``__h``, ``__src``, ``__row``."""

    dataset: Dataset
    schema: Schema
    frame: pl.DataFrame

    def lines(self, rows: pl.DataFrame) -> list[str]:
        """``file:line`` for each row of ``rows`` (which carries ``__src`` and ``__row``)."""
        out: list[str] = []
        for src, row in rows.select(SRC, ROW).iter_rows():
            path = self.dataset.files[src]
            line = record_lines(path, self.dataset.format, self.dataset.spec.source, [row]).get(row)
            out.append(f"{path.name}:{line}" if line else path.name)
        return out


@dataclass(frozen=True)
class RowStream:
    """A dataset's rows as they are read: normalised, hashed blocks in file order.

    Each block has the value columns, ``__src``, ``__row``, ``__h`` and, for a keyed dataset,
    ``__k`` (a keyless dataset's identity needs every row: see :meth:`Schema.digest`).  Blocks
    are produced lazily, so a caller that keeps only what it needs stays small in memory.
    """

    dataset: Dataset
    schema: Schema
    batches: Iterator[pl.DataFrame]


def stream_rows(dataset: Dataset) -> RowStream:
    """Open every file of ``dataset``; read errors surface while the blocks are consumed."""
    spec = dataset.spec
    # the declared source columns (a JSON Lines file's header can then come from its first block)
    wanted = (None if spec.columns is None
              else [c.source for c in Schema.declared(spec, []).columns])
    first = read_file(dataset.files[0], dataset.format, spec.source, wanted)
    if spec.columns is None:  # the file's names become the target's columns
        check_columns(dataset.files[0], first.columns)
    schema = Schema.declared(spec, first.columns or list(spec.key or ()))
    if not schema.names:
        raise SourceError(dataset.files[0], "the file has no rows and no columns, and the dataset "
                          "declares none", line=1,
                          hint="declare `columns:` in the manifest, so an empty file means no rows")

    def blocks() -> Iterator[pl.DataFrame]:
        # once a value does not fit, nothing more is yielded, but every block of every file is
        # still typed to count the bad values of each column exactly (vectorised, per block)
        tally = Tally()
        for index, path in enumerate(dataset.files):
            lookup = partial(record_lines, path, dataset.format, spec.source)
            try:
                raw = first if index == 0 else read_file(path, dataset.format, spec.source, wanted)
                if spec.columns is None and index and raw.columns != schema.names:
                    raise SourceError(path, "the columns differ from the first file of the glob "
                                      f"({', '.join(schema.names)})", line=1,
                                      hint="give every file the same header, or declare "
                                           "`columns:`")
                offset = 0
                for block in raw.batches:
                    block = block.with_columns(
                        pl.int_range(offset, offset + block.height, dtype=pl.Int64).alias(ROW))
                    offset += block.height
                    frame, bad = typed(block, schema, path)
                    bad += _empty_keys(schema, frame)
                    if bad or tally:
                        tally.add(path, lookup, bad)
                        continue
                    frame = frame.with_columns(pl.lit(index, dtype=pl.Int32).alias(SRC))
                    yield schema.hashed(frame)
            except SourceError as exc:
                if not tally:
                    raise
                tally.problems.extend(exc.problems)  # (a later unreadable row: said as well)
                break
        if tally:
            raise tally.error()

    return RowStream(dataset, schema, blocks())


def load_rows(dataset: Dataset) -> SourceRows:
    """Read, normalise and hash every row of ``dataset`` into one frame (small data, tests)."""
    stream = stream_rows(dataset)
    frames = list(stream.batches)
    schema = stream.schema
    frame = (pl.concat(frames, how="vertical") if frames
             else schema.empty_frame().with_columns(pl.lit(0, dtype=pl.Int32).alias(SRC),
                                                   pl.lit(0, dtype=pl.Int64).alias(ROW)).clear())
    frame = schema.digest(frame)
    if schema.key:
        dupes = frame.filter(pl.col(KEY).is_duplicated())
        if dupes.height:
            raise duplicate_keys(dataset, schema, dupes)
    return SourceRows(dataset, schema, frame)


class Tally:
    """Bad values found so far, per file and column: the first of each, and exact counts."""

    def __init__(self) -> None:
        self.found: dict[tuple[Path, str], tuple[BadValues, LineLookup]] = {}
        self.problems: list[Problem] = []  # problems of another kind, met while counting

    def __bool__(self) -> bool:
        return bool(self.found or self.problems)

    def add(self, path: Path, lines: LineLookup, bad: list[BadValues]) -> None:
        for each in bad:  # (a key's empty values are filed under KEY, no source column)
            seen = self.found.get((path, each.column))
            self.found[(path, each.column)] = (
                (each, lines) if seen is None
                else (replace(seen[0], count=seen[0].count + each.count), seen[1]))

    def error(self) -> SourceError:
        found = [bad.problem(path, lines) for (path, _), (bad, lines) in self.found.items()]
        return SourceError.of(found + self.problems)


def _empty_keys(schema: Schema, frame: pl.DataFrame) -> list[BadValues]:
    """Rows whose key (any part of it) is null or empty, as BadValues of the key."""
    if not schema.key:
        return []
    # only a text value can be "": a typed key is checked for nulls alone (no cast of a
    # million numbers to text)
    empty = frame.select(pl.any_horizontal(
        [pl.col(k).is_null() | (pl.col(k) == "") if frame.schema[k] == pl.String
         else pl.col(k).is_null() for k in schema.key])).to_series()
    count = int(empty.sum())
    if not count:
        return []
    record = int(frame.get_column(ROW)[int(empty.arg_true()[0])])
    return [BadValues(KEY, record, count, f"empty key value in {'/'.join(schema.key)}",
                      "every row needs a key value")]


def duplicate_keys(dataset: Dataset, schema: Schema, dupes: pl.DataFrame) -> SourceError:
    """The error for rows (``__k``, ``__src``, ``__row``) whose key appears more than once."""
    dupes = dupes.sort(KEY, SRC, ROW)
    sample = dupes.head(6)
    where = _where(dataset, sample)
    lines = ", ".join(f"{display_key(k)} (line {line})" for k, (_, line)
                      in zip(sample.get_column(KEY).to_list(), where))
    keys = dupes.get_column(KEY).n_unique()
    path, first_line = where[0]
    return SourceError(path, f"duplicate key in {'/'.join(schema.key)}: {keys} key(s) appear "
                       f"more than once: {lines}", line=first_line,
                       hint="make the key unique, or choose other key columns")


def _where(dataset: Dataset, rows: pl.DataFrame) -> list[tuple[Path, int | None]]:
    out = []
    for src, row in rows.select(SRC, ROW).iter_rows():
        path = dataset.files[src]
        out.append((path, record_lines(path, dataset.format, dataset.spec.source, [row]).get(row)))
    return out

