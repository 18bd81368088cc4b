"""The Milvus target, through pymilvus ``MilvusClient``: a Milvus server, or Milvus Lite embedded.

``append`` -> insert; ``upsert`` -> delete the removed keys, then upsert the new and changed
rows; ``replace`` -> with ``alias:``, load a new collection ``<table>__<batch>`` with every row,
then create or move the alias to it and drop the collection it pointed to (readers never see
half the data); without ``alias:``, delete every entity and insert.  The collection is created on
first apply from the declared columns; an existing one whose schema differs is refused.

Rows Milvus would refuse (no vector, a vector of the wrong length or with NaN, a string over the
field's ``max_length``, a JSON scalar, a null where the field is not nullable) are rejected before
anything is sent and reported with their source line.  Every insert or upsert request stays
under the 64 MB gRPC limit (rows are split by estimated size).

pymilvus is imported here only, when a milvus target is applied: syncer runs without it.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from ...errors import TargetError
from ...model.manifest import DatasetSpec
from ...model.schema import Column, Schema
from ..base import Batch, Capabilities, RowError
from ..frames import frame_of
from .config import MilvusDataset, MilvusTarget

#: rows per batch the executor sends (an alias replace goes as one batch, see ``prepare``)
MAX_BATCH_ROWS = 10_000
#: largest estimated payload of one insert/upsert request (Milvus refuses gRPC messages > 64 MB)
MAX_REQUEST_BYTES = 48 * 1024 * 1024
#: keys per delete / query expression
KEYS_PER_QUERY = 1_000
#: VARCHAR length of string, date and key fields created by syncer (Milvus' maximum)
MAX_VARCHAR = 65_535
#: collection property that marks the collections an alias replace created, for cleanup
MARKER = "syncer.dataset"
_ROW_OVERHEAD = 16
INSTALL_HINT = "pip install 'syncer[milvus]'"


def _pymilvus() -> Any:
    """Import pymilvus on first use, with an actionable error when it is missing."""
    try:
        import pymilvus
    except ImportError:
        raise TargetError("the milvus target needs pymilvus, which is not installed",
                          hint=INSTALL_HINT) from None
    # the driver turns every failure into one TargetError; pymilvus' own error log (with a
    # traceback) would only repeat it
    logging.getLogger("pymilvus.decorators").setLevel(logging.CRITICAL)
    return pymilvus


@contextmanager
def _lite_log(errors: list[str]) -> Iterator[None]:
    """Collect what milvus-lite logs while it starts (it logs a failure with a traceback, then
    pymilvus raises a bare "Open local milvus failed"): the reason goes into our message."""

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                reason = record.exc_info[1] if record.exc_info else None
                errors.append(str(reason) if reason else record.getMessage())

    logger = logging.getLogger("milvus_lite")
    handler, propagate = Collect(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


@dataclass(frozen=True)
class Field:
    """A collection field as the driver needs it: to compare schemas and to check rows."""

    name: str
    type: str            # pymilvus DataType name: INT64, DOUBLE, BOOL, VARCHAR, JSON, FLOAT_VECTOR
    primary: bool = False
    nullable: bool = False
    dim: int | None = None
    max_length: int | None = None

    def describe(self) -> str:
        text = self.type
        if self.dim is not None:
            text += f"(dim {self.dim})"
        if self.primary:
            text += " primary key"
        return text


def declared_fields(schema: Schema) -> list[Field]:
    """The collection fields a dataset's columns ask for."""
    key = schema.key[0]
    out = []
    for column in schema.columns:
        if column.name == key:
            out.append(Field(key, "INT64" if column.type == "integer" else "VARCHAR", primary=True,
                             max_length=None if column.type == "integer" else MAX_VARCHAR))
        elif column.type == "vector":
            out.append(Field(column.name, "FLOAT_VECTOR", dim=column.dim))
        else:
            kind = {"integer": "INT64", "float": "DOUBLE", "boolean": "BOOL", "json": "JSON",
                    "string": "VARCHAR", "date": "VARCHAR"}[column.type]
            out.append(Field(column.name, kind, nullable=True,
                             max_length=MAX_VARCHAR if kind == "VARCHAR" else None))
    return out


