"""A zilliz cluster's collections, aliases and entities, through the cluster endpoint: create,
describe and compare a collection with the declared columns, drop it, point an alias, delete
and look up keys, read entities (the :class:`AliasOps` of an alias replace among them)."""

from __future__ import annotations

import re
from typing import Any

from ...errors import TargetError
from ...model.schema import Schema
from ..milvus.rows import in_filter, key_of
from ..milvus.schema import MAX_VARCHAR, Field, declared_fields, schema_differences
from .config import ZillizDataset
from .probe import marker_key
from .rest import ApiError, Rest

#: keys per ``entities/delete`` or ``entities/query`` filter
KEYS_PER_FILTER = 1_000
#: largest ``offset + limit`` of one query
QUERY_WINDOW = 16_384
_REST_TYPES = {"INT64": "Int64", "DOUBLE": "Double", "BOOL": "Bool", "VARCHAR": "VarChar",
               "JSON": "JSON", "FLOAT_VECTOR": "FloatVector"}
_FROM_REST = {rest.lower(): name for name, rest in _REST_TYPES.items()} | {
    "int8": "INT8", "int16": "INT16", "int32": "INT32", "float": "FLOAT"}


class Collections:
    """The collections of one zilliz target (the fields of those it knows, cached)."""

    def __init__(self, rest: Rest) -> None:
        self.rest = rest
        self.name = rest.name
        self._fields: dict[str, list[Field]] = {}

    def _post(self, path: str, body: dict[str, Any], *, what: str) -> Any:
        return self.rest.post("cluster", path, body, what=what)

    # -- collections ------------------------------------------------------------------------
    def describe(self, name: str) -> dict[str, Any] | None:
        try:
            info = self._post("collections/describe", {"collectionName": name},
                              what=f"describing collection '{name}'")
        except ApiError as exc:
            if exc.not_found:
                return None
            raise
        return dict(info or {})

    def mark(self, name: str, batch_id: str, partition: str | None = None) -> None:
        """Name ``batch_id`` in the collection's properties: the last batch syncer wrote (to
        the ``partition``, when the dataset names one)."""
        self._post("collections/alter_properties",
                   {"collectionName": name, "properties": {marker_key(partition): batch_id}},
                   what=f"marking collection '{name}'")

    def exists(self, name: str) -> bool:
        return self.describe(name) is not None

    def create(self, name: str, spec: ZillizDataset, schema: Schema) -> None:
        fields = declared_fields(schema)
        body = {
            "collectionName": name,
            "schema": {"autoId": False, "enableDynamicField": spec.dynamic_fields,
                       "fields": [rest_field(f) for f in fields]},
            "indexParams": [{"fieldName": spec.vector_column, "indexName": spec.vector_column,
                             "metricType": spec.metric, "indexType": "AUTOINDEX"}],
        }
        try:
            self._post("collections/create", body, what=f"creating collection '{name}'")
        except ApiError as exc:
            if not exc.exists:
                raise
            # a retried create whose first attempt had landed: it must be what we asked for
            info = self.describe(name)
            if info is None or self.differences(info, spec, schema):
                raise
        self._fields[name] = fields

    def drop(self, name: str) -> None:
        """Drop collection ``name`` (nothing to do when it does not exist)."""
        try:
            self._post("collections/drop", {"collectionName": name},
                       what=f"dropping collection '{name}'")
        except ApiError as exc:
            if not exc.not_found:
                raise
        self._fields.pop(name, None)

    def differences(self, info: dict[str, Any], spec: ZillizDataset, schema: Schema) -> list[str]:
        problems = schema_differences(declared_fields(schema), fields_of_answer(info),
                                      dynamic=spec.dynamic_fields,
                                      existing_dynamic=bool(info.get("enableDynamicField")),
                                      auto_id=bool(info.get("autoId")))
        for index in info.get("indexes") or []:
            if index.get("fieldName") == spec.vector_column:
                metric = str(index.get("metricType") or "").upper()
                if metric and metric != spec.metric:
                    problems.append(f"the index on '{spec.vector_column}' uses metric {metric}, "
                                    f"declared {spec.metric} (metric: {spec.metric})")
        return problems

    def fields_of(self, name: str) -> list[Field]:
        if name not in self._fields:
            info = self.describe(name)
            if info is None:
                raise TargetError(f"{self.name}: collection '{name}' does not exist")
            self._fields[name] = fields_of_answer(info)
        return self._fields[name]

    def know_fields(self, name: str, fields: list[Field]) -> None:
        self._fields[name] = fields

    # -- aliases ----------------------------------------------------------------------------
    def alias_target(self, alias: str) -> str | None:
        try:
            info = self._post("aliases/describe", {"aliasName": alias},
                              what=f"describing alias '{alias}'")
        except ApiError as exc:
            if exc.not_found:
                return None
            raise
        name = (info or {}).get("collectionName")
        return str(name) if name else None

    def create_alias(self, alias: str, name: str) -> None:
        try:
            self._post("aliases/create", {"aliasName": alias, "collectionName": name},
                       what=f"creating alias '{alias}' -> '{name}'")
        except ApiError as exc:
            if not exc.exists:
                raise
            self.alter_alias(alias, name)

    def alter_alias(self, alias: str, name: str) -> None:
        self._post("aliases/alter", {"aliasName": alias, "collectionName": name},
                   what=f"moving alias '{alias}' to '{name}'")

    def drop_replaced(self, table: str, *, keep: str, previous: str | None,
                      marker: str | None) -> None:
        """Drop the collections earlier alias replaces of this dataset built: the one the alias
        pointed to, and any named ``<table>__<batch id>`` no longer behind an alias."""
        if previous is not None and previous != keep and previous.startswith(f"{table}__"):
            self.drop(previous)  # an earlier replace built it; nobody reads it any more
        pattern = re.compile(rf"^{re.escape(table)}__[0-9a-f]{{12}}_[0-9a-f]{{8}}$")
        names = self._post("collections/list", {}, what="listing collections") or []
        for name in names:
            if name == keep or not pattern.match(str(name)):
                continue
            try:
                self.drop(str(name))
            except ApiError as exc:
                if "alias" not in exc.server_message.lower():
                    raise  # an alias still points at it: someone else reads it; keep it

    # -- partitions -------------------------------------------------------------------------
    def ensure_partition(self, name: str, partition: str) -> None:
        """Create the partition when the collection lacks it."""
        has = self._post("partitions/has", {"collectionName": name, "partitionName": partition},
                         what=f"checking partition '{partition}' of '{name}'") or {}
        if not has.get("has"):
            self._post("partitions/create", {"collectionName": name, "partitionName": partition},
                       what=f"creating partition '{partition}' of '{name}'")

    def empty_partition(self, name: str, partition: str) -> None:
        """Drop the partition (released first, as the service wants) and create it again."""
        body = {"collectionName": name, "partitionName": partition}
        self._post("partitions/release", {"collectionName": name, "partitionNames": [partition]},
                   what=f"releasing partition '{partition}' of '{name}'")
        self._post("partitions/drop", body, what=f"dropping partition '{partition}' of '{name}'")
        self._post("partitions/create", body,
                   what=f"creating partition '{partition}' of '{name}'")
        self._post("partitions/load", {"collectionName": name, "partitionNames": [partition]},
                   what=f"loading partition '{partition}' of '{name}'")

    # -- entities ---------------------------------------------------------------------------
    def delete_keys(self, name: str, schema: Schema, keys: list[Any],
                    partition: str | None = None) -> None:
        pk = schema.key[0]
        for start in range(0, len(keys), KEYS_PER_FILTER):
            part = keys[start:start + KEYS_PER_FILTER]
            body = {"collectionName": name, "filter": in_filter(pk, part)}
            if partition:
                body["partitionName"] = partition
            self._post("entities/delete", body, what=f"deleting {len(part)} keys from '{name}'")

    def present(self, name: str, schema: Schema, keys: list[Any], *, count: bool = False,
                partition: str | None = None) -> int:
        """How many of ``keys`` the collection (or its ``partition``) holds (with ``count``: all
        of them; else stop at the first chunk that holds any)."""
        pk = schema.key[0]
        found: set[Any] = set()
        for start in range(0, len(keys), KEYS_PER_FILTER):
            part = keys[start:start + KEYS_PER_FILTER]
            rows = self._query(name, partition, what=f"querying '{name}'",
                               filter=in_filter(pk, part), outputFields=[pk], limit=QUERY_WINDOW)
            found.update(key_of(row[pk]) for row in rows if pk in row)
            if found and not count:
                break
        return len(found)

    def count(self, name: str, partition: str | None = None) -> int:
        counted = self._query(name, partition, what=f"counting '{name}'", filter="",
                              outputFields=["count(*)"])
        return int(counted[0]["count(*)"]) if counted else 0

    def query_page(self, name: str, names: list[str], offset: int, limit: int,
                   partition: str | None = None) -> list[dict[str, Any]]:
        return self._query(name, partition, what=f"reading '{name}'", filter="",
                           outputFields=names, offset=offset, limit=limit)

    def _query(self, name: str, partition: str | None, *, what: str,
               **body: Any) -> list[dict[str, Any]]:
        body["collectionName"] = name
        if partition:
            body["partitionNames"] = [partition]
        return list(self._post("entities/query", body, what=what) or [])


