"""The light look at a PostgreSQL target every plan takes: psycopg alone (no ADBC, no polars).

Does the schema hold the table, how many rows (one ``count(*)``), and which batch syncer last
wrote there (``_syncer_datasets``, written in each batch's own transaction).  Nothing is created.
"""

from __future__ import annotations

from typing import Any

from ...errors import TargetError
from ...model.manifest import DatasetSpec
from ..base import Found
from . import errors
from .config import PostgresTarget, register_password
from .ddl import qualified

#: the table in the target schema that names, per table, the last batch syncer wrote to it
DATASETS = "_syncer_datasets"


def load_psycopg() -> Any:
    """psycopg, or a TargetError saying how to install it."""
    try:
        import psycopg
    except ImportError:
        raise TargetError("the postgres target needs psycopg",
                          hint="pip install 'syncer-data[postgres]'") from None
    return psycopg


def connect(target: PostgresTarget, application: str) -> Any:
    """An autocommit psycopg connection to ``target`` (the driver's control connection and a
    plan's probe), or a TargetError naming the target, never its password."""
    psycopg = load_psycopg()
    try:
        return psycopg.connect(target.url, autocommit=True,
                               connect_timeout=max(1, int(target.connect_timeout)),
                               application_name=application)
    except psycopg.Error as exc:
        raise TargetError(f"cannot connect to PostgreSQL target '{target.name}' "
                          f"({target.display}): {errors.message(exc)}",
                          hint="check the url, the server and the password") from None


class PostgresProbe:
    """Looks at one PostgreSQL target (one connection, opened on the first look)."""

    def __init__(self, target: PostgresTarget) -> None:
        self.target = target
        register_password(target.url)
        self._db: Any = None

    def look(self, dataset: DatasetSpec) -> Found:
        psycopg = load_psycopg()
        schema, table = self.target.schema_, dataset.table_name
        if self._db is None:
            self._db = connect(self.target, "syncer plan")
        db = self._db
        try:
            found = db.execute("SELECT to_regclass(%s)::text, to_regclass(%s)::text",
                               (qualified(schema, table), qualified(schema, DATASETS))).fetchone()
            if found is None or found[0] is None:
                return Found(False, marks=True)
            rows = int(db.execute(f"SELECT count(*) FROM {qualified(schema, table)}"
                                  ).fetchone()[0])
            marker = None
            if found[1] is not None:
                last = db.execute(f"SELECT batch_id FROM {qualified(schema, DATASETS)} "
                                  "WHERE table_name = %s", (table,)).fetchone()
                marker = last[0] if last else None
        except psycopg.Error as exc:
            self.close()
            raise TargetError(f"PostgreSQL target '{self.target.name}' ({self.target.display}): "
                              f"{errors.message(exc)}") from None
        return Found(True, rows, marker, marks=True)

    def close(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            finally:
                self._db = None
