"""The command line: build the app from :mod:`syncer.commands` and turn every outcome into an
exit code, here and only here: 0 ok, 1 expected error (a message, no traceback), 2 changes
present (``plan --detailed-exitcode``) or a usage error, 3 a bug, 130 interrupted.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import traceback

import click
import typer

from .commands import apply, drift, history, init, plan, show, validate
from .commands.emulate import emulate_app
from .commands.options import global_options
from .commands.state import state_app
from .commands.watch import watch
from . import interrupts
from .errors import Interrupted, SyncError
from .secrets import redact
from .ui import console, silence

app = typer.Typer(add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Keep data stores in line with the datasets declared in a Git repository.")
app.callback()(global_options)
app.command()(init.init)
app.command()(validate.validate)
app.command()(plan.plan)
app.command()(apply.apply)
app.command()(watch)
app.command()(history.history)
app.command()(show.show)
app.command()(drift.drift)
app.command()(drift.adopt)
app.command()(validate.schema)
app.add_typer(state_app, name="state")
app.add_typer(emulate_app, name="emulate")

def _usage_errors() -> tuple[type[Exception], ...]:
    """click's usage errors, and those of the click that typer >= 0.20 vendors (other classes)."""
    try:
        from typer._click.exceptions import ClickException as Vendored
    except ImportError:  # pragma: no cover - older typer raises click's own
        return (click.ClickException,)
    return (click.ClickException, Vendored)


_EXITS = (click.exceptions.Exit, typer.Exit)
_ABORTS = (click.exceptions.Abort, typer.Abort)
_USAGE_ERRORS = _usage_errors()

def main() -> None:
    """Entry point: run the app and turn every outcome into an exit code."""
    try:
        # without standalone mode click *returns* the code of a typer.Exit (e.g. plan's 2)
        with interrupts.watching():
            code = app(standalone_mode=False)
    except SystemExit as exc:
        if isinstance(exc.__context__, BrokenPipeError):  # click's exit 1 on a closed pipe
            _closed_pipe()
        raise
    except Interrupted as exc:
        console(stderr=True).print(f"[bold]Interrupted:[/bold] {_escape(redact(str(exc)))}")
        sys.exit(exc.exit_code)
    except SyncError as exc:
        console(stderr=True).print(f"[bold red]Error:[/bold red] {_escape(redact(str(exc)))}")
        sys.exit(exc.exit_code)
    except _EXITS as exc:
        sys.exit(exc.exit_code)
    except _ABORTS:  # click's form of Ctrl-C (while reading, or at a prompt)
        console(stderr=True).print("Interrupted.")
        sys.exit(130)
    except _USAGE_ERRORS as exc:
        exc.show()  # type: ignore[attr-defined]  # every class in _USAGE_ERRORS has it
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    except KeyboardInterrupt:
        console(stderr=True).print("Interrupted.")
        sys.exit(130)
    except BrokenPipeError:
        _closed_pipe()
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


def _closed_pipe() -> None:
    """The reader stopped reading (``syncer plan --json | head``): not an error, and nothing
    more to say (exit 0, the rest of the output goes nowhere)."""
    silence(sys.stdout)
    sys.exit(0)


def run() -> None:
    """The ``syncer`` command: :func:`main`, then a quick exit.

    Tearing the interpreter down after polars and pyarrow are loaded (their module graphs
    freed one object at a time) takes 0.1-0.3 s, longer than a plan with nothing to do.  Every
    file and the state are closed by the commands themselves; the exit handlers (temporary
    files, logging) run here, the output is flushed, and the process leaves without the
    teardown.  While another non-daemon thread is running, it exits the usual way instead.
    """
    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if any(t.is_alive() and not t.daemon for t in threading.enumerate()
           if t is not threading.main_thread()):
        raise SystemExit(code)
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"): printed, exit 1 (as Python does)
        sys.stderr.write(f"{code}\n")
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`syncer plan | head`) or stream
            pass
    os._exit(code)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
