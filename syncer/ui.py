"""Terminal output: the Terraform-like plan, progress bars, summaries.  Rich lives only here."""

from __future__ import annotations

import os
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .executor import ApplyResult, Reporter
from .plan import Plan, format_value
from .planner import RowChange
from .secrets import redact

_OPS = {"+": "green", "~": "yellow", "-": "red"}


def console(stderr: bool = False, no_color: bool = False) -> Console:
    return Console(stderr=stderr, no_color=no_color or "NO_COLOR" in os.environ,
                   highlight=False, soft_wrap=True)


def render_plan(out: Console, plan: Plan) -> None:
    for d in plan.datasets:
        title = f"[bold]{escape(d.id)}[/bold] ({d.mode} -> {escape(d.table)})"
        if d.diff is None:
            out.print(f"  {title}: source unchanged")
            continue
        counts = (f"[green]+{d.inserts}[/green] [yellow]~{d.updates}[/yellow] "
                  f"[red]-{d.deletes}[/red]")
        out.print(f"  {title}: {counts}" + ("" if d.has_changes else "  (no changes)"))
        for sample in d.samples:
            out.print(f"      {_sample(sample)}")
        shown = sum(1 for _ in d.samples)
        more = d.inserts + d.updates + d.deletes - shown
        if d.samples and more > 0:
            out.print(f"      [dim]... and {more} more[/dim]")
        for warning in d.warnings:
            out.print(f"      [yellow]warning:[/yellow] {escape(redact(warning))}")
        if d.blocked:
            out.print(f"      [bold red]blocked:[/bold red] {escape(d.blocked)}")
    for orphan in plan.orphans:
        out.print(f"  [dim]{escape(orphan)}: orphaned (in the state, not in the manifests); "
                  "its target data is left alone[/dim]")
    inserts, updates, deletes = plan.totals()
    if not plan.has_changes:
        out.print("\n[bold]No changes.[/bold] The targets match the manifests.")
    else:
        out.print(f"\n[bold]Plan:[/bold] {inserts} to insert, {updates} to update, "
                  f"{deletes} to delete.")
    if plan.blocked:
        out.print(f"[bold red]{len(plan.blocked)} dataset(s) blocked by a safety guard.[/bold red]")


def _sample(sample: RowChange) -> str:
    colour = _OPS[sample.op]
    key = f"{escape(sample.key)} " if sample.key else ""
    if sample.op == "~":
        fields = ", ".join(f"{escape(f.column)}: {escape(format_value(f.old))} -> "
                           f"{escape(format_value(f.new))}" for f in sample.fields)
        body = fields
    else:
        body = ", ".join(f"{escape(n)}={escape(format_value(v))}" for n, v in sample.values)
    return f"[{colour}]{sample.op}[/{colour}] {key}{redact(body)}"


def render_result(out: Console, result: ApplyResult) -> None:
    for d in result.datasets:
        if d.error:
            out.print(f"  [red]x[/red] {escape(d.id)}: {escape(d.error)}")
        elif d.skipped:
            out.print(f"  [yellow]-[/yellow] {escape(d.id)}: skipped ({d.skipped})")
        elif d.inserts or d.updates or d.deletes:
            out.print(f"  [green]v[/green] {escape(d.id)}: +{d.inserts} ~{d.updates} -{d.deletes} "
                      f"in {d.seconds:.2f}s")
    ok = [d for d in result.datasets if not d.error]
    out.print(f"\n[bold]Apply complete.[/bold] {len(ok)} dataset(s) in sync." if not result.failed
              else f"\n[bold red]Apply finished with {len(result.failed)} failed dataset(s).[/bold red]")


class BarReporter(Reporter):
    """Progress bars on stderr, shown only on a terminal and for work worth watching."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._progress: Progress | None = None
        self._tasks: dict[str, Any] = {}

    def start(self, dataset_id: str, total: int) -> None:
        if not self.enabled or total < 1000:
            return
        if self._progress is None:
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                      MofNCompleteColumn(), TimeElapsedColumn(),
                                      console=Console(stderr=True), transient=True)
            self._progress.start()
        self._tasks[dataset_id] = self._progress.add_task(f"applying {dataset_id}", total=total)

    def advance(self, dataset_id: str, rows: int) -> None:
        if self._progress is not None and dataset_id in self._tasks:
            self._progress.advance(self._tasks[dataset_id], rows)

    def done(self, dataset_id: str) -> None:
        if self._progress is not None and dataset_id in self._tasks:
            self._progress.remove_task(self._tasks.pop(dataset_id))
        if self._progress is not None and not self._tasks:
            self._progress.stop()
            self._progress = None

    def note(self, message: str) -> None:
        Console(stderr=True).print(f"[dim]{escape(message)}[/dim]")
