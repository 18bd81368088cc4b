"""Entities: checking a row against a collection's schema (:func:`check_row`) and rendering an
entity as a query answers it (:func:`entity_output`)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .schema import INTEGER_TYPES, CollectionSchema, FieldDef


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
    if kind in INTEGER_TYPES:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RowProblem(f"illegal value {json.dumps(value)[:40]} for {kind} field '{name}'")
        bits = INTEGER_TYPES[kind]
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
