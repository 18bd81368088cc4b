"""A local emulator of Zilliz Cloud's REST API, for the ``zilliz`` target's tests and demos.

One server plays both halves of the service (``reference/zilliz-milvus-api.md``):

* the control plane: ``/v2/vectordb/jobs/import/create``, ``getProgress`` (POST, or GET with a
  body as the seed shows; ``describe`` is an alias), ``list``;
* the cluster endpoint: ``collections/{create,describe,drop,list,has}``,
  ``entities/{insert,upsert,delete,query}`` and ``aliases/{create,alter,describe,list,drop}``.

Import jobs read their files from the S3 endpoint the emulator is given (boto3, with the job's
``accessKey``/``secretKey``), and move ``Pending`` -> ``Importing`` (progress 10, 40, 80) ->
``Completed`` over ``job_delay`` seconds.  They are strict where the service is: a job fails whole
(nothing lands) on a missing field, a vector of the wrong dim, a value of the wrong type, a
primary key given for an ``autoId`` collection, or a field the schema lacks when dynamic fields
are off, with a ``reason`` naming the file and row.  Like the service, an import never
de-duplicates primary keys: importing a key that is already there leaves two entities (a driver
that forgets to delete first is caught).  Entities live in SQLite, one row per entity with its
values as JSON, under ``data_dir``, so they survive restarts.

Errors are HTTP 200 with a non-zero ``code`` and a ``message``, as the service answers them;
a wrong API key is ``{"code": 80001, "message": "Invalid token: ..."}``.  Fault injection (429,
500, dropped connections, stalled answers, jobs that stay Pending longer) comes from
:mod:`syncer.emulators.base`.

Choices where the service is not documented: error codes (100 collection not found, 1100 invalid
parameter, 1602 alias not found, 65535 anything else, 80001 bad key, 80010 too many pending jobs,
80016 job not found); job ids ``job-`` + 20 hex digits; the job list is newest first and
accepts a ``collectionName`` filter; a query's default ``limit`` is 100 and ``offset + limit``
may not pass 16384; only JSON import files are read.
"""

from __future__ import annotations

import json
import logging
import math
import re
import secrets
import sqlite3
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .base import (
    EmulatorApp,
    FaultConfig,
    Handler,
    HTTPError,
    Request,
    Response,
    SqliteStore,
    json_response,
    serve_forever,
)

logger = logging.getLogger(__name__)

DEFAULT_API_KEY = "zilliz-emulator-key"
DEFAULT_DB = "default"
MAX_PENDING_JOBS = 10_000
MAX_QUERY_WINDOW = 16_384
MAX_VARCHAR = 65_535
_V2 = "/v2/vectordb"

# error codes (HTTP 200 bodies)
BAD_KEY = 80001
TOO_MANY_JOBS = 80010
JOB_NOT_FOUND = 80016
COLLECTION_NOT_FOUND = 100
INVALID_PARAMETER = 1100
ALIAS_NOT_FOUND = 1602
GENERIC = 65535

_INTEGER_TYPES = {"Int8": 8, "Int16": 16, "Int32": 32, "Int64": 64}
_SCALAR_TYPES = {*_INTEGER_TYPES, "Float", "Double", "Bool", "VarChar", "JSON"}
_VECTOR_TYPES = {"FloatVector"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _error(code: int, message: str) -> HTTPError:
    """An API error: HTTP 200 with ``{"code": code, "message": message}``."""
    return HTTPError(200, message, str(code))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------- schemas


@dataclass(frozen=True)
class FieldDef:
    """A collection field."""

    name: str
    type: str
    primary: bool = False
    auto_id: bool = False
    nullable: bool = False
    dim: int | None = None
    max_length: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "primary": self.primary,
                "auto_id": self.auto_id, "nullable": self.nullable, "dim": self.dim,
                "max_length": self.max_length}

    def describe(self) -> dict[str, Any]:
        params = []
        if self.dim is not None:
            params.append({"key": "dim", "value": str(self.dim)})
        if self.max_length is not None:
            params.append({"key": "max_length", "value": str(self.max_length)})
        return {"name": self.name, "type": self.type, "primaryKey": self.primary,
                "autoId": self.auto_id, "partitionKey": False, "clusteringKey": False,
                "nullable": self.nullable, "description": "", "params": params}


@dataclass(frozen=True)
class CollectionSchema:
    """What a collection holds: fields, dynamic fields, and the vector indexes."""

    fields: tuple[FieldDef, ...]
    dynamic: bool
    indexes: tuple[dict[str, str], ...]

    @property
    def primary(self) -> FieldDef:
        return next(f for f in self.fields if f.primary)

    @property
    def auto_id(self) -> bool:
        return self.primary.auto_id

    def to_json(self) -> str:
        return json.dumps({"fields": [f.to_json() for f in self.fields], "dynamic": self.dynamic,
                           "indexes": list(self.indexes)})

    @classmethod
    def from_json(cls, text: str) -> CollectionSchema:
        data = json.loads(text)
        return cls(tuple(FieldDef(**f) for f in data["fields"]), bool(data["dynamic"]),
                   tuple(data["indexes"]))


