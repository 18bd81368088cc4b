#!/usr/bin/env python3
"""Change-to-applied latency of ``syncer watch`` on the sqlite target.

Usage::

    python bench/watch_latency.py [--rows 10000] [--edits 40] [--out bench/WATCH_RESULTS.md]
                                  [--work DIR] [--no-baseline]

A project in a temporary directory holds one upsert dataset: a ``--rows`` CSV (an integer key
and five columns, ~60 bytes a row).  ``syncer watch`` runs as a real subprocess (JSON logs).
Each edit rewrites the whole file with one row's price changed, the way an editor or a
``git pull`` does, and the clock runs from just before the write until that new price can be
read from the target database (polled every 2 ms through its own connection).  Edits are spread
apart so that each one is its own change, not a batch.

The log gives the breakdown of every edit: write -> ``change`` event (file event, debounce,
filtering), the ``plan`` seconds (read the CSV, normalise, hash, diff against the state) and the
``apply`` seconds (target transaction plus the state commit).

With the default settings (``--debounce 50``, watchfiles step 20 ms) and, for comparison unless
``--no-baseline``, with watchfiles' own defaults (debounce 1600 ms, step 50 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
MANIFEST = """\
version: 1
target:
  name: bench
  type: sqlite
  path: ../target.db
datasets:
  - name: rows
    source: ../data/rows.csv
    mode: upsert
    key: id
    columns: {id: integer, name: string, price: float, qty: integer, active: boolean, day: date}
