#!/usr/bin/env python3
"""Rows per second into an HTTP target's emulator with a realistic round trip (``--latency-ms``).

Usage::

    python bench/http_throughput.py --rows 100000 [--latency-ms 20] [--runs 1]

For the hexabase target: starts ``syncer emulate hexabase --latency-ms 20`` (a datastore with the
bench's ten columns), then measures, as whole commands (process start to exit):

1. a first load: ``syncer apply`` of ``rows`` rows into the empty datastore;
2. a 1 % change: the bench's v2 (1 % changed, 0.5 % removed, 0.5 % added) applied over it.

For each: the wall time, rows per second (rows sent / seconds) and the requests the emulator
counted (``GET /_emulator/stats``).  Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import run as bench  # noqa: E402  (the bench's data generator)

TYPES = {"integer": "number", "float": "number", "string": "text", "date": "text",
         "boolean": "text"}


def schema_yaml() -> str:
    fields = "\n".join(
        f"          - {{display_id: {name}, name: {name}, dataType: {TYPES[kind]}"
        + (", unique: true}" if name == "id" else "}") for name, kind in bench.COLUMNS.items())
    return ("applications:\n  - id: bench\n    datastores:\n      - id: rows\n        fields:\n"
            f"{fields}\n")


def manifest(url: str) -> str:
    columns = "\n".join(f"      {name}: {kind}" for name, kind in bench.COLUMNS.items())
    return (f"version: 1\ntarget:\n  name: hx\n  type: hexabase\n  url: {url}\n"
            "  application: bench\n  token: hexabase-emulator-token\n"
            "datasets:\n  - name: rows\n    source: ../data/rows.csv\n    datastore: rows\n"
            f"    mode: upsert\n    key: [id]\n    delete_missing: true\n    columns:\n{columns}\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def requests_so_far(url: str) -> int:
    with urllib.request.urlopen(f"{url}/_emulator/stats") as reply:
        return int(json.load(reply)["requests"])


def timed_apply(project: Path, env: dict[str, str]) -> tuple[float, dict[str, int]]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "syncer", "apply", "--auto-approve",
        "--allow-deletes", "--json", "-m", "manifests", "--state", "state/syncer.db"],
        cwd=project, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"apply failed: {done.stderr[-2000:]}")
    counts = json.loads(done.stdout)["datasets"][0]
    return seconds, {k: counts[k] for k in ("inserts", "updates", "deletes")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--work", type=Path, default=BENCH_DIR / "data" / "http")
    args = parser.parse_args()
    work: Path = args.work.resolve()
    data = bench.generate(args.rows, work)
    project = work / "project"
    shutil.rmtree(project, ignore_errors=True)
    for sub in ("manifests", "data", "state", "emulator"):
        (project / sub).mkdir(parents=True)
    (project / "schema.yaml").write_text(schema_yaml())
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "NO_COLOR": "1"}
    emulator = subprocess.Popen(
        [sys.executable, "-m", "syncer", "emulate", "hexabase", "--port", str(port),
         "--schema", str(project / "schema.yaml"), "--data", str(project / "emulator"),
         "--latency-ms", str(args.latency_ms)], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                requests_so_far(url)
                break
            except OSError:
                time.sleep(0.1)
        (project / "manifests" / "hx.yaml").write_text(manifest(url))
        lines = ["| target | run | rows sent | seconds | rows/s | requests |", "|---|---|---:|---:|---:|---:|"]
        for label, source in (("first load", data.v1), ("1 % change", data.v2)):
            shutil.copyfile(source, project / "data" / "rows.csv")
            before = requests_so_far(url)
            seconds, counts = timed_apply(project, env)
            made = requests_so_far(url) - before
            sent = sum(counts.values())
            lines.append(f"| hexabase (--latency-ms {args.latency_ms}) | {label} "
                         f"(+{counts['inserts']:,} ~{counts['updates']:,} -{counts['deletes']:,}) "
                         f"| {sent:,} | {seconds:.1f} | {sent / seconds:,.0f} | {made} |")
            print(lines[-1], file=sys.stderr, flush=True)
        print("\n".join(lines))
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
