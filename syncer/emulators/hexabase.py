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
import dataclasses
import io
import json
import logging
import secrets
import sqlite3
import string
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from .base import (
    EmulatorApp,
    FaultConfig,
    FaultInjector,
    FormField,
    Handler,
    HTTPError,
    Request,
    Response,
    SqliteStore,
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
            if statuses is not None and not all(
                isinstance(s, str) for s in need_list(statuses, f"{ds_where}.statuses")
            ):
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
            raise ImportFailure(
                "invalid encoding", "the file is neither UTF-8 nor Shift_JIS (CP932)"
            ) from exc
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
                                (fld.get("f_id") or _new_id(), d_id, display_id, *values),
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
        p_id = p_id or _new_id()
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
        d_id = d_id or _new_id()
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
        stream_id = "".join(
            secrets.choice(string.ascii_letters + string.digits) for _ in range(128)
        )
        with self.transaction() as db:
            db.execute(
                "INSERT INTO tasks (qt_id, d_id, temp_datastore_id, stream_id, category, options, csv, status, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
                (
                    _new_id(),
                    ds.d_id,
                    _new_id(),
                    stream_id,
                    options.category,
                    json.dumps(dataclasses.asdict(options)),
                    data,
                    _now(),
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
                    (_now(), qt_id),
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
                (_new_id(), self.ds.d_id, column, column),
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
        bad = [c for c in numbers if record[c].strip() and not _is_number(record[c])]
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
            (_new_id(), self.ds.d_id, json.dumps(data, ensure_ascii=False), status, group),
        )
        if key is not None and data[key]:
            seq = int(cursor.lastrowid or 0)
            self.data_by_seq[seq] = data
            self.key_index.setdefault(data[key], []).append(seq)


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("true", "1")


# --------------------------------------------------------------------------- queue


class _ImportWorker:
    """Runs queued imports one at a time, in order, each after ``delay`` seconds in the queue."""

    def __init__(self, store: HexabaseStore, delay: float, fixed_fields: bool,
                 faults: FaultInjector | None = None) -> None:
        self._store, self._delay, self._fixed_fields = store, delay, fixed_fields
        self._faults = faults
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name="hexabase-import-queue", daemon=True
        )
        self._thread.start()

    def notify(self) -> None:
        """A task was queued."""
        self._wake.set()

    def stop(self) -> None:
        """Stop after the task in hand (an unfinished task is picked up again on restart)."""
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            # Clear before looking, so a task queued after the look still wakes us.
            self._wake.clear()
            task = self._store.next_task()
            if task is None:
                self._wake.wait()
                continue
            # a slow queue (injected): the task stays queued longer, and so do those behind it
            extra = self._faults.queue_delay() if self._faults is not None else 0.0
            if self._stop.wait(self._delay + extra):
                return
            self._run(task)

    def _run(self, task: sqlite3.Row) -> None:
        qt_id = task["qt_id"]
        if not self._store.start_task(qt_id):
            return
        item_count: int | None = None
        try:
            ds = self._store.find_datastore(task["d_id"])
            if ds is None:
                raise ImportFailure("not found", "the datastore no longer exists")
            table = parse_csv(task["csv"])
            item_count = len(table.rows)
            options = ImportOptions(**json.loads(task["options"]))
            self._store.apply_import(
                ds, table, options, fixed_fields=self._fixed_fields, task=qt_id
            )
        except ImportFailure as failure:
            self._store.fail_task(qt_id, 3, failure.entry, item_count)
        except Exception as exc:
            logger.exception("queued import %s failed", qt_id)
            entry = {
                "description": f"internal emulator error: {exc}",
                "error": "abnormal",
                "error_level": "ERROR",
            }
            self._store.fail_task(qt_id, 4, entry, item_count)


# --------------------------------------------------------------------------- the emulator


class HexabaseEmulator(EmulatorApp):
    """The Hexabase API over a SQLite store; serve it with :func:`syncer.emulators.base.running`.

    ``data_dir`` holds ``hexabase.sqlite3`` (a temporary directory, removed on :meth:`close`, when
    None). ``schema`` (see :func:`load_schema`) fixes applications, datastores and fields; without
    it any application id is accepted and datastores and their text fields are created by imports.
    ``queue_delay`` is how long each queued import waits before it runs.
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        token: str = DEFAULT_TOKEN,
        schema: Mapping[str, Any] | None = None,
        faults: FaultConfig | None = None,
        queue_delay: float = 0.2,
    ) -> None:
        super().__init__(faults)
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="hexabase-emulator-")
            data_dir = Path(self._tempdir.name)
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.token = token
        self._token_expired = False
        self._schema = schema
        if schema is not None:
            check_schema(schema)
        self.store = HexabaseStore(self.data_dir / "hexabase.sqlite3")
        if schema is not None:
            self.store.seed(schema)
        self._worker = _ImportWorker(self.store, queue_delay, fixed_fields=schema is not None,
                                     faults=self.faults)
        self.add_route("POST", _API + "/login", self._login, faultable=False)
        self.add_route("POST", _DS + "/import", self._authorized(self._import))
        self.add_route("GET", _API + "/tasks", self._authorized(self._queue_list))
        self.add_route(
            "GET",
            _API + "/datastores/{ds}/import/{temp_id}",
            self._authorized(self._import_results),
        )
        self.add_route("POST", _DS + "/items/search", self._authorized(self._search))
        self.add_route("DELETE", _DS + "/items/delete", self._authorized(self._delete))
        self.add_route("GET", _DS + "/fields", self._authorized(self._fields))
        self.add_control_route("POST", "/_emulator/expire-token", self._expire_token)

    def expire_token(self) -> None:
        """Make authenticated calls answer 401 until the next successful login."""
        self._token_expired = True

    def reset(self) -> None:
        """Delete all items and tasks (and, without a schema, every application and datastore)."""
        super().reset()
        self.store.clear(keep_definitions=self._schema is not None)
        self._token_expired = False

    def close(self) -> None:
        """Stop the import queue, close the database, remove a temporary data directory."""
        self._worker.stop()
        self.store.close()
        if self._tempdir is not None:
            self._tempdir.cleanup()

    # -- auth

    def _login(self, request: Request) -> Response:
        body = request.json_object()
        who = body.get("email") or body.get("user_code")
        if not isinstance(who, str) or not who or body.get("password") != self.token:
            raise HTTPError(401, "invalid email or password", "INVALID_PARAMS")
        self._token_expired = False
        return json_response({"token": self.token})

    def _authorized(self, handler: Handler) -> Handler:
        def guarded(request: Request) -> Response:
            token = request.bearer_token()
            if token is None:
                raise HTTPError(401, "missing Authorization: Bearer token", "NO_PRIVILEGES")
            if token != self.token or self._token_expired:
                raise HTTPError(401, "invalid or expired token", "NO_PRIVILEGES")
            return handler(request)

        return guarded

    def _expire_token(self, _request: Request) -> Response:
        self.expire_token()
        return json_response({"expired": True})

    # -- lookups

    def _datastore(self, request: Request, *, create: bool = False) -> Datastore:
        app_ref, ds_ref = request.params["app"], request.params["ds"]
        if create and self._schema is None:
            return self.store.create_datastore(app_ref, ds_ref)
        p_id = self.store.find_application(app_ref)
        if p_id is None:
            raise HTTPError(404, f"application not found: {app_ref}", "NOT_FOUND")
        ds = self.store.find_datastore(ds_ref, p_id)
        if ds is None:
            raise HTTPError(404, f"datastore not found: {ds_ref}", "NOT_FOUND")
        return ds

    # -- ImportItems, GetQueueList, GetImportResults

    def _import(self, request: Request) -> Response:
        form = request.form()
        upload = form.get("file")
        if upload is None:
            raise HTTPError(400, "the form has no 'file' part", "INVALID_PARAMS")
        key_part = form.get("key_field_displayid")
        options = ImportOptions(
            key_field=(key_part.text.strip() or None) if key_part else None,
            replace_all=_flag(form, "replace_all"),
            append=_flag(form, "append"),
            validate=_flag(form, "validate", default=True),
            overwrite_autonumber=_flag(form, "overwrite_autonumber"),
        )
        if options.replace_all and options.append:
            raise HTTPError(400, "replace_all and append cannot both be true", "INVALID_PARAMS")
        no_queue = _flag(form, "no_queue")
        ds = self._datastore(request, create=True)
        if no_queue:
            return json_response(self._import_now(ds, upload.content, options))
        task = self.store.add_task(ds, upload.content, options)
        self._worker.notify()
        return json_response(
            {"temp_datastore_id": task["temp_datastore_id"], "stream_id": task["stream_id"]}
        )

    def _import_now(self, ds: Datastore, data: bytes, options: ImportOptions) -> dict[str, Any]:
        item_count = 0
        try:
            table = parse_csv(data)
            item_count = len(table.rows)
            if item_count > NO_QUEUE_LIMIT:
                return _import_body([_TOO_MANY], 0, item_count)
            result = self.store.apply_import(
                ds, table, options, fixed_fields=self._schema is not None
            )
        except ImportFailure as failure:
            return _import_body([failure.entry], 0, item_count)
        return _import_body(list(result.errors), result.imported, result.item_count)

    def _queue_list(self, request: Request) -> Response:
        everything = (request.query_value("all") or "").lower() == "true"
        rows = self.store.tasks(request.query_value("stream_id"), unfinished_only=not everything)
        return json_response({row["qt_id"]: _task_json(row) for row in rows})

    def _import_results(self, request: Request) -> Response:
        task = self.store.task_by_temp_id(request.params["temp_id"])
        ds = self.store.find_datastore(task["d_id"]) if task is not None else None
        if task is None or ds is None or request.params["ds"] not in (ds.d_id, ds.display_id):
            raise HTTPError(404, f"import not found: {request.params['temp_id']}", "NOT_FOUND")
        options = ImportOptions(**json.loads(task["options"]))
        if options.replace_all or options.append:
            raise HTTPError(
                400,
                "import results are not available for append or replace_all imports",
                "INVALID_PARAMS",
            )
        if task["status"] < 2:
            return json_response({"status": "processing"}, status=202)
        errors = json.loads(task["errors"] or "[]")
        if not errors:
            return empty_response()
        return json_response({"errors": [_result_error(e) for e in errors]})

    # -- items and fields

    def _search(self, request: Request) -> Response:
        ds = self._datastore(request)
        body = request.json_object()
        page, per_page = _positive_int(body, "page", 1), _positive_int(body, "per_page", 100)
        fields = self.store.fields(ds.d_id)
        conditions = _conditions(body, fields, required=False)
        if conditions:
            rows = _filter(self.store.item_rows(ds.d_id), conditions)
            total, rows = len(rows), rows[(page - 1) * per_page : page * per_page]
        else:
            total, rows = self.store.count_items(ds.d_id), self.store.item_rows(
                ds.d_id, per_page, (page - 1) * per_page
            )
        use_display_id = bool(body.get("use_display_id", False))
        numbers = bool(body.get("return_number_value", False))
        items = [_item_json(row, fields, use_display_id, numbers) for row in rows]
        return json_response({"items": items, "totalItems": total})

    def _delete(self, request: Request) -> Response:
        ds = self._datastore(request)
        conditions = _conditions(request.json_object(), self.store.fields(ds.d_id), required=True)
        seqs = [row["seq"] for row in _filter(self.store.item_rows(ds.d_id), conditions)]
        self.store.delete_items(seqs)
        return json_response({"deleted": len(seqs)})

    def _fields(self, request: Request) -> Response:
        ds = self._datastore(request)
        fields = {
            f.f_id: {
                "display_id": f.display_id,
                "name": f.name,
                "dataType": f.data_type,
                "unique": f.unique,
            }
            for f in self.store.fields(ds.d_id)
        }
        return json_response({"fields": fields})


# --------------------------------------------------------------------------- wire helpers


def _flag(form: Mapping[str, FormField], name: str, default: bool = False) -> bool:
    part = form.get(name)
    value = part.text.strip().lower() if part else ""
    if not value:
        return default
    if value in ("true", "1", "false", "0"):
        return value in ("true", "1")
    raise HTTPError(400, f"{name} must be true or false, not {value!r}", "INVALID_PARAMS")


def _positive_int(body: Mapping[str, Any], name: str, default: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise HTTPError(400, f"{name} must be a positive integer", "INVALID_PARAMS")
    return value


def _import_body(errors: list[dict[str, Any]], imported: int, item_count: int) -> dict[str, Any]:
    return {
        "errors": errors,
        "has_error": bool(errors),
        "result": {"imported": imported, "item_count": item_count},
    }


def _result_error(entry: dict[str, Any]) -> dict[str, Any]:
    # GetImportResults names row errors "Insert ERROR" (the documented shape); the detail rides along.
    if "line" in entry:
        return {"description": "Insert ERROR", "line": entry["line"], "error": entry["description"]}
    return entry


def _task_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "qt_id": row["qt_id"],
        "category": row["category"],
        "status": {"id": row["status"], "name": TASK_STATUS_NAMES[row["status"]]},
        "created_at": row["created_at"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "metadata": {
            "stream_id": row["stream_id"],
            "temp_datastore_id": row["temp_datastore_id"],
            "imported": row["imported"],
            "item_count": row["item_count"],
            "errors": json.loads(row["errors"] or "[]"),
        },
    }


Condition = tuple[Field, list[str]]


def _conditions(body: Mapping[str, Any], fields: list[Field], *, required: bool) -> list[Condition]:
    raw = body.get("conditions") or []
    if not isinstance(raw, list) or (required and not raw):
        raise HTTPError(
            400,
            "conditions must be a non-empty list" if required else "conditions must be a list",
            "INVALID_PARAMS",
        )
    by_ref = {f.display_id: f for f in fields} | {f.f_id: f for f in fields}
    conditions: list[Condition] = []
    for condition in raw:
        if not isinstance(condition, dict) or condition.get("id") not in by_ref:
            ref = condition.get("id") if isinstance(condition, dict) else condition
            raise HTTPError(400, f"unknown field in conditions: {ref}", "INVALID_PARAMS")
        values = condition.get("search_value")
        values = values if isinstance(values, list) else [values]
        conditions.append((by_ref[condition["id"]], [_search_text(v) for v in values]))
    return conditions


def _search_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _filter(rows: list[sqlite3.Row], conditions: list[Condition]) -> list[sqlite3.Row]:
    """Rows matching every condition (a condition matches any of its values exactly)."""

    def matches(data: dict[str, str], field: Field, wanted: list[str]) -> bool:
        stored = data.get(field.display_id, "")
        if stored in wanted:
            return True
        # Numbers match by value, so 10 finds "10.0".
        number = _as_number(stored) if field.data_type == "number" else None
        return isinstance(number, int | float) and any(_as_number(w) == number for w in wanted)

    kept = []
    for row in rows:
        data = json.loads(row["data"])
        if all(matches(data, field, wanted) for field, wanted in conditions):
            kept.append(row)
    return kept


def _item_json(
    row: sqlite3.Row, fields: list[Field], use_display_id: bool, numbers: bool
) -> dict[str, Any]:
    data = json.loads(row["data"])
    item: dict[str, Any] = {"i_id": row["i_id"]}
    for f in fields:
        if f.display_id in data:
            value = data[f.display_id]
            item[f.display_id if use_display_id else f.f_id] = (
                _as_number(value) if numbers and f.data_type == "number" else value
            )
    if row["status"]:
        item["status"] = row["status"]
    if row["group_id"]:
        item["group_id"] = row["group_id"]
    return item


# --------------------------------------------------------------------------- command line entry


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    data_dir: Path | None = None,
    token: str | None = None,
    schema_path: Path | None = None,
    faults: FaultConfig | None = None,
    queue_delay: float = 0.2,
    *,
    verbose: bool = False,
) -> None:
    """Serve the emulator in the foreground until SIGINT/SIGTERM (``syncer emulate hexabase``)."""
    schema = load_schema(schema_path) if schema_path is not None else None
    with HexabaseEmulator(
        data_dir, token or DEFAULT_TOKEN, schema, faults, queue_delay
    ) as emulator:

        def announce(url: str) -> None:
            print(f"Hexabase emulator listening on {url} (data: {emulator.data_dir})", flush=True)

        serve_forever(emulator, host, port, on_ready=announce, verbose=verbose)
