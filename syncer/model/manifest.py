"""The manifest contract, version 1: pydantic models shared by every target type.

A manifest file names one target and the datasets it must hold.  Target-specific keys live in
each driver's own model (see :mod:`syncer.targets.registry`); the models here are the common
part.  Unknown keys are errors everywhere (``extra="forbid"``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ColumnType = Literal["string", "integer", "float", "boolean", "date", "datetime", "decimal",
                     "json", "vector"]
Mode = Literal["replace", "append", "upsert"]
Format = Literal["csv", "tsv", "json", "jsonl", "parquet"]

NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$"
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
DEFAULT_MAX_DELETE = "50%"


class StrictModel(BaseModel):
    """Base of every manifest model: immutable, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ColumnSpec(StrictModel):
    """One output column: its type, and the source column it comes from."""

    type: ColumnType = Field("string", description="value type; values are normalised to it")
    from_: str | None = Field(
        None, alias="from", description="source column name when it differs from this name"
    )
    dim: int | None = Field(None, gt=0, description="vector length (vector columns only)")
    scale: int | None = Field(
        None, ge=0, le=38, description="digits after the decimal point (decimal columns only)")
    null_values: list[str] | None = Field(
        None, description="values that mean null in this column, e.g. [NA, '-']; replaces the "
        "source's null_values for it ([] for none)")
    timezone: str | None = Field(
        None, description="IANA time zone of datetime values written without an offset "
        "(datetime columns only; default: the dataset's timezone, else UTC)")

    @model_validator(mode="after")
    def _dim_matches_type(self) -> ColumnSpec:
        if self.type == "vector" and self.dim is None:
            raise ValueError("a vector column needs `dim:` (its length), e.g. {type: vector, dim: 384}")
        if self.type != "vector" and self.dim is not None:
            raise ValueError("`dim:` is only allowed on vector columns")
        if self.type == "decimal" and self.scale is None:
            raise ValueError("a decimal column needs `scale:` (its digits after the point), "
                             "e.g. {type: decimal, scale: 2}")
        if self.type != "decimal" and self.scale is not None:
            raise ValueError("`scale:` is only allowed on decimal columns")
        if self.type != "datetime" and self.timezone is not None:
            raise ValueError("`timezone:` is only allowed on datetime columns")
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return known_zone(value)


class SourceSpec(StrictModel):
    """Where a dataset's rows come from.  A plain string is shorthand for ``{path: ...}``."""

    path: str = Field(description="file path or glob, relative to the manifest file")
    format: Format | None = Field(None, description="file format; default from the extension")
    encoding: str = Field("utf-8", description="text encoding, e.g. utf-8, utf-8-sig, cp932")
    delimiter: str | None = Field(None, min_length=1, max_length=1, description="CSV delimiter")
    quotechar: str = Field('"', min_length=1, max_length=1, description="CSV quote character")
    null_values: list[str] | None = Field(
        None, description="values that mean null in every column, e.g. [NA, NULL, '\\N', '-'] "
        "(a whole value, matched exactly, before typing); CSV empty fields are null anyway")

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding '{value}' (try utf-8, utf-8-sig, cp932)") from None
        return value


