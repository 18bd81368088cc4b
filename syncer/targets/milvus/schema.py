"""Collection schemas as syncer declares them and compares them: the mapping from a dataset's
columns to Milvus fields, shared by the milvus and zilliz targets (same field types)."""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import TargetError
from ...model.schema import Schema

#: VARCHAR length of string, date and key fields created by syncer (Milvus' maximum)
MAX_VARCHAR = 65_535


@dataclass(frozen=True)
class Field:
    """A collection field as the driver needs it: to compare schemas and to check rows."""

    name: str
    type: str            # pymilvus DataType name: INT64, DOUBLE, BOOL, VARCHAR, JSON, FLOAT_VECTOR
    primary: bool = False
    nullable: bool = False
    dim: int | None = None
    max_length: int | None = None

    def describe(self) -> str:
        text = self.type
        if self.dim is not None:
            text += f"(dim {self.dim})"
        if self.primary:
            text += " primary key"
        return text


def declared_fields(schema: Schema) -> list[Field]:
    """The collection fields a dataset's columns ask for."""
    key = schema.key[0]
    out = []
    for column in schema.columns:
        if column.name == key:
            out.append(Field(key, "INT64" if column.type == "integer" else "VARCHAR", primary=True,
                             max_length=None if column.type == "integer" else MAX_VARCHAR))
        elif column.type == "vector":
            out.append(Field(column.name, "FLOAT_VECTOR", dim=column.dim))
        else:
            kind = {"integer": "INT64", "float": "DOUBLE", "boolean": "BOOL", "json": "JSON",
                    "string": "VARCHAR", "date": "VARCHAR", "datetime": "VARCHAR",
                    "decimal": "VARCHAR"}[column.type]
            out.append(Field(column.name, kind, nullable=True,
                             max_length=MAX_VARCHAR if kind == "VARCHAR" else None))
    return out


def schema_differences(declared: list[Field], existing: list[Field], *, dynamic: bool,
                       existing_dynamic: bool, auto_id: bool) -> list[str]:
    """What makes an existing collection unfit for the declared columns (empty: it fits)."""
    problems = []
    have = {f.name: f for f in existing}
    for field in declared:
        other = have.get(field.name)
        if other is None:
            problems.append(f"field '{field.name}' ({field.describe()}) is missing")
        elif (other.type, other.primary, other.dim) != (field.type, field.primary, field.dim):
            problems.append(f"field '{field.name}' is {other.describe()}, declared "
                            f"{field.describe()}")
    names = {f.name for f in declared}
    for field in existing:
        if field.name not in names:
            problems.append(f"field '{field.name}' ({field.describe()}) is not declared")
    if auto_id:
        problems.append("the primary key is auto_id (syncer writes the key itself)")
    if dynamic != existing_dynamic:
        problems.append(f"dynamic fields are {'on' if existing_dynamic else 'off'}, declared "
                        f"{'on' if dynamic else 'off'} (dynamic_fields: {str(dynamic).lower()})")
    return problems


def schema_mismatch(where: str, name: str, problems: list[str]) -> TargetError:
    """The error for an existing collection that does not fit the declared columns."""
    return TargetError(
        f"{where}: collection '{name}' exists with a schema that does not match the "
        f"declared columns; nothing was sent:\n" + "\n".join(f"  - {p}" for p in problems),
        hint="fix `columns:`/`metric:`/`dynamic_fields:` to match it, set another "
             "`table:`, drop the collection, or use `alias:` (mode replace) so each "
             "replace builds a fresh collection")
