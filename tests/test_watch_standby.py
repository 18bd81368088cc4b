"""Two ``syncer watch --standby`` on one PostgreSQL state: one holds the project's lock and works,
the other reports ``standby`` and takes over within ``--takeover-seconds`` of the active one
dying (SIGKILL, or its lock connection cut by the server); nothing is applied twice across a
handover (an append dataset, counted row by row in the target)."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.test_watch import Watch, eventually, write

MANIFEST = """\
version: 1
target: {name: shop, type: sqlite, path: ../build/target.db}
datasets:
  - name: log
    source: ../data/log.csv
    mode: append
    columns: {n: integer}
"""


def lines(count: int) -> str:
    return "n\n" + "".join(f"{i}\n" for i in range(count))


def rows(root: Path) -> list[int]:
    with sqlite3.connect(root / "build" / "target.db") as db:
        return [int(r[0]) for r in db.execute("SELECT n FROM log ORDER BY n")]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    write(tmp_path / "manifests" / "shop.yaml", MANIFEST)
    write(tmp_path / "data" / "log.csv", lines(3))
    return tmp_path


def start(repo: Path, url: str, *extra: str) -> Watch:
    return Watch(repo, "--standby", "--takeover-seconds", "15", "--interval", "3600", *extra,
                 env={"SYNCER_STATE": url}, state=None)


def health(watch: Watch) -> dict[str, Any]:
    return dict(httpx.get(watch.url + "/healthz", timeout=5).json())


def test_a_standby_takes_over_after_the_active_watcher_is_killed(repo: Path, pg_url: str) -> None:
    active = start(repo, pg_url)
    standby: Watch | None = None
    try:
        active.ready()
        assert rows(repo) == [0, 1, 2]
        standby = start(repo, pg_url)
        standby.wait_event("standby")
        assert health(standby)["status"] == "standby" and "watch" in health(standby)["active"]
        assert "syncer_watch_standby 1" in httpx.get(standby.url + "/metrics", timeout=5).text
        write(repo / "data" / "log.csv", lines(5))  # the active one delivers 3 and 4
        eventually(lambda: rows(repo) == [0, 1, 2, 3, 4], "the active watcher's apply")
        killed = time.monotonic()
        active.proc.send_signal(signal.SIGKILL)
        active.proc.wait(timeout=10)
        standby.wait_event("takeover")
        standby.wait_event("reconcile", reason="start")
        assert time.monotonic() - killed < 15, "the standby took too long to take over"
        assert health(standby)["status"] == "ok"
        write(repo / "data" / "log.csv", lines(7))
        eventually(lambda: rows(repo) == list(range(7)), "the new active watcher's apply")
        time.sleep(0.5)
        assert rows(repo) == list(range(7))  # nothing delivered twice across the handover
    finally:
        for watch in (active, standby):
            if watch is not None:
                watch.kill()


def test_a_watcher_whose_lock_connection_is_cut_stops_working(repo: Path, pg_url: str,
                                                              pg_server: str) -> None:
    active = start(repo, pg_url)
    standby: Watch | None = None
    try:
        active.ready()
        standby = start(repo, pg_url)
        standby.wait_event("standby")
        schema = pg_url.split("schema=")[1].split("&")[0]
        with psycopg.connect(pg_server, autocommit=True) as db:  # the server cuts the lock off
            cut = db.execute("SELECT pg_terminate_backend(backend_pid) FROM "
                             f'"{schema}".lock_holders').fetchall()
        assert cut == [(True,)], cut
        standby.wait_event("takeover")
        eventually(lambda: active.events("standby"), "the cut-off watcher standing by")
        write(repo / "data" / "log.csv", lines(6))
        eventually(lambda: rows(repo) == list(range(6)), "the apply after the handover")
        time.sleep(1.0)
        assert rows(repo) == list(range(6))
    finally:
        for watch in (active, standby):
            if watch is not None:
                watch.kill()