def schema_differences(declared: list[Field], existing: list[Field], *, dynamic: bool,
                       existing_dynamic: bool, auto_id: bool) -> list[str]:
    """What makes an existing collection unfit for the declared columns (empty: it fits)."""
    problems = []
    have = {f.name: f for f in existing}
    for field in declared:
        other = have.get(field.name)
        if other is None:
            problems.append(f"field '{field.name}' ({field.describe()}) is missing")
        elif (other.type, other.primary, other.dim) != (field.type, field.primary, field.dim):
            problems.append(f"field '{field.name}' is {other.describe()}, declared "
                            f"{field.describe()}")
    names = {f.name for f in declared}
    for field in existing:
        if field.name not in names:
            problems.append(f"field '{field.name}' ({field.describe()}) is not declared")
    if auto_id:
        problems.append("the primary key is auto_id (syncer writes the key itself)")
    if dynamic != existing_dynamic:
        problems.append(f"dynamic fields are {'on' if existing_dynamic else 'off'}, declared "
                        f"{'on' if dynamic else 'off'} (dynamic_fields: {str(dynamic).lower()})")
    return problems


class MilvusDriver:
    """Driver for ``type: milvus``."""

    streams = False  # a batch's rows are sent as one frame

    def __init__(self, target: MilvusTarget, *, transport: object = None) -> None:
        self.target = target
        self._client: Any = None
        self._fields: dict[str, list[Field]] = {}

    # -- connection -------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            pymilvus = _pymilvus()
            uri = self.target.uri
            if self.target.is_lite:
                try:
                    Path(uri).parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise TargetError(f"{self._name}: cannot create the directory of {uri}: "
                                      f"{exc}") from None
            options: dict[str, Any] = {"uri": uri, "timeout": self.target.timeout}
            if self.target.token is not None:
                options["token"] = self.target.token.get_secret_value()
            if self.target.db_name:
                options["db_name"] = self.target.db_name
            lite_errors: list[str] = []
            try:
                with _lite_log(lite_errors):
                    self._client = pymilvus.MilvusClient(**options)
            except Exception as exc:  # pymilvus raises many types on connect (and milvus-lite)
                text = "; ".join([_message(exc), *lite_errors])
                if "milvus-lite" in text or "milvus_lite is required" in text:
                    hint = INSTALL_HINT
                elif self.target.is_lite:
                    hint = ("Milvus Lite lets one process open a .db file at a time: close the "
                            "other program using it, or check `uri:`")
                else:
                    hint = "check `uri:` (and `token:`), and that the server is running"
                raise TargetError(f"{self._name}: cannot connect to {_where(self.target)}: {text}",
                                  hint=hint, retryable=not self.target.is_lite) from None
        return self._client

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except Exception:  # noqa: BLE001 - closing must not mask the real outcome
                pass
            self._client = None

    @property
    def _name(self) -> str:
        return f"milvus target '{self.target.name}'"

    def _call(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call a MilvusClient method; turn any pymilvus failure into one TargetError."""
        client = self.client
        exceptions = _pymilvus().exceptions
        try:
            return getattr(client, method)(*args, timeout=self.target.timeout, **kwargs)
        except exceptions.MilvusException as exc:
            raise TargetError(f"{self._name}: {what}: {_message(exc)}",
                              retryable=_transient(exc)) from None
        except (ConnectionError, TimeoutError, OSError) as exc:
            raise TargetError(f"{self._name}: {what}: {exc}", retryable=True) from None

    # -- protocol ---------------------------------------------------------------------------
    def prepare(self, dataset: DatasetSpec, schema: Schema) -> Capabilities:
        spec = _spec(dataset)
        if spec.alias:
            # the alias may move only once the new collection holds every row: one batch
            # (split into requests under 64 MB by the driver), never several
            self._check_alias(spec)
            return Capabilities(max_batch_rows=None)
        self._prepare_collection(spec, schema)
        return Capabilities(max_batch_rows=MAX_BATCH_ROWS)

    def _prepare_collection(self, spec: MilvusDataset, schema: Schema) -> None:
        name = spec.table_name
        declared = declared_fields(schema)
        if not self._call(f"checking collection '{name}'", "has_collection", name):
            self._create(name, spec, schema)
            self._fields[name] = declared
            return
        info = self._call(f"describing collection '{name}'", "describe_collection", name)
        existing = [_field(f) for f in info.get("fields", [])]
        problems = schema_differences(declared, existing, dynamic=spec.dynamic_fields,
                                      existing_dynamic=bool(info.get("enable_dynamic_field")),
                                      auto_id=bool(info.get("auto_id")))
        problems += self._index_problems(name, spec)
        if problems:
            raise TargetError(
                f"{self._name}: collection '{name}' exists with a schema that does not match the "
                f"declared columns; nothing was sent:\n" + "\n".join(f"  - {p}" for p in problems),
                hint="fix `columns:`/`metric:`/`dynamic_fields:` to match it, set another "
                     "`table:`, drop the collection, or use `alias:` (mode replace) so each "
                     "replace builds a fresh collection")
        self._fields[name] = existing
        self._call(f"loading collection '{name}'", "load_collection", name)

    def apply(self, batch: Batch) -> list[RowError]:
        spec = _spec(batch.dataset)
        if batch.reset and spec.alias:
            return self._replace_into_alias(batch, spec)
        name = spec.alias if spec.alias else spec.table_name
        fields = self._fields_of(name)
        rows, errors = self._rows(batch, fields)
        if batch.reset:
            self._delete_all(name, batch.schema)
        if batch.deletes.height:
            self._delete_keys(name, batch.schema, batch.deletes)
        if rows:
            method = "upsert" if spec.mode == "upsert" else "insert"
            self._write(name, method, rows, batch.schema)
        return errors

    def settle(self, batch: Batch, known_rows: int) -> bool:
        spec = _spec(batch.dataset)
        if batch.reset and spec.alias:
            return self._settle_alias(batch, spec)
        name = spec.alias if spec.alias else spec.table_name
        if not self._call(f"checking collection '{name}'", "has_collection", name):
            return False
        self._call(f"loading collection '{name}'", "load_collection", name)
        pk = batch.schema.key[0]
        if batch.deletes.height:
            gone = batch.deletes.get_column(pk).to_list()
            if self._fetch(name, batch.schema, gone, [pk]):
                return False  # a key to delete is still there: delete again
        fields = self._fields_of(name)
        rows, _errors = self._rows(batch, fields)
        if not rows and not batch.reset:
            return True
        found = self._fetch(name, batch.schema, [r[pk] for r in rows], batch.schema.names)
        if batch.reset:
            # a full reload: landed only when the collection holds exactly the batch's rows;
            # otherwise it may be half emptied, and reporting "not landed" would leave it so,
            # while the state still lists the old rows: reload again (idempotent)
            if self._count(name) == len(rows) and _same(rows, found, pk, batch.schema):
                return True
            self._delete_all(name, batch.schema)
            self._write(name, "insert", rows, batch.schema)
            return True
        if spec.mode == "upsert":
            # upserts and deletes are idempotent: "not landed" makes the next plan send it again
            return _same(rows, found, pk, batch.schema)
        # an insert (append, or a later batch of a replace): never insert a key twice
        missing = [r for r in rows if _key_of(r[pk]) not in found]
        if len(missing) == len(rows):
            return False
        if missing:
            self._write(name, "insert", missing, batch.schema)
        return True

    # -- collections ------------------------------------------------------------------------
    def _create(self, name: str, spec: MilvusDataset, schema: Schema, *,
                marker: str | None = None) -> None:
        pymilvus = _pymilvus()
        data_type = pymilvus.DataType
        collection = pymilvus.MilvusClient.create_schema(auto_id=False,
                                                         enable_dynamic_field=spec.dynamic_fields)
        for field in declared_fields(schema):
            options: dict[str, Any] = {}
            if field.primary:
                options["is_primary"] = True
            if field.nullable:
                options["nullable"] = True
            if field.dim is not None:
                options["dim"] = field.dim
            if field.max_length is not None:
                options["max_length"] = field.max_length
            collection.add_field(field.name, getattr(data_type, field.type), **options)
        index = self.client.prepare_index_params()
        index.add_index(field_name=spec.vector_column, index_type="AUTOINDEX",
                        metric_type=spec.metric)
        extra: dict[str, Any] = {}
        if marker is not None:
            extra["properties"] = {MARKER: marker}
        self._call(f"creating collection '{name}'", "create_collection", name, schema=collection,
                   index_params=index, **extra)
        self._call(f"loading collection '{name}'", "load_collection", name)

    def _index_problems(self, name: str, spec: MilvusDataset) -> list[str]:
        """The vector field needs an index with the declared metric; create a missing one."""
        vector = spec.vector_column
        names = self._call(f"listing the indexes of '{name}'", "list_indexes", name,
                           field_name=vector) or []
        if not names:
            index = self.client.prepare_index_params()
            index.add_index(field_name=vector, index_type="AUTOINDEX", metric_type=spec.metric)
            self._call(f"indexing '{name}'.{vector}", "create_index", name, index)
            return []
        info = self._call(f"describing index '{names[0]}' of '{name}'", "describe_index", name,
                          index_name=names[0])
        metric = str((info or {}).get("metric_type", "")).upper()
        if metric and metric != spec.metric:
            return [f"the index on '{vector}' uses metric {metric}, declared {spec.metric} "
                    f"(metric: {spec.metric})"]
        return []

    def read_back(self, dataset: DatasetSpec, schema: Schema, batch_size: int = 1000
                  ) -> Iterator[pl.DataFrame]:
        """The collection's entities through a query iterator (strong consistency), a block of
        ``batch_size`` at a time; nothing when the collection does not exist.  Vectors come back
        as float32 lists, JSON fields as objects."""
        spec = _spec(dataset)
        name = spec.alias if spec.alias else spec.table_name
        if not self._call(f"checking collection '{name}'", "has_collection", name):
            return
        self._call(f"loading collection '{name}'", "load_collection", name)
        names = schema.names
        iterator = self._call(f"reading '{name}'", "query_iterator", name, batch_size=batch_size,
                              filter="", output_fields=names, consistency_level="Strong")
        try:
            while True:
                try:
                    rows = iterator.next()
                except Exception as exc:  # pymilvus raises its own classes mid-iteration
                    raise TargetError(f"{self._name}: reading '{name}': {_message(exc)}") from None
                if not rows:
                    return
                yield frame_of([_plain_row(r, schema) for r in rows], names)
        finally:
            iterator.close()

    def _fields_of(self, name: str) -> list[Field]:
        if name not in self._fields:
            info = self._call(f"describing collection '{name}'", "describe_collection", name)
            self._fields[name] = [_field(f) for f in info.get("fields", [])]
        return self._fields[name]

    def _count(self, name: str) -> int:
        result = self._call(f"counting '{name}'", "query", name, filter="",
                            output_fields=["count(*)"], consistency_level="Strong")
        return int(result[0]["count(*)"]) if result else 0

    # -- alias replace ----------------------------------------------------------------------
    def _check_alias(self, spec: MilvusDataset) -> None:
        alias = spec.alias
        assert alias is not None
        if self._alias_target(alias) is None and self._call(
                f"checking collection '{alias}'", "has_collection", alias):
            raise TargetError(f"{self._name}: '{alias}' is a collection, not an alias; an alias "
                              "replace cannot take its name; nothing was sent",
                              hint="choose another `alias:`, or rename or drop that collection")

    def _alias_target(self, alias: str) -> str | None:
        exceptions = _pymilvus().exceptions
        try:
            info = self.client.describe_alias(alias, timeout=self.target.timeout)
        except exceptions.MilvusException as exc:
            if _not_found(exc):
                return None
            raise TargetError(f"{self._name}: describing alias '{alias}': {_message(exc)}",
                              retryable=_transient(exc)) from None
        name = info.get("collection_name") if isinstance(info, dict) else None
        return str(name) if name else None

    def _staging_name(self, batch: Batch, spec: MilvusDataset) -> str:
        return f"{spec.table_name}__{re.sub(r'[^A-Za-z0-9]', '_', batch.id)}"[:255]

    def _marker(self, batch: Batch) -> str:
        return f"{batch.target}/{batch.dataset.name}"

    def _replace_into_alias(self, batch: Batch, spec: MilvusDataset) -> list[RowError]:
        alias = spec.alias
        assert alias is not None
        name = self._staging_name(batch, spec)
        if self._call(f"checking collection '{name}'", "has_collection", name):
            self._call(f"dropping collection '{name}'", "drop_collection", name)
        self._create(name, spec, batch.schema, marker=self._marker(batch))
        fields = declared_fields(batch.schema)
        self._fields[name] = fields
        rows, errors = self._rows(batch, fields)
        if rows:
            self._write(name, "insert", rows, batch.schema)
        previous = self._alias_target(alias)
        if previous is None:
            self._call(f"creating alias '{alias}' -> '{name}'", "create_alias", name, alias)
        else:
            self._call(f"moving alias '{alias}' to '{name}'", "alter_alias", name, alias)
        self._drop_replaced(batch, spec, keep=name)
        return errors

    def _settle_alias(self, batch: Batch, spec: MilvusDataset) -> bool:
        assert spec.alias is not None
        name = self._staging_name(batch, spec)
        if self._alias_target(spec.alias) == name:
            self._drop_replaced(batch, spec, keep=name)
            return True
        # the alias never moved: readers still see the previous collection; drop the half-built one
        if self._call(f"checking collection '{name}'", "has_collection", name):
            self._call(f"dropping collection '{name}'", "drop_collection", name)
        return False

    def _drop_replaced(self, batch: Batch, spec: MilvusDataset, *, keep: str) -> None:
        """Drop the collections earlier alias replaces of this dataset built (marked by syncer)."""
        marker = self._marker(batch)
        for name in self._call("listing collections", "list_collections") or []:
            if name == keep or not str(name).startswith(f"{spec.table_name}__"):
                continue
            info = self._call(f"describing collection '{name}'", "describe_collection", name)
            if (info.get("properties") or {}).get(MARKER) == marker:
                self._call(f"dropping replaced collection '{name}'", "drop_collection", name)
                self._fields.pop(name, None)

    # -- writes -----------------------------------------------------------------------------
    def _delete_all(self, name: str, schema: Schema) -> None:
        """Empty the collection: truncate where the server has it, else delete every key."""
        if hasattr(self.client, "truncate_collection"):
            try:
                self._call(f"truncating collection '{name}'", "truncate_collection", name)
                return
            except TargetError:
                pass  # an older server: delete by filter
        pk = schema.key[0]
        everything = f"{pk} >= 0 or {pk} < 0" if _is_int_key(schema) else f'{pk} >= ""'
        self._call(f"emptying collection '{name}'", "delete", name, filter=everything)

    def _delete_keys(self, name: str, schema: Schema, deletes: pl.DataFrame) -> None:
        pk = schema.key[0]
        keys = deletes.get_column(pk).to_list()
        for start in range(0, len(keys), KEYS_PER_QUERY):
            self._call(f"deleting from '{name}'", "delete", name,
                       filter=_in_filter(pk, keys[start:start + KEYS_PER_QUERY]))

    def _write(self, name: str, method: str, rows: list[dict[str, Any]], schema: Schema) -> None:
        for chunk in _chunks(rows, schema):
            self._call(f"{method} into '{name}' ({len(chunk)} rows)", method, name, chunk)

    def _fetch(self, name: str, schema: Schema, keys: list[Any],
               fields: list[str]) -> dict[Any, dict[str, Any]]:
        """The entities with these primary keys, by key (read with strong consistency)."""
        pk = schema.key[0]
        found: dict[Any, dict[str, Any]] = {}
        for start in range(0, len(keys), KEYS_PER_QUERY):
            part = keys[start:start + KEYS_PER_QUERY]
            result = self._call(f"querying '{name}'", "query", name,
                                filter=_in_filter(pk, part), output_fields=fields,
                                limit=len(part), consistency_level="Strong")
            for row in result:
                found[_key_of(row[pk])] = dict(row)
        return found

    # -- rows -------------------------------------------------------------------------------
    def _rows(self, batch: Batch, fields: list[Field]) -> tuple[list[dict[str, Any]], list[RowError]]:
        """The batch's upserts as Milvus rows, and the rows Milvus would refuse (not included)."""
        frame = batch.upserts
        if frame.height == 0:
            return [], []
        by_name = {f.name: f for f in fields}
        problems: dict[int, str] = {}
        columns: dict[str, list[Any]] = {}
        for column in batch.schema.columns:
            series = frame.get_column(column.name)
            field = by_name.get(column.name)
            for index, message in _refusals(series, column, field):
                problems.setdefault(index, message)
            columns[column.name] = _values(series, column)
        names = list(columns)
        rows = [dict(zip(names, values)) for values in zip(*columns.values())]
        if problems:
            rows = [row for index, row in enumerate(rows) if index not in problems]
        errors = [RowError("upsert", index, message) for index, message in sorted(problems.items())]
        return rows, errors


# -- value conversion (column-wise) -----------------------------------------------------------

def _plain_row(row: dict[str, Any], schema: Schema) -> dict[str, Any]:
    """An entity as plain Python values: vectors as lists of floats, JSON as its text."""
    out: dict[str, Any] = {}
    for column in schema.columns:
        value = row.get(column.name)
        if column.type == "vector" and value is not None:
            value = [float(x) for x in value]
        elif column.type == "json":
            value = None if value is None else json.dumps(value, sort_keys=True)
        out[column.name] = value
    return out


def _values(series: pl.Series, column: Column) -> list[Any]:
    if column.type == "date":
        return series.dt.to_string("%Y-%m-%d").to_list()
    if column.type == "json":
        # canonical JSON text; pymilvus sends a str as encoded JSON.  JSON null is a null field
        return [None if value == "null" else value for value in series.to_list()]
    return series.to_list()


def _refusals(series: pl.Series, column: Column, field: Field | None) -> Iterator[tuple[int, str]]:
    """Rows of one column that Milvus would refuse, with why (checked column-wise)."""
    name = column.name
    if column.type == "vector":
        missing = series.is_null()
        for index in missing.arg_true().to_list():
            yield index, f"'{name}' has no vector (Milvus needs one on every row)"
        lengths = series.list.len()
        wrong = (lengths != column.dim).fill_null(False)
        for index in wrong.arg_true().to_list():
            yield index, f"vector '{name}' has {lengths[index]} values, expected dim {column.dim}"
        finite = series.list.eval(pl.element().is_finite()).list.all().fill_null(True)
        for index in (~finite).arg_true().to_list():
            yield index, f"vector '{name}' holds NaN or infinity"
        return
    if field is not None and not field.nullable:
        for index in series.is_null().arg_true().to_list():
            yield index, f"'{name}' is empty, and field '{name}' is not nullable"
    if column.type == "json":
        scalar = series.is_not_null() & (series != "null") & ~series.str.slice(0, 1).is_in(["{", "["])
        for index in scalar.arg_true().to_list():
            yield index, (f"'{name}' holds a JSON scalar ({series[index][:40]}); a Milvus JSON "
                          "field takes an object or an array")
    if column.type in ("string", "json") and field is not None and field.max_length:
        size = series.str.len_bytes()
        for index in (size > field.max_length).fill_null(False).arg_true().to_list():
            yield index, (f"'{name}' is {size[index]} bytes, over the field's max_length "
                          f"{field.max_length}")


def _chunks(rows: list[dict[str, Any]], schema: Schema) -> Iterator[list[dict[str, Any]]]:
    """Split rows into requests whose estimated size stays under MAX_REQUEST_BYTES."""
    sizes = _row_sizes(rows, schema)
    start, total = 0, 0
    for index, size in enumerate(sizes):
        if total and total + size > MAX_REQUEST_BYTES:
            yield rows[start:index]
            start, total = index, 0
        total += size
    if start < len(rows):
        yield rows[start:]


def _row_sizes(rows: list[dict[str, Any]], schema: Schema) -> list[int]:
    sizes = [_ROW_OVERHEAD] * len(rows)
    for column in schema.columns:
        name = column.name
        if column.type == "vector":
            width = 4 * (column.dim or 0) + 8
            sizes = [s + width for s in sizes]
        elif column.type in ("string", "json", "date"):
            sizes = [s + 8 + (len(r[name].encode()) if r[name] is not None else 0)
                     for s, r in zip(sizes, rows)]
        else:
            sizes = [s + 9 for s in sizes]
    return sizes


def _same(rows: list[dict[str, Any]], found: dict[Any, dict[str, Any]], pk: str,
          schema: Schema) -> bool:
    """Whether every row is held with exactly these values."""
    for row in rows:
        held = found.get(_key_of(row[pk]))
        if held is None:
            return False
        for column in schema.columns:
            if not _equal(row[column.name], held.get(column.name), column):
                return False
    return True


def _equal(sent: Any, held: Any, column: Column) -> bool:
    if sent is None or held is None:
        return sent is None and held is None
    if column.type == "vector":
        return [float(x) for x in sent] == [float(x) for x in held]
    if column.type == "json":
        held_value = json.loads(held) if isinstance(held, (str, bytes)) else held
        return bool(json.loads(sent) == held_value)
    if column.type == "float":
        return bool(sent == held or (math.isnan(sent) and math.isnan(float(held))))
    return bool(sent == held)


def _key_of(value: Any) -> Any:
    return value if isinstance(value, str) else int(value)


def _is_int_key(schema: Schema) -> bool:
    return schema.column(schema.key[0]).type == "integer"


def _in_filter(pk: str, keys: list[Any]) -> str:
    """``pk in [...]`` with every key a literal (strings escaped as JSON strings are)."""
    literals = (str(int(k)) if not isinstance(k, str) else json.dumps(k, ensure_ascii=False)
                for k in keys)
    return f"{pk} in [{', '.join(literals)}]"


# -- pymilvus details -------------------------------------------------------------------------

def _spec(dataset: DatasetSpec) -> MilvusDataset:
    if not isinstance(dataset, MilvusDataset):  # pragma: no cover - the registry pairs them
        raise TargetError(f"dataset '{dataset.name}' is not a milvus dataset")
    return dataset


def _field(info: dict[str, Any]) -> Field:
    """A field of ``describe_collection``'s answer."""
    kind = info.get("type")
    name = getattr(kind, "name", None)
    if name is None:
        try:
            name = _pymilvus().DataType(kind).name
        except ValueError:
            name = str(kind)
    params = info.get("params") or {}
    dim = params.get("dim")
    max_length = params.get("max_length")
    return Field(str(info.get("name")), str(name), primary=bool(info.get("is_primary")),
                 nullable=bool(info.get("nullable")),
                 dim=int(dim) if dim is not None else None,
                 max_length=int(max_length) if max_length is not None else None)


def _message(exc: BaseException) -> str:
    message = getattr(exc, "message", None)
    text = str(message) if message else str(exc)
    return text.strip() or type(exc).__name__


def _transient(exc: BaseException) -> bool:
    text = _message(exc).lower()
    return any(word in text for word in ("unavailable", "deadline", "timeout", "timed out",
                                         "connection", "rate limit"))


def _not_found(exc: BaseException) -> bool:
    text = _message(exc).lower()
    return "not exist" in text or "not found" in text


def _where(target: MilvusTarget) -> str:
    return f"Milvus Lite file {target.uri}" if target.is_lite else target.uri


__all__ = ["MilvusDriver", "declared_fields", "schema_differences"]
