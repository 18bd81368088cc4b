"""Applying one parsed import CSV to one datastore, row by row, inside the caller's transaction
(:class:`Importer`): key-field updates, ``_delete_``, ``replace_all``, row errors."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from .csvfile import CsvTable, is_number
from .model import Datastore, ImportFailure, ImportOptions, ImportResult, new_id

SPECIAL_COLUMNS = frozenset({"_delete_", "_status_", "_group_id_"})


class Importer:
    """Applies one parsed CSV to one datastore, inside a transaction the caller holds."""

    def __init__(self, db: sqlite3.Connection, ds: Datastore, options: ImportOptions) -> None:
        self.db, self.ds, self.options = db, ds, options
        self.errors: list[dict[str, Any]] = []
        self.key_index: dict[str, list[int]] = {}
        self.data_by_seq: dict[int, dict[str, str]] = {}

    def run(self, table: CsvTable, fixed_fields: bool) -> ImportResult:
        key = self.options.key
        columns = [c for c in table.header if c not in SPECIAL_COLUMNS]
        fields = {
            f["display_id"]: f["data_type"]
            for f in self.db.execute(
                "SELECT display_id, data_type FROM fields WHERE d_id = ?", (self.ds.d_id,)
            )
        }
        unknown = [c for c in columns if c not in fields]
        if unknown and fixed_fields:
            raise ImportFailure(
                "unknown columns",
                f"columns that are not fields of datastore {self.ds.display_id}: {', '.join(unknown)}",
            )
        for column in unknown:  # schema-less mode: new columns become text fields
            self.db.execute(
                "INSERT INTO fields VALUES (?, ?, ?, ?, 'text', 0)",
                (new_id(), self.ds.d_id, column, column),
            )
            fields[column] = "text"
        if key is not None and key not in columns:
            raise ImportFailure("invalid key field", f"key field {key} is not a column of the file")
        if self.options.replace_all:
            self.db.execute("DELETE FROM items WHERE d_id = ?", (self.ds.d_id,))
        if key is not None:
            self._load_index(key)
        numbers = [c for c in columns if fields[c] == "number"]
        imported = 0
        for line, values in table.rows:
            error = self._check(line, table.header, values, key, numbers)
            if error:
                self.errors.append(error)
                continue
            record = dict(zip(table.header, values, strict=True))
            self._apply_row(record, columns, key)
            imported += 1
        return ImportResult(imported, len(table.rows), tuple(self.errors))

    def _load_index(self, key: str) -> None:
        for row in self.db.execute(
            "SELECT seq, data FROM items WHERE d_id = ? ORDER BY seq", (self.ds.d_id,)
        ):
            data = json.loads(row["data"])
            self.data_by_seq[row["seq"]] = data
            if key in data:
                self.key_index.setdefault(data[key], []).append(row["seq"])

    def _check(
        self,
        line: int,
        header: tuple[str, ...],
        values: tuple[str, ...],
        key: str | None,
        numbers: list[str],
    ) -> dict[str, Any] | None:
        if len(values) != len(header):
            return _row_error(
                line, "invalid row", f"expected {len(header)} columns, found {len(values)}"
            )
        record = dict(zip(header, values, strict=True))
        if _truthy(record.get("_delete_", "")) and key is None:
            return _row_error(
                line,
                "invalid delete",
                "_delete_ needs key_field_displayid (and no append or replace_all)",
            )
        status = record.get("_status_", "")
        if status and self.ds.statuses is not None and status not in self.ds.statuses:
            return _row_error(line, "invalid status", f"unknown status: {status}")
        if not self.options.validate:
            return None
        if key is not None and not record[key].strip():
            return _row_error(line, "empty key", f"key field {key} is empty")
        bad = [c for c in numbers if record[c].strip() and not is_number(record[c])]
        if bad:
            return _row_error(
                line,
                "invalid value",
                "not a number: " + ", ".join(f"{c}={record[c]!r}" for c in bad),
            )
        return None

    def _apply_row(self, record: dict[str, str], columns: list[str], key: str | None) -> None:
        data = {c: record[c] for c in columns}
        status = record.get("_status_") or None
        group = record.get("_group_id_") or None
        # An empty key (only with validate=false) never matches: the row creates an item.
        matches = self.key_index.get(data[key], []) if key is not None and data[key] else []
        if _truthy(record.get("_delete_", "")):
            self.db.executemany("DELETE FROM items WHERE seq = ?", [(s,) for s in matches])
            if key is not None:  # always set: _check refuses _delete_ without a key
                self.key_index.pop(data[key], None)
            return
        for seq in matches:  # key-field update: only the columns present in the file change
            merged = {**self.data_by_seq[seq], **data}
            self.data_by_seq[seq] = merged
            self.db.execute(
                "UPDATE items SET data = ?, status = coalesce(?, status), group_id = coalesce(?, group_id) WHERE seq = ?",
                (json.dumps(merged, ensure_ascii=False), status, group, seq),
            )
        if matches:
            return
        cursor = self.db.execute(
            "INSERT INTO items (i_id, d_id, data, status, group_id) VALUES (?, ?, ?, ?, ?)",
            (new_id(), self.ds.d_id, json.dumps(data, ensure_ascii=False), status, group),
        )
        if key is not None and data[key]:
            seq = int(cursor.lastrowid or 0)
            self.data_by_seq[seq] = data
            self.key_index.setdefault(data[key], []).append(seq)


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("true", "1")


def _row_error(line: int, error: str, description: str) -> dict[str, Any]:
    return {"description": description, "line": line, "error": error, "error_level": "ERROR"}
