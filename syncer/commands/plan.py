"""`syncer plan`: show what apply would change."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import memo
from ..sync.apply import plan as plan_only
from ..sync.inputs import plan_inputs
from ..sync.recipe import remember
from ..errors import SyncError, problems_of
from ..model.plan import failed_json
from ..secrets import redact
from ..profile import report
from ..state.location import shown
from ..ui import ReadStatus, console, note, render_profile, show_plan, verbose
from .options import (AllowDeletes, AllowExisting, DatasetOpt, JsonOpt, Manifests, NoColor,
                      NoTargetCheck, ProfileOpt, Refresh, StateOpt, TargetOpt)
from .options import selection as make_selection


def plan(
    manifests: Manifests = Path("manifests"),
    state: StateOpt = None,
    target: TargetOpt = None,
    dataset: DatasetOpt = None,
    json_out: JsonOpt = False,
    fmt: Annotated[str, typer.Option("--format", help="text | json | markdown")] = "text",
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Save the plan to FILE; `syncer apply FILE` applies exactly it.")] = None,
    detailed_exitcode: Annotated[bool, typer.Option(
        "--detailed-exitcode", help="Exit 0 when nothing changes, 2 when there are changes.")] = False,
    allow_deletes: AllowDeletes = False,
    refresh: Refresh = False,
    no_target_check: NoTargetCheck = False,
    allow_existing: AllowExisting = False,
    no_color: NoColor = False,
    profile: ProfileOpt = False,
) -> None:
    """Show what apply would change: per dataset, mode, +inserts ~updates -deletes, samples."""
    try:
        _plan(manifests, state, target, dataset, json_out or fmt == "json", fmt, out,
              detailed_exitcode, allow_deletes, refresh, no_color, profile,
              target_check=not no_target_check, allow_existing=allow_existing)
    except SyncError as exc:
        if json_out or fmt == "json":  # the problems as data on stdout; the message and exit 1
            print(redact(json.dumps(failed_json(problems_of(exc)))))  # still follow (stderr)
        raise


def _plan(manifests: Path, state: str | None, target: str | None, dataset: str | None,
          json_out: bool, fmt: str, out: Path | None, detailed_exitcode: bool,
          allow_deletes: bool, refresh: bool, no_color: bool, profile: bool, *,
          target_check: bool, allow_existing: bool) -> None:
    if fmt not in ("text", "json", "markdown"):
        raise SyncError(f"unknown --format '{fmt}'", hint="use text, json or markdown")
    if refresh and out is not None:
        raise SyncError("a plan made with --refresh cannot be saved (it is made against the "
                        "targets, not the state)", hint="run `syncer apply --refresh` instead")
    started = time.perf_counter()
    selection = make_selection(manifests, state, target, dataset)
    note_text = f"state: {shown(selection.state)}"
    note(note_text)  # which state: a second one is a silent mistake
    with ReadStatus(enabled=not json_out and fmt == "text") as status:
        project, planned = plan_only(selection, allow_deletes=allow_deletes, refresh=refresh,
                                     progress=status, target_check=target_check,
                                     allow_existing=allow_existing)
    result = planned.plan
    if not (profile or refresh or out is not None or verbose()):  # timings, files, drift
        inputs = plan_inputs(project, result, selection)
        if inputs is not None:
            memo.offer(inputs)
        if target_check:
            remember(project, selection, note_text, json_out=json_out, fmt=fmt, no_color=no_color,
                     allow_existing=allow_existing)
    if profile:
        render_profile(report(), time.perf_counter() - started)
    if out is not None:
        result.save(out, manifests)
    show_plan(result, json_out=json_out, fmt=fmt, no_color=no_color)
    if fmt == "text" and not json_out and out is not None:
        console(no_color=no_color).print(f"Saved the plan to {out}; apply it with "
                                          f"`syncer apply {out}`.")
    if result.unreachable:
        names = ", ".join(d.id for d in result.unreachable)
        raise SyncError(f"cannot look at the target of {names}: the plan cannot say whether it "
                        "is in sync", hint="check the target (it is named above), or pass "
                        "--no-target-check to plan against the state alone")
    if detailed_exitcode and (result.has_changes or result.attention):
        raise typer.Exit(2)