class DatasetSpec(StrictModel):
    """One dataset of a target: a source, where it goes, and how it is kept in sync."""

    name: str = Field(pattern=NAME_PATTERN, description="unique within the target")
    source: SourceSpec
    table: str | None = Field(None, description="target-side name; default: the dataset name")
    mode: Mode = Field("replace", description="replace | append | upsert")
    key: list[str] | None = Field(None, description="key column(s); required for upsert")
    delete_missing: bool = Field(True, description="upsert: delete keys that left the source")
    max_delete: int | str | None = Field(
        None,
        description="largest delete allowed without --allow-deletes: a count or a percentage "
        f"(default {DEFAULT_MAX_DELETE})",
    )
    allow_deletes: bool = Field(
        False, description="allow deletes over max_delete and plans that empty the dataset"
    )
    columns: dict[str, ColumnSpec] | None = Field(
        None, description="select, rename and type columns; omitted = every column as text"
    )
    timezone: str | None = Field(
        None, description="IANA time zone (e.g. Europe/Paris) of datetime values written without "
        "an offset; default UTC")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return known_zone(value)

    # the shorthands below are part of the contract: json_schema_input_type makes the JSON
    # Schema (`syncer schema`, editors) accept them too, not only the expanded forms
    @field_validator("source", mode="before", json_schema_input_type=str | SourceSpec)
    @classmethod
    def _source_shorthand(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value

    @field_validator("key", mode="before", json_schema_input_type=str | list[str] | None)
    @classmethod
    def _key_shorthand(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("key")
    @classmethod
    def _key_not_empty(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if not value:
                raise ValueError("key must name at least one column")
            if not all(name.strip() for name in value):
                raise ValueError("a key column name is empty")
            if len(set(value)) != len(value):
                raise ValueError("key names a column twice")
        return value

    @field_validator("columns", mode="before",
                     json_schema_input_type=dict[str, ColumnType | ColumnSpec] | None)
    @classmethod
    def _column_shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                name: {"type": spec} if isinstance(spec, str) else spec
                for name, spec in value.items()
            }
        return value

    @field_validator("max_delete")
    @classmethod
    def _max_delete_form(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and value < 0:
            raise ValueError("max_delete must be >= 0")
        if isinstance(value, str) and not _PERCENT.match(value):
            raise ValueError("max_delete must be a count (e.g. 100) or a percentage (e.g. '10%')")
        return value

    @model_validator(mode="after")
    def _mode_needs_key(self) -> DatasetSpec:
        if self.mode == "upsert" and not self.key:
            raise ValueError(
                "mode upsert needs a key: add `key: [column]` naming the column(s) that identify a row"
            )
        if self.columns is not None and self.key:
            missing = [k for k in self.key if k not in self.columns]
            if missing:
                raise ValueError(
                    f"key column(s) {', '.join(missing)} are not listed under `columns:`"
                )
        return self

    @property
    def table_name(self) -> str:
        return self.table or self.name

    def delete_limit(self, rows: int) -> int:
        """The largest number of deletes allowed for a dataset that now holds ``rows`` rows."""
        value = self.max_delete if self.max_delete is not None else DEFAULT_MAX_DELETE
        if isinstance(value, int):
            return value
        match = _PERCENT.match(value)
        assert match is not None  # validated above
        return int(rows * float(match.group(1)) / 100)


def known_zone(value: str | None) -> str | None:
    """An IANA time zone name that both Python and polars know (None passes)."""
    if value is None:
        return value
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{value}' (an IANA name such as UTC, "
                         "Europe/Paris or Asia/Tokyo)") from None
    return value


# keys added after a manifest version shipped: left out of a dataset's spec hash while unset, so
# a manifest that does not use them keeps its hash (and its unchanged sources are not re-read)
ADDED_KEYS = frozenset({"null_values", "timezone", "scale"})


def without_unset_additions(value: Any) -> Any:
    """``value`` (a model dump) without the :data:`ADDED_KEYS` that are None, at any depth."""
    if isinstance(value, dict):
        return {k: without_unset_additions(v) for k, v in value.items()
                if not (k in ADDED_KEYS and v is None)}
    if isinstance(value, list):
        return [without_unset_additions(v) for v in value]
    return value


class TargetSpec(StrictModel):
    """Common part of every target: a unique name and its type."""

    name: str = Field(pattern=NAME_PATTERN, description="unique across all manifests")
    type: str

    def resolve_paths(self, base: Path) -> TargetSpec:
        """Return a copy whose file paths are absolute (relative ones resolve against ``base``)."""
        return self

    def location(self, root: Path | None = None) -> str:
        """Where the target is, as the state records it (never a secret): a file path (relative
        to the project ``root`` when inside it), a URL with its application or database.  A
        dataset whose target's location (or table) differs from the one recorded has moved."""
        return f"{self.type}:{self.name}"

    def public_settings(self) -> dict[str, Any]:
        """Settings safe to show or store (secrets excluded)."""
        return self.model_dump(mode="json", exclude={"token", "password", "api_key"})


def without_userinfo(url: str) -> str:
    """``url`` without a ``user:password@`` part (a location is never a secret)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))
