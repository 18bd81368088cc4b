"""Plan values, their JSON form, and saved plan files.

A saved plan records, per dataset, the state generation, the source fingerprint and the digest
of the exact change set it was made from.  ``syncer apply plan.json`` re-derives the changes and
refuses the plan if any of those moved (a stale plan), so it applies exactly what was shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..errors import PlanError, Problem
from ..secrets import redact

from .changes import Drift, RowChange, sample_json, sample_of

if TYPE_CHECKING:
    from ..sync.diff import Diff

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Shown:
    """What a plan shows of one dataset's change, without its rows: a saved plan read back."""

    inserts: int
    updates: int
    deletes: int
    blocked: str | None
    warnings: tuple[str, ...]
    samples: tuple[RowChange, ...]
    read: bool  # False: the source was unchanged since the last apply (not read)

    @property
    def has_changes(self) -> bool:
        return bool(self.inserts or self.updates or self.deletes)


@dataclass(frozen=True)
class TargetCheck:
    """What a plan's cheap look at a dataset's target found: ``ok``, ``drift`` (missing, or
    another row count than the state's), ``foreign`` (the target's marker names a batch this
    state never wrote), ``existing`` (rows there and none recorded) or ``unreachable``."""

    status: str
    message: str | None = None
    rows: int | None = None       # rows the target holds (None: not counted)
    expected: int | None = None   # rows the state says were applied there

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        return {"checked": True, "status": self.status, "rows": self.rows,
                "expected": self.expected, "message": self.message}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> TargetCheck | None:
        if not data or not data.get("checked"):
            return None
        return cls(str(data["status"]), data.get("message"), data.get("rows"),
                   data.get("expected"))


@dataclass(frozen=True)
class DatasetPlan:
    target: str
    dataset: str
    mode: str
    table: str
    diff: Diff | None              # None: source unchanged since the last apply (not read)
    generation: int
    fingerprint: tuple[str, ...]   # content digests of the source files
    spec_hash: str
    record_only: bool = False      # no row changes, but the state's fingerprint must be updated
    drift: Drift | None = None     # with --refresh: the target's rows against the state
    shown: Shown | None = None     # a plan read from a file: what it showed (it has no diff)
    check: TargetCheck | None = None  # the look at the target (None: not looked)
    guard: str | None = None       # why the target's state blocks this dataset (see ``check``)
    moved_from: str | None = None  # where the state says it was applied, when not here
    moved_to: str | None = None    # where the manifest now puts it (with ``moved_from``)

    @property
    def _change(self) -> Diff | Shown | None:
        return self.diff if self.diff is not None else self.shown

    @property
    def source_read(self) -> bool:
        """Whether the source was read (else it was unchanged since the last apply)."""
        return self.diff is not None or (self.shown is not None and self.shown.read)

    @property
    def inserts(self) -> int:
        return self._change.inserts if self._change else 0

    @property
    def updates(self) -> int:
        return self._change.updates if self._change else 0

    @property
    def deletes(self) -> int:
        return self._change.deletes if self._change else 0

    @property
    def blocked(self) -> str | None:
        if self.guard:
            return self.guard
        return self._change.blocked if self._change else None

    @property
    def warnings(self) -> tuple[str, ...]:
        return self._change.warnings if self._change else ()

    @property
    def samples(self) -> tuple[RowChange, ...]:
        return self._change.samples if self._change else ()

    @property
    def has_changes(self) -> bool:
        return self._change is not None and self._change.has_changes

    @property
    def id(self) -> str:
        return f"{self.target}/{self.dataset}"

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "dataset": self.dataset, "mode": self.mode,
                "table": self.table, "source_read": self.source_read,
                "inserts": self.inserts, "updates": self.updates,
                "deletes": self.deletes, "blocked": self.blocked,
                "warnings": list(self.warnings),
                "samples": [sample_json(s) for s in self.samples],
                "target_check": (self.check.to_json() if self.check is not None
                                 else {"checked": False}),
                **({"moved": {"from": self.moved_from, "to": self.moved_to}}
                   if self.moved_from is not None else {}),
                **({"drift": self.drift.to_json()} if self.drift is not None else {})}

    @classmethod
    def from_json(cls, data: dict[str, Any], pin: dict[str, Any] | None = None) -> DatasetPlan:
        """A dataset plan as ``to_json`` wrote it (what it shows; no rows to apply)."""
        pin = pin or {}
        shown = Shown(int(data["inserts"]), int(data["updates"]), int(data["deletes"]),
                      data.get("blocked"), tuple(data.get("warnings") or ()),
                      tuple(sample_of(s) for s in data.get("samples") or ()),
                      bool(data.get("source_read", True)))
        drift = Drift.from_json(data["drift"]) if data.get("drift") else None
        moved = data.get("moved") or {}
        check = TargetCheck.from_json(data.get("target_check"))
        return cls(data["target"], data["dataset"], data["mode"], data["table"], None,
                   int(pin.get("generation", 0)), tuple(pin.get("fingerprint") or ()),
                   str(pin.get("spec_hash", "")), drift=drift, shown=shown, check=check,
                   moved_from=moved.get("from"), moved_to=moved.get("to"))


