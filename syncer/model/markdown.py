"""A plan as Markdown (a pull-request comment) and the one-line forms of values and samples."""

from __future__ import annotations

import json
from typing import Any

from .changes import RowChange
from .plan import DatasetPlan, Plan
from ..secrets import redact


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
    if plan.in_sync:
        lines.append("**No changes.** The targets match the manifests.")
    elif not plan.has_changes and not plan.blocked and not plan.attention:
        lines.append("**No changes** against the state.")
    else:
        lines.append(f"**{ins} to insert, {upd} to update, {dele} to delete.**")
    lines += ["", plan.checked_summary[0].upper() + plan.checked_summary[1:] + "."]
    guarded = [d for d in plan.blocked if d.guard]
    if len(guarded) < len(plan.blocked):
        lines += ["", f"**{len(plan.blocked) - len(guarded)} dataset(s) blocked by a safety "
                  "guard**: `syncer apply` applies nothing until the deletes are allowed "
                  "(`allow_deletes: true` or `--allow-deletes`) or the source is fixed."]
    if guarded:
        lines += ["", f"**{len(guarded)} dataset(s) blocked: the target is not what the state "
                  "says** (see the table): `syncer apply` applies nothing until it is repaired "
                  "(`--refresh`) or adopted."]
    targets: dict[str, list[DatasetPlan]] = {}
    for d in plan.datasets:
        targets.setdefault(d.target, []).append(d)
    for target, datasets in targets.items():
        lines += ["", f"#### {_cell(target)}", ""]
        shown = [d for d in datasets if d.has_changes or d.blocked or d.warnings
                 or d.moved_from is not None]
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
        warnings += [f"- moved, `{d.dataset}`: was {d.moved_from}, now {d.moved_to} (the old "
                     "location is left as it is)" for d in shown if d.moved_from is not None]
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