def schema_from_request(body: Mapping[str, Any]) -> CollectionSchema:
    """The schema a ``collections/create`` request asks for (custom schema or quick setup)."""
    schema = body.get("schema")
    if schema is None:
        dimension = body.get("dimension")
        if not isinstance(dimension, int) or isinstance(dimension, bool) or dimension < 1:
            raise _error(INVALID_PARAMETER, "invalid parameter: give `schema` or `dimension`")
        id_type = body.get("idType", "Int64")
        pk = str(body.get("primaryFieldName", "id"))
        vector = str(body.get("vectorFieldName", "vector"))
        quick = (FieldDef(pk, id_type, primary=True, auto_id=bool(body.get("autoID", False)),
                          max_length=MAX_VARCHAR if id_type == "VarChar" else None),
                 FieldDef(vector, "FloatVector", dim=dimension))
        metric = str(body.get("metricType", "COSINE"))
        return _checked(CollectionSchema(quick, True, (
            {"fieldName": vector, "indexName": vector, "metricType": metric},)))
    if not isinstance(schema, dict) or not isinstance(schema.get("fields"), list):
        raise _error(INVALID_PARAMETER, "invalid parameter: schema.fields must be a list")
    auto_id = bool(schema.get("autoId", schema.get("autoID", False)))
    fields = []
    for raw in schema["fields"]:
        if not isinstance(raw, dict):
            raise _error(INVALID_PARAMETER, "invalid parameter: each field must be an object")
        params = raw.get("elementTypeParams") or {}
        primary = bool(raw.get("isPrimary", False))
        fields.append(FieldDef(
            name=str(raw.get("fieldName", "")), type=str(raw.get("dataType", "")),
            primary=primary, auto_id=primary and auto_id, nullable=bool(raw.get("nullable")),
            dim=_int_param(params, "dim"), max_length=_int_param(params, "max_length")))
    indexes = []
    for raw in body.get("indexParams") or []:
        if not isinstance(raw, dict) or not raw.get("fieldName"):
            raise _error(INVALID_PARAMETER, "invalid parameter: indexParams need fieldName")
        indexes.append({"fieldName": str(raw["fieldName"]),
                        "indexName": str(raw.get("indexName") or raw["fieldName"]),
                        "metricType": str(raw.get("metricType", "COSINE")).upper()})
    dynamic = bool(schema.get("enableDynamicField", body.get("enableDynamicField", False)))
    return _checked(CollectionSchema(tuple(fields), dynamic, tuple(indexes)))