@dataclass(frozen=True)
class Plan:
    datasets: tuple[DatasetPlan, ...]
    orphans: tuple[str, ...] = field(default=())

    @property
    def has_changes(self) -> bool:
        return any(d.has_changes for d in self.datasets)

    @property
    def has_drift(self) -> bool:
        return any(d.drift is not None and d.drift.has_drift for d in self.datasets)

    @property
    def blocked(self) -> list[DatasetPlan]:
        return [d for d in self.datasets if d.blocked]

    @property
    def checked(self) -> int:
        """How many datasets' targets the plan looked at."""
        return sum(1 for d in self.datasets if d.check is not None)

    @property
    def checked_summary(self) -> str:
        """What the plan looked at: ``targets checked: 3 of 3`` (the summary line says it)."""
        total = len(self.datasets)
        looked = self.checked
        if total and not looked:
            return "targets not checked (--no-target-check): compared with the state only"
        unreachable = len(self.unreachable)
        text = f"targets checked: {looked - unreachable} of {total}"
        return text + (f"; {unreachable} could not be reached" if unreachable else "")

    @property
    def in_sync(self) -> bool:
        """No changes, nothing blocked, and every target looked at matched."""
        return (not self.has_changes and not self.blocked and not self.attention
                and self.checked == len(self.datasets))

    @property
    def settled(self) -> bool:
        """In sync, and not one source read or recorded anew: a plan whose output depends only
        on what the files and the state hold as they are (:mod:`syncer.memo` may remember it,
        :mod:`syncer.quick` may make it)."""
        return self.in_sync and bool(self.datasets) and not any(
            d.record_only or d.source_read or d.warnings or d.moved_from for d in self.datasets)

    @property
    def unreachable(self) -> list[DatasetPlan]:
        return [d for d in self.datasets if d.check is not None and
                d.check.status == "unreachable"]

    @property
    def attention(self) -> list[DatasetPlan]:
        """Datasets whose target is not what the state says (or could not be looked at)."""
        return [d for d in self.datasets if d.check is not None and not d.check.ok]

    def totals(self) -> tuple[int, int, int]:
        return (sum(d.inserts for d in self.datasets), sum(d.updates for d in self.datasets),
                sum(d.deletes for d in self.datasets))

    def to_json(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, "syncer_version": __version__,
                "changes": self.has_changes,
                "targets_checked": self.checked, "datasets_planned": len(self.datasets),
                "datasets": [d.to_json() for d in self.datasets],
                "orphans": list(self.orphans), "problems": []}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        """A plan as ``to_json`` (or a plan file) holds it: to show, not to apply."""
        pins = {p["id"]: p for p in data.get("pins") or ()}
        datasets = tuple(DatasetPlan.from_json(d, pins.get(f"{d['target']}/{d['dataset']}"))
                         for d in data["datasets"])
        return cls(datasets, tuple(data.get("orphans") or ()))

    def save(self, path: Path, manifests: Path) -> None:
        """Write a plan file that ``apply`` can check for staleness and apply exactly."""
        data = self.to_json()
        data["manifests"] = str(manifests.resolve())
        data["pins"] = [{"id": d.id, "generation": d.generation, "fingerprint": list(d.fingerprint),
                         "spec_hash": d.spec_hash,
                         "changes": d.diff.changes.digest() if d.diff else None}
                        for d in self.datasets]
        path.write_text(redact(json.dumps(data, indent=2, default=str)) + "\n")


def failed_json(problems: list[Problem]) -> dict[str, Any]:
    """What ``plan --json`` prints when no plan could be made: the shape of a plan, no changes
    known (``changes`` is null), and every problem (file, line, column, message, hint)."""
    return {"format_version": FORMAT_VERSION, "syncer_version": __version__, "changes": None,
            "targets_checked": 0, "datasets_planned": 0, "datasets": [], "orphans": [], "problems": [p.to_json() for p in problems]}


@dataclass(frozen=True)
class SavedPlan:
    manifests: Path
    pins: dict[str, dict[str, Any]]
    dataset_ids: tuple[str, ...]

    @classmethod
    def load(cls, path: Path) -> SavedPlan:
        try:
            data = json.loads(path.read_text())
            if data.get("format_version") != FORMAT_VERSION:
                raise PlanError(f"{path}: plan format {data.get('format_version')} is not supported",
                                hint="make a new plan with this syncer version")
            pins = {p["id"]: p for p in data["pins"]}
            return cls(Path(data["manifests"]), pins, tuple(pins))
        except FileNotFoundError:
            raise PlanError(f"plan file {path} does not exist") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise PlanError(f"{path} is not a syncer plan file ({exc})",
                            hint="make one with `syncer plan --out FILE`") from None

    def check(self, plan: Plan) -> None:
        """Refuse when anything the saved plan was made from has moved since."""
        current = {d.id: d for d in plan.datasets}
        for dataset_id, pin in self.pins.items():
            now = current.get(dataset_id)
            if now is None:
                raise PlanError(f"stale plan: dataset {dataset_id} is no longer in the manifests",
                                hint="run `syncer plan --out FILE` again")
            reasons = []
            if now.generation != pin["generation"]:
                reasons.append("the state changed (another apply ran)")
            if list(now.fingerprint) != pin["fingerprint"]:
                reasons.append("a source file changed")
            if now.spec_hash != pin["spec_hash"]:
                reasons.append("its manifest changed")
            digest = now.diff.changes.digest() if now.diff else None
            if not reasons and digest != pin["changes"]:
                reasons.append("the changes differ")
            if reasons:
                raise PlanError(f"stale plan for {dataset_id}: {'; '.join(reasons)} since it was made",
                                hint="run `syncer plan --out FILE` again and review it")
