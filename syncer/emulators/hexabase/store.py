"""The Hexabase emulator's SQLite store (:class:`HexabaseStore`): applications, datastores,
fields, items and import tasks."""

from __future__ import annotations

import dataclasses
import json
import secrets
import sqlite3
import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..base import SqliteStore
from .csvfile import CsvTable
from .importer import Importer
from .model import Datastore, Field, ImportFailure, ImportOptions, ImportResult, new_id, now

_DDL = """
CREATE TABLE IF NOT EXISTS applications (
    p_id TEXT PRIMARY KEY, display_id TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS datastores (
    d_id TEXT PRIMARY KEY, p_id TEXT NOT NULL, display_id TEXT NOT NULL, statuses TEXT,
    UNIQUE (p_id, display_id));
CREATE TABLE IF NOT EXISTS fields (
    f_id TEXT PRIMARY KEY, d_id TEXT NOT NULL, display_id TEXT NOT NULL, name TEXT NOT NULL,
    data_type TEXT NOT NULL, is_unique INTEGER NOT NULL, UNIQUE (d_id, display_id));
CREATE TABLE IF NOT EXISTS items (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, i_id TEXT NOT NULL UNIQUE, d_id TEXT NOT NULL,
    data TEXT NOT NULL, status TEXT, group_id TEXT);
CREATE INDEX IF NOT EXISTS items_by_datastore ON items (d_id, seq);
CREATE TABLE IF NOT EXISTS tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, qt_id TEXT NOT NULL UNIQUE, d_id TEXT NOT NULL,
    temp_datastore_id TEXT NOT NULL UNIQUE, stream_id TEXT NOT NULL, category TEXT NOT NULL,
    options TEXT NOT NULL, csv BLOB, status INTEGER NOT NULL, created_at TEXT NOT NULL,
    started_at TEXT, finished_at TEXT, imported INTEGER, item_count INTEGER, errors TEXT);
"""