def _int_param(params: Mapping[str, Any], name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _error(INVALID_PARAMETER, f"invalid parameter: {name} must be an integer, "
                                        f"got {value!r}") from None


def _checked(schema: CollectionSchema) -> CollectionSchema:
    names = [f.name for f in schema.fields]
    for field in schema.fields:
        if not _NAME.match(field.name):
            raise _error(INVALID_PARAMETER, f"invalid field name: '{field.name}'")
        if field.type not in _SCALAR_TYPES | _VECTOR_TYPES:
            raise _error(INVALID_PARAMETER, f"invalid parameter: field '{field.name}' has an "
                                            f"unsupported data type '{field.type}'")
        if field.type in _VECTOR_TYPES and (field.dim is None or field.dim < 1):
            raise _error(INVALID_PARAMETER, f"invalid parameter: vector field '{field.name}' "
                                            "needs elementTypeParams.dim")
        if field.type == "VarChar" and not (field.max_length and 0 < field.max_length
                                            <= MAX_VARCHAR):
            raise _error(INVALID_PARAMETER, f"invalid parameter: VarChar field '{field.name}' "
                                            f"needs max_length in [1, {MAX_VARCHAR}]")
    if len(set(names)) != len(names):
        raise _error(INVALID_PARAMETER, "invalid parameter: duplicated field name")
    primaries = [f for f in schema.fields if f.primary]
    if len(primaries) != 1 or primaries[0].type not in ("Int64", "VarChar"):
        raise _error(INVALID_PARAMETER, "invalid parameter: the schema needs exactly one primary "
                                        "key field, of type Int64 or VarChar")
    if primaries[0].nullable:
        raise _error(INVALID_PARAMETER, "primary field not support null")
    if not any(f.type in _VECTOR_TYPES for f in schema.fields):
        raise _error(INVALID_PARAMETER, "schema does not contain vector field")
    vectors = {f.name for f in schema.fields if f.type in _VECTOR_TYPES}
    for index in schema.indexes:
        if index["fieldName"] not in vectors:
            raise _error(INVALID_PARAMETER, f"invalid parameter: index on '{index['fieldName']}',"
                                            " which is not a vector field")
    return schema


# --------------------------------------------------------------------------- rows


class RowProblem(Exception):
    """A row the collection cannot take (the message is the service's reason)."""


def check_row(schema: CollectionSchema, row: Any, *, next_id: Callable[[], int]) -> dict[str, Any]:
    """The entity to store for ``row``, or :class:`RowProblem` saying why the service refuses it.

    Dynamic-field values go under ``$meta``; a missing ``autoId`` key is generated.
    """
    if not isinstance(row, dict):
        raise RowProblem(f"a row must be a JSON object, got {type(row).__name__}")
    entity: dict[str, Any] = {}
    for field in schema.fields:
        present = field.name in row
        value = row.get(field.name)
        if field.primary and field.auto_id:
            if present:
                raise RowProblem(f"the primary key '{field.name}' is auto-generated, no need "
                                 "to provide")
            entity[field.name] = next_id()
            continue
        if not present or value is None:
            if field.nullable:
                entity[field.name] = None
                continue
            raise RowProblem(f"value of field '{field.name}' is missed" if not present
                             else f"field '{field.name}' is not nullable but got null")
        entity[field.name] = _checked_value(field, value)
    extras = {k: v for k, v in row.items() if k not in entity and k != "$meta"}
    meta = row.get("$meta")
    if not schema.dynamic:
        unknown = sorted(extras) + (["$meta"] if "$meta" in row else [])
        if unknown:
            raise RowProblem(f"the field '{unknown[0]}' is not defined in the schema (dynamic "
                             "fields are disabled)")
        return entity
    if meta is not None and not isinstance(meta, dict):
        raise RowProblem("the dynamic field $meta must be a JSON object")
    dynamic = {**(meta or {}), **extras}
    if dynamic:
        entity["$meta"] = dynamic
    return entity


def _checked_value(field: FieldDef, value: Any) -> Any:
    name, kind = field.name, field.type
    if kind in _INTEGER_TYPES:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RowProblem(f"illegal value {json.dumps(value)[:40]} for {kind} field '{name}'")
        bits = _INTEGER_TYPES[kind]
        if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
            raise RowProblem(f"value {value} out of range for {kind} field '{name}'")
        return value
    if kind in ("Float", "Double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RowProblem(f"illegal value {json.dumps(value)[:40]} for {kind} field '{name}'")
        return float(value)
    if kind == "Bool":
        if not isinstance(value, bool):
            raise RowProblem(f"illegal value {json.dumps(value)[:40]} for Bool field '{name}'")
        return value
    if kind == "VarChar":
        if not isinstance(value, str):
            raise RowProblem(f"illegal value {json.dumps(value)[:40]} for VarChar field '{name}'")
        size = len(value.encode("utf-8"))
        if field.max_length is not None and size > field.max_length:
            raise RowProblem(f"the length ({size}) of VarChar field '{name}' exceeds max length "
                             f"({field.max_length})")
        return value
    if kind == "JSON":
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise RowProblem(f"invalid JSON string for JSON field '{name}'") from None
        if not isinstance(value, dict | list):
            raise RowProblem(f"the value of JSON field '{name}' must be an object or an array")
        return value
    # FloatVector
    if not isinstance(value, list) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in value):
        raise RowProblem(f"illegal value for FloatVector field '{name}': expected a list of "
                         "numbers")
    if len(value) != field.dim:
        raise RowProblem(f"expected dim={field.dim} for field '{name}', got dim={len(value)}")
    if not all(math.isfinite(x) for x in value):
        raise RowProblem(f"vector of field '{name}' holds NaN or infinity")
    return [float(x) for x in value]


def entity_output(entity: Mapping[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    """An entity as query answers it: dynamic values flattened, only the asked fields."""
    flat = {k: v for k, v in entity.items() if k != "$meta"}
    flat.update(entity.get("$meta") or {})
    if fields is None:
        return flat
    return {k: flat[k] for k in fields if k in flat}


# --------------------------------------------------------------------------- filters


_TOKEN = re.compile(r"""\s*(?:
    (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>==|!=|>=|<=|&&|\|\||[<>()\[\],])
  | (?P<word>[A-Za-z_$][A-Za-z0-9_$]*)
)""", re.VERBOSE)

Predicate = Callable[[Mapping[str, Any]], bool]


def parse_filter(text: str) -> Predicate:
    """A boolean expression such as ``id in [1, 2]`` or ``id >= 0 or id < 0`` as a predicate.

    Supported: ``== != > >= < <=``, ``in [...]`` and ``not in [...]``, ``and``/``&&``,
    ``or``/``||``, ``not``, parentheses; numbers, strings, ``true``/``false``.  Fields absent from
    an entity compare false.  Anything else is an invalid-parameter error, as on the service.
    """
    tokens = _tokenize(text)
    parser = _Parser(tokens, text)
    predicate = parser.expression()
    if parser.position != len(tokens):
        raise _error(INVALID_PARAMETER, f"cannot parse expression: {text}")
    return predicate


def _tokenize(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise _error(INVALID_PARAMETER, f"cannot parse expression: {text}")
        position = match.end()
        if match.group("number") is not None:
            number = match.group("number")
            tokens.append(("value", float(number) if any(c in number for c in ".eE")
                           else int(number)))
        elif match.group("string") is not None:
            literal = match.group("string")
            if literal.startswith("'"):
                literal = '"' + literal[1:-1].replace('\\\'', "'").replace('"', '\\"') + '"'
            tokens.append(("value", json.loads(literal)))
        elif match.group("op") is not None:
            tokens.append(("op", match.group("op")))
        else:
            word = match.group("word")
            lowered = word.lower()
            if lowered in ("and", "or", "not", "in"):
                tokens.append(("op", lowered))
            elif lowered in ("true", "false"):
                tokens.append(("value", lowered == "true"))
            else:
                tokens.append(("name", word))
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, Any]], text: str) -> None:
        self.tokens, self.text, self.position = tokens, text, 0

    def _peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self, kind: str, value: Any = None) -> Any:
        token = self._peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            raise _error(INVALID_PARAMETER, f"cannot parse expression: {self.text}")
        self.position += 1
        return token[1]

    def _at(self, *ops: str) -> bool:
        token = self._peek()
        return token is not None and token[0] == "op" and token[1] in ops

    def expression(self) -> Predicate:
        parts = [self._conjunction()]
        while self._at("or", "||"):
            self.position += 1
            parts.append(self._conjunction())
        return parts[0] if len(parts) == 1 else (lambda e: any(p(e) for p in parts))

    def _conjunction(self) -> Predicate:
        parts = [self._factor()]
        while self._at("and", "&&"):
            self.position += 1
            parts.append(self._factor())
        return parts[0] if len(parts) == 1 else (lambda e: all(p(e) for p in parts))

    def _factor(self) -> Predicate:
        if self._at("not"):
            self.position += 1
            inner = self._factor()
            return lambda e: not inner(e)
        if self._at("("):
            self.position += 1
            inner = self.expression()
            self._take("op", ")")
            return inner
        name = self._take("name")
        if self._at("in"):
            self.position += 1
            values = self._list()
            return lambda e: _lookup(e, name) in values
        if self._at("not"):
            self.position += 1
            self._take("op", "in")
            values = self._list()
            return lambda e: (value := _lookup(e, name)) is not _MISSING and value not in values
        op = self._take("op")
        if op not in ("==", "!=", ">", ">=", "<", "<="):
            raise _error(INVALID_PARAMETER, f"cannot parse expression: {self.text}")
        operand = self._take("value")
        return lambda e: _compare(_lookup(e, name), op, operand)

    def _list(self) -> list[Any]:
        self._take("op", "[")
        values: list[Any] = []
        while not self._at("]"):
            values.append(self._take("value"))
            if not self._at("]"):
                self._take("op", ",")
        self._take("op", "]")
        return values


