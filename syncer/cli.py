"""The command line: parse, call the runner, print.  Errors become exit codes here, in one place:
0 ok, 1 expected error (message, no traceback), 2 changes present (plan --detailed-exitcode),
3 a bug, 130 interrupted.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Optional

import click
import typer

from . import runner
from .errors import SyncError
from .plan import SavedPlan, markdown
from .project import json_schema
from .secrets import redact
from .ui import BarReporter, console, render_plan, render_result

app = typer.Typer(add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Keep data stores in line with the datasets declared in a Git repository.")
state_app = typer.Typer(no_args_is_help=True, help="Inspect and manage the state database.")
app.add_typer(state_app, name="state")
emulate_app = typer.Typer(no_args_is_help=True,
                          help="Serve a local emulator of a target's API (try targets without an account).")
app.add_typer(emulate_app, name="emulate")

Manifests = Annotated[Path, typer.Option("-m", "--manifests", help="Manifest directory (or one file).")]
StateOpt = Annotated[Optional[Path], typer.Option(
    "--state", help="State database (default: $SYNCER_STATE, else state/syncer.db).")]
TargetOpt = Annotated[Optional[str], typer.Option("--target", help="Only this target.")]
DatasetOpt = Annotated[Optional[str], typer.Option(
    "--dataset", help="Only this dataset (NAME or TARGET/NAME).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
NoColor = Annotated[bool, typer.Option("--no-color", help="Plain output (also: NO_COLOR=1).")]
AllowDeletes = Annotated[bool, typer.Option(
    "--allow-deletes", help="Allow plans that empty a dataset or delete more than max_delete.")]


def _selection(manifests: Path, state: Path | None, target: str | None,
               dataset: str | None) -> runner.Selection:
    return runner.Selection(manifests, runner.state_path(state), target, dataset)


@app.command()
def validate(manifests: Manifests = Path("manifests"), json_out: JsonOpt = False) -> None:
    """Check the manifests and that every source exists, without touching state or targets."""
    project, _ = runner.load(runner.Selection(manifests, Path(":memory:")))
    if json_out:
        print(json.dumps({"valid": True, "targets": len(project.targets),
                          "datasets": [d.id for d in project.datasets]}))
    else:
        console().print(f"[green]OK[/green]: {len(project.manifests)} manifest(s), "
                        f"{len(project.targets)} target(s), {len(project.datasets)} dataset(s).")


@app.command()
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
    no_color: NoColor = False,
) -> None:
    """Show what apply would change: per dataset, mode, +inserts ~updates -deletes, samples."""
    if fmt not in ("text", "json", "markdown"):
        raise SyncError(f"unknown --format '{fmt}'", hint="use text, json or markdown")
    selection = _selection(manifests, state, target, dataset)
    _, planned = runner.plan(selection, allow_deletes=allow_deletes)
    result = planned.plan
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


@app.command()
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
    lock_timeout: Annotated[float, typer.Option(
        "--lock-timeout", help="Wait up to SECONDS for another apply to finish.")] = 0.0,
    json_out: JsonOpt = False,
    no_color: NoColor = False,
) -> None:
    """Apply the changes: plan, confirm (unless --auto-approve or a plan file), then apply."""
    saved = SavedPlan.load(plan_file) if plan_file is not None else None
    if saved is not None:
        manifests = saved.manifests
    out = console(no_color=no_color)
    selection = _selection(manifests, state, target, dataset)
    reporter = BarReporter(enabled=not json_out)
    with runner.locked_state(selection.state, "apply", lock_timeout) as (store, lock):
        if lock.stale is not None:
            reporter.note(f"a lock left by a dead process was released: {lock.stale.describe()}")
        applier = runner.Applier(selection, store, reporter, allow_deletes=allow_deletes)
        try:
            for note in applier.settle():
                reporter.note(note)
            planned = applier.plan(saved)
            if not json_out:
                render_plan(out, planned.plan)
            if planned.plan.has_changes and saved is None and not auto_approve and not planned.plan.blocked:
                _confirm()
            result = applier.apply(planned)
        finally:
            applier.close()
    if json_out:
        print(json.dumps({"run_id": result.run_id,
                          "datasets": [d.to_json() for d in result.datasets]}))
    elif planned.plan.has_changes:
        render_result(out, result)


def _confirm() -> None:
    if not sys.stdin.isatty():
        raise SyncError("refusing to apply without confirmation: stdin is not a terminal",
                        hint="review `syncer plan`, then pass --auto-approve (or apply a saved plan)")
    answer = typer.prompt("Apply these changes? Only 'yes' will be accepted", default="",
                          show_default=False)
    if answer.strip() != "yes":
        raise SyncError("apply cancelled; nothing was changed")


@state_app.command("list")
def state_list(state: StateOpt = None, json_out: JsonOpt = False) -> None:
    """List the datasets recorded in the state."""
    from .state import StateStore

    with StateStore(runner.state_path(state), create=False) as store:
        items = store.datasets()
    if json_out:
        print(json.dumps([{"target": s.target, "dataset": s.dataset, "mode": s.mode,
                           "table": s.table_name, "rows": s.rows, "generation": s.generation,
                           "applied_at": s.applied_at} for s in items]))
        return
    out = console()
    if not items:
        out.print("The state holds no datasets.")
    for s in items:
        out.print(f"{s.id}  {s.mode}  table={s.table_name}  rows={s.rows}  "
                  f"generation={s.generation}  applied={s.applied_at}")


@state_app.command("show")
def state_show(
    dataset: Annotated[str, typer.Argument(help="TARGET/NAME or NAME.")],
    state: StateOpt = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows to print.")] = 20,
    json_out: JsonOpt = False,
) -> None:
    """Show one dataset's state record and its first applied rows."""
    from .state import StateStore

    with StateStore(runner.state_path(state), create=False) as store:
        match = [s for s in store.datasets() if dataset in (s.id, s.dataset)]
        if not match:
            raise SyncError(f"no dataset '{dataset}' in the state",
                            hint="see `syncer state list`")
        item = match[0]
        rows = store.snapshot(item.target, item.dataset)
    names = item.schema.names if item.schema else []
    sample = rows.select(names).head(limit).to_dicts() if rows is not None and names else []
    info = {"target": item.target, "dataset": item.dataset, "mode": item.mode,
            "table": item.table_name, "rows": item.rows, "generation": item.generation,
            "applied_at": item.applied_at,
            "columns": [[c.name, c.type] for c in item.schema.columns] if item.schema else [],
            "key": list(item.schema.key) if item.schema else [],
            "sources": [s.to_dict() for s in item.fingerprint or []]}
    if json_out:
        print(json.dumps({**info, "sample": sample}, default=str))
        return
    out = console()
    for name, value in info.items():
        out.print(f"{name}: {value}")
    for row in sample:
        out.print(f"  {row}")


