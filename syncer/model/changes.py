"""Changes shown to people: sample rows with field-level differences, and drift found in a target.

Plain values with their JSON form: the planner and the drift check make them, the plan, the
renderers and the status outputs show them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldChange:
    column: str
    old: Any
    new: Any


@dataclass(frozen=True)
class RowChange:
    """A sample change for display: ``+`` insert, ``~`` update, ``-`` delete."""

    op: str
    key: str
    fields: tuple[FieldChange, ...] = ()
    values: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Drift:
    """Rows the target holds that differ from the state: per op counts and sample rows."""

    changed: int
    added: int
    removed: int
    samples: tuple[RowChange, ...] = ()

    @property
    def has_drift(self) -> bool:
        return bool(self.changed or self.added or self.removed)

    @property
    def rows(self) -> int:
        return self.changed + self.added + self.removed

    def to_json(self) -> dict[str, Any]:
        return {"changed": self.changed, "added": self.added, "removed": self.removed,
                "samples": [sample_json(s) for s in self.samples]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Drift:
        return cls(int(data["changed"]), int(data["added"]), int(data["removed"]),
                   tuple(sample_of(s) for s in data.get("samples") or ()))


@dataclass(frozen=True)
class DatasetDrift:
    target: str
    dataset: str
    drift: Drift

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "dataset": self.dataset, **self.drift.to_json()}


def sample_json(sample: RowChange) -> dict[str, Any]:
    out: dict[str, Any] = {"op": sample.op, "key": sample.key}
    if sample.fields:
        out["fields"] = {f.column: [plain(f.old), plain(f.new)] for f in sample.fields}
    if sample.values:
        out["values"] = {name: plain(value) for name, value in sample.values}
    return out


def sample_of(data: dict[str, Any]) -> RowChange:
    """A sample as :func:`sample_json` wrote it."""
    fields = tuple(FieldChange(column, old, new)
                   for column, (old, new) in (data.get("fields") or {}).items())
    values = tuple((data.get("values") or {}).items())
    return RowChange(str(data["op"]), str(data["key"]), fields, values)


def plain(value: Any) -> Any:
    """A value as JSON can hold it (Series and other values as lists or text)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "to_list"):
        return value.to_list()
    if isinstance(value, list):
        return value
    return str(value)