_MISSING = object()


def _lookup(entity: Mapping[str, Any], name: str) -> Any:
    if name in entity:
        return entity[name]
    return (entity.get("$meta") or {}).get(name, _MISSING)


def _compare(value: Any, op: str, operand: Any) -> bool:
    if value is _MISSING or value is None:
        return False
    numeric = (int, float)
    if isinstance(value, bool) != isinstance(operand, bool):
        return False
    if not (isinstance(value, numeric) and isinstance(operand, numeric)) and type(value) is not type(operand):
        return False
    if op == "==":
        return bool(value == operand)
    if op == "!=":
        return bool(value != operand)
    try:
        return bool({">": value > operand, ">=": value >= operand, "<": value < operand,
                     "<=": value <= operand}[op])
    except TypeError:
        return False


# --------------------------------------------------------------------------- storage

_DDL = """
CREATE TABLE IF NOT EXISTS collections (
    id INTEGER PRIMARY KEY AUTOINCREMENT, db TEXT NOT NULL, name TEXT NOT NULL,
    schema TEXT NOT NULL, created_at TEXT NOT NULL, UNIQUE (db, name));
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
"""


def _pk_text(value: Any) -> str:
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

    def next_id(self) -> int:
        """A fresh auto id (increasing, like Milvus' timestamp-based ids)."""
        with self._lock:
            self._last_id += 1
            return self._last_id

    def clear(self) -> None:
        with self.transaction() as db:
            for table in ("collections", "aliases", "entities", "jobs"):
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

    def aliases_of(self, collection_id: int) -> list[str]:
        return [r["alias"] for r in self.query(
            "SELECT alias FROM aliases WHERE collection_id = ? ORDER BY alias", (collection_id,))]

    def alias_target(self, db: str, alias: str) -> str | None:
        rows = self.query("SELECT c.name FROM aliases a JOIN collections c ON c.id = "
                          "a.collection_id WHERE a.db = ? AND a.alias = ?", (db, alias))
        return str(rows[0]["name"]) if rows else None

    # -- entities

    def insert(self, db: sqlite3.Connection, collection: Collection,
               entities: Sequence[Mapping[str, Any]]) -> None:
        pk = collection.schema.primary.name
        db.executemany("INSERT INTO entities (collection_id, pk, data) VALUES (?, ?, ?)",
                       [(collection.id, _pk_text(e[pk]), json.dumps(e, ensure_ascii=False))
                        for e in entities])

    def entities(self, collection_id: int) -> list[tuple[int, dict[str, Any]]]:
        return [(r["seq"], json.loads(r["data"])) for r in self.query(
            "SELECT seq, data FROM entities WHERE collection_id = ? ORDER BY seq",
            (collection_id,))]

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


# --------------------------------------------------------------------------- object storage


def parse_object_url(url: str) -> tuple[str, str]:
    """``(bucket, key)`` of ``s3://bucket/key``, a path-style ``http(s)://host/bucket/key`` or a
    virtual-hosted ``https://bucket.s3.region.amazonaws.com/key`` URL."""
    parts = urllib.parse.urlsplit(url)
    path = urllib.parse.unquote(parts.path).lstrip("/")
    if parts.scheme == "s3" and parts.netloc and path:
        return parts.netloc, path
    if parts.scheme in ("http", "https") and parts.netloc:
        host = parts.hostname or ""
        virtual = re.match(r"^(?P<bucket>[^.]+)\.s3[.\-]", host)
        if virtual and path:
            return virtual.group("bucket"), path
        bucket, _, key = path.partition("/")
        if bucket and key:
            return bucket, key
    raise _error(INVALID_PARAMETER, f"invalid objectUrl: {url}")


class ImportFailure(Exception):
    """A job fails whole; the message is its ``reason``."""


class ObjectReader:
    """Reads import files from one S3 endpoint with the credentials each job carries."""

    def __init__(self, endpoint: str, region: str = "us-east-1") -> None:
        self.endpoint, self.region = endpoint, region
        self._clients: dict[tuple[str | None, str | None, str | None], Any] = {}
        self._lock = threading.Lock()

    def read(self, url: str, access_key: str | None, secret_key: str | None,
             token: str | None) -> bytes:
        bucket, key = parse_object_url(url)
        client = self._client(access_key, secret_key, token)
        try:
            answer = client.get_object(Bucket=bucket, Key=key)
            return bytes(answer["Body"].read())
        except Exception as exc:  # noqa: BLE001 - botocore raises many kinds; the reason matters
            code = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
            raise ImportFailure(f"failed to read file '{key}' from bucket '{bucket}': {code}") from None

    def _client(self, access_key: str | None, secret_key: str | None, token: str | None) -> Any:
        with self._lock:
            cache_key = (access_key, secret_key, token)
            if cache_key not in self._clients:
                import boto3  # type: ignore[import-untyped]
                from botocore import UNSIGNED  # type: ignore[import-untyped]
                from botocore.config import Config  # type: ignore[import-untyped]

                options: dict[str, Any] = {"endpoint_url": self.endpoint, "region_name": self.region}
                if access_key and secret_key:
                    options.update(aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                                   aws_session_token=token or None)
                else:
                    options["config"] = Config(signature_version=UNSIGNED)
                self._clients[cache_key] = boto3.session.Session().client("s3", **options)
            return self._clients[cache_key]


