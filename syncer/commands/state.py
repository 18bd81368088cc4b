"""`syncer state ...`: inspect the state database, drop a dataset from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from .. import __version__
from ..state import open_state
from ..sync.session import session, state_path
from ..errors import SyncError
from ..model.markdown import format_value
from ..ui import console
from .options import JsonOpt, LockTimeout, NoColor, StateOpt

state_app = typer.Typer(no_args_is_help=True, help="Inspect and manage the state database.")


@state_app.command("list")
def state_list(state: StateOpt = None, json_out: JsonOpt = False, no_color: NoColor = False) -> None:
    """List the datasets recorded in the state."""
    with open_state(state_path(state), create=False) as store:
        items = store.datasets()
    if json_out:
        print(json.dumps([{"target": s.target, "dataset": s.dataset, "mode": s.mode,
                           "table": s.table_name, "rows": s.rows, "generation": s.generation,
                           "applied_at": s.applied_at} for s in items]))
        return
    out = console(no_color=no_color)
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
    no_color: NoColor = False,
) -> None:
    """Show one dataset's state record and its first applied rows."""
    with open_state(state_path(state), create=False) as store:
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
        print(json.dumps({"syncer_version": __version__, **info, "sample": sample}, default=str))
        return
    out = console(no_color=no_color)
    out.print(f"[bold]{escape(item.id)}[/bold] ({item.mode} -> {escape(item.table_name)})")
    out.print(f"  rows: {item.rows:,}   generation: {item.generation}   "
              f"applied: {item.applied_at or 'never'}")
    if item.schema is not None:
        columns = ", ".join(f"{c.name} ({c.type})" for c in item.schema.columns)
        out.print(f"  columns: {escape(columns)}")
        out.print(f"  key: {escape(', '.join(item.schema.key)) or '(none: the whole row)'}")
    for stamp in item.fingerprint or []:
        out.print(f"  source: {escape(str(stamp.path))} ({stamp.size:,} bytes)")
    if sample:
        out.print(_table(names, sample, item.rows))


@state_app.command("forget")
def state_forget(
    dataset: Annotated[str, typer.Argument(help="TARGET/NAME of the dataset to drop.")],
    state: StateOpt = None,
    lock_timeout: LockTimeout = 0.0,
    no_color: NoColor = False,
) -> None:
    """Drop a dataset from the state without touching its target."""
    with session(state_path(state), "state forget", write=True,
                 lock_timeout=lock_timeout) as held:
        match = [s for s in held.store.datasets() if dataset in (s.id, s.dataset)]
        if not match:
            raise SyncError(f"no dataset '{dataset}' in the state", hint="see `syncer state list`")
        held.store.forget(match[0].target, match[0].dataset)
    console(no_color=no_color).print(f"Forgot {match[0].id}; its target data was left alone.")


@state_app.command("copy")
def state_copy(
    source: Annotated[str, typer.Argument(help="The state to copy: a SQLite file or a "
                                                "postgresql:// URL.")],
    destination: Annotated[str, typer.Argument(help="Where to copy it (must not hold this "
                                                     "project yet): a file or a URL.")],
    lock_timeout: Annotated[float, typer.Option(
        "--lock-timeout", help="Wait up to SECONDS for an apply on either state to finish.")] = 0.0,
    no_color: NoColor = False,
) -> None:
    """Copy a whole state to another backend (SQLite to PostgreSQL and back), then verify it."""
    from ..state.copy import copy_state
    from ..state.store import ChunkStore

    with open_state(state_path(source), create=False) as origin, \
            origin.locked("state copy", lock_timeout), \
            open_state(state_path(destination)) as copy, copy.locked("state copy", lock_timeout):
        assert isinstance(origin, ChunkStore) and isinstance(copy, ChunkStore)
        checked = copy_state(origin, copy)
    console(no_color=no_color).print(
        f"Copied {checked.datasets} dataset(s) ({checked.rows} row(s) in their snapshots) and "
        f"{checked.runs} run(s) from {origin.location} to {copy.location}; the copy was verified.")


@state_app.command("backup")
def state_backup(
    file: Annotated[Path, typer.Argument(help="The copy to write (must not exist).")],
    state: StateOpt = None,
    no_color: NoColor = False,
) -> None:
    """Copy the state database to FILE, consistently, even while an apply or watch runs."""
    with open_state(state_path(state), create=False) as store:
        store.backup(file)
    console(no_color=no_color).print(f"Backed up the state to {file}.")


def _table(names: list[str], rows: list[dict[str, object]], total: int) -> Table:
    """The first applied rows as a table, each value as a plan shows it."""
    table = Table(caption=f"{len(rows):,} of {total:,} row(s)", show_edge=False)
    for name in names:
        table.add_column(escape(name))
    for row in rows:
        table.add_row(*(escape(format_value(row.get(name))) for name in names))
    return table
