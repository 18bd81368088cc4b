"""The wire shapes of the Hexabase API: reading form flags, page numbers and search conditions
from requests, and rendering import results, queue tasks and items as the API answers them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from ..base import FormField, HTTPError
from .csvfile import as_number
from .model import Field

TASK_STATUS_NAMES = {0: "registered", 1: "running", 2: "done", 3: "error", 4: "abnormal"}


def flag(form: Mapping[str, FormField], name: str, default: bool = False) -> bool:
    """A ``true``/``false`` (or ``1``/``0``) form field; anything else is a 400."""
    part = form.get(name)
    value = part.text.strip().lower() if part else ""
    if not value:
        return default
    if value in ("true", "1", "false", "0"):
        return value in ("true", "1")
    raise HTTPError(400, f"{name} must be true or false, not {value!r}", "INVALID_PARAMS")


def positive_int(body: Mapping[str, Any], name: str, default: int) -> int:
    """A positive integer of a JSON body; anything else is a 400."""
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise HTTPError(400, f"{name} must be a positive integer", "INVALID_PARAMS")
    return value


def import_body(errors: list[dict[str, Any]], imported: int, item_count: int) -> dict[str, Any]:
    """The answer of a ``no_queue`` ImportItems."""
    return {
        "errors": errors,
        "has_error": bool(errors),
        "result": {"imported": imported, "item_count": item_count},
    }


def result_error(entry: dict[str, Any]) -> dict[str, Any]:
    """An import error entry as GetImportResults lists it."""
    # GetImportResults names row errors "Insert ERROR" (the documented shape); the detail rides along.
    if "line" in entry:
        return {"description": "Insert ERROR", "line": entry["line"], "error": entry["description"]}
    return entry


def task_json(row: sqlite3.Row) -> dict[str, Any]:
    """A queue task as GetQueueList lists it."""
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


def parse_conditions(
    body: Mapping[str, Any], fields: list[Field], *, required: bool
) -> list[Condition]:
    """The search conditions of a JSON body, each with the field it names; a bad one is a 400."""
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


def filter_rows(rows: list[sqlite3.Row], conditions: list[Condition]) -> list[sqlite3.Row]:
    """Rows matching every condition (a condition matches any of its values exactly)."""

    def matches(data: dict[str, str], field: Field, wanted: list[str]) -> bool:
        stored = data.get(field.display_id, "")
        if stored in wanted:
            return True
        # Numbers match by value, so 10 finds "10.0".
        number = as_number(stored) if field.data_type == "number" else None
        return isinstance(number, int | float) and any(as_number(w) == number for w in wanted)

    kept = []
    for row in rows:
        data = json.loads(row["data"])
        if all(matches(data, field, wanted) for field, wanted in conditions):
            kept.append(row)
    return kept


def item_json(
    row: sqlite3.Row, fields: list[Field], use_display_id: bool, numbers: bool
) -> dict[str, Any]:
    """An item as the items search answers it."""
    data = json.loads(row["data"])
    item: dict[str, Any] = {"i_id": row["i_id"]}
    for f in fields:
        if f.display_id in data:
            value = data[f.display_id]
            item[f.display_id if use_display_id else f.f_id] = (
                as_number(value) if numbers and f.data_type == "number" else value
            )
    if row["status"]:
        item["status"] = row["status"]
    if row["group_id"]:
        item["group_id"] = row["group_id"]
    return item
