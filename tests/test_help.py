"""Every command and subcommand, and every option and argument, has help text."""

from __future__ import annotations

from collections.abc import Iterator

from typing import Any

import pytest
import typer

from syncer.cli import app
from tests.conftest import run_subprocess


def walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command under ``command`` (typer may vendor click, so no isinstance on click's)."""
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from walk(sub, (*path, name))


ROOT = typer.main.get_command(app)
COMMANDS = list(walk(ROOT))
IDS = [" ".join(path) or "syncer" for path, _ in COMMANDS]


def test_the_tree_is_walked() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"", "plan", "apply", "validate", "schema", "state", "state list", "state show",
            "state forget"} <= names


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_command_and_its_parameters_have_help(path: tuple[str, ...], command: Any) -> None:
    assert (command.help or "").strip() or (command.short_help or "").strip(), \
        f"`syncer {' '.join(path)}` has no help text"
    for param in command.params:
        text = getattr(param, "help", None)
        assert text and text.strip(), f"`syncer {' '.join(path)}`: {param.name} has no help text"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_help_option_prints_usage(cli, path: tuple[str, ...], command: Any) -> None:  # type: ignore[no-untyped-def]
    result = cli(*path, "--help")
    assert result.code == 0, str(result)
    assert "Usage:" in result.out
    first_line = (command.help or command.short_help or "").strip().splitlines()[0]
    assert first_line.split()[0] in result.out
    for param in command.params:
        if param.param_type_name == "option" and not param.hidden:
            assert any(opt in result.out for opt in param.opts), f"{param.opts} not in --help"


def test_help_in_a_subprocess(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = run_subprocess("--help", cwd=tmp_path)
    assert result.code == 0, str(result)
    assert "plan" in result.out and "apply" in result.out and "state" in result.out


@pytest.mark.parametrize("args", [("plan", "--bogus"), ("state", "show"), ("nosuchcommand",)])
def test_usage_errors_are_usage_errors_not_bugs(cli, args: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    result = cli(*args)
    assert result.code == 2, str(result)
    assert "Usage:" in result.output
    assert "Internal error" not in result.output and "Traceback" not in result.output


def test_no_arguments_shows_help(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli()
    assert "Usage:" in result.output and "plan" in result.output
    assert "Internal error" not in result.output
    assert result.code in (0, 2)


def test_emulate_hexabase_serves_and_stops_on_sigterm(tmp_path) -> None:
    """`syncer emulate hexabase` is a real server process: it answers login, and SIGTERM stops it."""
    import signal
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "syncer", "emulate", "hexabase", "--port",
                             str(port), "--data", str(tmp_path), "--token", "t0ken-for-test"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                reply = httpx.post(f"http://127.0.0.1:{port}/api/v0/login",
                                   json={"email": "a@b.c", "password": "t0ken-for-test"})
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "no server"
                time.sleep(0.1)
        assert reply.json() == {"token": "t0ken-for-test"}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
