"""Options shared by several commands, so every command spells them the same way."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import ui
from ..sync.session import Selection, state_path

Manifests = Annotated[Path, typer.Option("-m", "--manifests", help="Manifest directory (or one file).")]
StateOpt = Annotated[Optional[str], typer.Option(
    "--state", help="State: a SQLite file or a postgresql:// URL (default: $SYNCER_STATE, else "
                    "syncer.yaml's state:, else state/syncer.db).")]


def _declared(ctx: typer.Context) -> list[tuple[str, str]]:
    """(target, dataset) of every dataset in the manifests the command line names (or the
    default ones), for shell completion; nothing when they do not load."""
    from ..errors import SyncError
    from ..model.project import load_project

    try:
        project = load_project(Path(ctx.params.get("manifests") or "manifests"))
    except (SyncError, OSError):
        return []
    return [(d.target.name, d.name) for d in project.datasets]


def complete_targets(ctx: typer.Context, incomplete: str) -> list[str]:
    return sorted({t for t, _ in _declared(ctx) if t.startswith(incomplete)})


def complete_datasets(ctx: typer.Context, incomplete: str) -> list[str]:
    names = {n for _, n in _declared(ctx)} | {f"{t}/{n}" for t, n in _declared(ctx)}
    return sorted(n for n in names if n.startswith(incomplete))


TargetOpt = Annotated[Optional[str], typer.Option(
    "--target", help="Only this target.", autocompletion=complete_targets)]
DatasetOpt = Annotated[Optional[str], typer.Option(
    "--dataset", help="Only this dataset (NAME or TARGET/NAME).",
    autocompletion=complete_datasets)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
def _no_color(value: bool) -> bool:
    if value:
        ui.plain_output()
    return value


NoColor = Annotated[bool, typer.Option("--no-color", help="Plain output (also: NO_COLOR=1).",
                                       callback=_no_color)]
LockTimeout = Annotated[float, typer.Option(
    "--lock-timeout", help="Wait up to SECONDS for another apply to finish.")]
AllowDeletes = Annotated[bool, typer.Option(
    "--allow-deletes", help="Allow plans that empty a dataset or delete more than max_delete.")]


def _version(value: bool) -> None:
    if value:
        from .. import DISTRIBUTION, __version__

        print(f"syncer {__version__} ({DISTRIBUTION})")
        raise typer.Exit()


def global_options(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option(
        "--version", help="Print the version and exit.", is_eager=True,
        callback=_version)] = False,
    quiet: Annotated[bool, typer.Option(
        "-q", "--quiet", help="Show only summaries and errors (no plan body, no notes).")] = False,
    verbose: Annotated[bool, typer.Option(
        "-v", "--verbose", help="Also show notes: per-dataset progress, timings.")] = False,
    no_color: Annotated[bool, typer.Option(
        "--no-color", help="Plain output for every command (also: NO_COLOR=1).")] = False,
    env_file: Annotated[Optional[list[Path]], typer.Option(
        "--env-file", help="Read ${VAR}s from this file too (repeatable; never overrides the "
                           "environment; a .env beside the manifests is read anyway).")] = None,
) -> None:
    """Options for every command; they go before it: ``syncer -q plan``."""
    if quiet and verbose:
        raise typer.BadParameter("use either -q/--quiet or -v/--verbose", param_hint="-q/-v")
    # set on every invocation: an in-process caller (the tests) must not inherit the last level
    from ..model import project

    project.ENV_FILES[:] = env_file or []
    ui.configure(verbosity=ui.QUIET if quiet else ui.VERBOSE if verbose else ui.NORMAL,
                 no_color=no_color)
    if verbose:
        started = time.perf_counter()
        command = f"syncer {ctx.invoked_subcommand or ''}".rstrip()
        ctx.call_on_close(lambda: ui.note(f"{command}: {time.perf_counter() - started:.2f}s",
                                          level=ui.VERBOSE))


def selection(manifests: Path, state: str | None, target: str | None,
               dataset: str | None) -> Selection:
    return Selection(manifests, state_path(state, manifests), target, dataset)

ProfileOpt = Annotated[bool, typer.Option(
    "--profile", help="Print where the time went (read, snapshot, diff, write, state) to stderr.")]

Refresh = Annotated[bool, typer.Option(
    "--refresh", help="Read every target back: show drift (rows changed outside syncer) and plan "
                      "its repair.")]
