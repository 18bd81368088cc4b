"""Every command and subcommand, and every option and argument, has help text."""

from __future__ import annotations

import re
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


# -- global options: completion, quiet/verbose, colour ------------------------------------------

def test_shell_completion_offers_commands_subcommands_and_options(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    # the installed entry point: completion is keyed on the program name (`_SYNCER_COMPLETE`)
    program = shutil.which("syncer", path=str(Path(sys.executable).parent)) or shutil.which("syncer")
    if program is None:
        pytest.skip("the `syncer` entry point is not installed")

    def complete(words: str, cword: int) -> list[str]:
        env = {**os.environ, "_SYNCER_COMPLETE": "complete_bash", "COMP_WORDS": words,
               "COMP_CWORD": str(cword)}
        done = subprocess.run([program], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout.split()

    assert {"init", "plan", "apply", "history", "state"} <= set(complete("syncer ", 1))
    assert complete("syncer state ", 2) == ["list", "show", "forget", "copy", "backup"]
    assert "--auto-approve" in complete("syncer apply --a", 2)
    assert any("--install-completion" in p.opts for p in ROOT.params)


def test_shell_completion_offers_the_declared_targets_and_datasets(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    program = shutil.which("syncer", path=str(Path(sys.executable).parent)) or shutil.which("syncer")
    if program is None:
        pytest.skip("the `syncer` entry point is not installed")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "a.yaml").write_text(
        "version: 1\ntarget: {name: shop, type: sqlite, path: a.db}\ndatasets:\n"
        "  - {name: products, source: p.csv}\n  - {name: prices, source: p.csv}\n")
    (tmp_path / "m" / "p.csv").write_text("x\n1\n")

    def complete(words: str, cword: int) -> list[str]:
        env = {**os.environ, "_SYNCER_COMPLETE": "complete_bash", "COMP_WORDS": words,
               "COMP_CWORD": str(cword)}
        done = subprocess.run([program], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout.split()

    assert complete("syncer plan -m m --target ", 5) == ["shop"]
    assert complete("syncer plan -m m --dataset pr", 5) == ["prices", "products"]
    assert complete("syncer adopt -m m shop/pri", 4) == ["shop/prices"]


@pytest.fixture
def applied(tmp_path, cli, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    assert cli("init").code == 0
    assert cli("apply", "--auto-approve").code == 0
    csv = tmp_path / "data" / "products.csv"
    csv.write_text(csv.read_text().replace("10.00", "11.00") + "C-300,Kettle,25.00,true,2024-06-01\n")
    return tmp_path


def test_quiet_shows_the_summary_only(cli, applied) -> None:  # type: ignore[no-untyped-def]
    normal = cli("plan")
    assert "example/products" in normal.out and "Plan: 1 to insert, 1 to update, 0 to delete." in normal.out
    quiet = cli("-q", "plan")
    assert quiet.code == 0, str(quiet)
    # the summary line says what the plan looked at (issue 16)
    assert quiet.out == "Plan: 1 to insert, 1 to update, 0 to delete. Targets checked: 1 of 1.\n"
    applied_quietly = cli("--quiet", "apply", "--auto-approve")
    assert applied_quietly.out.splitlines() == ["Plan: 1 to insert, 1 to update, 0 to delete. "
                                                "Targets checked: 1 of 1.",
                                                "Apply complete. 1 dataset(s) in sync."]
    assert cli("-q", "plan", "--json").json()["changes"] is False  # machine output unchanged


def test_quiet_never_hides_errors(cli, applied) -> None:  # type: ignore[no-untyped-def]
    (applied / "data" / "products.csv").write_text("sku,name,price,in_stock,released\n"
                                                 "A-100,x,not-a-number,true,2024-01-05\n")
    result = cli("-q", "plan")
    assert result.code == 1
    assert "not-a-number" in result.err


def test_verbose_adds_notes_and_timings(cli, applied) -> None:  # type: ignore[no-untyped-def]
    result = cli("-v", "apply", "--auto-approve")
    assert result.code == 0, str(result)
    assert "applying example/products: 2 row change(s)" in result.err
    assert re.search(r"example/products: 2 row change\(s\) sent in \d+\.\d\ds", result.err)
    assert re.search(r"syncer apply: \d+\.\d\ds", result.err)
    assert "Apply complete." in result.out
    assert cli("apply", "--auto-approve").err == ""  # without -v: no notes


def test_quiet_and_verbose_together_is_a_usage_error(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("-q", "-v", "plan")
    assert result.code == 2
    assert "either -q/--quiet or -v/--verbose" in result.output


@pytest.mark.parametrize("how", ["global", "command", "env"])
def test_no_color_means_no_escape_codes(tmp_path, how: str) -> None:  # type: ignore[no-untyped-def]
    assert run_subprocess("init", cwd=tmp_path).code == 0
    env = {"FORCE_COLOR": "1", "NO_COLOR": ""}  # a terminal as far as rich can tell
    coloured = run_subprocess("plan", cwd=tmp_path, env=env)
    assert "\x1b[" in coloured.out, "the baseline should be coloured"
    args = {"global": ("--no-color", "plan"), "command": ("plan", "--no-color"), "env": ("plan",)}[how]
    if how == "env":
        env["NO_COLOR"] = "1"
    plain = run_subprocess(*args, cwd=tmp_path, env=env)
    assert plain.code == 0, str(plain)
    assert "\x1b[" not in plain.out + plain.err
    assert "Plan: 3 to insert" in plain.out


def test_version_names_the_version_and_the_distribution(cli) -> None:  # type: ignore[no-untyped-def]
    import syncer

    result = cli("--version")
    assert result.code == 0, str(result)
    assert result.out.strip() == f"syncer {syncer.__version__} (syncer-data)"


def test_every_install_hint_names_the_distribution_on_pypi() -> None:
    """`pip install 'syncer[...]'` would install an unrelated project."""
    import re
    from pathlib import Path

    import syncer

    package = Path(syncer.__file__).parent
    hints = [(path.name, hint) for path in package.rglob("*.py")
             for hint in re.findall(r"pip install '([^'\[]+)\[", path.read_text())]
    assert hints, "no install hint found: the check would pass vacuously"
    assert all(name == syncer.DISTRIBUTION for _, name in hints), hints
