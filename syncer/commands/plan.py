"""`syncer plan`: show what apply would change."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..sync.apply import plan as plan_only
from ..errors import SyncError
from ..model.markdown import markdown
from ..secrets import redact
from ..profile import report
from ..state.location import shown
from ..ui import ReadStatus, console, note, render_plan, render_profile
from .options import (AllowDeletes, DatasetOpt, JsonOpt, Manifests, NoColor, ProfileOpt, Refresh,
                      StateOpt, TargetOpt)
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
    no_color: NoColor = False,
    profile: ProfileOpt = False,
) -> None:
    """Show what apply would change: per dataset, mode, +inserts ~updates -deletes, samples."""
    if fmt not in ("text", "json", "markdown"):
        raise SyncError(f"unknown --format '{fmt}'", hint="use text, json or markdown")
    if refresh and out is not None:
        raise SyncError("a plan made with --refresh cannot be saved (it is made against the "
                        "targets, not the state)", hint="run `syncer apply --refresh` instead")
    started = time.perf_counter()
    selection = make_selection(manifests, state, target, dataset)
    note(f"state: {shown(selection.state)}")  # which state: a second one is a silent mistake
    with ReadStatus(enabled=not json_out and fmt == "text") as status:
        _, planned = plan_only(selection, allow_deletes=allow_deletes, refresh=refresh,
                                 progress=status)
    result = planned.plan
    if profile:
        render_profile(report(), time.perf_counter() - started)
    if out is not None:
        result.save(out, manifests)
    if json_out or fmt == "json":
        print(redact(json.dumps(result.to_json(), default=str)))
    elif fmt == "markdown":
        print(markdown(result), end="")
    else:
        render_plan(console(no_color=no_color), result)
        if out is not None:
            console(no_color=no_color).print(f"Saved the plan to {out}; apply it with "
                                              f"`syncer apply {out}`.")
    if detailed_exitcode and result.has_changes:
        raise typer.Exit(2)
