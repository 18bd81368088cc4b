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

from collections.abc import Callable, Sequence
from typing import Any

import click
import typer

from . import interrupts
from .commands.options import global_options
from .errors import Interrupted, SyncError
from .secrets import redact
from .ui import console, silence

HELP = "Keep data stores in line with the datasets declared in a Git repository."


def _commands() -> dict[str, Callable[..., Any]]:
    """Every command, in the order ``--help`` lists them; imported only when asked for."""
    def plan() -> Any:
        from .commands import plan
        return plan.plan

    def apply() -> Any:
        from .commands import apply
        return apply.apply

    def init() -> Any:
        from .commands import init
        return init.init

    def validate() -> Any:
        from .commands import validate
        return validate.validate

    def schema() -> Any:
        from .commands import validate
        return validate.schema

    def watch() -> Any:
        from .commands.watch import watch
        return watch

    def history() -> Any:
        from .commands import history
        return history.history

    def show() -> Any:
        from .commands import show
        return show.show

    def drift() -> Any:
        from .commands import drift
        return drift.drift

    def adopt() -> Any:
        from .commands import drift
        return drift.adopt

    def state() -> Any:
        from .commands.state import state_app
        return state_app

    def emulate() -> Any:
        from .commands.emulate import emulate_app
        return emulate_app

    return {"init": init, "validate": validate, "plan": plan, "apply": apply, "watch": watch,
            "history": history, "show": show, "drift": drift, "adopt": adopt, "schema": schema,
            "state": state, "emulate": emulate}


GROUPS = ("state", "emulate")
#: global options that take a value (``--env-file FILE``): the word after them is not a command
VALUED = ("--env-file",)


def build_app(only: str | None = None) -> typer.Typer:
    """The typer app with every command, or with ``only`` that one (the others' modules are not
    imported and their parameters not inspected: a quicker start for the command being run)."""
    built = typer.Typer(add_completion=True, no_args_is_help=True,
                        pretty_exceptions_enable=False, help=HELP)
    built.callback()(global_options)
    for name, load in _commands().items():
        if only is not None and name != only:
            continue
        if name in GROUPS:
            built.add_typer(load(), name=name)
        else:
            built.command(name=name)(load())
    return built


def command_named(argv: Sequence[str]) -> str | None:
    """The command ``argv`` (without the program) runs, when it names a known one after the
    global options; None for help, completion, ``--version`` or a mistyped name (the full app
    answers those, listing every command)."""
    if os.environ.get("_SYNCER_COMPLETE"):
        return None
    words = iter(argv)
    for word in words:
        if word in VALUED:
            next(words, None)
        elif word.startswith("-"):
            if word in ("--help", "--version") or word.startswith("--install-completion") \
                    or word.startswith("--show-completion"):
                return None
        else:
            return word if word in _commands() else None
    return None


def __getattr__(name: str) -> Any:
    """``app``: the full app, for callers that drive it in-process (tests, docs)."""
    if name == "app":
        return build_app()
    raise AttributeError(name)


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
            code = build_app(command_named(sys.argv[1:]))(standalone_mode=False)
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


def run(before_exit: Callable[[int], None] | None = None) -> None:
    """The ``syncer`` command: :func:`main`, then a quick exit (``before_exit`` is told the
    exit code first: :mod:`syncer.launch` remembers a plan there).

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
    if before_exit is not None:
        before_exit(code)
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