@state_app.command("forget")
def state_forget(
    dataset: Annotated[str, typer.Argument(help="TARGET/NAME of the dataset to drop.")],
    state: StateOpt = None,
) -> None:
    """Drop a dataset from the state without touching its target."""
    with runner.locked_state(runner.state_path(state), "state forget") as (store, _):
        match = [s for s in store.datasets() if dataset in (s.id, s.dataset)]
        if not match:
            raise SyncError(f"no dataset '{dataset}' in the state", hint="see `syncer state list`")
        store.forget(match[0].target, match[0].dataset)
    console().print(f"Forgot {match[0].id}; its target data was left alone.")


@app.command()
def schema() -> None:
    """Print the JSON Schema of a manifest (for editors and CI checks)."""
    print(json.dumps(json_schema(), indent=2))


@emulate_app.command("hexabase")
def emulate_hexabase(
    port: Annotated[int, typer.Option("--port", help="TCP port on 127.0.0.1 (0: any free port).")] = 8765,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    data: Annotated[Optional[Path], typer.Option(
        "--data", help="Directory for the emulator's SQLite data (default: a temporary one).")] = None,
    token: Annotated[Optional[str], typer.Option(
        "--token", help="The one bearer token accepted (login with any e-mail and it as password).")] = None,
    schema_file: Annotated[Optional[Path], typer.Option(
        "--schema", help="YAML/JSON declaring applications, datastores and fields.")] = None,
    queue_delay: Annotated[float, typer.Option(
        "--queue-delay", help="Seconds a queued import waits before it runs.")] = 0.2,
    rate_429: Annotated[float, typer.Option("--rate-429", help="Fraction of requests answered 429.")] = 0.0,
    rate_500: Annotated[float, typer.Option("--rate-500", help="Fraction of requests answered 500.")] = 0.0,
    rate_drop: Annotated[float, typer.Option(
        "--rate-drop", help="Fraction of connections dropped without an answer.")] = 0.0,
    latency_ms: Annotated[int, typer.Option("--latency-ms", help="Delay added to every request.")] = 0,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed of the fault generator.")] = None,
) -> None:
    """Serve the Hexabase API emulator (ImportItems, queue, results, search, fields) until Ctrl-C."""
    from .emulators.base import FaultConfig
    from .emulators.hexabase import serve

    try:
        faults = FaultConfig(rate_429=rate_429, rate_500=rate_500, rate_drop=rate_drop,
                             latency_ms=latency_ms, seed=seed)
        serve(host, port, data, token, schema_file, faults, queue_delay)
    except (ValueError, OSError) as exc:
        raise SyncError(f"cannot start the emulator: {exc}") from None


try:  # typer >= 0.20 vendors its own click: its usage errors are not click's classes
    from typer._click.exceptions import ClickException as _TyperClickException
except ImportError:  # pragma: no cover - older typer raises click's own
    _TyperClickException = click.ClickException
_EXITS = (click.exceptions.Exit, typer.Exit)
_ABORTS = (click.exceptions.Abort, typer.Abort)
_USAGE_ERRORS = (click.ClickException, _TyperClickException)


def main() -> None:
    """Entry point: run the app and turn every outcome into an exit code."""
    try:
        # without standalone mode click *returns* the code of a typer.Exit (e.g. plan's 2)
        code = app(standalone_mode=False)
    except SyncError as exc:
        console(stderr=True).print(f"[bold red]Error:[/bold red] {_escape(redact(str(exc)))}")
        sys.exit(exc.exit_code)
    except _EXITS as exc:
        sys.exit(exc.exit_code)
    except _ABORTS:
        sys.exit(130)
    except _USAGE_ERRORS as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        console(stderr=True).print("Interrupted.")
        sys.exit(130)
    except Exception as exc:  # a bug: say so, show the trace only when asked
        message = redact(f"{type(exc).__name__}: {exc}")
        console(stderr=True).print(f"[bold red]Internal error (a bug in syncer):[/bold red] "
                                   f"{_escape(message)}")
        if os.environ.get("SYNCER_DEBUG"):
            sys.stderr.write(redact(traceback.format_exc()))
        else:
            sys.stderr.write("Set SYNCER_DEBUG=1 to see the traceback, and please report it.\n")
        sys.exit(3)
    sys.exit(code if isinstance(code, int) else 0)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
