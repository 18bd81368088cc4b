"""Collection schemas: the fields and indexes a collection holds (:class:`CollectionSchema`), as a
``collections/create`` request asks for them and checked as the service checks them."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import INVALID_PARAMETER, api_error

MAX_VARCHAR = 65_535
INTEGER_TYPES = {"Int8": 8, "Int16": 16, "Int32": 32, "Int64": 64}
_SCALAR_TYPES = {*INTEGER_TYPES, "Float", "Double", "Bool", "VarChar", "JSON"}
_VECTOR_TYPES = {"FloatVector"}
VALID_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
            raise api_error(INVALID_PARAMETER, "invalid parameter: give `schema` or `dimension`")
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
        raise api_error(INVALID_PARAMETER, "invalid parameter: schema.fields must be a list")
    auto_id = bool(schema.get("autoId", schema.get("autoID", False)))
    fields = []
    for raw in schema["fields"]:
        if not isinstance(raw, dict):
            raise api_error(INVALID_PARAMETER, "invalid parameter: each field must be an object")
        params = raw.get("elementTypeParams") or {}
        primary = bool(raw.get("isPrimary", False))
        fields.append(FieldDef(
            name=str(raw.get("fieldName", "")), type=str(raw.get("dataType", "")),
            primary=primary, auto_id=primary and auto_id, nullable=bool(raw.get("nullable")),
            dim=_int_param(params, "dim"), max_length=_int_param(params, "max_length")))
    indexes = []
    for raw in body.get("indexParams") or []:
        if not isinstance(raw, dict) or not raw.get("fieldName"):
            raise api_error(INVALID_PARAMETER, "invalid parameter: indexParams need fieldName")
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
        raise api_error(INVALID_PARAMETER, f"invalid parameter: {name} must be an integer, "
                                           f"got {value!r}") from None


def _checked(schema: CollectionSchema) -> CollectionSchema:
    names = [f.name for f in schema.fields]
    for field in schema.fields:
        if not VALID_NAME.match(field.name):
            raise api_error(INVALID_PARAMETER, f"invalid field name: '{field.name}'")
        if field.type not in _SCALAR_TYPES | _VECTOR_TYPES:
            raise api_error(INVALID_PARAMETER, f"invalid parameter: field '{field.name}' has an "
                                               f"unsupported data type '{field.type}'")
        if field.type in _VECTOR_TYPES and (field.dim is None or field.dim < 1):
            raise api_error(INVALID_PARAMETER, f"invalid parameter: vector field '{field.name}' "
                                               "needs elementTypeParams.dim")
        if field.type == "VarChar" and not (field.max_length and 0 < field.max_length
                                            <= MAX_VARCHAR):
            raise api_error(INVALID_PARAMETER, f"invalid parameter: VarChar field '{field.name}' "
                                               f"needs max_length in [1, {MAX_VARCHAR}]")
    if len(set(names)) != len(names):
        raise api_error(INVALID_PARAMETER, "invalid parameter: duplicated field name")
    primaries = [f for f in schema.fields if f.primary]
    if len(primaries) != 1 or primaries[0].type not in ("Int64", "VarChar"):
        raise api_error(INVALID_PARAMETER, "invalid parameter: the schema needs exactly one primary "
                                           "key field, of type Int64 or VarChar")
    if primaries[0].nullable:
        raise api_error(INVALID_PARAMETER, "primary field not support null")
    if not any(f.type in _VECTOR_TYPES for f in schema.fields):
        raise api_error(INVALID_PARAMETER, "schema does not contain vector field")
    vectors = {f.name for f in schema.fields if f.type in _VECTOR_TYPES}
    for index in schema.indexes:
        if index["fieldName"] not in vectors:
            raise api_error(INVALID_PARAMETER, f"invalid parameter: index on '{index['fieldName']}',"
                                               " which is not a vector field")
    return schema
