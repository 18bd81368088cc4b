"""The light look at a SQLite target every plan takes: sqlite3 alone (no ADBC, no polars).

Does the database file hold the table, how many rows (one ``COUNT(*)``), and which batch syncer
last wrote there (``_syncer_datasets``, written in each batch's own transaction).  Nothing is
created: a missing file stays missing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Protocol
from urllib.parse import quote as url_quote

from ...errors import DiskFull, TargetError
from ...space import is_full
from ..base import Found


class SqliteFile(Protocol):
    """What the probe needs of a target (a ``SqliteTarget``, or a remembered one)."""

    @property
    def name(self) -> str: ...

    @property
    def path(self) -> str: ...


class Tabled(Protocol):
    """What the probe needs of a dataset (a ``DatasetSpec``, or a ``Place``)."""

    @property
    def table_name(self) -> str: ...

#: the table in the target that names, per table, the last batch syncer wrote to it
DATASETS = "_syncer_datasets"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SqliteProbe:
    """Looks at one SQLite target file (opened once, read only, never created)."""

    def __init__(self, target: SqliteFile) -> None:
        self.target = target
        self.path = Path(target.path)
        self._db: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection | None:
        if self._db is None:
            if not self.path.exists():
                return None
            try:
                self._db = sqlite3.connect(f"file:{url_quote(str(self.path))}?mode=rw", uri=True,
                                           isolation_level=None, timeout=30)
            except sqlite3.Error as exc:
                raise TargetError(f"cannot open SQLite target '{self.target.name}' at "
                                  f"{self.path}: {exc}") from None
        return self._db

    def look(self, dataset: Tabled) -> Found:
        db = self._open()
        if db is None:
            return Found(False, marks=True)
        table = dataset.table_name
        try:
            names = {r[0] for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name IN (?, ?)",
                (table, DATASETS))}
            if table not in names:
                return Found(False, marks=True)
            rows = int(db.execute(f"SELECT COUNT(*) FROM {quote(table)}").fetchone()[0])
            marker = None
            if DATASETS in names:
                found = db.execute(f"SELECT batch_id FROM {DATASETS} WHERE table_name=?",
                                   (table,)).fetchone()
                marker = found[0] if found else None
        except sqlite3.Error as exc:
            if is_full(exc, self.path):  # reading a WAL database writes its -shm file
                raise DiskFull(f"the SQLite target '{self.target.name}'", self.path,
                               str(exc)) from None
            raise TargetError(f"SQLite target '{self.target.name}' at {self.path}: {exc}"
                              ) from None
        return Found(True, rows, marker, marks=True)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
