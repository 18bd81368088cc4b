"""The column schema of a dataset: names, types, key; and how rows are identified and hashed.

Rows travel as polars frames with typed value columns plus two bookkeeping columns:
``__k`` (the row's identity: its key, or its content plus occurrence number) and ``__h`` (a
64-bit hash of every value).  Values are normalised before hashing, so a file re-saved with
other quoting or number formatting is not a change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

import xxhash

if TYPE_CHECKING:
    import polars as pl

    from .manifest import ColumnSpec, ColumnType, DatasetSpec

KEY = "__k"
HASH = "__h"
SRC = "__src"   # index of the source file a row came from
ROW = "__row"   # 0-based record number within that file
BOOKKEEPING = (KEY, HASH, SRC, ROW)
KEY_SEPARATOR = "\x1f"


@cache
def hash_version() -> str:
    """Identifies the row hash function; stored with every snapshot so an upgrade can rehash.
    (A function: polars is imported only by the commands that hash rows.)"""
    import polars as pl

    return f"polars-{pl.__version__}"


@cache
def _dtypes() -> dict[str, pl.DataType]:
    import polars as pl

    # datetime and decimal travel as their canonical text (UTC ``2013-01-01T10:00:00Z``,
    # ``12.50``): exact, hashed and keyed as text, and stored as text where a target has no
    # better type (see docs/manifests.md)
    return {"string": pl.String(), "integer": pl.Int64(), "float": pl.Float64(),
            "boolean": pl.Boolean(), "date": pl.Date(), "datetime": pl.String(),
            "decimal": pl.String(), "json": pl.String()}


@dataclass(frozen=True)
class Column:
    """One output column.  ``scale`` shapes the values (decimal); ``nulls`` (the values read
    as null) and ``timezone`` (of naive datetimes) only say how the source is read, so they are
    neither stored with the schema nor part of its seed."""

    name: str
    type: ColumnType
    source: str
    dim: int | None = None
    scale: int | None = None
    nulls: tuple[str, ...] = field(default=(), compare=False)
    timezone: str = field(default="UTC", compare=False)

    @property
    def dtype(self) -> pl.DataType:
        import polars as pl
        if self.type == "vector":
            return pl.List(pl.Float32())
        return _dtypes()[self.type]


@dataclass(frozen=True)
class Schema:
    """Output columns (in declared order) and the key columns (empty: identity by content)."""

    columns: tuple[Column, ...]
    key: tuple[str, ...]

    @classmethod
    def declared(cls, spec: DatasetSpec, source_columns: list[str]) -> Schema:
        """The schema a dataset declares; without ``columns:`` every source column is text."""
        nulls = tuple(spec.source.null_values or ())
        if spec.columns is None:
            cols = tuple(Column(name, "string", name, nulls=nulls) for name in source_columns)
        else:
            cols = tuple(_column(name, c, nulls, spec.timezone)
                         for name, c in spec.columns.items())
        return cls(cols, tuple(spec.key or ()))

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def polars_schema(self) -> dict[str, pl.DataType]:
        return {c.name: c.dtype for c in self.columns}

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def to_json(self) -> str:
        # a decimal's scale is a fifth element; the other columns keep the four of before
        return json.dumps({"columns": [[c.name, c.type, c.source, c.dim,
                                        *([c.scale] if c.scale is not None else [])]
                                       for c in self.columns],
                           "key": list(self.key)})

    @classmethod
    def from_json(cls, text: str) -> Schema:
        data = json.loads(text)
        return cls(tuple(Column(*column) for column in data["columns"]), tuple(data["key"]))

    @property
    def seed(self) -> int:
        """Hash seed derived from names and types: a schema change changes every row hash."""
        shape = json.dumps([[c.name, c.type, c.dim] for c in self.columns])
        return xxhash.xxh3_64_intdigest(shape.encode()) & 0x7FFF_FFFF_FFFF_FFFF

    def hashed(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Add ``__h`` (and, for a keyed schema, ``__k``) to one block of normalised rows."""
        import polars as pl
        values = frame.select(self.names) if self.columns else frame.select(pl.lit(0))
        hashed = frame.with_columns(values.hash_rows(seed=self.seed).alias(HASH))
        return hashed.with_columns(self.identity().alias(KEY)) if self.key else hashed

    def digest(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Add ``__h`` and ``__k`` to all the rows (vectorised, no per-row Python).  A keyless
        identity counts occurrences of equal rows, so it needs every row at once."""
        if HASH not in frame.columns or (self.key and KEY not in frame.columns):
            frame = self.hashed(frame.drop(HASH, KEY, strict=False))
        return frame if self.key else frame.with_columns(self.identity().alias(KEY))

    def rehash(self, snapshot: pl.DataFrame, old: Schema | None) -> pl.DataFrame:
        """``snapshot`` (rows hashed under ``old`` or another hash version) hashed under this
        schema, when it holds the same columns with the same dtypes.  The same columns in another
        order (JSON keys, a CSV re-saved with its columns moved) are the same rows; otherwise the
        rows are returned as they are, and differ from the declared ones, as they should.
        """
        if old is not None and set(old.names) == set(self.names) and all(
                snapshot.schema.get(c.name) == c.dtype for c in self.columns):
            return self.digest(snapshot.drop(HASH, KEY))
        return snapshot

    def identity(self) -> pl.Expr:
        import polars as pl
        if len(self.key) == 1:
            return pl.col(self.key[0]).cast(pl.String)
        if self.key:
            return pl.concat_str([pl.col(k).cast(pl.String) for k in self.key],
                                 separator=KEY_SEPARATOR)
        # no key: the whole row plus its occurrence number, so duplicates stay distinct rows
        occurrence = pl.int_range(pl.len()).over(HASH)
        return pl.format("{}#{}", pl.col(HASH), occurrence)

    def key_columns(self, keys: pl.DataFrame) -> pl.DataFrame:
        """Typed key columns rebuilt from identities (``__k``), plus ``__k`` itself."""
        import polars as pl
        if not self.key:
            return keys.select(KEY)
        text = pl.col(KEY)
        if len(self.key) > 1:
            parts = text.str.split_exact(KEY_SEPARATOR, len(self.key) - 1)
            exprs = [parts.struct.field(f"field_{i}") for i in range(len(self.key))]
        else:
            exprs = [text]
        out = []
        for name, expr in zip(self.key, exprs):
            column = self.column(name)
            if column.type == "integer":
                expr = expr.cast(pl.Int64)
            elif column.type == "float":
                expr = expr.cast(pl.Float64)
            elif column.type == "date":
                expr = expr.str.to_date("%Y-%m-%d", cache=False)
            elif column.type == "boolean":
                expr = expr == "true"
            out.append(expr.alias(name))
        return keys.select(*out, pl.col(KEY))

    def empty_frame(self) -> pl.DataFrame:
        import polars as pl
        return pl.DataFrame(schema={**self.polars_schema, HASH: pl.UInt64(), KEY: pl.String()})


def _column(name: str, spec: ColumnSpec, nulls: tuple[str, ...], timezone: str | None
            ) -> Column:
    own = spec.null_values
    return Column(name, spec.type, spec.from_ or name, spec.dim, spec.scale,
                  nulls=tuple(own) if own is not None else nulls,
                  timezone=spec.timezone or timezone or "UTC")


def display_key(key: str) -> str:
    return key.replace(KEY_SEPARATOR, ", ")
