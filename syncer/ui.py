"""Terminal output: the Terraform-like plan, progress bars, summaries.  Rich lives only here.

How much is shown is one process-wide setting, made once by the CLI's global options
(``-q/--quiet``, ``-v/--verbose``, ``--no-color``) through :func:`configure`:

- quiet: summaries and errors only (no plan body, no per-dataset results, no notes);
- normal: the plan body, per-dataset results, and notes that matter (a settled batch, a stale lock);
- verbose: also per-dataset progress with timings and each command's duration.

Machine output (``--json``, ``--format markdown``) is never affected; errors are always shown.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from .model.markdown import format_value, markdown
from .model.plan import DatasetPlan, Plan
from .sync.progress import Reporter
from .secrets import redact

if TYPE_CHECKING:
    from rich.console import Console

    from .sync.execute import ApplyResult
    from .model.changes import RowChange

_OPS = {"+": "green", "~": "yellow", "-": "red"}

QUIET, NORMAL, VERBOSE = -1, 0, 1


@dataclass
class _Settings:
    verbosity: int = NORMAL
    no_color: bool = False


SETTINGS = _Settings()


def configure(*, verbosity: int = NORMAL, no_color: bool = False) -> None:
    """Set the output level and colour for this process (the CLI calls it once per command)."""
    SETTINGS.verbosity = max(QUIET, min(VERBOSE, verbosity))
    SETTINGS.no_color = no_color


def quiet() -> bool:
    return SETTINGS.verbosity <= QUIET


def verbose() -> bool:
    return SETTINGS.verbosity >= VERBOSE


def colour_disabled(no_color: bool = False) -> bool:
    """``--no-color`` on the command or globally, or ``NO_COLOR`` set to anything non-empty."""
    return no_color or SETTINGS.no_color or bool(os.environ.get("NO_COLOR"))


def plain_output() -> None:
    """``--no-color`` given to a command: plain output everywhere for the rest of the process
    (spinners and progress bars included, not only the command's own console)."""
    SETTINGS.no_color = True


def escape(text: str) -> str:
    """Text with rich's markup escaped (rich is imported on the first output that needs it)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


@cache
def _console_class() -> type[Console]:
    """rich's Console, told that a closed pipe is not an error; built on first use, so a
    command that prints nothing through rich (``plan --json``) never imports rich."""
    from rich.console import Console

    class QuietPipeConsole(Console):
        def on_broken_pipe(self) -> None:
            """A reader that stopped reading (``syncer plan | head``) is not an error: the rest
            of the output goes nowhere and the command finishes (an apply is not cut short)."""
            silence(self.file)

    return QuietPipeConsole


def silence(stream: Any) -> None:
    """Send whatever is still written to ``stream`` (stdout or stderr) to the null device."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, stream.fileno())
    except (OSError, ValueError):  # not a file descriptor (a test's capture)
        pass
    finally:
        os.close(devnull)


def console(stderr: bool = False, no_color: bool = False) -> Console:
    plain = colour_disabled(no_color)
    # no colour system at all: rich's no_color alone still writes bold and dim escapes
    return _console_class()(stderr=stderr, no_color=plain, color_system=None if plain else "auto",
                    highlight=False, soft_wrap=True)


def note(message: str, *, level: int = NORMAL) -> None:
    """A dim line on stderr, shown when the verbosity reaches ``level``."""
    if SETTINGS.verbosity < level:
        return
    if _plain_stderr() and not _EMOJI_CODE.search(message):
        # what rich would print here, without importing it: no colour, no wrapping, no markup
        try:
            sys.stderr.write(message + "\n")
            sys.stderr.flush()
        except BrokenPipeError:
            silence(sys.stderr)
        return
    console(stderr=True).print(f"[dim]{escape(message)}[/dim]")


#: rich would turn ``:name:`` into an emoji: such a message goes through rich
_EMOJI_CODE = re.compile(r":\S*?:")


def _plain_stderr() -> bool:
    """stderr gets no colour from rich: disabled, or not a terminal and no colour forced."""
    if colour_disabled():
        return True
    forced = any(os.environ.get(name) for name in ("FORCE_COLOR", "TTY_COMPATIBLE",
                                                    "TTY_INTERACTIVE"))
    try:
        return not forced and not sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def info(out: Console, text: str) -> None:
    """A line of human output that ``--quiet`` hides (detail, not a summary)."""
    if not quiet():
        out.print(text)


def show_plan(plan: Plan, *, json_out: bool, fmt: str, no_color: bool) -> None:
    """The plan on stdout, as asked: JSON, markdown, or the text a person reads."""
    if json_out:
        print(redact(json.dumps(plan.to_json(), default=str)))
    elif fmt == "markdown":
        print(markdown(plan), end="")
    else:
        render_plan(console(no_color=no_color), plan)


def render_plan(out: Console, plan: Plan) -> None:
    if not quiet() and any(d.drift is not None for d in plan.datasets):
        render_drift(out, plan)
    if not quiet():
        _render_plan_body(out, plan)
    _render_plan_summary(out, plan)


def _render_plan_body(out: Console, plan: Plan) -> None:
    for d in plan.datasets:
        title = f"[bold]{escape(d.id)}[/bold] ({d.mode} -> {escape(d.table)})"
        if not d.source_read:
            out.print(f"  {title}: source unchanged")
            _render_target(out, d)
            continue
        counts = (f"[green]+{d.inserts}[/green] [yellow]~{d.updates}[/yellow] "
                  f"[red]-{d.deletes}[/red]")
        out.print(f"  {title}: {counts}" + ("" if d.has_changes else "  (no changes)"))
        for sample in d.samples:
            out.print(f"      {sample_text(sample)}")
        shown = sum(1 for _ in d.samples)
        more = d.inserts + d.updates + d.deletes - shown
        if d.samples and more > 0:
            out.print(f"      [dim]... and {more} more[/dim]")
        for warning in d.warnings:
            out.print(f"      [yellow]warning:[/yellow] {escape(redact(warning))}")
        if d.blocked and not d.guard:
            out.print(f"      [bold red]blocked:[/bold red] {escape(d.blocked)}")
        _render_target(out, d)
    for orphan in plan.orphans:
        out.print(f"  [dim]{escape(orphan)}: orphaned (in the state, not in the manifests); "
                  "its target data is left alone[/dim]")
    out.print()


def _render_target(out: Console, d: DatasetPlan) -> None:
    """What the look at the dataset's target found, when it is not simply in order."""
    if d.moved_from is not None:
        out.print(f"      [yellow]moved:[/yellow] was {escape(d.moved_from)}, now "
                  f"{escape(d.moved_to or '?')}: a full load there; the old location is left as "
                  "it is (not deleted)")
    if d.guard:
        word = d.check.status if d.check is not None else "blocked"
        out.print(f"      [bold red]{word}:[/bold red] {escape(redact(d.guard))}")


def render_drift(out: Console, plan: Plan) -> None:
    """The drift section: per dataset read back, rows changed/added/removed outside syncer."""
    out.print("[bold]Drift[/bold] (the targets read back, against the state):")
    for d in plan.datasets:
        if d.drift is None:
            continue
        drift = d.drift
        if not drift.has_drift:
            out.print(f"  [bold]{escape(d.id)}[/bold]: no drift")
            continue
        out.print(f"  [bold]{escape(d.id)}[/bold]: [yellow]~{drift.changed} changed[/yellow] "
                  f"[green]+{drift.added} added[/green] [red]-{drift.removed} removed[/red] "
                  "outside syncer")
        for sample in drift.samples:
            out.print(f"      {sample_text(sample)}")
        more = drift.rows - len(drift.samples)
        if drift.samples and more > 0:
            out.print(f"      [dim]... and {more} more[/dim]")
    out.print()


def _render_plan_summary(out: Console, plan: Plan) -> None:
    inserts, updates, deletes = plan.totals()
    checked = escape(plan.checked_summary[0].upper() + plan.checked_summary[1:])
    if plan.in_sync:
        out.print(f"[bold]No changes.[/bold] The targets match the manifests. {checked}.")
    elif not plan.has_changes and not plan.blocked and not plan.attention:
        out.print(f"[bold]No changes[/bold] against the state. {checked}.")
    else:
        out.print(f"[bold]Plan:[/bold] {inserts} to insert, {updates} to update, "
                  f"{deletes} to delete. {checked}.")
    guarded = [d for d in plan.blocked if d.guard]
    if len(guarded) < len(plan.blocked):
        out.print(f"[bold red]{len(plan.blocked) - len(guarded)} dataset(s) blocked by a safety "
                  "guard.[/bold red]")
    if guarded:
        out.print(f"[bold red]{len(guarded)} dataset(s) blocked by what their target holds, "
                  "or could not be looked at (see above).[/bold red]")


def sample_text(sample: RowChange) -> str:
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
        if quiet() and not d.error:
            continue
        if d.error:
            out.print(f"  [red]x[/red] {escape(d.id)}: {escape(d.error)}")
        elif d.skipped:
            out.print(f"  [yellow]-[/yellow] {escape(d.id)}: skipped ({d.skipped})")
        elif d.inserts or d.updates or d.deletes:
            out.print(f"  [green]v[/green] {escape(d.id)}: +{d.inserts} ~{d.updates} -{d.deletes} "
                      f"in {d.seconds:.2f}s")
    ok = [d for d in result.datasets if not d.error]
    if not quiet():
        out.print()
    out.print(f"[bold]Apply complete.[/bold] {len(ok)} dataset(s) in sync." if not result.failed
              else f"[bold red]Apply finished with {len(result.failed)} failed dataset(s).[/bold red]")


def render_profile(rows: list[tuple[str, str, float, float]], elapsed: float) -> None:
    """The ``--profile`` table on stderr: seconds per dataset and phase, the process's peak
    memory when the phase ended, then the total."""
    from rich.table import Table

    from .profile import peak_mb

    table = Table(title="profile", show_edge=False)
    table.add_column("dataset")
    table.add_column("phase")
    table.add_column("seconds", justify="right")
    table.add_column("peak MB", justify="right")
    for dataset, name, seconds, peak in rows:
        table.add_row(escape(dataset), name, f"{seconds:.3f}", f"{peak:.0f}")
    table.add_row("", "command total", f"{elapsed:.3f}", f"{peak_mb():.0f}")
    console(stderr=True).print(table)


class ReadStatus:
    """A spinner on stderr naming the dataset being read, shown only on a terminal."""

    def __init__(self, enabled: bool = True) -> None:
        self._status: Any = None
        if enabled and sys.stderr.isatty():
            self._status = console(stderr=True).status("planning")

    def __enter__(self) -> ReadStatus:
        if self._status is not None:
            self._status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()

    def __call__(self, message: str) -> None:
        if self._status is not None:
            self._status.update(message)
