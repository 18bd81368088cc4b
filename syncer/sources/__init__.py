"""Sources: read a dataset's files into normalised, hashed rows, and fingerprint them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import polars as pl

from ..errors import SourceError
from ..project import Dataset
from ..schema import KEY, ROW, SRC, Schema, display_key
from .fingerprint import FileStamp, fingerprint, unchanged
from .lines import record_lines
from .normalise import normalise
from .readers import read_file

__all__ = ["FileStamp", "SourceRows", "fingerprint", "load_rows", "unchanged"]


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


def load_rows(dataset: Dataset) -> SourceRows:
    """Read, normalise and hash every file of ``dataset`` (in file order)."""
    spec = dataset.spec
    frames: list[pl.DataFrame] = []
    schema: Schema | None = None
    for index, path in enumerate(dataset.files):
        raw = read_file(path, dataset.format, spec.source)
        raw = raw.with_columns(pl.int_range(raw.height, dtype=pl.Int64).alias(ROW))
        names = [c for c in raw.columns if c != ROW]
        if not names and raw.height == 0:
            names = list(spec.key or ())  # an empty JSON (Lines) file names no columns
        file_schema = Schema.declared(spec, names)
        if schema is None:
            schema = file_schema
        elif spec.columns is None and file_schema.names != schema.names:
            raise SourceError(path, "the columns differ from the first file of the glob "
                              f"({', '.join(schema.names)})", line=1,
                              hint="give every file the same header, or declare `columns:`")
        lookup = partial(record_lines, path, dataset.format, spec.source)
        frame = normalise(raw, schema, path, lookup)
        frames.append(frame.with_columns(pl.lit(index, dtype=pl.Int32).alias(SRC)))
    assert schema is not None
    frame = pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0]
    _check_keys(dataset, schema, frame)
    return SourceRows(dataset, schema, schema.digest(frame))


def _check_keys(dataset: Dataset, schema: Schema, frame: pl.DataFrame) -> None:
    if not schema.key:
        return
    empty = pl.any_horizontal(
        [pl.col(k).is_null() | (pl.col(k).cast(pl.String) == "") for k in schema.key])
    blanks = frame.filter(empty)
    if blanks.height:
        where = _where(dataset, blanks.head(1))
        path, line = where[0]
        raise SourceError(path, f"empty key value in {'/'.join(schema.key)}"
                          f"{f' ({blanks.height - 1} more rows like it)' if blanks.height > 1 else ''}",
                          line=line, hint="every row needs a key value")
    dupes = frame.filter(pl.struct(list(schema.key)).is_duplicated())
    if dupes.height:
        dupes = dupes.with_columns(schema.identity().alias(KEY)).sort(KEY, SRC, ROW)
        sample = dupes.head(6)
        where = _where(dataset, sample)
        lines = ", ".join(f"{display_key(k)} (line {line})" for k, (_, line)
                          in zip(sample.get_column(KEY).to_list(), where))
        keys = dupes.get_column(KEY).n_unique()
        path, first_line = where[0]
        raise SourceError(path, f"duplicate key in {'/'.join(schema.key)}: {keys} key(s) appear "
                          f"more than once: {lines}", line=first_line,
                          hint="make the key unique, or choose other key columns")


def _where(dataset: Dataset, rows: pl.DataFrame) -> list[tuple["Path", int | None]]:
    out = []
    for src, row in rows.select(SRC, ROW).iter_rows():
        path = dataset.files[src]
        out.append((path, record_lines(path, dataset.format, dataset.spec.source, [row]).get(row)))
    return out


from pathlib import Path  # noqa: E402  (used in annotations above)
