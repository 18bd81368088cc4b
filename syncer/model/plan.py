"""Plan values, their JSON and Markdown forms, and saved plan files.

A saved plan records, per dataset, the state generation, the source fingerprint and the digest
of the exact change set it was made from.  ``syncer apply plan.json`` re-derives the changes and
refuses the plan if any of those moved (a stale plan), so it applies exactly what was shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PlanError
from ..secrets import redact

if TYPE_CHECKING:
    from ..sync.refresh import Drift
    from ..sync.diff import Diff, RowChange

FORMAT_VERSION = 1


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

    @property
    def inserts(self) -> int:
        return self.diff.inserts if self.diff else 0

    @property
    def updates(self) -> int:
        return self.diff.updates if self.diff else 0

    @property
    def deletes(self) -> int:
        return self.diff.deletes if self.diff else 0

    @property
    def blocked(self) -> str | None:
        return self.diff.blocked if self.diff else None

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.diff.warnings if self.diff else ()

    @property
    def samples(self) -> tuple[RowChange, ...]:
        return self.diff.samples if self.diff else ()

    @property
    def has_changes(self) -> bool:
        return self.diff is not None and self.diff.has_changes

    @property
    def id(self) -> str:
        return f"{self.target}/{self.dataset}"

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "dataset": self.dataset, "mode": self.mode,
                "table": self.table, "inserts": self.inserts, "updates": self.updates,
                "deletes": self.deletes, "blocked": self.blocked,
                "warnings": list(self.warnings),
                "samples": [_sample_json(s) for s in self.samples],
                **({"drift": self.drift.to_json()} if self.drift is not None else {})}


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

    def totals(self) -> tuple[int, int, int]:
        return (sum(d.inserts for d in self.datasets), sum(d.updates for d in self.datasets),
                sum(d.deletes for d in self.datasets))

    def to_json(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, "changes": self.has_changes,
                "datasets": [d.to_json() for d in self.datasets],
                "orphans": list(self.orphans)}

    def save(self, path: Path, manifests: Path) -> None:
        """Write a plan file that ``apply`` can check for staleness and apply exactly."""
        data = self.to_json()
        data["manifests"] = str(manifests.resolve())
        data["pins"] = [{"id": d.id, "generation": d.generation, "fingerprint": list(d.fingerprint),
                         "spec_hash": d.spec_hash,
                         "changes": d.diff.changes.digest() if d.diff else None}
                        for d in self.datasets]
        path.write_text(redact(json.dumps(data, indent=2, default=str)) + "\n")


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


def _sample_json(sample: RowChange) -> dict[str, Any]:
    out: dict[str, Any] = {"op": sample.op, "key": sample.key}
    if sample.fields:
        out["fields"] = {f.column: [_plain(f.old), _plain(f.new)] for f in sample.fields}
    if sample.values:
        out["values"] = {name: _plain(value) for name, value in sample.values}
    return out


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "to_list"):
        return value.to_list()
    if isinstance(value, list):
        return value
    return str(value)


def format_value(value: Any) -> str:
    """How a value is shown in a plan: null, quoted text, numbers as they are."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "to_list"):
        value = value.to_list()
    if isinstance(value, list):
        shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value[:4])
        return f"[{shown}{', ...' if len(value) > 4 else ''}] ({len(value)})"
    return str(value)


def markdown(plan: Plan) -> str:
    """The plan as a pull-request comment: the totals, then per target a compact table of the
    datasets that change (dataset, mode, +/~/-, blocked reason), their warnings, and their
    sample changes folded in ``<details>``.  Unchanged datasets are named on one line."""
    ins, upd, dele = plan.totals()
    lines = ["### syncer plan", ""]
    lines.append(f"**{ins} to insert, {upd} to update, {dele} to delete.**" if plan.has_changes
                 else "**No changes.** The targets match the manifests.")
    if plan.blocked:
        lines += ["", f"**{len(plan.blocked)} dataset(s) blocked by a safety guard**: `syncer apply` "
                  "applies nothing until the deletes are allowed (`allow_deletes: true` or "
                  "`--allow-deletes`) or the source is fixed."]
    targets: dict[str, list[DatasetPlan]] = {}
    for d in plan.datasets:
        targets.setdefault(d.target, []).append(d)
    for target, datasets in targets.items():
        lines += ["", f"#### {_cell(target)}", ""]
        shown = [d for d in datasets if d.has_changes or d.blocked or d.warnings]
        quiet = [d for d in datasets if d not in shown]
        if shown:
            lines += ["| target | dataset | mode | + | ~ | - | blocked |",
                      "|---|---|---|---:|---:|---:|---|"]
            lines += [f"| {_cell(d.target)} | {_cell(d.dataset)} | {d.mode} | {d.inserts} | "
                      f"{d.updates} | {d.deletes} | {_cell(d.blocked or '')} |" for d in shown]
        if quiet:
            names = ", ".join(f"`{d.dataset}`" for d in quiet)
            lines += [*([""] if shown else []), f"No changes: {names}."]
        warnings = [f"- warning, `{d.dataset}`: {w}" for d in shown for w in d.warnings]
        lines += [""] + warnings if warnings else []
        for d in shown:
            if d.samples:
                lines += _samples_block(d)
    drifted = [d for d in plan.datasets if d.drift is not None and d.drift.has_drift]
    if any(d.drift is not None for d in plan.datasets):
        lines += ["", "#### Drift (the targets read back, against the state)", ""]
        if drifted:
            lines += ["| target | dataset | changed | added | removed |", "|---|---|---:|---:|---:|"]
            lines += [f"| {_cell(d.target)} | {_cell(d.dataset)} | {d.drift.changed} | "
                      f"{d.drift.added} | {d.drift.removed} |" for d in drifted if d.drift]
        else:
            lines.append("No drift: the targets hold what syncer applied.")
    if plan.orphans:
        lines += ["", "Orphaned (in the state, not in the manifests; left alone): "
                  + ", ".join(plan.orphans)]
    return redact("\n".join(lines)) + "\n"


def _samples_block(d: DatasetPlan) -> list[str]:
    body = [sample_line(s) for s in d.samples]
    more = d.inserts + d.updates + d.deletes - len(body)
    if more > 0:
        body.append(f"... and {more} more")
    # a fence longer than any run of backticks in the values, so no value can close it early
    fence = "`" * max(3, _longest_backticks("\n".join(body)) + 1)
    summary = _html(f"{d.id}: +{d.inserts} ~{d.updates} -{d.deletes}, sample changes")
    return ["", f"<details><summary>{summary}</summary>", "", f"{fence}diff", *body, fence,
            "</details>"]


def _longest_backticks(text: str) -> int:
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return longest


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def sample_line(sample: RowChange) -> str:
    key = f"{sample.key} " if sample.key else ""
    if sample.op == "~":
        fields = ", ".join(f"{f.column}: {format_value(f.old)} -> {format_value(f.new)}"
                           for f in sample.fields)
        return f"~ {key}{fields}"
    values = ", ".join(f"{n}={format_value(v)}" for n, v in sample.values)
    return f"{sample.op} {key}{values}"
