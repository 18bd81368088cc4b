"""A local emulator of the Hexabase REST API, for the ``hexabase`` target's tests and demos.

It speaks the wire format in ``reference/hexabase-api.md`` and the ImportItems seed: login,
ImportItems (queued or ``no_queue``), GetQueueList, GetImportResults, items search, fields and
delete-by-conditions. Data lives in SQLite under ``data_dir``, so it survives restarts; every
import is applied in one transaction. It is strict where a wrong driver must fail: ``replace_all``
deletes everything first, ``append`` never de-duplicates, ``_delete_`` deletes, key-field imports
update-or-create, and ``no_queue`` refuses more than 100 rows.

Choices where the real API is not documented:

* GetImportResults of an unfinished import answers **202** ``{"status": "processing"}``; for an
  ``append``/``replace_all`` import it answers 400 ``INVALID_PARAMS``; an unknown id is 404.
* A whole-import failure (unknown columns, undecodable CSV, missing key column) is an error entry
  *without* ``line``; row errors carry ``line`` (the header is line 1). Queued imports that fail
  whole end with status 3; an emulator bug ends a task with status 4.
* GetQueueList lists only unfinished tasks unless ``all=true``; ``category`` is accepted and ignored.
* Items search: ``per_page`` defaults to 100; a value never set for an item is absent from it;
  an empty number field comes back as ``null`` with ``return_number_value``; ``status`` and
  ``group_id`` (from ``_status_`` / ``_group_id_``) appear only when set.
* ``DELETE .../items/delete`` needs at least one condition and answers ``{"deleted": n}``.
* ``unique`` fields are reported, not enforced; ``overwrite_autonumber`` is accepted and ignored.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import secrets
import sqlite3
import string
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from syncer.emulators.base import (
    EmulatorApp,
    FaultConfig,
    FormField,
    HTTPError,
    Request,
    Response,
    empty_response,
    json_response,
    serve_forever,
)

logger = logging.getLogger(__name__)

DEFAULT_TOKEN = "hexabase-emulator-token"
NO_QUEUE_LIMIT = 100
SPECIAL_COLUMNS = frozenset({"_delete_", "_status_", "_group_id_"})
TASK_STATUS_NAMES = {0: "registered", 1: "running", 2: "done", 3: "error", 4: "abnormal"}
_API = "/api/v0"
_DS = _API + "/applications/{app}/datastores/{ds}"
_TOO_MANY = {
    "description": "the number of imports exceeds the limit. please set the no_queue flag to false.",
    "error": "too many items",
    "error_level": "ERROR",
}


# --------------------------------------------------------------------------- schema


def load_schema(path: str | Path) -> dict[str, Any]:
    """Read a schema file (YAML, or JSON for ``*.json``) and check its shape.

    ``{"applications": [{"id", "p_id"?, "datastores": [{"id", "d_id"?, "statuses"?,
    "fields": [{"display_id", "name"?, "dataType"?, "unique"?, "f_id"?}]}]}]}``
    """
    text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    check_schema(data)
    return dict(data)


def check_schema(schema: Any) -> None:
    """Raise ``ValueError`` naming every problem in a schema document."""
    problems: list[str] = []

    def need_list(value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            problems.append(f"{where}: expected a list")
            return []
        return value

    def need_id(entry: Any, key: str, where: str) -> bool:
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected a mapping")
            return False
        if not isinstance(entry.get(key), str) or not entry[key]:
            problems.append(f"{where}: '{key}' must be a non-empty string")
            return False
        return True

    if not isinstance(schema, dict):
        raise ValueError("schema: expected a mapping with 'applications'")
    for a, app in enumerate(need_list(schema.get("applications"), "applications")):
        where = f"applications[{a}]"
        if not need_id(app, "id", where):
            continue
        for d, ds in enumerate(need_list(app.get("datastores", []), f"{where}.datastores")):
            ds_where = f"{where}.datastores[{d}]"
            if not need_id(ds, "id", ds_where):
                continue
            statuses = ds.get("statuses")
            if statuses is not None and not all(isinstance(s, str) for s in need_list(statuses, f"{ds_where}.statuses")):
                problems.append(f"{ds_where}.statuses: expected status names")
            for f, fld in enumerate(need_list(ds.get("fields", []), f"{ds_where}.fields")):
                need_id(fld, "display_id", f"{ds_where}.fields[{f}]")
    if problems:
        raise ValueError("invalid schema: " + "; ".join(problems))


# --------------------------------------------------------------------------- values


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
class CsvTable:
    """A parsed CSV: the header and ``(line number, values)`` per data row (header = line 1)."""

    header: tuple[str, ...]
    rows: tuple[tuple[int, tuple[str, ...]], ...]


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


def parse_csv(data: bytes) -> CsvTable:
    """Decode (UTF-8 without BOM, else CP932) and parse an import CSV."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp932")
        except UnicodeDecodeError as exc:
            raise ImportFailure("invalid encoding", "the file is neither UTF-8 nor Shift_JIS (CP932)") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = tuple(next(reader))
        rows: list[tuple[int, tuple[str, ...]]] = []
        # line_num counts physical lines read so far, so a record starts one after the last one.
        last_line = reader.line_num
        for values in reader:
            if values:  # csv yields [] for a blank line: not a row
                rows.append((last_line + 1, tuple(values)))
            last_line = reader.line_num
    except StopIteration:
        raise ImportFailure("empty file", "the file has no header row") from None
    except csv.Error as exc:
        raise ImportFailure("invalid csv", f"line {reader.line_num}: {exc}") from exc
    duplicates = sorted({c for c in header if header.count(c) > 1})
    if duplicates:
        raise ImportFailure("invalid header", f"duplicate columns: {', '.join(duplicates)}")
    return CsvTable(header, tuple(rows))


