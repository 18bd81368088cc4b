"""Column types and table definitions of the PostgreSQL target: the one place that maps syncer's
column types to PostgreSQL's, creates tables and tells how an existing table differs.

Rows travel as Arrow; a column whose Arrow form PostgreSQL cannot take in binary COPY straight
into its own type (``jsonb``: its binary form has a version byte; ``vector``: pgvector's own) is
loaded as text or ``real[]`` into a staging table and cast on the way in (:func:`cast_select`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ...model.schema import Column, Schema

#: syncer column type -> PostgreSQL type (vector: ``vector(dim)``, from the pgvector extension)
PG_TYPES: dict[str, str] = {
    "string": "text",
    "integer": "bigint",
    "float": "double precision",
    "boolean": "boolean",
    "date": "date",
    "json": "jsonb",
    "vector": "vector",
}
#: the types rows cannot be COPYed into straight from Arrow: loaded as the staging type, cast
STAGED: dict[str, str] = {"json": "text", "vector": "real[]"}
#: how a column is read back: as text where the driver would otherwise hand over objects
READ_AS: dict[str, str] = {"json": "::text", "vector": "::text"}


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, table: str) -> str:
    return f"{quote(schema)}.{quote(table)}"


def pg_type(column: Column) -> str:
    if column.type == "vector":
        return f"vector({column.dim})"
    return PG_TYPES[column.type]


def needs_staging(schema: Schema) -> bool:
    """Whether rows must pass through a staging table to reach their column types."""
    return any(c.type in STAGED for c in schema.columns)


def create_table(schema: Schema, table: str, *, key: bool = True) -> str:
    """``CREATE TABLE`` with the declared columns (and the key as primary key, with ``key``)."""
    columns = [f"{quote(c.name)} {pg_type(c)}" for c in schema.columns]
    if key and schema.key:
        columns.append(f"PRIMARY KEY ({', '.join(quote(k) for k in schema.key)})")
    return f"CREATE TABLE {table} ({', '.join(columns)})"


def add_key(schema: Schema, table: str) -> str:
    return f"ALTER TABLE {table} ADD PRIMARY KEY ({', '.join(quote(k) for k in schema.key)})"


def cast_select(schema: Schema, source: str) -> str:
    """``SELECT`` of every column from a staging table, cast to its table type."""
    return "SELECT " + ", ".join(
        f"{quote(c.name)}::{pg_type(c)}" if c.type in STAGED else quote(c.name)
        for c in schema.columns) + f" FROM {source}"


def upsert(schema: Schema, table: str, source: str) -> str:
    """``INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE`` from the staging table."""
    cols = ", ".join(quote(n) for n in schema.names)
    sql = f"INSERT INTO {table} AS t ({cols}) {cast_select(schema, source)}"
    if not schema.key:
        return sql
    conflict = ", ".join(quote(k) for k in schema.key)
    others = [n for n in schema.names if n not in schema.key]
    if not others:
        return sql + f" ON CONFLICT ({conflict}) DO NOTHING"
    update = ", ".join(f"{quote(n)} = excluded.{quote(n)}" for n in others)
    # a row whose values did not change is not rewritten (no dead tuple, no trigger)
    changed = " OR ".join(f"t.{quote(n)} IS DISTINCT FROM excluded.{quote(n)}"
                          for n in others)
    return sql + f" ON CONFLICT ({conflict}) DO UPDATE SET {update} WHERE {changed}"


def delete_using(schema: Schema, table: str, source: str) -> str:
    match = " AND ".join(f"t.{quote(k)} = d.{quote(k)}" for k in schema.key)
    return f"DELETE FROM {table} AS t USING {source} AS d WHERE {match}"


def select_back(schema: Schema, table: str, present: Sequence[str]) -> str:
    """The dataset's columns of ``table`` (a column the table lacks reads as NULL), in key
    order, each in a form the drift normalisation reads like a source value."""
    cols = ", ".join(
        f"{quote(c.name)}{READ_AS.get(c.type, '')} AS {quote(c.name)}" if c.name in present
        else f"NULL AS {quote(c.name)}" for c in schema.columns)
    order = [quote(k) for k in schema.key if k in present]
    return f"SELECT {cols} FROM {table}" + (f" ORDER BY {', '.join(order)}" if order else "")


@dataclass(frozen=True)
class Existing:
    """What an existing table looks like: ``columns`` (name -> ``format_type``) and its primary
    key or unique indexes (column tuples)."""

    columns: dict[str, str]
    not_null: frozenset[str]
    unique: frozenset[tuple[str, ...]]


def differences(schema: Schema, found: Existing) -> list[str]:
    """How an existing table differs from the declared columns (empty: it fits).

    A declared column the table has must have its type (one it lacks is added, empty); a keyed
    dataset needs a primary key or unique index on exactly its key; a column syncer does not
    write must accept NULL.
    """
    out: list[str] = []
    for column in schema.columns:
        have = found.columns.get(column.name)
        want = pg_type(column)
        if have is not None and have != want:
            out.append(f"column '{column.name}' is {have}, declared {want}")
    if schema.key and tuple(schema.key) not in found.unique:
        keys = ", ".join(schema.key)
        out.append(f"no primary key or unique index on ({keys})")
    for name in sorted(found.not_null - set(schema.names)):
        out.append(f"column '{name}' is NOT NULL but not declared (syncer would write NULL)")
    return out


EXISTING_SQL = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull AND NOT a.atthasdef
FROM pg_attribute a
WHERE a.attrelid = %(rel)s::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
UNIQUE_SQL = """
SELECT array_agg(a.attname ORDER BY k.ord)
FROM pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = %(rel)s::regclass AND i.indisunique AND i.indpred IS NULL
GROUP BY i.indexrelid
"""
