"""Manifest model of the embedded SQLite target."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field

from ...model.manifest import TargetSpec
from ...model.place import file_location


class SqliteTarget(TargetSpec):
    """``type: sqlite``: a local SQLite database file (created on first apply)."""

    type: Literal["sqlite"]
    path: str = Field(description="database file, relative to the manifest file")

    def resolve_paths(self, base: Path) -> SqliteTarget:
        # absolute, symlinks kept: the file is opened through them, as named (where it is
        # recorded, :meth:`location` resolves them)
        return self.model_copy(update={"path": os.path.abspath(base / self.path)})

    def location(self, root: Path | None = None) -> str:
        """The database file (relative to the project root when inside it)."""
        return file_location(self.path, root)
