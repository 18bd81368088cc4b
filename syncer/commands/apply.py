"""`syncer apply`: plan (or load a saved plan), confirm, apply, record."""

from __future__ import annotations

import json
import time
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from .. import __version__
from ..sync.apply import Applier
from ..sync.session import Selection, session
from ..errors import DiskFull, SyncError
from ..model.plan import SavedPlan
from ..profile import report
from ..bars import BarReporter
from ..ui import (ReadStatus, console, render_plan, render_profile,
                  render_result)
from .options import (AllowDeletes, AllowExisting, DatasetOpt, JsonOpt, LockTimeout, Manifests,
                      NoColor, NoTargetCheck, ProfileOpt, Refresh, StateOpt, TargetOpt)
from .options import selection as make_selection

if TYPE_CHECKING:
    from rich.console import Console

    from ..sync.execute import ApplyResult
    from ..sync.plan import Planned


def apply(
    plan_file: Annotated[Optional[Path], typer.Argument(
        help="A plan saved with `plan --out`; applied exactly, refused when stale.")] = None,
    manifests: Manifests = Path("manifests"),
    state: StateOpt = None,
    target: TargetOpt = None,
    dataset: DatasetOpt = None,
    auto_approve: Annotated[bool, typer.Option(
        "--auto-approve", help="Do not ask for confirmation.")] = False,
    allow_deletes: AllowDeletes = False,
    refresh: Refresh = False,
    no_target_check: NoTargetCheck = False,
    allow_existing: AllowExisting = False,
    lock_timeout: LockTimeout = 0.0,
    json_out: JsonOpt = False,
    no_color: NoColor = False,
    profile: ProfileOpt = False,
) -> None:
    """Apply the changes: plan, confirm (unless --auto-approve or a plan file), then apply."""
    started = time.perf_counter()
    if refresh and plan_file is not None:
        raise SyncError("--refresh cannot be used with a saved plan",
                        hint="review `syncer plan --refresh`, then run `syncer apply --refresh`")
    saved = SavedPlan.load(plan_file) if plan_file is not None else None
    if saved is not None:
        manifests = saved.manifests
    out = console(no_color=no_color)
    selection = make_selection(manifests, state, target, dataset)
    reporter = BarReporter(enabled=not json_out)
    try:
        result, planned = _run(selection, saved, reporter, out, lock_timeout=lock_timeout,
                               allow_deletes=allow_deletes, refresh=refresh, json_out=json_out,
                               auto_approve=auto_approve, target_check=not no_target_check,
                               allow_existing=allow_existing)
    except DiskFull as exc:  # before any dataset was sent (those failing later say so)
        exc.message += "\nnothing was applied"
        raise
    if profile:
        render_profile(report(), time.perf_counter() - started)
    if json_out:
        print(json.dumps({"syncer_version": __version__, "run_id": result.run_id,
                          "datasets": [d.to_json() for d in result.datasets]}))
    elif planned.plan.has_changes:
        render_result(out, result)


def _run(selection: Selection, saved: SavedPlan | None, reporter: BarReporter, out: Console, *,
         lock_timeout: float, allow_deletes: bool, refresh: bool, json_out: bool,
         auto_approve: bool, target_check: bool,
         allow_existing: bool) -> tuple[ApplyResult, Planned]:
    """Lock, settle, plan, confirm and apply."""
    with session(selection.state, "apply", write=True, lock_timeout=lock_timeout) as held:
        if held.lock is not None and held.lock.stale is not None:
            reporter.note(f"a lock left by a dead process was released: "
                          f"{held.lock.stale.describe()}")
        applier = Applier(selection, held, reporter, allow_deletes=allow_deletes,
                          refresh=refresh, target_check=target_check,
                          allow_existing=allow_existing)
        try:
            for note in applier.settle():
                reporter.note(note)
            with ReadStatus(enabled=not json_out) as status:
                # the plan is shown before it is applied, except in JSON (which reports the
                # result only): sample rows are read only to be shown
                planned = applier.plan(saved, progress=status, with_samples=not json_out)
            if not json_out:
                render_plan(out, planned.plan)
            if planned.plan.has_changes and saved is None and not auto_approve and not planned.plan.blocked:
                _confirm()
            result = applier.apply(planned)
        finally:
            reporter.close()
            applier.close()
    return result, planned


def _confirm() -> None:
    if not sys.stdin.isatty():
        raise SyncError("refusing to apply without confirmation: stdin is not a terminal",
                        hint="review `syncer plan`, then pass --auto-approve (or apply a saved plan)")
    answer = typer.prompt("Apply these changes? Only 'yes' will be accepted", default="",
                          show_default=False)
    if answer.strip() != "yes":
        raise SyncError("apply cancelled; nothing was changed")
