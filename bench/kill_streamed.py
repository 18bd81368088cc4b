"""SIGKILL during streamed batches: the journal written beside the load (syncer/sync/beside.py).

bench/torture.py's batches are small (a few thousand rows), below ``SLICE_ROWS`` (262,144), so
they never take the streamed path where the state's journal is written in a thread while the
target loads the same rows.  Here every version is large enough to: per trial, `snap` (replace)
gets 300,000 new rows, `items` (upsert) 270,000 new keys while the previous 270,000 are deleted,
and `log` (append) 270,000 new rows.  `syncer apply` is killed at a random moment of its run
(every third trial), or aimed with bench/torture.py's polling of the state: up to 0.4 s after
a journal entry is first seen open (the target still loading), or the moment the target shows
the batch committed while the journal entry is still open (landed, not folded), applied again (exit 0 expected), and the target compared with the declared rows: ids exactly
(items, snap) and, for the append, every row once (count, distinct ids, the id range).  The
state must count the same rows and the next plan must be empty.

    python bench/kill_streamed.py --sqlite 20 --postgres 20 --out /tmp/kill-streamed.md
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from torture import (LANDED, REPO, TARGETS, Journal, kill_when_open, run, sigkill,  # noqa: E402
                     syncer)

BIG, SNAP = 270_000, 300_000
DATASETS = """\
datasets:
  - name: items
    source: ../data/items.csv
    mode: upsert
    key: id
    allow_deletes: true
    columns: {id: string, v: string}
  - name: log
    source: ../data/log.csv
    mode: append
    columns: {id: string, v: string}
  - name: snap
    source: ../data/snap.csv
    mode: replace
    allow_deletes: true
    columns: {id: string, v: string}
