"""What a person at a shell sees: plain output when asked for it, and a closed pipe (``syncer
plan | head``) that is not an error."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, Project
from tests.terminal import on_terminal

COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # SGR: colours, bold, dim


@pytest.fixture
def shop(project: Project) -> Project:
    project.write("items.csv", "id,name\n" + "".join(f"{i},item {i}\n" for i in range(50)))
    project.manifest("version: 1\ntarget: {name: shop, type: sqlite, path: ../build/target.db}\n"
                     "datasets:\n  - {name: items, source: ../data/items.csv, mode: upsert, "
                     "key: id}\n")
    return project


def test_a_terminal_shows_colour_by_default(shop: Project) -> None:
    code, shown = on_terminal("plan", cwd=shop.root)
    assert code == 0, shown
    assert COLOUR.search(shown), shown  # the check below would pass vacuously otherwise


@pytest.mark.parametrize("where", ["command", "global"])
def test_no_color_makes_the_spinner_and_the_plan_plain(shop: Project, where: str) -> None:
    args = ["plan", "--no-color"] if where == "command" else ["--no-color", "plan"]
    code, shown = on_terminal(*args, cwd=shop.root)
    assert code == 0, shown
    assert "planning" in shown or "reading" in shown, shown  # the spinner was drawn
    assert not COLOUR.search(shown), repr(shown)


def _closed_reader(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """Run syncer with its stdout on a pipe whose reader is already gone."""
    read, write = os.pipe()
    os.close(read)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        return subprocess.run([sys.executable, "-m", "syncer", *args], cwd=cwd, env=env,
                              stdout=write, stderr=subprocess.PIPE, timeout=60, check=False)
    finally:
        os.close(write)


@pytest.mark.parametrize("args", [["plan"], ["plan", "--json"], ["plan", "--format", "markdown"],
                                  ["apply", "--auto-approve"]])
def test_a_closed_pipe_is_not_an_error(shop: Project, args: list[str]) -> None:
    done = _closed_reader(args, shop.root)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stderr == b"", done.stderr.decode()
    if args[0] == "apply":  # the apply was not cut short by its output going nowhere
        assert shop.plan_json()["changes"] is False