"""


@dataclass
class Config:
    label: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Sample:
    total: float        # write -> value visible in the target
    detect: float       # write -> change event logged
    plan: float
    apply: float


def make_rows(count: int, rng: random.Random) -> list[list[Any]]:
    return [[i, f"item-{i:06d}", round(rng.uniform(1, 500), 2), rng.randint(0, 99),
             rng.choice(["true", "false"]), f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}"]
            for i in range(count)]


def csv_text(rows: list[list[Any]]) -> str:
    return "id,name,price,qty,active,day\n" + "".join(
        ",".join(str(v) for v in row) + "\n" for row in rows)


def events(log: Path) -> list[dict[str, Any]]:
    found = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.002)
    raise TimeoutError(what)


def stamp(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def run_config(config: Config, rows: int, edits: int, work: Path) -> list[Sample]:
    root = Path(tempfile.mkdtemp(prefix="watch-bench-", dir=work))
    (root / "manifests").mkdir()
    (root / "data").mkdir()
    (root / "manifests" / "bench.yaml").write_text(MANIFEST)
    rng = random.Random(20240501)
    data = make_rows(rows, rng)
    source = root / "data" / "rows.csv"
    source.write_text(csv_text(data))
    log = root / "watch.log"
    env = {**os.environ, **config.env, "NO_COLOR": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_DIR), env.get("PYTHONPATH")]))
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "syncer", "watch", "-m", "manifests",
                                 "--state", "state.db", "--log-format", "json", *config.args],
                                cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    samples: list[Sample] = []
    try:
        wait_for(lambda: any(e.get("event") == "reconcile" for e in events(log)), 120,
                 "the first reconcile")
        db = sqlite3.connect(root / "target.db")
        for number in range(edits):
            row = rng.randrange(rows)
            price = round(data[row][2] + 1000 + number, 2)  # a value never seen before
            data[row][2] = price
            text = csv_text(data)
            applies_before = sum(1 for e in events(log) if e.get("event") == "apply")
            started, wall = time.perf_counter(), time.time()
            source.write_text(text)
            wait_for(lambda row=row, price=price: db.execute(
                "SELECT price FROM rows WHERE id=?", (row,)).fetchone() == (price,),
                30, f"edit {number}")
            total = time.perf_counter() - started
            applied = wait_for(lambda before=applies_before: [
                e for e in events(log) if e.get("event") == "apply"][before:], 10, "the apply event")
            mine = [e for e in events(log) if stamp(e["ts"]) >= wall - 0.001]
            change = next((e for e in mine if e.get("event") == "change"), None)
            plan = next((e for e in mine if e.get("event") == "plan"), {})
            samples.append(Sample(total, stamp(change["ts"]) - wall if change else float("nan"),
                                  plan.get("seconds", float("nan")), applied[0]["seconds"]))
            time.sleep(0.3)  # let the watcher go idle: every edit is its own change
        db.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    if proc.returncode != 0:
        raise RuntimeError(f"syncer watch exited {proc.returncode}:\n{log.read_text()}")
    return samples


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def ms(value: float) -> str:
    return f"{value * 1000:.0f} ms"


def report(results: dict[str, list[Sample]], configs: list[Config], rows: int,
           edits: int) -> str:
    import polars
    import watchfiles

    lines = [
        "# syncer watch: change-to-applied latency",
        "",
        f"Produced by `python bench/watch_latency.py --rows {rows} --edits {edits}` on "
        f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}. A benchmark, not a test: "
        "numbers depend on the machine and its load.",
        "",
        "## Machine",
        "",
        "| | |", "|---|---|",
        f"| os | {platform.platform()} |",
        f"| cpu_count | {os.cpu_count()} |",
        f"| load_average | {', '.join(f'{x:.2f}' for x in os.getloadavg())} |",
        f"| python | {platform.python_version()} |",
        f"| watchfiles | {watchfiles.__version__} |",
        f"| polars | {polars.__version__} |",
        "",
        "## Method",
        "",
        f"One upsert dataset of {rows:,} rows (6 typed columns) on the sqlite target. Each of "
        f"{edits} edits rewrites the whole CSV with one row's price changed; the latency runs "
        "from just before the write to the new value being readable in the target database "
        "(polled every 2 ms). `detect` is the write to the watcher's `change` log line (file "
        "event, debounce), `plan` and `apply` are the seconds the watcher logs for them.",
        "",
        "## Results",
        "",
        "| settings | median | p95 | min | max | detect (median) | plan (median) | apply (median) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for config in configs:
        samples = results[config.label]
        totals = [s.total for s in samples]
        lines.append(
            f"| {config.label} | **{ms(statistics.median(totals))}** | "
            f"**{ms(quantile(totals, 0.95))}** | {ms(min(totals))} | {ms(max(totals))} | "
            f"{ms(statistics.median(s.detect for s in samples))} | "
            f"{ms(statistics.median(s.plan for s in samples))} | "
            f"{ms(statistics.median(s.apply for s in samples))} |")
    default = results[configs[0].label]
    median = statistics.median(s.total for s in default)
    lines += ["", f"Target: below 300 ms median on the sqlite target with the defaults: "
              f"**{'PASS' if median < 0.3 else 'FAIL'}** ({ms(median)}).", "",
              "Every sample (seconds, defaults): "
              + ", ".join(f"{s.total:.3f}" for s in default), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--edits", type=int, default=40)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "WATCH_RESULTS.md")
    parser.add_argument("--work", type=Path, default=None, help="where the projects go")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the run with watchfiles' default debounce and step")
    args = parser.parse_args()
    configs = [Config("syncer defaults (debounce 50 ms, step 20 ms)", [])]
    if not args.no_baseline:
        configs.append(Config("watchfiles defaults (debounce 1600 ms, step 50 ms)",
                              ["--debounce", "1600"], {"SYNCER_WATCH_STEP": "50"}))
    results: dict[str, list[Sample]] = {}
    with tempfile.TemporaryDirectory(prefix="watch-bench-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for config in configs:
            print(f"{config.label}: {args.edits} edits of a {args.rows:,}-row CSV ...", flush=True)
            results[config.label] = run_config(config, args.rows, args.edits, work)
            totals = [s.total for s in results[config.label]]
            print(f"  median {ms(statistics.median(totals))}, p95 {ms(quantile(totals, 0.95))}",
                  flush=True)
    args.out.write_text(report(results, configs, args.rows, args.edits))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