def parse_import_file(name: str, data: bytes) -> list[Any]:
    """The rows of a JSON import file: ``{"rows": [...]}`` or a top-level list."""
    if not name.lower().endswith(".json"):
        raise ImportFailure(f"unsupported file type of '{name}': the emulator reads JSON files only")
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImportFailure(f"failed to parse file '{name}': invalid JSON: {exc}") from None
    if isinstance(document, dict) and isinstance(document.get("rows"), list):
        return list(document["rows"])
    if isinstance(document, list):
        return document
    raise ImportFailure(f"failed to parse file '{name}': expected a list of rows or "
                        "{\"rows\": [...]}")


# --------------------------------------------------------------------------- the job worker


class _JobWorker:
    """Runs import jobs one at a time, in order, each over ``delay`` seconds."""

    def __init__(self, emulator: ZillizEmulator, delay: float) -> None:
        self._emulator, self._delay = emulator, delay
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="zilliz-import-jobs", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def _loop(self) -> None:
        store = self._emulator.store
        while not self._stop.is_set():
            self._wake.clear()
            job = store.next_pending_job()
            if job is None:
                self._wake.wait()
                continue
            try:
                self._run(job)
            except Exception as exc:  # an emulator bug: fail the job, keep serving
                logger.exception("import job %s failed", job["job_id"])
                store.update_job(job["job_id"], state="Failed", progress=0,
                                 reason=f"internal emulator error: {exc}", complete_time=_now())

    def _pause(self, fraction: float, extra: float = 0.0) -> bool:
        """Wait part of the delay (and ``extra`` seconds); False when the emulator is stopping."""
        return not self._stop.wait(self._delay * fraction + extra)

    def _run(self, job: sqlite3.Row) -> None:
        store, job_id = self._emulator.store, job["job_id"]
        # a slow queue (injected): the job stays Pending longer, and so do those behind it
        if not self._pause(0.25, self._emulator.faults.queue_delay()):
            return
        store.update_job(job_id, state="Importing", progress=10)
        try:
            collection = store.collection_by_id(job["collection_id"])
            if collection is None:
                raise ImportFailure(f"collection not found[collection={job['collection_name']}]")
            entities: list[dict[str, Any]] = []
            total_size = 0
            for url in json.loads(job["urls"]):
                data = self._emulator.objects.read(url, job["access_key"], job["secret_key"],
                                                   job["session_token"])
                total_size += len(data)
                name = parse_object_url(url)[1]
                for index, row in enumerate(parse_import_file(name, data), start=1):
                    try:
                        entities.append(check_row(collection.schema, row, next_id=store.next_id))
                    except RowProblem as problem:
                        raise ImportFailure(f"failed to import file '{name}': row {index}: "
                                            f"{problem}") from None
            store.update_job(job_id, progress=40, file_size=total_size, total_rows=len(entities))
            if not self._pause(0.25):
                return
            store.update_job(job_id, progress=80)  # the service sits at 80 while it indexes
            if not self._pause(0.5):
                return
            with store.transaction() as db:
                if db.execute("SELECT 1 FROM collections WHERE id = ?",
                              (collection.id,)).fetchone() is None:
                    raise ImportFailure(f"collection not found[collection={collection.name}]")
                store.insert(db, collection, entities)
                db.execute("UPDATE jobs SET state = 'Completed', progress = 100, imported_rows = ?,"
                           " complete_time = ? WHERE job_id = ?", (len(entities), _now(), job_id))
        except ImportFailure as failure:
            store.update_job(job_id, state="Failed", progress=0, reason=str(failure),
                             complete_time=_now())


# --------------------------------------------------------------------------- the emulator