def rest_field(field: Field) -> dict[str, Any]:
    """A field as ``collections/create`` takes it."""
    out: dict[str, Any] = {"fieldName": field.name, "dataType": _REST_TYPES[field.type]}
    if field.primary:
        out["isPrimary"] = True
    if field.nullable:
        out["nullable"] = True
    params: dict[str, Any] = {}
    if field.dim is not None:
        params["dim"] = field.dim
    if field.type == "VARCHAR":
        params["max_length"] = field.max_length or MAX_VARCHAR
    if params:
        out["elementTypeParams"] = params
    return out


def fields_of_answer(info: dict[str, Any]) -> list[Field]:
    """The fields of a ``collections/describe`` answer."""
    out = []
    for raw in info.get("fields") or []:
        params = {str(p.get("key")): p.get("value") for p in raw.get("params") or []
                  if isinstance(p, dict)}
        kind = str(raw.get("type", ""))
        dim, max_length = params.get("dim"), params.get("max_length")
        out.append(Field(str(raw.get("name")), _FROM_REST.get(kind.lower(), kind.upper()),
                         primary=bool(raw.get("primaryKey")), nullable=bool(raw.get("nullable")),
                         dim=int(dim) if dim is not None else None,
                         max_length=int(max_length) if max_length is not None else None))
    return out