def _row_error(line: int, error: str, description: str) -> dict[str, Any]:
    return {"description": description, "line": line, "error": error, "error_level": "ERROR"}


def _is_number(value: str) -> bool:
    try:
        number = float(value)
    except ValueError:
        return False
    return number == number and abs(number) != float("inf")


def _as_number(value: str) -> int | float | str | None:
    text = value.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return value  # stored with validate=false: hand it back as it came


def _new_id() -> str:
    return secrets.token_hex(12)  # 24 hex digits, like Hexabase's object ids


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------- storage

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


class HexabaseStore:
    """The emulator's SQLite database: one connection, one lock, explicit transactions."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_DDL)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and run a write transaction, rolled back on any exception."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a read query under the lock."""
        with self._lock:
            return self._db.execute(sql, args).fetchall()

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
                        values = (fld.get("name", display_id), fld.get("dataType", "text"), bool(fld.get("unique", False)))
                        updated = db.execute(
                            "UPDATE fields SET name = ?, data_type = ?, is_unique = ? WHERE d_id = ? AND display_id = ?",
                            (*values, d_id, display_id),
                        )
                        if not updated.rowcount:
                            db.execute(
                                "INSERT INTO fields VALUES (?, ?, ?, ?, ?, ?)",
                                (fld.get("f_id") or _new_id(), d_id, display_id, *values),
                            )

    def find_application(self, ref: str) -> str | None:
        """The p_id of an application given by display id or p_id."""
        rows = self.query("SELECT p_id FROM applications WHERE display_id = ? OR p_id = ? ORDER BY display_id = ? DESC", (ref, ref, ref))
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
        return [Field(r["f_id"], r["display_id"], r["name"], r["data_type"], bool(r["is_unique"])) for r in rows]

    @staticmethod
    def _ensure_application(db: sqlite3.Connection, display_id: str, p_id: str | None) -> str:
        row = db.execute("SELECT p_id FROM applications WHERE display_id = ?", (display_id,)).fetchone()
        if row:
            return str(row["p_id"])
        p_id = p_id or _new_id()
        db.execute("INSERT INTO applications VALUES (?, ?)", (p_id, display_id))
        return p_id

    @staticmethod
    def _ensure_datastore(db: sqlite3.Connection, p_id: str, display_id: str, d_id: str | None) -> str:
        row = db.execute("SELECT d_id FROM datastores WHERE p_id = ? AND display_id = ?", (p_id, display_id)).fetchone()
        if row:
            return str(row["d_id"])
        d_id = d_id or _new_id()
        db.execute("INSERT INTO datastores VALUES (?, ?, ?, NULL)", (d_id, p_id, display_id))
        return d_id

    # -- items

    def item_rows(self, d_id: str, limit: int = -1, offset: int = 0) -> list[sqlite3.Row]:
        """Items of a datastore in insertion order (``limit=-1``: all)."""
        return self.query(
            "SELECT * FROM items WHERE d_id = ? ORDER BY seq LIMIT ? OFFSET ?", (d_id, limit, offset)
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
        tables = ["items", "tasks"] if keep_definitions else ["items", "tasks", "fields", "datastores", "applications"]
        with self.transaction() as db:
            for table in tables:
                db.execute(f"DELETE FROM {table}")

    def apply_import(self, ds: Datastore, table: CsvTable, options: ImportOptions, *, fixed_fields: bool, task: str | None = None) -> ImportResult:
        """Apply an import in one transaction; ``task``'s status becomes done in that transaction.

        Raises :class:`ImportFailure` (nothing applied) when the import fails as a whole.
        """
        with self.transaction() as db:
            result = _Importer(db, ds, options).run(table, fixed_fields)
            if task is not None:
                done = db.execute(
                    "UPDATE tasks SET status = 2, finished_at = ?, imported = ?, item_count = ?, errors = ?, csv = NULL"
                    " WHERE qt_id = ? AND status = 1",
                    (_now(), result.imported, result.item_count, json.dumps(result.errors), task),
                )
                if not done.rowcount:  # reset while it ran: its effect must not survive the reset
                    raise ImportFailure("cancelled", "the import was cancelled by a reset")
            return result

    # -- tasks

    def add_task(self, ds: Datastore, data: bytes, options: ImportOptions) -> sqlite3.Row:
        """Register a queued import (status 0)."""
        stream_id = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(128))
        with self.transaction() as db:
            db.execute(
                "INSERT INTO tasks (qt_id, d_id, temp_datastore_id, stream_id, category, options, csv, status, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
                (_new_id(), ds.d_id, _new_id(), stream_id, options.category, json.dumps(options.__dict__), data, _now()),
            )
            return db.execute("SELECT * FROM tasks WHERE rowid = last_insert_rowid()").fetchone()

    def next_task(self) -> sqlite3.Row | None:
        """The oldest unfinished task (a task left running by a restart is run again)."""
        rows = self.query("SELECT * FROM tasks WHERE status IN (0, 1) ORDER BY seq LIMIT 1")
        return rows[0] if rows else None

    def start_task(self, qt_id: str) -> bool:
        """Mark a task running; False when it is gone (reset) or no longer pending."""
        with self.transaction() as db:
            return db.execute(
                "UPDATE tasks SET status = 1, started_at = ? WHERE qt_id = ? AND status IN (0, 1)", (_now(), qt_id)
            ).rowcount > 0

    def fail_task(self, qt_id: str, status: int, entry: dict[str, Any], item_count: int | None) -> None:
        """End a task as failed (3) or abnormal (4); nothing of it was applied."""
        with self.transaction() as db:
            db.execute(
                "UPDATE tasks SET status = ?, finished_at = ?, imported = 0, item_count = ?, errors = ?, csv = NULL WHERE qt_id = ?",
                (status, _now(), item_count, json.dumps([entry]), qt_id),
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


class _Importer:
    """Applies one parsed CSV to one datastore, inside a transaction the caller holds."""

    def __init__(self, db: sqlite3.Connection, ds: Datastore, options: ImportOptions) -> None:
        self.db, self.ds, self.options = db, ds, options
        self.errors: list[dict[str, Any]] = []
        self.key_index: dict[str, list[int]] = {}
        self.data_by_seq: dict[int, dict[str, str]] = {}

    def run(self, table: CsvTable, fixed_fields: bool) -> ImportResult:
        key = self.options.key
        columns = [c for c in table.header if c not in SPECIAL_COLUMNS]
        fields = {f["display_id"]: f["data_type"] for f in self.db.execute("SELECT display_id, data_type FROM fields WHERE d_id = ?", (self.ds.d_id,))}
        unknown = [c for c in columns if c not in fields]
        if unknown and fixed_fields:
            raise ImportFailure("unknown columns", f"columns that are not fields of datastore {self.ds.display_id}: {', '.join(unknown)}")
        for column in unknown:  # schema-less mode: new columns become text fields
            self.db.execute("INSERT INTO fields VALUES (?, ?, ?, ?, 'text', 0)", (_new_id(), self.ds.d_id, column, column))
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
        for row in self.db.execute("SELECT seq, data FROM items WHERE d_id = ? ORDER BY seq", (self.ds.d_id,)):
            data = json.loads(row["data"])
            self.data_by_seq[row["seq"]] = data
            if key in data:
                self.key_index.setdefault(data[key], []).append(row["seq"])

    def _check(self, line: int, header: tuple[str, ...], values: tuple[str, ...], key: str | None, numbers: list[str]) -> dict[str, Any] | None:
        if len(values) != len(header):
            return _row_error(line, "invalid row", f"expected {len(header)} columns, found {len(values)}")
        record = dict(zip(header, values, strict=True))
        if _truthy(record.get("_delete_", "")) and key is None:
            return _row_error(line, "invalid delete", "_delete_ needs key_field_displayid (and no append or replace_all)")
        status = record.get("_status_", "")
        if status and self.ds.statuses is not None and status not in self.ds.statuses:
            return _row_error(line, "invalid status", f"unknown status: {status}")
        if not self.options.validate:
            return None
        if key is not None and not record[key].strip():
            return _row_error(line, "empty key", f"key field {key} is empty")
        bad = [c for c in numbers if record[c].strip() and not _is_number(record[c])]
        if bad:
            return _row_error(line, "invalid value", "not a number: " + ", ".join(f"{c}={record[c]!r}" for c in bad))
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
            (_new_id(), self.ds.d_id, json.dumps(data, ensure_ascii=False), status, group),
        )
        if key is not None and data[key]:
            seq = int(cursor.lastrowid or 0)
            self.data_by_seq[seq] = data
            self.key_index.setdefault(data[key], []).append(seq)


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("true", "1")