class ZillizEmulator(EmulatorApp):
    """Zilliz Cloud's import jobs and a cluster's collections over a SQLite store.

    ``s3_endpoint`` is where import files are read from; ``data_dir`` holds ``zilliz.sqlite3``
    (a temporary directory, removed on :meth:`close`, when None); ``job_delay`` is how long each
    import job takes; ``max_pending_jobs`` the per-collection limit of pending or running jobs.
    """

    def __init__(self, s3_endpoint: str, data_dir: Path | None = None,
                 api_key: str = DEFAULT_API_KEY, faults: FaultConfig | None = None,
                 job_delay: float = 0.5, max_pending_jobs: int = MAX_PENDING_JOBS,
                 s3_region: str = "us-east-1") -> None:
        super().__init__(faults)
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="zilliz-emulator-")
            data_dir = Path(self._tempdir.name)
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.api_key = api_key
        self.max_pending_jobs = max_pending_jobs
        self.objects = ObjectReader(s3_endpoint, s3_region)
        self.store = ZillizStore(self.data_dir / "zilliz.sqlite3")
        with self.store.transaction() as db:  # jobs cut short by a stop run again
            db.execute("UPDATE jobs SET state = 'Pending', progress = 0 WHERE state = 'Importing'")
        self._worker = _JobWorker(self, job_delay)
        routes: dict[str, Handler] = {
            "jobs/import/create": self._job_create,
            "jobs/import/getProgress": self._job_progress,
            "jobs/import/get_progress": self._job_progress,
            "jobs/import/describe": self._job_progress,
            "jobs/import/list": self._job_list,
            "collections/create": self._collection_create,
            "collections/describe": self._collection_describe,
            "collections/drop": self._collection_drop,
            "collections/list": self._collection_list,
            "collections/has": self._collection_has,
            "collections/load": self._collection_load,
            "collections/get_load_state": self._collection_load_state,
            "entities/insert": self._insert,
            "entities/upsert": self._upsert,
            "entities/delete": self._delete,
            "entities/query": self._query,
            "aliases/create": self._alias_create,
            "aliases/alter": self._alias_alter,
            "aliases/describe": self._alias_describe,
            "aliases/list": self._alias_list,
            "aliases/drop": self._alias_drop,
        }
        for path, handler in routes.items():
            self.add_route("POST", f"{_V2}/{path}", self._authorized(handler))
        self.add_route("GET", f"{_V2}/jobs/import/getProgress", self._authorized(self._job_progress))

    # -- overrides

    def error_body(self, status: int, message: str, code: str) -> Any:
        number = int(code) if code.isdigit() else (status if status != 200 else GENERIC)
        return {"code": number, "message": message}

    def reset(self) -> None:
        """Delete every collection, alias, entity and job."""
        super().reset()
        self.store.clear()

    def close(self) -> None:
        """Stop the job worker, close the database, remove a temporary data directory."""
        self._worker.stop()
        self.store.close()
        if self._tempdir is not None:
            self._tempdir.cleanup()

    # -- plumbing

    def _authorized(self, handler: Handler) -> Handler:
        def guarded(request: Request) -> Response:
            if request.bearer_token() != self.api_key:
                raise _error(BAD_KEY, "Invalid token: the API key is illegal or has expired")
            return handler(request)

        return guarded

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        if not request.body.strip():
            return {}
        try:
            return request.json_object()
        except HTTPError:
            raise _error(INVALID_PARAMETER, "invalid parameter: the body must be a JSON "
                                            "object") from None

    @staticmethod
    def _ok(data: Any = None, **extra: Any) -> Response:
        return json_response({"code": 0, "data": {} if data is None else data, **extra})

    @staticmethod
    def _name(body: Mapping[str, Any], key: str = "collectionName") -> str:
        value = body.get(key)
        if not isinstance(value, str) or not value:
            raise _error(INVALID_PARAMETER, f"invalid parameter: {key} is required")
        return value

    @staticmethod
    def _db(body: Mapping[str, Any]) -> str:
        value = body.get("dbName")
        return value if isinstance(value, str) and value else DEFAULT_DB

    def _collection(self, body: Mapping[str, Any]) -> Collection:
        name, db = self._name(body), self._db(body)
        found = self.store.collection(db, name)
        if found is None:
            raise _error(COLLECTION_NOT_FOUND,
                         f"collection not found[database={db}][collection={name}]")
        return found

    # -- import jobs

    def _job_create(self, request: Request) -> Response:
        body = self._body(request)
        cluster = body.get("clusterId")
        if not isinstance(cluster, str) or not cluster:
            raise _error(INVALID_PARAMETER, "invalid parameter: clusterId is required")
        collection = self._collection(body)
        urls = _object_urls(body)
        for url in urls:
            parse_object_url(url)
        db = self._db(body)
        with self.store.transaction() as conn:
            pending = conn.execute(
                "SELECT count(*) FROM jobs WHERE collection_id = ? AND state IN ('Pending', "
                "'Importing')", (collection.id,)).fetchone()[0]
            if pending >= self.max_pending_jobs:
                raise _error(TOO_MANY_JOBS, f"the collection '{collection.name}' has {pending} "
                                            "running or pending import jobs; the limit is "
                                            f"{self.max_pending_jobs}")
            job_id = "job-" + secrets.token_hex(10)
            conn.execute(
                "INSERT INTO jobs (job_id, cluster_id, db, collection_name, collection_id, urls, "
                "access_key, secret_key, session_token, state, progress, file_name, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'Pending', 0, ?, ?)",
                (job_id, cluster, db, collection.name, collection.id, json.dumps(urls),
                 body.get("accessKey") or None, body.get("secretKey") or None,
                 body.get("token") or None, ",".join(parse_object_url(u)[1] for u in urls),
                 _now()))
        self._worker.notify()
        return self._ok({"jobId": job_id})

    def _job_progress(self, request: Request) -> Response:
        body = self._body(request)
        job_id = body.get("jobId") or request.query_value("jobId")
        job = self.store.job(str(job_id)) if job_id else None
        if job is None or job["cluster_id"] != body.get("clusterId", job["cluster_id"]):
            raise _error(JOB_NOT_FOUND, f"import job not found: {job_id}")
        details = [{"fileName": name, "fileSize": job["file_size"], "state": job["state"],
                    "progress": job["progress"], "completeTime": job["complete_time"],
                    "reason": job["reason"], "importedRows": job["imported_rows"],
                    "totalRows": job["total_rows"]} for name in job["file_name"].split(",")]
        return self._ok({"jobId": job["job_id"], "collectionName": job["collection_name"],
                         "fileName": job["file_name"], "fileSize": job["file_size"],
                         "state": job["state"], "progress": job["progress"],
                         "completeTime": job["complete_time"], "reason": job["reason"],
                         "importedRows": job["imported_rows"], "totalRows": job["total_rows"],
                         "details": details})

    def _job_list(self, request: Request) -> Response:
        body = self._body(request)
        page_size = _positive(body, "pageSize", 10, maximum=100)
        page = _positive(body, "currentPage", 1)
        sql, args = "FROM jobs WHERE 1 = 1", []
        if body.get("clusterId"):
            sql += " AND cluster_id = ?"
            args.append(body["clusterId"])
        if body.get("collectionName"):
            sql += " AND collection_name = ? AND db = ?"
            args += [body["collectionName"], self._db(body)]
        total = self.store.query(f"SELECT count(*) AS n {sql}", args)[0]["n"]
        rows = self.store.query(f"SELECT * {sql} ORDER BY seq DESC LIMIT ? OFFSET ?",
                                [*args, page_size, (page - 1) * page_size])
        records = [{"collectionName": r["collection_name"], "jobId": r["job_id"],
                    "state": r["state"], "progress": r["progress"], "reason": r["reason"]}
                   for r in rows]
        return self._ok({"count": total, "currentPage": page, "pageSize": page_size,
                         "records": records})

    # -- collections

    def _collection_create(self, request: Request) -> Response:
        body = self._body(request)
        name, db = self._name(body), self._db(body)
        if not _NAME.match(name):
            raise _error(INVALID_PARAMETER, f"invalid collection name: {name}")
        schema = schema_from_request(body)
        if self.store.collection(db, name, aliases=False) is not None:
            raise _error(GENERIC, f"collection already exists: {name}")
        if self.store.alias_target(db, name) is not None:
            raise _error(GENERIC, f"collection name {name} conflicts with an existing alias")
        with self.store.transaction() as conn:
            conn.execute("INSERT INTO collections (db, name, schema, created_at) VALUES "
                         "(?, ?, ?, ?)", (db, name, schema.to_json(), _now()))
        return self._ok()

    def _collection_describe(self, request: Request) -> Response:
        body = self._body(request)
        collection = self._collection(body)
        schema = collection.schema
        return self._ok({
            "collectionName": collection.name, "collectionID": collection.id,
            "dbName": collection.db, "description": "", "autoId": schema.auto_id,
            "enableDynamicField": schema.dynamic, "shardsNum": 1,
            "consistencyLevel": "Bounded", "aliases": self.store.aliases_of(collection.id),
            "fields": [f.describe() for f in schema.fields], "indexes": list(schema.indexes),
            "load": "LoadStateLoaded", "partitionsNum": 1, "properties": []})

    def _collection_drop(self, request: Request) -> Response:
        body = self._body(request)
        name, db = self._name(body), self._db(body)
        collection = self.store.collection(db, name, aliases=False)
        if collection is None:
            return self._ok()  # dropping what is not there succeeds, as on Milvus 2.3+
        aliases = self.store.aliases_of(collection.id)
        if aliases:
            raise _error(GENERIC, f"unable to drop the collection [{name}] because it has "
                                  f"associated aliases {aliases}, please remove all aliases "
                                  "before dropping the collection")
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM entities WHERE collection_id = ?", (collection.id,))
            conn.execute("DELETE FROM collections WHERE id = ?", (collection.id,))
        return self._ok()

    def _collection_list(self, request: Request) -> Response:
        db = self._db(self._body(request))
        return self._ok([r["name"] for r in self.store.query(
            "SELECT name FROM collections WHERE db = ? ORDER BY name", (db,))])

    def _collection_has(self, request: Request) -> Response:
        body = self._body(request)
        found = self.store.collection(self._db(body), self._name(body), aliases=False)
        return self._ok({"has": found is not None})

    def _collection_load(self, request: Request) -> Response:
        self._collection(self._body(request))
        return self._ok()

    def _collection_load_state(self, request: Request) -> Response:
        self._collection(self._body(request))
        return self._ok({"loadState": "LoadStateLoaded", "loadProgress": 100})

    # -- entities

    def _rows(self, body: Mapping[str, Any], collection: Collection) -> list[dict[str, Any]]:
        data = body.get("data")
        rows = data if isinstance(data, list) else [data] if isinstance(data, dict) else None
        if not rows:
            raise _error(INVALID_PARAMETER, "invalid parameter: data must be a non-empty list")
        entities = []
        for index, row in enumerate(rows):
            try:
                entities.append(check_row(collection.schema, row, next_id=self.store.next_id))
            except RowProblem as problem:
                raise _error(INVALID_PARAMETER, f"invalid parameter: row {index}: {problem}") from None
        return entities

    def _insert(self, request: Request) -> Response:
        body = self._body(request)
        collection = self._collection(body)
        entities = self._rows(body, collection)
        with self.store.transaction() as conn:
            self.store.insert(conn, collection, entities)  # never de-duplicated, as on Milvus
        pk = collection.schema.primary.name
        return self._ok({"insertCount": len(entities), "insertIds": [e[pk] for e in entities]})

    def _upsert(self, request: Request) -> Response:
        body = self._body(request)
        collection = self._collection(body)
        if collection.schema.auto_id:
            raise _error(INVALID_PARAMETER, "upsert into an autoId collection is not supported "
                                            "by the emulator")
        entities = self._rows(body, collection)
        pk = collection.schema.primary.name
        with self.store.transaction() as conn:
            conn.executemany("DELETE FROM entities WHERE collection_id = ? AND pk = ?",
                             [(collection.id, _pk_text(e[pk])) for e in entities])
            self.store.insert(conn, collection, entities)
        return self._ok({"upsertCount": len(entities), "upsertIds": [e[pk] for e in entities]})

    def _delete(self, request: Request) -> Response:
        body = self._body(request)
        collection = self._collection(body)
        text = body.get("filter")
        if not isinstance(text, str) or not text.strip():
            raise _error(INVALID_PARAMETER, "invalid parameter: filter is required")
        predicate = parse_filter(text)
        doomed = [seq for seq, entity in self.store.entities(collection.id) if predicate(entity)]
        with self.store.transaction() as conn:
            conn.executemany("DELETE FROM entities WHERE seq = ?", [(s,) for s in doomed])
        return self._ok({}, cost=0)

    def _query(self, request: Request) -> Response:
        body = self._body(request)
        collection = self._collection(body)
        text = body.get("filter") or ""
        if not isinstance(text, str):
            raise _error(INVALID_PARAMETER, "invalid parameter: filter must be a string")
        predicate = parse_filter(text) if text.strip() else (lambda _entity: True)
        outputs = body.get("outputFields")
        if outputs is not None and (not isinstance(outputs, list)
                                    or not all(isinstance(o, str) for o in outputs)):
            raise _error(INVALID_PARAMETER, "invalid parameter: outputFields must be a list")
        matched = [entity for _seq, entity in self.store.entities(collection.id)
                   if predicate(entity)]
        if outputs == ["count(*)"]:
            return self._ok([{"count(*)": len(matched)}], cost=0)
        limit = _positive(body, "limit", 100)
        offset = body.get("offset", 0)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise _error(INVALID_PARAMETER, "invalid parameter: offset must be >= 0")
        if offset + limit > MAX_QUERY_WINDOW:
            raise _error(INVALID_PARAMETER, f"invalid max query result window, (offset+limit) "
                                            f"should be in range [1, {MAX_QUERY_WINDOW}]")
        fields = None if not outputs or "*" in outputs else list(
            dict.fromkeys([collection.schema.primary.name, *outputs]))
        page = matched[offset:offset + limit]
        return self._ok([entity_output(e, fields) for e in page], cost=0)

    # -- aliases

    def _alias_names(self, body: Mapping[str, Any]) -> tuple[str, str, str]:
        return self._db(body), self._name(body, "aliasName"), self._name(body)

    def _alias_create(self, request: Request) -> Response:
        db, alias, name = self._alias_names(self._body(request))
        target = self.store.collection(db, name, aliases=False)
        if target is None:
            raise _error(COLLECTION_NOT_FOUND, f"collection not found[database={db}]"
                                               f"[collection={name}]")
        if self.store.alias_target(db, alias) is not None:
            raise _error(GENERIC, f"alias already exist: {alias}")
        if self.store.collection(db, alias, aliases=False) is not None:
            raise _error(GENERIC, f"alias {alias} conflicts with an existing collection name")
        with self.store.transaction() as conn:
            conn.execute("INSERT INTO aliases VALUES (?, ?, ?)", (db, alias, target.id))
        return self._ok()

    def _alias_alter(self, request: Request) -> Response:
        db, alias, name = self._alias_names(self._body(request))
        target = self.store.collection(db, name, aliases=False)
        if target is None:
            raise _error(COLLECTION_NOT_FOUND, f"collection not found[database={db}]"
                                               f"[collection={name}]")
        with self.store.transaction() as conn:
            changed = conn.execute("UPDATE aliases SET collection_id = ? WHERE db = ? AND "
                                   "alias = ?", (target.id, db, alias)).rowcount
        if not changed:
            raise _error(ALIAS_NOT_FOUND, f"alias not found: {alias}")
        return self._ok()

    def _alias_describe(self, request: Request) -> Response:
        body = self._body(request)
        db, alias = self._db(body), self._name(body, "aliasName")
        target = self.store.alias_target(db, alias)
        if target is None:
            raise _error(ALIAS_NOT_FOUND, f"alias not found: {alias}")
        return self._ok({"aliasName": alias, "collectionName": target, "dbName": db})

    def _alias_list(self, request: Request) -> Response:
        body = self._body(request)
        sql = ("SELECT a.alias FROM aliases a JOIN collections c ON c.id = a.collection_id "
               "WHERE a.db = ?")
        args: list[Any] = [self._db(body)]
        if body.get("collectionName"):
            sql += " AND c.name = ?"
            args.append(body["collectionName"])
        return self._ok([r["alias"] for r in self.store.query(sql + " ORDER BY a.alias", args)])

    def _alias_drop(self, request: Request) -> Response:
        body = self._body(request)
        db, alias = self._db(body), self._name(body, "aliasName")
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM aliases WHERE db = ? AND alias = ?", (db, alias))
        return self._ok()