"""


def write(path: Path, prefix: str, start: int, count: int, tag: str) -> None:
    with path.open("w") as out:
        out.write("id,v\n")
        out.writelines(f"{prefix}{i:09d},{tag}\n" for i in range(start, start + count))


class Declared:
    """What the manifests declare after ``version`` trials (ids only: values are the tag)."""

    def __init__(self) -> None:
        self.version = 0

    def write(self, data: Path) -> None:
        v = self.version
        write(data / "items.csv", "i", v * BIG, BIG, f"v{v}")
        # the append source holds this version's rows only: earlier ones were delivered
        write(data / "log.csv", "l", v * BIG, BIG, f"v{v}")
        write(data / "snap.csv", "s", v * SNAP, SNAP, f"v{v}")

    def expected(self) -> dict[str, tuple[int, int, str, str]]:
        """Per table: rows, distinct ids, smallest and largest id."""
        v = self.version
        return {"items": (BIG, BIG, f"i{v * BIG:09d}", f"i{v * BIG + BIG - 1:09d}"),
                "log": ((v + 1) * BIG, (v + 1) * BIG, f"l{0:09d}", f"l{(v + 1) * BIG - 1:09d}"),
                "snap": (SNAP, SNAP, f"s{v * SNAP:09d}", f"s{v * SNAP + SNAP - 1:09d}")}


SUMMARY = "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM {table}"


def held(kind: str, root: Path, server: Any) -> dict[str, tuple[Any, ...]]:
    out: dict[str, tuple[Any, ...]] = {}
    if kind == "sqlite":
        db = sqlite3.connect(root / "build" / "target.db")
        try:
            for name in ("items", "log", "snap"):
                out[name] = tuple(db.execute(SUMMARY.format(table=name)).fetchone())
        finally:
            db.close()
        return out
    import psycopg

    with psycopg.connect(server["url"], autocommit=True) as pg:
        for name in ("items", "log", "snap"):
            found = pg.execute(SUMMARY.format(table=f'"{server["schema"]}".{name}')).fetchone()
            out[name] = tuple(found or ())
    return out


def trials(kind: str, count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    results: list[dict[str, Any]] = []
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"kill-{kind}-")))
        for sub in ("manifests", "data", "build", "state"):
            (root / sub).mkdir()
        env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(REPO),
               "SYNCER_STATE": "state/s.db"}
        server: Any = None
        target = TARGETS[kind]
        if kind == "postgres":
            sys.path.insert(0, str(REPO))
            from tests import pg

            url = stack.enter_context(pg.server())
            server = {"url": url, "schema": f"kill_{os.getpid()}_{int(time.time())}"}
            env["TORTURE_PG_URL"] = url
            target = target.replace("{schema}", server["schema"])
        (root / "manifests" / "t.yaml").write_text(target + DATASETS)
        declared = Declared()
        declared.write(root / "data")
        started = time.monotonic()
        code, out = run(root, "apply", "--auto-approve", env=env)
        assert code == 0, out
        duration = time.monotonic() - started
        print(f"{kind}: first apply {duration:.1f} s", flush=True)
        for number in range(1, count + 1):
            declared.version += 1
            declared.write(root / "data")
            proc = syncer(root, "apply", "--auto-approve", env=env)
            aim = ("uniform", "open", "commit")[number % 3]
            aimed = aim != "uniform"
            if aimed:
                journal = Journal(root / "state" / "s.db")
                if aim == "open":  # the journal entry just written, the target still loading
                    delay = 0.4 * rng.random() ** 2
                    killed = kill_when_open(proc, journal, delay, time.monotonic() + 600)
                else:  # the target committed the batch, the state has not folded it yet
                    delay = 0.0
                    killed = kill_when_open(
                        proc, journal, 0.0, time.monotonic() + 600,
                        landed=lambda seen: LANDED[kind](root, server, seen))
                journal.close()
            else:  # any moment of the run
                delay = rng.uniform(0.3, duration * 1.1)
                try:
                    proc.wait(timeout=delay)
                    killed = False
                except subprocess.TimeoutExpired:
                    sigkill(proc)
                    killed = True
            proc.communicate()
            started = time.monotonic()
            code, out = run(root, "-v", "apply", "--auto-approve", env=env)
            duration = max(duration * 0.5, time.monotonic() - started)
            problems = [] if code == 0 else [f"re-apply exit {code}: {out[-400:]}"]
            got, want = held(kind, root, server), declared.expected()
            for name, summary in want.items():
                if got.get(name) != summary:
                    problems.append(f"{name}: holds {got.get(name)}, declared {summary}")
            plan_code, plan_out = run(root, "plan", "--detailed-exitcode", env=env)
            if plan_code != 0:
                problems.append(f"next plan not empty (exit {plan_code}): {plan_out[-300:]}")
            _code, listed = run(root, "state", "list", "--json", env=env)
            rows = {d["dataset"]: d["rows"] for d in json.loads(listed.splitlines()[-1])}
            for name, summary in want.items():
                if rows.get(name) != summary[0]:
                    problems.append(f"the state counts {rows.get(name)} {name} rows")
            landed, not_landed = out.count("it had landed"), out.count("it had not landed")
            results.append({"kind": kind, "trial": number, "killed": killed, "aimed": aimed,
                            "kill_after": round(delay, 2), "landed": landed,
                            "not_landed": not_landed, "problems": problems})
            how = {"uniform": "after ", "open": "open +", "commit": "commit "}[aim]
            print(f"{kind} #{number:3d} {'KILL' if killed else 'done'} {how}{delay:5.2f}s  "
                  f"settled: landed={landed} not landed={not_landed}  "
                  f"{'OK' if not problems else 'DIVERGED: ' + '; '.join(problems)}", flush=True)
    return results


def report(results: list[dict[str, Any]], seconds: float) -> str:
    lines = ["| target | trials | killed (aimed) | settled: landed | settled: not landed | "
             "divergences |", "|---|---:|---:|---:|---:|---:|"]
    for kind in dict.fromkeys(r["kind"] for r in results):
        mine = [r for r in results if r["kind"] == kind]
        lines.append(f"| {kind} | {len(mine)} | {sum(r['killed'] for r in mine)} "
                     f"({sum(r['killed'] and r['aimed'] for r in mine)}) | "
                     f"{sum(r['landed'] for r in mine)} | {sum(r['not_landed'] for r in mine)} | "
                     f"{sum(bool(r['problems']) for r in mine)} |")
    return "\n".join(lines) + f"\n\n{len(results)} trials in {seconds:.0f} s.\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite", type=int, default=15)
    parser.add_argument("--postgres", type=int, default=0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    started = time.monotonic()
    results = []
    for kind, count in (("sqlite", args.sqlite), ("postgres", args.postgres)):
        if count:
            results += trials(kind, count, args.seed)
    text = report(results, time.monotonic() - started)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 1 if any(r["problems"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
