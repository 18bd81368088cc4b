"""`syncer history`: the applies recorded in the state, newest first.

Every apply writes a run before it sends anything (start, user, host, pid, the Git commit of the
manifests) and completes it afterwards (end, outcome, per-dataset counts).  A run that never
completed (the process was killed, or is still running) is shown as ``unfinished``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer

from ..state import open_state
from ..sync.session import state_path
from ..ui import console, info, verbose
from .options import DatasetOpt, JsonOpt, NoColor, StateOpt, TargetOpt


def history(
    state: StateOpt = None,
    target: TargetOpt = None,
    dataset: DatasetOpt = None,
    limit: Annotated[int, typer.Option(
        "--limit", "-n", help="Show the newest N runs (0: all).", min=0)] = 20,
    json_out: JsonOpt = False,
    no_color: NoColor = False,
) -> None:
    """List the recorded applies: when, who, where, Git commit, outcome, per-dataset counts."""
    with open_state(state_path(state), create=False) as store:
        runs = [_run(r) for r in reversed(store.runs())]
    if target or dataset:
        runs = [r for r in (_only(r, target, dataset) for r in runs) if r["datasets"]]
    if limit:
        runs = runs[:limit]
    if json_out:
        print(json.dumps(runs))
        return
    out = console(no_color=no_color)
    if not runs:
        out.print("No applies recorded" + (" for that selection." if target or dataset else "."))
    for r in runs:
        out.print(_headline(r))
        changed = [d for d in r["datasets"] if verbose() or _eventful(d)]
        for d in changed:
            info(out, f"    {d['target']}/{d['dataset']}  {_counts(d)}")
        quiet_ones = len(r["datasets"]) - len(changed)
        if quiet_ones:
            info(out, f"    [dim]({quiet_ones} dataset(s) without changes)[/dim]")


def _run(row: dict[str, Any]) -> dict[str, Any]:
    """A state ``runs`` row in the shape ``history --json`` promises."""
    datasets = []
    for entry in row.get("summary") or []:
        target, name = entry.get("target"), str(entry.get("dataset", ""))
        if target is None:  # recorded before 0.2: "target/dataset" in one field
            target, _, name = name.partition("/")
        datasets.append({"target": target, "dataset": name,
                         "inserts": entry.get("inserts", 0), "updates": entry.get("updates", 0),
                         "deletes": entry.get("deletes", 0), "seconds": entry.get("seconds"),
                         "error": entry.get("error"), "skipped": entry.get("skipped")})
    return {"run_id": row["id"], "command": row["command"], "started_at": row["started_at"],
            "finished_at": row["finished_at"],
            "seconds": _seconds(row["started_at"], row["finished_at"]),
            "user": row["user"], "host": row["host"], "pid": row["pid"],
            "git_commit": row["git_commit"],
            "git_dirty": None if row.get("git_dirty") is None else bool(row["git_dirty"]),
            "outcome": row["outcome"] or "unfinished",
            "datasets": datasets}


def _only(run: dict[str, Any], target: str | None, dataset: str | None) -> dict[str, Any]:
    def wanted(d: dict[str, Any]) -> bool:
        return ((target is None or d["target"] == target)
                and (dataset is None or dataset in (d["dataset"], f"{d['target']}/{d['dataset']}")))

    return {**run, "datasets": [d for d in run["datasets"] if wanted(d)]}


def _seconds(started: str | None, finished: str | None) -> float | None:
    if not started or not finished:
        return None
    try:
        return round((datetime.fromisoformat(finished) - datetime.fromisoformat(started))
                     .total_seconds(), 3)
    except ValueError:
        return None


def _eventful(d: dict[str, Any]) -> bool:
    return bool(d["inserts"] or d["updates"] or d["deletes"] or d["error"] or d["skipped"])


def _counts(d: dict[str, Any]) -> str:
    if d["error"]:
        return f"[red]failed[/red]: {_escape(d['error'].splitlines()[0])}"
    if d["skipped"]:
        return f"[yellow]skipped[/yellow] ({_escape(d['skipped'])})"
    text = (f"[green]+{d['inserts']}[/green] [yellow]~{d['updates']}[/yellow] "
            f"[red]-{d['deletes']}[/red]")
    return text if _eventful(d) else f"{text} [dim](no changes)[/dim]"


def _headline(r: dict[str, Any]) -> str:
    when = (r["started_at"] or "")[:19].replace("T", " ")
    colour = {"ok": "green", "failed": "red"}.get(r["outcome"], "yellow")
    took = f"{r['seconds']:.1f}s" if r["seconds"] is not None else "-"
    who = f"{r['user'] or '?'}@{r['host'] or '?'}"
    commit = (r["git_commit"] or "")[:12] or "no commit"
    if r["git_dirty"]:
        commit += "+dirty"
    return (f"{when} UTC  [{colour}]{r['outcome']:<10}[/{colour}] {took:>7}  {_escape(who)}  "
            f"{commit}  [dim]{r['command']} {r['run_id']}[/dim]")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
