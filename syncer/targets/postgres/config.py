"""Manifest models of the PostgreSQL target (tables loaded with binary COPY).

Nothing here imports psycopg or ADBC: the driver module does, and only when a postgres target is
applied.  The URL is libpq's (``postgresql://user:${PGPASSWORD}@host:5432/db?sslmode=require``);
its password (in the URL or as ``?password=``) is never shown: :func:`display_url` drops it, and
it is registered as a secret, so :func:`syncer.secrets.redact` masks it in any message.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from pydantic import Field, field_validator, model_validator

from ... import secrets
from ...model.manifest import DatasetSpec, TargetSpec, without_userinfo

#: PostgreSQL truncates longer names (63 bytes); the replace swap needs room for its suffixes
#: (``__syncer_new``, and ``__syncer_new_pkey`` for its key: 17 bytes)
MAX_NAME = 63
SUFFIX_ROOM = 18
#: the replace swap's tables are ``<table>__syncer_new`` and ``<table>__syncer_old``
SWAP_MARK = "__syncer_"
IDENTIFIER = re.compile(r"^[^\x00\"]+$")


def password_of(url: str) -> str | None:
    """The password a libpq URL carries (in the authority, percent-decoded as libpq reads it,
    or as ``?password=``), if any."""
    try:
        parts = urlsplit(url)
        found = unquote(parts.password) if parts.password else None
    except ValueError:
        return None
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "password":
            found = value
    return found or None


def register_password(url: str) -> None:
    """Make the URL's password a secret, as written and as libpq reads it."""
    password = password_of(url)
    if password:
        secrets.register(password)
        secrets.register(quote(password, safe=""))


def display_url(url: str) -> str:
    """The URL as a person may see it: without its password."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
        user = parts.username
    except ValueError:  # unparseable: hide everything between :// and @
        head, sep, rest = url.partition("://")
        return f"{head}://***@{rest.rsplit('@', 1)[1]}" if sep and "@" in rest else url
    netloc = (f"{user}@" if user else "") + (f"[{host}]" if ":" in host else host) + (
        f":{port}" if port else "")
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "password"]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), ""))


class PostgresTarget(TargetSpec):
    """``type: postgres``: one schema of a PostgreSQL database, loaded with binary COPY."""

    type: Literal["postgres"]
    url: str = Field(description="libpq URL, e.g. postgresql://app:${PGPASSWORD}@db:5432/shop "
                                 "(the password is never shown or stored)")
    schema_: str = Field("public", alias="schema",
                         description="schema holding the tables (created if missing)")
    connect_timeout: float = Field(10.0, gt=0, description="seconds to wait for a connection")

    @field_validator("url")
    @classmethod
    def _libpq_url(cls, value: str) -> str:
        value = value.strip()
        register_password(value)
        if not re.match(r"^postgres(ql)?://", value, re.IGNORECASE):
            raise ValueError(f"url must be a postgresql:// URL (got '{display_url(value)}')")
        try:
            urlsplit(value).port  # noqa: B018  (a port that is not a number raises here)
        except ValueError as exc:
            raise ValueError(f"malformed url {display_url(value)}: {exc}") from None
        return value

    @field_validator("schema_")
    @classmethod
    def _schema_name(cls, value: str) -> str:
        if not IDENTIFIER.match(value) or len(value.encode()) > MAX_NAME:
            raise ValueError(f"schema '{value}' is not a valid PostgreSQL name (1-63 bytes, no "
                             "double quote)")
        return value

    @property
    def display(self) -> str:
        return display_url(self.url)

    def location(self, root: Path | None = None) -> str:
        """The server, the database and the schema: ``postgresql://db:5432/shop/public``
        (no user, password or connection options: they do not say where the rows are)."""
        parts = urlsplit(without_userinfo(self.url))
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")).rstrip("/") + (
            f"/{self.schema_}")

    def public_settings(self) -> dict[str, Any]:
        settings = super().public_settings()
        settings["url"] = self.display
        return settings


class PostgresDataset(DatasetSpec):
    """A dataset bound for a PostgreSQL table (``table:``, default the dataset name)."""

    @model_validator(mode="after")
    def _table_name(self) -> PostgresDataset:
        name = self.table_name
        if not IDENTIFIER.match(name) or len(name.encode()) > MAX_NAME - SUFFIX_ROOM:
            raise ValueError(f"'{name}' is not a usable PostgreSQL table name (at most "
                             f"{MAX_NAME - SUFFIX_ROOM} bytes, no double quote); set `table:`")
        if SWAP_MARK in name.casefold():
            raise ValueError(f"table name '{name}' is reserved: a replace builds its new table "
                             f"beside the live one as '<table>{SWAP_MARK}new'; set `table:`")
        for column in self.columns or {}:
            if not IDENTIFIER.match(column) or len(column.encode()) > MAX_NAME:
                raise ValueError(f"column '{column}' is not a valid PostgreSQL column name (at "
                                 "most 63 bytes, no double quote)")
        return self
