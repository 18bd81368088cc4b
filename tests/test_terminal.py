"""What a person at a shell sees: plain output when asked for it, and a closed pipe (``syncer
plan | head``) that is not an error."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, Project
from tests.terminal import on_terminal, press_ctrl_c

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
    # a run that hangs (once, in a loaded CI run) is made to dump every thread's stack
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONFAULTHANDLER": "1"}
    try:
        process = subprocess.Popen([sys.executable, "-m", "syncer", *args], cwd=cwd, env=env,
                                   stdout=write, stderr=subprocess.PIPE)
        try:
            _, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)  # faulthandler prints the threads' stacks
            _, stderr = process.communicate(timeout=30)
            pytest.fail(f"syncer {' '.join(args)} hung; its threads:\n{stderr.decode()}")
        return subprocess.CompletedProcess(process.args, process.returncode, b"", stderr)
    finally:
        os.close(write)


@pytest.mark.parametrize("args", [["plan"], ["plan", "--json"], ["plan", "--format", "markdown"],
                                  ["apply", "--auto-approve"]])
def test_a_closed_pipe_is_not_an_error(shop: Project, args: list[str]) -> None:
    done = _closed_reader(args, shop.root)
    assert done.returncode == 0, done.stderr.decode()
    said = done.stderr.decode()
    assert "rror" not in said and "Traceback" not in said and "Interrupted" not in said, said
    if args[0] == "apply":  # the apply was not cut short by its output going nowhere
        assert shop.plan_json()["changes"] is False


# -- a large first load, watched and interrupted at a real terminal ---------------------------

ROWS = 1_200_000


@pytest.fixture
def big(project: Project) -> Project:
    import polars as pl

    n = ROWS
    pl.DataFrame({"id": range(n), "name": [f"item {i}" for i in range(n)],
                  "price": [i * 0.5 for i in range(n)]}).write_csv(project.data / "items.csv")
    project.manifest("version: 1\ntarget: {name: shop, type: sqlite, path: ../build/target.db}\n"
                     "datasets:\n  - name: items\n    source: ../data/items.csv\n"
                     "    mode: upsert\n    key: id\n"
                     "    columns: {id: integer, name: string, price: float}\n")
    return project


def test_progress_shows_rows_written_as_they_happen(big: Project) -> None:
    code, shown = on_terminal("apply", "--auto-approve", "--no-color", cwd=big.root, timeout=120)
    assert code == 0, shown
    counts = [int(c.replace(",", "")) for c in re.findall(r"([\d,]+)/1,200,000 rows", shown)]
    # the bar moved while the rows were written, not only at the end: some count between
    assert any(0 < c < ROWS for c in counts), shown[-3000:]
    assert "rows/s" in shown and "writing shop/items" in shown, shown[-3000:]


def test_ctrl_c_during_a_write_stops_rolls_back_and_says_what_was_applied(big: Project) -> None:
    pressed: list[float] = []

    def during(terminal: int, shown: str) -> None:
        import time

        if not pressed and re.search(r"[1-9][\d,]*/1,200,000 rows", shown):
            pressed.append(time.monotonic())
            press_ctrl_c(terminal)

    code, shown = on_terminal("apply", "--auto-approve", "--no-color", cwd=big.root,
                              timeout=120, during=during)
    import time

    assert pressed, shown[-3000:]
    assert time.monotonic() - pressed[0] < 5, "stopping took too long"
    assert code == 130, shown[-3000:]
    assert "Interrupted:" in shown and "interrupted: shop/items" in shown, shown[-3000:]
    assert "NOT_IMPLEMENTED" not in shown and "Traceback" not in shown
    history = big.syncer("history", "--state", big.state, "--json").json()
    assert history[0]["outcome"] == "interrupted", history[0]
    # the target's transaction was rolled back; the lock is free and the next apply finishes
    if big.target_db.exists() and _has_table(big):
        assert _count(big) == 0
    big.apply_ok()
    assert _count(big) == ROWS
    assert big.plan_json()["changes"] is False


def _has_table(project: Project) -> bool:
    import sqlite3

    with sqlite3.connect(project.target_db) as db:
        return db.execute("SELECT 1 FROM sqlite_master WHERE name='items'").fetchone() is not None


def _count(project: Project) -> int:
    import sqlite3

    with sqlite3.connect(project.target_db) as db:
        return int(db.execute("SELECT COUNT(*) FROM items").fetchone()[0])


def test_drift_shows_how_far_the_read_back_got(project: Project) -> None:
    import polars as pl

    n = 200_000
    pl.DataFrame({"id": range(n), "name": [f"item {i}" for i in range(n)]}).write_csv(
        project.data / "items.csv")
    project.manifest("version: 1\ntarget: {name: shop, type: sqlite, path: ../build/target.db}\n"
                     "datasets:\n  - {name: items, source: ../data/items.csv, mode: upsert, "
                     "key: id}\n")
    project.apply_ok()
    code, shown = on_terminal("drift", "--no-color", cwd=project.root, timeout=120)
    assert code == 0, shown[-2000:]
    counts = [int(c.replace(",", "")) for c in
              re.findall(r"reading back shop/items: ([\d,]+) rows", shown)]
    assert counts and min(counts) < n, shown[-2000:]