def _object_urls(body: Mapping[str, Any]) -> list[str]:
    """``objectUrls: [[url], ...]`` (or flat ``[url, ...]``) or ``objectUrl: url``."""
    raw = body.get("objectUrls")
    if raw is None and body.get("objectUrl"):
        raw = [[body["objectUrl"]]]
    urls: list[str] = []
    for group in raw if isinstance(raw, list) else []:
        for url in group if isinstance(group, list) else [group]:
            if isinstance(url, str) and url:
                urls.append(url)
    if not urls:
        raise _error(INVALID_PARAMETER, "invalid parameter: objectUrl or objectUrls is required")
    return urls


def _positive(body: Mapping[str, Any], name: str, default: int, maximum: int | None = None) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (
            maximum is not None and value > maximum):
        bound = f" and at most {maximum}" if maximum else ""
        raise _error(INVALID_PARAMETER, f"invalid parameter: {name} must be a positive "
                                        f"integer{bound}")
    return value


# --------------------------------------------------------------------------- command line entry


def serve(host: str = "127.0.0.1", port: int = 0, *, s3_endpoint: str,
          data_dir: Path | None = None, api_key: str | None = None,
          faults: FaultConfig | None = None, job_delay: float = 0.5,
          verbose: bool = False) -> None:
    """Serve the emulator in the foreground until SIGINT/SIGTERM (``syncer emulate zilliz``)."""
    try:
        import boto3  # noqa: F401 - the job worker reads import files with it
    except ImportError:
        raise ValueError("the Zilliz emulator reads import files with boto3, which is not "
                         "installed: pip install 'syncer-data[zilliz]'") from None
    with ZillizEmulator(s3_endpoint, data_dir, api_key or DEFAULT_API_KEY, faults,
                        job_delay) as emulator:

        def announce(url: str) -> None:
            print(f"Zilliz Cloud emulator listening on {url} (control plane and cluster "
                  f"endpoint; import files from {s3_endpoint}; data: {emulator.data_dir})",
                  flush=True)

        serve_forever(emulator, host, port, on_ready=announce, verbose=verbose)
