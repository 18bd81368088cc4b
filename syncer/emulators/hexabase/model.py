"""The records the Hexabase emulator's parts pass each other (datastores, fields, import options
and results, the whole-import failure) and the ids and timestamps it mints."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Datastore:
    """A datastore and the application holding it."""

    d_id: str
    p_id: str
    display_id: str
    statuses: tuple[str, ...] | None


@dataclass(frozen=True)
class Field:
    """A datastore field."""

    f_id: str
    display_id: str
    name: str
    data_type: str
    unique: bool


@dataclass(frozen=True)
class ImportOptions:
    """The ImportItems form flags that shape how rows are applied."""

    key_field: str | None = None
    replace_all: bool = False
    append: bool = False
    validate: bool = True
    overwrite_autonumber: bool = False

    @property
    def key(self) -> str | None:
        """The key field in force: ``replace_all`` and ``append`` never match existing items."""
        return None if self.replace_all or self.append else self.key_field

    @property
    def category(self) -> str:
        """The GetQueueList category of the task."""
        return "ReplaceImportData" if self.replace_all else "ImportItems"


@dataclass(frozen=True)
class ImportResult:
    """What one applied import did."""

    imported: int
    item_count: int
    errors: tuple[dict[str, Any], ...]


class ImportFailure(Exception):
    """The whole import is refused and nothing is applied."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.entry = {"description": description, "error": error, "error_level": "ERROR"}


def new_id() -> str:
    """A fresh object id (24 hex digits, like Hexabase's)."""
    return secrets.token_hex(12)  # 24 hex digits, like Hexabase's object ids


def now() -> str:
    """The current UTC time as the API prints it (milliseconds, ``Z``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
