#!/usr/bin/env python3
"""What the target check costs a no-change plan (issue 16): ``syncer plan`` of an unchanged
source over a 1M-row SQLite table, with the check (the default: one ``COUNT(*)`` and the marker
row) and with ``--no-target-check``, run interleaved so both see the same machine load.

Usage::

    python bench/target_check.py [--rows 1000000] [--runs 5] [--work /tmp/benchdata]

The data is bench/run.py's generator (v1 only); one apply loads it first.  Each measurement is
the whole command in its own process (wall time), median of ``--runs``.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # noqa: E402  (bench/run.py: the generator and the manifest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path("/tmp/benchdata"))
    args = parser.parse_args()
    data = bench.generate(args.rows, args.work)
    root = args.work / "target-check"
    bench.reset_dir(root)
    for folder in ("manifests", "data", "target", "state"):
        (root / folder).mkdir(parents=True)
    (root / "manifests" / "bench.yaml").write_text(bench.manifest_text())
    source = root / "data" / "rows.csv"
    os.link(data.v1, source)  # inside the project (a symlink counts where it points)
    # this checkout's syncer (PYTHONPATH from the environment), not one found on PATH
    syncer = [sys.executable, "-m", "syncer"]
    where = ["-m", "manifests", "--state", "state/syncer.db"]
    env = bench.syncer_env()
    started = time.perf_counter()
    done = subprocess.run([*syncer, "apply", *where, "--auto-approve", "--json"], cwd=root,
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"apply failed: {done.stderr}")
    print(f"apply of v1: {time.perf_counter() - started:.1f}s", file=sys.stderr)
    checked: list[float] = []
    unchecked: list[float] = []
    for _ in range(args.runs):
        for flags, into in (([], checked), (["--no-target-check"], unchecked)):
            started = time.perf_counter()
            done = subprocess.run([*syncer, "plan", *where, "--json", *flags], cwd=root,
                                  env=env, capture_output=True, text=True, check=False)
            into.append(time.perf_counter() - started)
            plan = json.loads(done.stdout)
            assert done.returncode == 0 and plan["changes"] is False, done.stderr
            assert plan["targets_checked"] == (0 if flags else 1), plan
            assert plan["datasets"][0]["source_read"] is False  # the no-read path
    with sqlite3.connect(root / "target" / "target.db") as db:
        started = time.perf_counter()
        (count,) = db.execute('SELECT COUNT(*) FROM "rows"').fetchone()
        count_seconds = time.perf_counter() - started
    assert count == args.rows
    result = {"rows": args.rows, "runs": args.runs,
              "plan_checked_median": round(statistics.median(checked), 3),
              "plan_unchecked_median": round(statistics.median(unchecked), 3),
              "checked_runs": [round(s, 3) for s in checked],
              "unchecked_runs": [round(s, 3) for s in unchecked],
              "count_query_seconds": round(count_seconds, 4)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
