"""The Zilliz emulator's SQLite store (:class:`ZillizStore`): collections, aliases, entities and
import jobs."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..base import SqliteStore
from .schema import CollectionSchema

DEFAULT_DB = "default"

_DDL = """
CREATE TABLE IF NOT EXISTS collections (
    id INTEGER PRIMARY KEY AUTOINCREMENT, db TEXT NOT NULL, name TEXT NOT NULL,
    schema TEXT NOT NULL, created_at TEXT NOT NULL, UNIQUE (db, name));
CREATE TABLE IF NOT EXISTS properties (
    collection_id INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (collection_id, key));
CREATE TABLE IF NOT EXISTS aliases (
    db TEXT NOT NULL, alias TEXT NOT NULL, collection_id INTEGER NOT NULL,
    PRIMARY KEY (db, alias));
CREATE TABLE IF NOT EXISTS entities (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, collection_id INTEGER NOT NULL, pk TEXT NOT NULL,
    data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS entities_by_pk ON entities (collection_id, pk);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL UNIQUE, cluster_id TEXT NOT NULL,
    db TEXT NOT NULL, collection_name TEXT NOT NULL, collection_id INTEGER NOT NULL,
    urls TEXT NOT NULL, access_key TEXT, secret_key TEXT, session_token TEXT,
    state TEXT NOT NULL, progress INTEGER NOT NULL, reason TEXT NOT NULL DEFAULT '',
    file_name TEXT NOT NULL, file_size INTEGER NOT NULL DEFAULT 0, total_rows INTEGER NOT NULL
    DEFAULT 0, imported_rows INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL,
    complete_time TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS partitions (
    collection_id INTEGER NOT NULL, name TEXT NOT NULL, PRIMARY KEY (collection_id, name));
"""
#: columns added after the first release: (table, column, definition), added when missing
_ADDED = (("entities", "partition", "TEXT NOT NULL DEFAULT '_default'"),
          ("jobs", "partition", "TEXT NOT NULL DEFAULT '_default'"),
          ("jobs", "details", "TEXT NOT NULL DEFAULT '[]'"))
DEFAULT_PARTITION = "_default"


def pk_text(value: Any) -> str:
    return json.dumps(value)


@dataclass(frozen=True)
class Collection:
    id: int
    db: str
    name: str
    schema: CollectionSchema


class ZillizStore(SqliteStore):
    """The emulator's SQLite database: one connection, one lock, explicit transactions."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, _DDL)
        self._last_id = int(time.time() * 1000) << 16
        with self.transaction() as db:
            for table, column, definition in _ADDED:
                have = {r["name"] for r in db.execute(f"PRAGMA table_info({table})")}
                if column not in have:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")

    def next_id(self) -> int:
        """A fresh auto id (increasing, like Milvus' timestamp-based ids)."""
        with self._lock:
            self._last_id += 1
            return self._last_id

    def clear(self) -> None:
        with self.transaction() as db:
            for table in ("collections", "properties", "aliases", "entities", "jobs", "partitions"):
                db.execute(f"DELETE FROM {table}")

    # -- collections and aliases

    def collection(self, db: str, name: str, *, aliases: bool = True) -> Collection | None:
        """A collection by name, or (``aliases``) by an alias pointing at it."""
        rows = self.query("SELECT * FROM collections WHERE db = ? AND name = ?", (db, name))
        if not rows and aliases:
            rows = self.query("SELECT c.* FROM collections c JOIN aliases a ON a.collection_id"
                              " = c.id WHERE a.db = ? AND a.alias = ?", (db, name))
        if not rows:
            return None
        row = rows[0]
        return Collection(row["id"], row["db"], row["name"], CollectionSchema.from_json(row["schema"]))

    def collection_by_id(self, collection_id: int) -> Collection | None:
        rows = self.query("SELECT * FROM collections WHERE id = ?", (collection_id,))
        if not rows:
            return None
        row = rows[0]
        return Collection(row["id"], row["db"], row["name"], CollectionSchema.from_json(row["schema"]))

    def properties_of(self, collection_id: int) -> dict[str, str]:
        return {r["key"]: r["value"] for r in self.query(
            "SELECT key, value FROM properties WHERE collection_id = ? ORDER BY key",
            (collection_id,))}

    def set_properties(self, collection_id: int, values: Mapping[str, Any]) -> None:
        with self.transaction() as db:
            db.executemany("INSERT INTO properties (collection_id, key, value) VALUES (?, ?, ?) "
                           "ON CONFLICT (collection_id, key) DO UPDATE SET value=excluded.value",
                           [(collection_id, str(k), str(v)) for k, v in values.items()])

    def aliases_of(self, collection_id: int) -> list[str]:
        return [r["alias"] for r in self.query(
            "SELECT alias FROM aliases WHERE collection_id = ? ORDER BY alias", (collection_id,))]

    def alias_target(self, db: str, alias: str) -> str | None:
        rows = self.query("SELECT c.name FROM aliases a JOIN collections c ON c.id = "
                          "a.collection_id WHERE a.db = ? AND a.alias = ?", (db, alias))
        return str(rows[0]["name"]) if rows else None

    # -- entities

    def insert(self, db: sqlite3.Connection, collection: Collection,
               entities: Sequence[Mapping[str, Any]],
               partition: str = DEFAULT_PARTITION) -> None:
        pk = collection.schema.primary.name
        db.executemany("INSERT INTO entities (collection_id, pk, data, partition) VALUES "
                       "(?, ?, ?, ?)",
                       [(collection.id, pk_text(e[pk]), json.dumps(e, ensure_ascii=False),
                         partition) for e in entities])

    def entities(self, collection_id: int, partitions: Sequence[str] | None = None
                 ) -> list[tuple[int, dict[str, Any]]]:
        """The entities of a collection (of some of its partitions), in insertion order."""
        sql = "SELECT seq, data FROM entities WHERE collection_id = ?"
        args: list[Any] = [collection_id]
        if partitions:
            sql += f" AND partition IN ({', '.join('?' * len(partitions))})"
            args += list(partitions)
        return [(r["seq"], json.loads(r["data"])) for r in self.query(f"{sql} ORDER BY seq",
                                                                      args)]

    def entities_by_pk(self, collection_id: int, pks: Sequence[str],
                       partitions: Sequence[str] | None = None
                       ) -> list[tuple[int, dict[str, Any]]]:
        """The entities whose primary key (as :func:`pk_text`) is one of ``pks``, through the
        key's index, in insertion order."""
        found: list[tuple[int, dict[str, Any]]] = []
        unique = list(dict.fromkeys(pks))
        for start in range(0, len(unique), 500):
            part = unique[start:start + 500]
            sql = (f"SELECT seq, data FROM entities WHERE collection_id = ? AND pk IN "
                   f"({', '.join('?' * len(part))})")
            args: list[Any] = [collection_id, *part]
            if partitions:
                sql += f" AND partition IN ({', '.join('?' * len(partitions))})"
                args += list(partitions)
            found += [(r["seq"], json.loads(r["data"])) for r in self.query(sql, args)]
        return sorted(found, key=lambda pair: pair[0])

    def count(self, collection_id: int, partitions: Sequence[str] | None = None) -> int:
        """How many entities a collection (some of its partitions) holds."""
        sql = "SELECT count(*) AS n FROM entities WHERE collection_id = ?"
        args: list[Any] = [collection_id]
        if partitions:
            sql += f" AND partition IN ({', '.join('?' * len(partitions))})"
            args += list(partitions)
        return int(self.query(sql, args)[0]["n"])

    def partitions(self, collection_id: int) -> list[str]:
        """The partitions of a collection: ``_default`` and those created."""
        return [DEFAULT_PARTITION, *(r["name"] for r in self.query(
            "SELECT name FROM partitions WHERE collection_id = ? ORDER BY name",
            (collection_id,)))]

    def key_counts(self, collection: str, db: str = DEFAULT_DB) -> dict[Any, int]:
        """How many entities hold each primary key (a test asserts there is one of each)."""
        found = self.collection(db, collection)
        if found is None:
            return {}
        return {json.loads(r["pk"]): int(r["n"]) for r in self.query(
            "SELECT pk, count(*) AS n FROM entities WHERE collection_id = ? GROUP BY pk",
            (found.id,))}

    # -- jobs

    def job(self, job_id: str) -> sqlite3.Row | None:
        rows = self.query("SELECT * FROM jobs WHERE job_id = ?", (job_id,))
        return rows[0] if rows else None

    def next_pending_job(self) -> sqlite3.Row | None:
        rows = self.query("SELECT * FROM jobs WHERE state = 'Pending' ORDER BY seq LIMIT 1")
        return rows[0] if rows else None

    def update_job(self, job_id: str, **values: Any) -> None:
        columns = ", ".join(f"{name} = ?" for name in values)
        with self.transaction() as db:
            db.execute(f"UPDATE jobs SET {columns} WHERE job_id = ?", (*values.values(), job_id))
