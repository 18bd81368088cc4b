"""The schema file that fixes the emulator's applications, datastores and fields: reading it
(:func:`load_schema`) and checking its shape (:func:`check_schema`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


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