class HexabaseStore(SqliteStore):
    """The emulator's SQLite database: one connection, one lock, explicit transactions."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, _DDL)

    # -- applications and datastores

    def seed(self, schema: Mapping[str, Any]) -> None:
        """Create (or update) the applications, datastores and fields a schema declares."""
        with self.transaction() as db:
            for app in schema.get("applications", []):
                p_id = self._ensure_application(db, app["id"], app.get("p_id"))
                for ds in app.get("datastores", []):
                    statuses = ds.get("statuses")
                    d_id = self._ensure_datastore(db, p_id, ds["id"], ds.get("d_id"))
                    db.execute(
                        "UPDATE datastores SET statuses = ? WHERE d_id = ?",
                        (None if statuses is None else json.dumps(statuses), d_id),
                    )
                    for fld in ds.get("fields", []):
                        display_id = fld["display_id"]
                        values = (
                            fld.get("name", display_id),
                            fld.get("dataType", "text"),
                            bool(fld.get("unique", False)),
                        )
                        updated = db.execute(
                            "UPDATE fields SET name = ?, data_type = ?, is_unique = ? WHERE d_id = ? AND display_id = ?",
                            (*values, d_id, display_id),
                        )
                        if not updated.rowcount:
                            db.execute(
                                "INSERT INTO fields VALUES (?, ?, ?, ?, ?, ?)",
                                (fld.get("f_id") or new_id(), d_id, display_id, *values),
                            )

    def find_application(self, ref: str) -> str | None:
        """The p_id of an application given by display id or p_id."""
        rows = self.query(
            "SELECT p_id FROM applications WHERE display_id = ? OR p_id = ? ORDER BY display_id = ? DESC",
            (ref, ref, ref),
        )
        return rows[0]["p_id"] if rows else None

    def find_datastore(self, ref: str, p_id: str | None = None) -> Datastore | None:
        """A datastore by display id or d_id, within one application when ``p_id`` is given."""
        sql = "SELECT * FROM datastores WHERE (display_id = ? OR d_id = ?)"
        args: list[Any] = [ref, ref]
        if p_id is not None:
            sql += " AND p_id = ?"
            args.append(p_id)
        rows = self.query(sql + " ORDER BY display_id = ? DESC", (*args, ref))
        if not rows:
            return None
        row = rows[0]
        statuses = None if row["statuses"] is None else tuple(json.loads(row["statuses"]))
        return Datastore(row["d_id"], row["p_id"], row["display_id"], statuses)

    def create_datastore(self, app_ref: str, ds_ref: str) -> Datastore:
        """Get or create an application and datastore (schema-less mode)."""
        with self.transaction() as db:
            p_id = self.find_application(app_ref) or self._ensure_application(db, app_ref, None)
            found = self.find_datastore(ds_ref, p_id)
            if found is not None:
                return found
            d_id = self._ensure_datastore(db, p_id, ds_ref, None)
        return Datastore(d_id, p_id, ds_ref, None)

    def fields(self, d_id: str) -> list[Field]:
        """A datastore's fields in creation order."""
        rows = self.query("SELECT * FROM fields WHERE d_id = ? ORDER BY rowid", (d_id,))
        return [
            Field(r["f_id"], r["display_id"], r["name"], r["data_type"], bool(r["is_unique"]))
            for r in rows
        ]

    @staticmethod
    def _ensure_application(db: sqlite3.Connection, display_id: str, p_id: str | None) -> str:
        row = db.execute(
            "SELECT p_id FROM applications WHERE display_id = ?", (display_id,)
        ).fetchone()
        if row:
            return str(row["p_id"])
        p_id = p_id or new_id()
        db.execute("INSERT INTO applications VALUES (?, ?)", (p_id, display_id))
        return p_id

    @staticmethod
    def _ensure_datastore(
        db: sqlite3.Connection, p_id: str, display_id: str, d_id: str | None
    ) -> str:
        row = db.execute(
            "SELECT d_id FROM datastores WHERE p_id = ? AND display_id = ?", (p_id, display_id)
        ).fetchone()
        if row:
            return str(row["d_id"])
        d_id = d_id or new_id()
        db.execute("INSERT INTO datastores VALUES (?, ?, ?, NULL)", (d_id, p_id, display_id))
        return d_id

    # -- items

    def item_rows(self, d_id: str, limit: int = -1, offset: int = 0) -> list[sqlite3.Row]:
        """Items of a datastore in insertion order (``limit=-1``: all)."""
        return self.query(
            "SELECT * FROM items WHERE d_id = ? ORDER BY seq LIMIT ? OFFSET ?",
            (d_id, limit, offset),
        )

    def count_items(self, d_id: str) -> int:
        """How many items a datastore holds."""
        return int(self.query("SELECT count(*) FROM items WHERE d_id = ?", (d_id,))[0][0])

    def delete_items(self, seqs: Sequence[int]) -> None:
        """Delete items by their internal sequence number."""
        with self.transaction() as db:
            db.executemany("DELETE FROM items WHERE seq = ?", [(s,) for s in seqs])

    def clear(self, keep_definitions: bool) -> None:
        """Delete items and tasks, and applications/datastores/fields unless ``keep_definitions``."""
        tables = (
            ["items", "tasks"]
            if keep_definitions
            else ["items", "tasks", "fields", "datastores", "applications"]
        )
        with self.transaction() as db:
            for table in tables:
                db.execute(f"DELETE FROM {table}")

    def apply_import(
        self,
        ds: Datastore,
        table: CsvTable,
        options: ImportOptions,
        *,
        fixed_fields: bool,
        task: str | None = None,
    ) -> ImportResult:
        """Apply an import in one transaction; ``task``'s status becomes done in that transaction.

        Raises :class:`ImportFailure` (nothing applied) when the import fails as a whole.
        """
        with self.transaction() as db:
            result = Importer(db, ds, options).run(table, fixed_fields)
            if task is not None:
                done = db.execute(
                    "UPDATE tasks SET status = 2, finished_at = ?, imported = ?, item_count = ?, errors = ?, csv = NULL"
                    " WHERE qt_id = ? AND status = 1",
                    (now(), result.imported, result.item_count, json.dumps(result.errors), task),
                )
                if not done.rowcount:  # reset while it ran: its effect must not survive the reset
                    raise ImportFailure("cancelled", "the import was cancelled by a reset")
            return result

    # -- tasks

    def add_task(self, ds: Datastore, data: bytes, options: ImportOptions) -> sqlite3.Row:
        """Register a queued import (status 0)."""
        stream_id = "".join(
            secrets.choice(string.ascii_letters + string.digits) for _ in range(128)
        )
        with self.transaction() as db:
            db.execute(
                "INSERT INTO tasks (qt_id, d_id, temp_datastore_id, stream_id, category, options, csv, status, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
                (
                    new_id(),
                    ds.d_id,
                    new_id(),
                    stream_id,
                    options.category,
                    json.dumps(dataclasses.asdict(options)),
                    data,
                    now(),
                ),
            )
            task: sqlite3.Row = db.execute(
                "SELECT * FROM tasks WHERE rowid = last_insert_rowid()"
            ).fetchone()
            return task

    def next_task(self) -> sqlite3.Row | None:
        """The oldest unfinished task (a task left running by a restart is run again)."""
        rows = self.query("SELECT * FROM tasks WHERE status IN (0, 1) ORDER BY seq LIMIT 1")
        return rows[0] if rows else None

    def start_task(self, qt_id: str) -> bool:
        """Mark a task running; False when it is gone (reset) or no longer pending."""
        with self.transaction() as db:
            return (
                db.execute(
                    "UPDATE tasks SET status = 1, started_at = ? WHERE qt_id = ? AND status IN (0, 1)",
                    (now(), qt_id),
                ).rowcount
                > 0
            )

    def fail_task(
        self, qt_id: str, status: int, entry: dict[str, Any], item_count: int | None
    ) -> None:
        """End a task as failed (3) or abnormal (4); nothing of it was applied."""
        with self.transaction() as db:
            db.execute(
                "UPDATE tasks SET status = ?, finished_at = ?, imported = 0, item_count = ?, errors = ?, csv = NULL WHERE qt_id = ?",
                (status, now(), item_count, json.dumps([entry]), qt_id),
            )

    def tasks(self, stream_id: str | None, unfinished_only: bool) -> list[sqlite3.Row]:
        """Tasks in creation order, filtered by stream id and completion."""
        sql, args = "SELECT * FROM tasks WHERE 1 = 1", []
        if stream_id is not None:
            sql += " AND stream_id = ?"
            args.append(stream_id)
        if unfinished_only:
            sql += " AND status < 2"
        return self.query(sql + " ORDER BY seq", args)

    def task_by_temp_id(self, temp_datastore_id: str) -> sqlite3.Row | None:
        """The task behind a ``temp_datastore_id``."""
        rows = self.query("SELECT * FROM tasks WHERE temp_datastore_id = ?", (temp_datastore_id,))
        return rows[0] if rows else None
