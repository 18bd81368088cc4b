#!/usr/bin/env python3
"""Benchmark harness: syncer plan/apply against csv-diff, sqlite-utils and a plain executemany.

Usage::

    python bench/run.py --rows 1000000 [--runs 3] [--out bench/RESULTS.md] [--skip-peers]
                        [--work DIR] [--compare-to bench/results-1000000.json] [--regenerate]

Steps:

1. Generate (seeded, vectorised with numpy + polars) ``v1.csv``: an ``id`` key and nine mixed
   text/number/date/boolean columns, ~110 bytes a row; and ``v2.csv``: 1 % of the rows changed,
   0.5 % removed, 0.5 % added.  Files are cached in the work directory and reused while the row
   count, seed and generator version match.
2. Time every command in its own subprocess, through a tiny wrapper process that runs it and
   reports its wall time and the peak RSS of that one child (``getrusage(RUSAGE_CHILDREN)``
   in a fresh wrapper holds only that command's numbers).  Median of ``--runs`` runs.
3. Write ``RESULTS.md`` (machine, data, every measurement, the target ratios with PASS/FAIL)
   and the raw numbers as ``results-<rows>.json`` next to it.

Every syncer measurement starts from a prepared state (an empty project, or a copy of the state
and target databases that one apply of v1 produced), so nothing but the measured command is
inside the timing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
SEED = 20_240_501
GENERATOR_VERSION = 1           # bump when the generated data changes shape
CHANGED, REMOVED, ADDED = 0.01, 0.005, 0.005
NOT_INSTALLED = "not installed (pip install -r bench/requirements.txt)"
SKIPPED_PEERS = "skipped (--skip-peers)"
NOISY = 0.20                    # runs further apart than this (max-min over median) are noisy
GIB = 1024 ** 3
MIB = 1024 ** 2

# -- the generated data ---------------------------------------------------------------------

FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Sophia", "Elijah", "Mia", "Lucas",
    "Isabella", "Mateo", "Yuki", "Haruto", "Sakura", "Aarav", "Priya", "Chen", "Mei", "Omar",
    "Fatima", "Diego", "Lucia", "Ivan", "Olga", "Kwame", "Amara", "Lars", "Ingrid", "Tomasz",
    "Zofia", "Giulia", "Marco", "Chloe", "Louis", "Hannah", "Felix", "Nora", "Ahmed", "Layla",
)
LAST_NAMES = (
    "Smith", "Johnson", "Tanaka", "Suzuki", "Garcia", "Martinez", "Müller", "Schmidt", "Rossi",
    "Bianchi", "Dubois", "Moreau", "Kowalski", "Nowak", "Ivanov", "Petrov", "Kim", "Lee", "Park",
    "Wang", "Li", "Zhang", "Singh", "Patel", "Khan", "Silva", "Santos", "Okafor", "Mensah",
    "Andersen", "Nielsen", "Johansson", "O'Brien", "Murphy", "Cohen", "Levi", "Novak", "Horvat",
)
CITIES = (
    ("Tokyo", "JP"), ("Osaka", "JP"), ("Berlin", "DE"), ("Munich", "DE"), ("Paris", "FR"),
    ("Lyon", "FR"), ("Madrid", "ES"), ("Sevilla", "ES"), ("Rome", "IT"), ("Milan", "IT"),
    ("Warsaw", "PL"), ("Kraków", "PL"), ("London", "GB"), ("Leeds", "GB"), ("Dublin", "IE"),
    ("New York", "US"), ("Austin", "US"), ("Seattle", "US"), ("Toronto", "CA"), ("Lagos", "NG"),
    ("Accra", "GH"), ("Nairobi", "KE"), ("Mumbai", "IN"), ("Pune", "IN"), ("Seoul", "KR"),
    ("Busan", "KR"), ("São Paulo", "BR"), ("Lisbon", "PT"), ("Oslo", "NO"), ("Stockholm", "SE"),
)
DOMAINS = ("example.com", "mail.test", "corp.example", "shop.test", "inbox.example")
WORDS = (
    "blue", "large", "fragile", "express", "gift", "wrapped", "priority", "return", "bulk",
    "sample", "organic", "discount", "seasonal", "limited", "refurbished", "signed", "eco",
    "spare", "bundle", "premium", "standard", "backorder", "local", "imported", "handmade",
    "pickup", "weekend", "morning", "evening", "repeat", "new", "trial", "annual", "monthly",
)
COLUMNS: dict[str, str] = {     # name -> syncer column type (the manifest's `columns:`)
    "id": "integer", "name": "string", "email": "string", "city": "string",
    "country": "string", "price": "float", "quantity": "integer", "created": "date",
    "active": "boolean", "note": "string",
}
SQL_TYPES = {"integer": "INTEGER", "string": "TEXT", "float": "REAL", "date": "TEXT",
             "boolean": "INTEGER"}
DATE_FIRST_DAY = 16_436         # 2015-01-01 as days since 1970-01-01
DATE_SPAN_DAYS = 3_650


@dataclass(frozen=True)
class DataSet:
    """The two generated files and what differs between them."""

    rows: int
    v1: Path
    v2: Path
    v1_bytes: int
    v2_bytes: int
    v2_rows: int
    changed: int
    removed: int
    added: int
    seed: int = SEED
    generator_version: int = GENERATOR_VERSION

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["v1"], data["v2"] = str(self.v1), str(self.v2)
        return data


def change_counts(rows: int) -> tuple[int, int, int]:
    """Rows changed, removed and added between v1 and v2."""
    return round(rows * CHANGED), round(rows * REMOVED), round(rows * ADDED)


def make_rows(rng: Any, first_id: int, count: int) -> Any:
    """``count`` rows with ids ``first_id..``, every column drawn column-wise from ``rng``."""
    import numpy as np
    import polars as pl

    def pick(pool: Sequence[str], size: int) -> pl.Series:
        return pl.Series(list(pool), dtype=pl.String).gather(rng.integers(0, len(pool), size))

    city = rng.integers(0, len(CITIES), count)
    raw = pl.DataFrame({
        "id": np.arange(first_id, first_id + count, dtype=np.int64),
        "first": pick(FIRST_NAMES, count),
        "last": pick(LAST_NAMES, count),
        "number": rng.integers(100, 10_000, count),
        "domain": pick(DOMAINS, count),
        "city": pl.Series([c for c, _ in CITIES]).gather(city),
        "country": pl.Series([k for _, k in CITIES]).gather(city),
        "price": np.round(rng.lognormal(3.0, 1.0, count), 2),
        "quantity": rng.integers(0, 500, count),
        "created": (DATE_FIRST_DAY + rng.integers(0, DATE_SPAN_DAYS, count)).astype(np.int32),
        "active": rng.random(count) < 0.85,
        "w1": pick(WORDS, count), "w2": pick(WORDS, count), "w3": pick(WORDS, count),
        "w4": pick(WORDS, count),
        "comma": rng.random(count) < 0.2,
        "long": rng.random(count) < 0.25,
    })
    email_user = pl.concat_str([pl.col("first").str.to_lowercase(), pl.lit("."),
                                pl.col("last").str.to_lowercase().str.replace("'", ""),
                                pl.col("number").cast(pl.String)])
    note_sep = pl.when(pl.col("comma")).then(pl.lit(", ")).otherwise(pl.lit(" "))
    note_end = pl.when(pl.col("long")).then(pl.lit(" ") + pl.col("w4")).otherwise(pl.lit(""))
    return raw.select(
        "id",
        pl.concat_str([pl.col("first"), pl.lit(" "), pl.col("last")]).alias("name"),
        pl.concat_str([email_user, pl.lit("@"), pl.col("domain")]).alias("email"),
        "city", "country", "price", "quantity",
        pl.col("created").cast(pl.Date),
        "active",
        pl.concat_str([pl.col("w1"), pl.lit(" "), pl.col("w2"), note_sep, pl.col("w3"),
                       note_end]).alias("note"),
    )


def make_v2(v1: Any, rng: Any) -> Any:
    """v1 with 1 % of rows changed (price, quantity, active or note), 0.5 % removed, 0.5 % added."""
    import numpy as np
    import polars as pl

    n = v1.height
    n_changed, n_removed, n_added = change_counts(n)
    picks = rng.choice(n, n_changed + n_removed, replace=False)
    kind = np.full(n, -1, dtype=np.int8)
    kind[picks[:n_changed]] = rng.integers(0, 4, n_changed)
    removed = np.zeros(n, dtype=bool)
    removed[picks[n_changed:]] = True
    k = pl.col("_kind")
    changed = v1.with_columns(pl.Series("_kind", kind), pl.Series("_removed", removed)).with_columns(
        pl.when(k == 0).then(pl.col("price") + 1.25).otherwise(pl.col("price")).alias("price"),
        pl.when(k == 1).then(pl.col("quantity") + 1).otherwise(pl.col("quantity")).alias("quantity"),
        pl.when(k == 2).then(~pl.col("active")).otherwise(pl.col("active")).alias("active"),
        pl.when(k == 3).then(pl.col("note") + " (revised)").otherwise(pl.col("note")).alias("note"),
    ).filter(~pl.col("_removed")).drop("_kind", "_removed")
    return pl.concat([changed, make_rows(rng, n + 1, n_added)], how="vertical")


def write_csv(frame: Any, path: Path) -> None:
    """Write ``frame`` as CSV with two-decimal prices and ISO dates (atomically)."""
    partial = path.with_suffix(".partial")
    frame.write_csv(partial, float_precision=2, date_format="%Y-%m-%d")
    partial.replace(path)


def generate(rows: int, work: Path, regenerate: bool = False) -> DataSet:
    """Generate (or reuse) ``v1-<rows>.csv`` and ``v2-<rows>.csv`` in ``work``."""
    import numpy as np

    work.mkdir(parents=True, exist_ok=True)
    meta_path = work / f"data-{rows}.json"
    v1_path, v2_path = work / f"v1-{rows}.csv", work / f"v2-{rows}.csv"
    cached = _cached_data(meta_path, v1_path, v2_path)
    if cached is not None and not regenerate:
        log(f"data: reusing {v1_path.name} and {v2_path.name}")
        return cached
    log(f"data: generating {rows:,} rows (seed {SEED}) into {work}")
    rng = np.random.default_rng(SEED)
    v1 = make_rows(rng, 1, rows)
    write_csv(v1, v1_path)
    v2 = make_v2(v1, np.random.default_rng(SEED + 1))
    write_csv(v2, v2_path)
    changed, removed, added = change_counts(rows)
    data = DataSet(rows, v1_path, v2_path, v1_path.stat().st_size, v2_path.stat().st_size,
                   v2.height, changed, removed, added)
    meta_path.write_text(json.dumps(data.to_json(), indent=2) + "\n")
    return data


def _cached_data(meta: Path, v1: Path, v2: Path) -> DataSet | None:
    """The cached data set, when its description, seed, version and file sizes all match."""
    if not (meta.is_file() and v1.is_file() and v2.is_file()):
        return None
    try:
        info = json.loads(meta.read_text())
        data = DataSet(**{**info, "v1": v1, "v2": v2})
    except (ValueError, TypeError):
        return None
    fresh = (data.seed == SEED and data.generator_version == GENERATOR_VERSION
             and data.v1_bytes == v1.stat().st_size and data.v2_bytes == v2.stat().st_size)
    return data if fresh else None


# -- measuring one command -------------------------------------------------------------------

#: Runs argv[4:] with stdout/stderr to files; writes {seconds, maxrss_bytes, returncode} to argv[1].
#: A fresh wrapper per command, so RUSAGE_CHILDREN holds that one command's peak RSS only.
WRAPPER = r"""
import json, resource, subprocess, sys, time
result, out, err, cmd = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
with open(out, "wb") as stdout, open(err, "wb") as stderr:
    start = time.perf_counter()
    try:
        code = subprocess.call(cmd, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL)
    except OSError as exc:
        stderr.write(str(exc).encode())
        code = 127
    seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
peak *= 1 if sys.platform == "darwin" else 1024
with open(result, "w") as fh:
    json.dump({"seconds": seconds, "maxrss_bytes": peak, "returncode": code}, fh)
"""


@dataclass(frozen=True)
class Sample:
    """One run of one command."""

    seconds: float
    peak_bytes: int
    returncode: int
    stdout: str
    stderr: str


def run_measured(cmd: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> Sample:
    """Run ``cmd`` in a fresh wrapper process; return its wall time, peak RSS and output."""
    with tempfile.TemporaryDirectory(prefix="syncer-bench-") as tmp:
        result, out, err = Path(tmp, "result.json"), Path(tmp, "stdout"), Path(tmp, "stderr")
        subprocess.run([sys.executable, "-c", WRAPPER, str(result), str(out), str(err), *cmd],
                       cwd=cwd, env=env, check=True)
        info = json.loads(result.read_text())
        return Sample(info["seconds"], int(info["maxrss_bytes"]), int(info["returncode"]),
                      _read_output(out), _read_output(err))


def _read_output(path: Path, keep: int = 64 * 1024) -> str:
    """A command's output: whole when small, else its head and tail (csv-diff's can be MBs)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        if size <= 4 * keep:
            return handle.read().decode("utf-8", errors="replace")
        head = handle.read(keep)
        handle.seek(size - keep)
        tail = handle.read()
    skipped = f"\n[... {size - 2 * keep:,} bytes not kept ...]\n".encode()
    return (head + skipped + tail).decode("utf-8", errors="replace")


# -- measurements ----------------------------------------------------------------------------

@dataclass
class Measurement:
    """Every run of one benchmarked command, plus what its output was checked against."""

    key: str
    label: str
    command: str
    seconds: list[float] = field(default_factory=list)
    peaks_mb: list[float] = field(default_factory=list)
    status: str = "ok"
    check: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok" and bool(self.seconds)

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.ok else None

    @property
    def peak_mb(self) -> float | None:
        return max(self.peaks_mb) if self.ok else None

    @property
    def spread(self) -> float | None:
        """(max - min) / median of the runs: how far apart they were."""
        median = self.median
        return (max(self.seconds) - min(self.seconds)) / median if median else None

    @property
    def noisy(self) -> bool:
        """More than NOISY apart: the median is not quoted as a result, and a target that
        depends on it is reported as noisy, not as PASS or FAIL."""
        spread = self.spread
        return spread is not None and len(self.seconds) > 1 and spread > NOISY

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "median_seconds": self.median, "peak_mb": self.peak_mb,
                "min_seconds": min(self.seconds) if self.seconds else None,
                "max_seconds": max(self.seconds) if self.seconds else None,
                "spread": self.spread, "noisy": self.noisy}


Setup = Callable[[int], None]
Verify = Callable[[Sample], str]


def measure(m: Measurement, cmd: Sequence[str], cwd: Path, runs: int, *,
            setup: Setup | None = None, verify: Verify | None = None,
            env: dict[str, str] | None = None, first_run: int = 0) -> Measurement:
    """Run ``setup(run)`` (untimed) then ``cmd`` (timed) ``runs`` times; fill in ``m``."""
    for run in range(first_run, first_run + runs):
        if setup is not None:
            setup(run)
        sample = run_measured(cmd, cwd, env)
        if sample.returncode != 0:
            m.status = f"failed (exit {sample.returncode}): {_last_line(sample.stderr or sample.stdout)}"
            log(f"  {m.key}: {m.status}")
            return m
        try:
            m.check = verify(sample) if verify is not None else ""
        except (AssertionError, ValueError, KeyError) as exc:
            m.status = f"wrong output: {exc}"
            log(f"  {m.key}: {m.status}")
            return m
        m.seconds.append(round(sample.seconds, 4))
        m.peaks_mb.append(round(sample.peak_bytes / MIB, 1))
        log(f"  {m.key} run {len(m.seconds)}: {sample.seconds:.3f} s, "
            f"{sample.peak_bytes / MIB:.0f} MB")
    return m


@dataclass
class Job:
    """One command to measure within an interleaved group: how to prepare, run and check it."""

    m: Measurement
    cmd: Sequence[str]
    cwd: Path
    setup: Setup | None = None
    verify: Verify | None = None
    env: dict[str, str] | None = None
    runs: int | None = None     # fewer runs than the group's (a peer that takes minutes)


def interleave(jobs: Sequence[Job], runs: int) -> list[Measurement]:
    """Run the jobs in turn, A, B, C, A, B, C, ... ``runs`` times, so that a change in the
    machine's load during the group falls on every command alike; a job that failed drops out."""
    for run in range(runs):
        for job in jobs:
            if job.m.status != "ok" or run >= (job.runs or runs):
                continue
            measure(job.m, job.cmd, job.cwd, 1, setup=job.setup, verify=job.verify,
                    env=job.env, first_run=run)
    return [job.m for job in jobs]


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"


def find_tool(name: str) -> str | None:
    """A console script from this interpreter's environment first, else from PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.is_file() else shutil.which(name)


def reset_dir(path: Path) -> None:
    """Make ``path`` an empty directory."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


def empty_dir(path: Path) -> None:
    """Remove what ``path`` holds, keeping the folder itself (the folder above is not changed,
    as an apply does not change it: the plan's recipe, compiled from the folders up to the
    project root, stays valid)."""
    for entry in path.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


# -- peers -----------------------------------------------------------------------------------

#: directories searched first for the peers (``--peers``: a venv's bin/, kept out of syncer's)
PEER_DIRS: list[Path] = []


def peer_tool(name: str) -> str | None:
    for folder in PEER_DIRS:
        if (folder / name).is_file():
            return str(folder / name)
    return find_tool(name)


def peer_python_with(module: str) -> str | None:
    """A Python that can import ``module``: the peers' environment's first, else this one."""
    for python in [*(str(d / "python") for d in PEER_DIRS), sys.executable]:
        if Path(python).is_file() and subprocess.run(
                [python, "-c", f"import {module}"], capture_output=True).returncode == 0:
            return python
    return None


def csv_diff_jobs(data: DataSet, work: Path, skip: bool, slow_runs: int) -> list[Job]:
    """csv-diff v1.csv v2.csv --key id, with ``--format csv`` (its fastest mode: no dialect
    sniffing; the stated peer) and without (informational: it sniffs each file's first MB)."""
    plain = Measurement("csv_diff_no_sniff", "csv-diff --format csv",
                        "csv-diff v1.csv v2.csv --key id --format csv")
    stated = Measurement("csv_diff", "csv-diff (sniffing the dialect)",
                         "csv-diff v1.csv v2.csv --key id")
    tool = peer_tool("csv-diff")
    if skip or tool is None:
        plain.status = stated.status = SKIPPED_PEERS if skip else NOT_INSTALLED
        return [Job(plain, [], work), Job(stated, [], work)]
    cmd = [tool, str(data.v1), str(data.v2), "--key", "id"]

    def verify(sample: Sample) -> str:
        return _check_csv_diff(data, sample.stdout)

    return [Job(plain, [*cmd, "--format", "csv"], work, verify=verify),
            Job(stated, cmd, work, verify=verify, runs=slow_runs)]


#: argv: v1, v2.  Reads both files, hashes the value columns, joins on id, counts the changes.
DUCKDB = r"""
import json, sys, duckdb
values = "name, email, city, country, price, quantity, created, active, note"
a, b = sys.argv[1:3]
row = duckdb.sql(
    f"WITH a AS (SELECT id, hash({values}) AS h FROM read_csv('{a}')), "
    f"b AS (SELECT id, hash({values}) AS h FROM read_csv('{b}')) "
    "SELECT count(*) FILTER (WHERE a.id IS NULL), "
    "count(*) FILTER (WHERE a.id IS NOT NULL AND b.id IS NOT NULL AND a.h <> b.h), "
    "count(*) FILTER (WHERE b.id IS NULL) "
    "FROM a FULL OUTER JOIN b ON a.id = b.id").fetchall()[0]
print(json.dumps({"inserts": row[0], "updates": row[1], "deletes": row[2]}))
"""


def duckdb_job(data: DataSet, work: Path, skip: bool) -> Job:
    """DuckDB reading BOTH files and counting inserts/updates/deletes by hash() of the value
    columns joined on id: the fastest general tool for the plan's question."""
    m = Measurement("duckdb_diff", "DuckDB: both files, hash() of the values, joined on id",
                    "python -c 'duckdb.sql(read_csv(v1) FULL JOIN read_csv(v2) ON id, "
                    "counts by hash(values))'")
    python = None if skip else peer_python_with("duckdb")
    if python is None:
        m.status = SKIPPED_PEERS if skip else NOT_INSTALLED
        return Job(m, [], work)

    def verify(sample: Sample) -> str:
        found = json.loads(sample.stdout)
        return _expect((found["inserts"], found["updates"], found["deletes"]),
                       (data.added, data.changed, data.removed), "counted")

    return Job(m, [python, "-c", DUCKDB, str(data.v1), str(data.v2)], work, verify=verify)


def _check_csv_diff(data: DataSet, stdout: str) -> str:
    """csv-diff's first line: '<n> rows changed, <n> rows added, <n> rows removed'."""
    first = stdout.lstrip().split("\n", 1)[0]
    found = {what: int(n) for n, what in re.findall(r"(\d+) rows? (changed|added|removed)", first)}
    wanted = {"changed": data.changed, "added": data.added, "removed": data.removed}
    if found != wanted:
        raise AssertionError(f"csv-diff reported '{first}', expected {wanted}")
    return f"{first} as expected"


def sqlite_utils_jobs(data: DataSet, work: Path, skip: bool,
                      slow_runs: int) -> tuple[Job, Job]:
    """sqlite-utils insert of v1 into an empty db (the last one kept for the upsert), and
    upsert of v2 into a copy of it."""
    insert = Measurement("sqlite_utils_insert_v1", "sqlite-utils insert v1 (empty db)",
                         "sqlite-utils insert db.db rows v1.csv --csv --pk id")
    upsert = Measurement("sqlite_utils_upsert_v2", "sqlite-utils upsert v2 (after v1)",
                         "sqlite-utils upsert db.db rows v2.csv --csv --pk id")
    tool = peer_tool("sqlite-utils")
    place, saved = work / "sqlite-utils", work / "sqlite-utils-v1.db"
    if skip or tool is None:
        insert.status = upsert.status = SKIPPED_PEERS if skip else NOT_INSTALLED
        return Job(insert, [], place), Job(upsert, [], place)

    def kept(sample: Sample) -> str:
        note = _count_rows(place / "db.db", "rows", data.rows)
        shutil.copyfile(place / "db.db", saved)
        return note

    def from_v1(run: int) -> None:
        reset_dir(place)
        shutil.copyfile(saved, place / "db.db")

    # upsert has no deletes: the table ends with v1's rows plus v2's new ones
    return (Job(insert, [tool, "insert", "db.db", "rows", str(data.v1), "--csv", "--pk", "id"],
                place, setup=lambda run: reset_dir(place), verify=kept, runs=slow_runs),
            Job(upsert, [tool, "upsert", "db.db", "rows", str(data.v2), "--csv", "--pk", "id"],
                place, setup=from_v1, runs=slow_runs,
                verify=lambda s: _count_rows(place / "db.db", "rows", data.rows + data.added)))


def _count_rows(db_path: Path, table: str, expected: int) -> str:
    """Check a target table's row count; return a short note for the results."""
    with sqlite3.connect(db_path) as db:
        count = db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    if count != expected:
        raise AssertionError(f"{table} holds {count} rows, expected {expected}")
    return f"{count:,} rows in the table"


# -- plain sqlite3 executemany ---------------------------------------------------------------

#: argv: csv path, db path, CREATE TABLE statement.  csv.reader -> executemany, one transaction.
EXECUTEMANY = r"""
import csv, sqlite3, sys
source, target, ddl = sys.argv[1:4]
db = sqlite3.connect(target, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute(ddl)
with open(source, newline="", encoding="utf-8") as handle:
    reader = csv.reader(handle)
    header = next(reader)
    marks = ", ".join("?" for _ in header)
    db.execute("BEGIN")
    db.executemany(f'INSERT INTO "rows" VALUES ({marks})', reader)
    db.execute("COMMIT")
db.close()
"""


def create_table_sql() -> str:
    """The table syncer's sqlite target creates for the bench dataset (same types, same key)."""
    cols = ", ".join(f'"{name}" {SQL_TYPES[kind]}' for name, kind in COLUMNS.items())
    return f'CREATE TABLE "rows" ({cols}, PRIMARY KEY ("id"))'


def executemany_job(data: DataSet, work: Path) -> Job:
    """A plain Python sqlite3 load of v1: the floor for `syncer apply` into an empty target."""
    m = Measurement("executemany_v1", "sqlite3 executemany v1 (empty db)",
                    "python -c 'csv.reader -> executemany' v1.csv (one transaction)")
    place = work / "executemany"
    return Job(m, [sys.executable, "-c", EXECUTEMANY, str(data.v1), "db.db", create_table_sql()],
               place, setup=lambda run: reset_dir(place),
               verify=lambda s: _count_rows(place / "db.db", "rows", data.rows))


def python_job(work: Path, key: str = "python_pass") -> Job:
    """``python -c pass``: the interpreter's own start and exit, the floor under any command."""
    return Job(Measurement(key, "python -c pass", "python -c pass"),
               [sys.executable, "-c", "pass"], work)


# -- syncer ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SyncerProject:
    """A throwaway syncer project: one manifest, one CSV, a state db and a sqlite target."""

    root: Path
    command: tuple[str, ...]

    @property
    def source(self) -> Path:
        return self.root / "data" / "rows.csv"

    @property
    def state(self) -> Path:
        return self.root / "state" / "syncer.db"

    @property
    def target(self) -> Path:
        return self.root / "target" / "target.db"

    @property
    def baseline(self) -> Path:
        return self.root.parent / "syncer-baseline"

    def argv(self, *args: str) -> list[str]:
        return [*self.command, *args, "-m", "manifests", "--state", "state/syncer.db"]

    def create(self) -> None:
        """Write the manifest; remove any state, target and source."""
        reset_dir(self.root)
        for sub in ("manifests", "data", "state", "target"):
            (self.root / sub).mkdir()
        (self.root / "manifests" / "bench.yaml").write_text(manifest_text())
        # the project's root, as a checkout's .git marks it (else syncer looks in every
        # folder above, and a plan in /tmp is never remembered: /tmp changes all the time)
        (self.root / "syncer.yaml").write_text("project: bench\n")

    def empty(self, v1: Path) -> None:
        """No state, no target, the source holds v1 (for an apply into an empty target)."""
        for sub in ("state", "target"):
            reset_dir(self.root / sub)
        shutil.copyfile(v1, self.source)

    def save_baseline(self) -> None:
        """Keep the state, target and source (with its mtime) that one apply of v1 left."""
        reset_dir(self.baseline)
        for path in (self.source, *_db_files(self.state), *_db_files(self.target)):
            shutil.copy2(path, self.baseline / path.name)

    def restore_baseline(self, source: Path | None = None) -> None:
        """Back to "v1 applied"; then, when given, copy ``source`` over the data file (new
        fingerprint).  Without it the data file keeps the size and mtime the state recorded."""
        for sub in ("state", "target"):
            empty_dir(self.root / sub)
        for saved in self.baseline.iterdir():
            where = (self.source.parent if saved.name == self.source.name else
                     self.state.parent if saved.name.startswith(self.state.name) else
                     self.target.parent)
            shutil.copy2(saved, where / saved.name)
        if source is not None:
            shutil.copyfile(source, self.source)


def _db_files(path: Path) -> list[Path]:
    """A SQLite database and its WAL/SHM companions, when present."""
    return [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]


def manifest_text() -> str:
    """The bench manifest: one upsert dataset keyed by id, typed columns, a sqlite target."""
    columns = "\n".join(f"      {name}: {kind}" for name, kind in COLUMNS.items())
    return (
        "version: 1\n"
        "target:\n"
        "  name: bench\n"
        "  type: sqlite\n"
        "  path: ../target/target.db\n"
        "datasets:\n"
        "  - name: rows\n"
        "    source: ../data/rows.csv\n"
        "    table: rows\n"
        "    mode: upsert\n"
        "    key: [id]\n"
        "    delete_missing: true\n"
        "    columns:\n"
        f"{columns}\n"
    )


def syncer_command() -> tuple[str, ...]:
    """``python -m syncer``: the package this interpreter imports (PYTHONPATH first), never a
    ``syncer`` script of another checkout found on PATH; it runs what the script runs."""
    return (sys.executable, "-m", "syncer")


def syncer_env() -> dict[str, str]:
    """Every syncer run in full (SYNCER_NO_CACHE): only :func:`remembered_job` replays."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCER_")}
    # as a user's machine runs it: compiled modules cached (pip compiles an installed package;
    # a PYTHONDONTWRITEBYTECODE left set, as on some CI images, recompiles syncer's sources on
    # every run of an editable install: 70 ms of a no-change plan)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["NO_COLOR"] = "1"
    env["SYNCER_NO_CACHE"] = "1"
    return env


def remembered_job(project: SyncerProject, work: Path) -> Job:
    """``syncer plan`` run again with nothing changed: the plan before it was remembered
    (syncer/memo.py), and this run replays it.  Primes the cache: the baseline restored, its
    files left to settle (memo.SETTLE_NS), one plan, whose entry must exist."""
    from syncer.memo import SETTLE_NS

    cache = work / "cache"
    env = {k: v for k, v in syncer_env().items() if k != "SYNCER_NO_CACHE"}
    env["SYNCER_CACHE_DIR"] = str(cache)
    project.restore_baseline()
    shutil.rmtree(cache, ignore_errors=True)
    time.sleep(SETTLE_NS / 1e9 + 0.5)
    subprocess.run(project.argv("plan", "--json"), cwd=project.root, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    entries = list(cache.glob("plan-*.json"))

    def verify(sample: Sample) -> str:
        if len(entries) != 1:
            raise AssertionError(f"the priming plan left {len(entries)} cache entries, not 1")
        if json.loads(entries[0].read_text())["stdout"] != sample.stdout:
            raise AssertionError("the output is not the remembered one")
        return _expect(_plan_counts(sample.stdout)[1:], (0, 0, 0), "planned") + \
            "; the remembered plan, replayed"

    return Job(Measurement("syncer_plan_remembered", "syncer plan, nothing changed, again",
                           "syncer plan --json (the same plan run before it, remembered)"),
               project.argv("plan", "--json"), project.root, env=env, verify=verify)


def recipe_job(project: SyncerProject, work: Path) -> Job:
    """``syncer plan`` with nothing to do, the first after an apply: the state and the target
    are other files than the last plan saw (restored from the baseline before each run), so no
    plan is remembered; the manifests are as the plan before compiled them, so it is made from
    their recipe (syncer/quick.py).  Primed by one plan once the files settled."""
    from syncer import memo

    cache = work / "recipe-cache"
    env = {k: v for k, v in syncer_env().items() if k != "SYNCER_NO_CACHE"}
    env["SYNCER_CACHE_DIR"] = str(cache)
    project.restore_baseline()
    shutil.rmtree(cache, ignore_errors=True)
    time.sleep(memo.SETTLE_NS / 1e9 + 0.5)
    subprocess.run(project.argv("plan", "--json"), cwd=project.root, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def setup(run: int) -> None:
        project.restore_baseline()
        for entry in cache.glob("plan-*.json"):  # only the recipe: never a remembered plan
            entry.unlink()

    def verify(sample: Sample) -> str:
        recipes = list(cache.glob("recipe-*.json"))
        if len(recipes) != 1:
            raise AssertionError(f"the priming plan left {len(recipes)} recipes, not 1")
        if not memo.unchanged(json.loads(recipes[0].read_text())["inputs"]):
            raise AssertionError("the recipe's files changed: this was a full plan")
        return _expect(_plan_counts(sample.stdout)[1:], (0, 0, 0), "planned") + \
            "; made from the recipe (no remembered plan)"

    return Job(Measurement("syncer_plan_after_apply",
                           "syncer plan, nothing changed, the first after an apply",
                           "syncer plan --json (state and target restored: nothing remembered "
                           "matches; the manifests' recipe does)"),
               project.argv("plan", "--json"), project.root, env=env, setup=setup,
               verify=verify)


def _plan_counts(stdout: str) -> tuple[bool, int, int, int]:
    data = json.loads(stdout)
    sets = data["datasets"]
    return (bool(data["changes"]), sum(d["inserts"] for d in sets),
            sum(d["updates"] for d in sets), sum(d["deletes"] for d in sets))


def _apply_counts(stdout: str) -> tuple[int, int, int]:
    sets = json.loads(stdout)["datasets"]
    failed = [d for d in sets if d.get("error") or d.get("skipped")]
    if failed:
        raise AssertionError(f"apply reported {failed}")
    return (sum(d["inserts"] for d in sets), sum(d["updates"] for d in sets),
            sum(d["deletes"] for d in sets))


def _expect(found: tuple[int, ...], wanted: tuple[int, ...], what: str) -> str:
    if found != wanted:
        raise AssertionError(f"{what} +{found[0]} ~{found[1]} -{found[2]}, expected "
                             f"+{wanted[0]} ~{wanted[1]} -{wanted[2]}")
    return f"{what} +{found[0]:,} ~{found[1]:,} -{found[2]:,} as expected"


def _stat_only(project: SyncerProject) -> str:
    """Check that the source still has the size and mtime the state recorded (the no-read path)."""
    with sqlite3.connect(project.state) as db:
        (text,) = db.execute("SELECT fingerprint_json FROM datasets").fetchone()
    (stamp,) = json.loads(text)
    st = project.source.stat()
    if (stamp["size"], stamp["mtime_ns"]) != (st.st_size, st.st_mtime_ns):
        raise AssertionError("the source's size/mtime differ from the state's fingerprint, "
                             "so this was not the stat-only path")
    return "stat-only path (size and mtime match the state)"


def bench_all(data: DataSet, work: Path, runs: int, slow_runs: int,
              skip_peers: bool) -> list[Measurement]:
    """Every measurement, in five groups, each group interleaved (A, B, A, B, ...):
    first load (executemany, syncer apply v1, sqlite-utils insert); the plan of the change
    (csv-diff, DuckDB, syncer plan v2); nothing changed (python -c pass, syncer plan, and
    syncer plan --profile for the dataset's own time); nothing changed, run again (python -c
    pass, syncer plan remembered); incremental (sqlite-utils upsert, syncer apply v2).  Each
    syncer run starts from its own prepared state."""
    project = SyncerProject(work / "syncer", syncer_command())
    project.create()
    env = syncer_env()
    wanted = (data.added, data.changed, data.removed)
    apply_v1 = Job(
        Measurement("syncer_apply_v1", "syncer apply v1 (empty target)",
                    "syncer apply --auto-approve --json (empty state and target)"),
        project.argv("apply", "--auto-approve", "--json"), project.root, env=env,
        setup=lambda run: project.empty(data.v1),
        verify=lambda s: _expect(_apply_counts(s.stdout), (data.rows, 0, 0), "applied")
        + "; " + _count_rows(project.target, "rows", data.rows))
    insert, upsert = sqlite_utils_jobs(data, work, skip_peers, slow_runs)
    log("group: first load (executemany, syncer apply v1, sqlite-utils insert)")
    measured = interleave([executemany_job(data, work), apply_v1, insert], runs)

    plan_v2 = Job(Measurement("syncer_plan_v2", "syncer plan v2 (state of v1)",
                              "syncer plan --json --allow-deletes (v2 over the v1 source)"),
                  project.argv("plan", "--json", "--allow-deletes"), project.root, env=env,
                  setup=lambda run: project.restore_baseline(data.v2),
                  verify=lambda s: _expect(_plan_counts(s.stdout)[1:], wanted, "planned"))
    nochange = Job(Measurement("syncer_plan_nochange", "syncer plan, nothing changed, nothing "
                               "remembered", "SYNCER_NO_CACHE=1 syncer plan --json (source "
                               "and state of v1)"),
                   project.argv("plan", "--json"), project.root, env=env,
                   setup=lambda run: project.restore_baseline(),
                   verify=lambda s: _expect(_plan_counts(s.stdout)[1:], (0, 0, 0), "planned")
                   + "; " + _stat_only(project))
    own = Measurement("syncer_plan_nochange_dataset",
                      "syncer plan, nothing changed: the dataset's own time",
                      "the dataset's phases in `syncer plan --json --profile` (stat, state lookup)")
    profiled = Job(Measurement("syncer_plan_nochange_profile",
                               "syncer plan --profile, nothing changed",
                               "syncer plan --json --profile (source and state of v1)"),
                   project.argv("plan", "--json", "--profile"), project.root, env=env,
                   setup=lambda run: project.restore_baseline())

    def verify_profiled(sample: Sample) -> str:
        own.seconds.append(round(_dataset_seconds(sample.stderr), 4))
        own.peaks_mb.append(round(sample.peak_bytes / MIB, 1))
        own.check = "phases of bench/rows in the profile, summed"
        return _expect(_plan_counts(sample.stdout)[1:], (0, 0, 0), "planned")

    profiled.verify = verify_profiled
    apply_v2 = Job(Measurement("syncer_apply_v2", "syncer apply v2 (after v1)",
                               "syncer apply --auto-approve --allow-deletes --json (v2 over v1)"),
                   project.argv("apply", "--auto-approve", "--allow-deletes", "--json"),
                   project.root, env=env, setup=lambda run: project.restore_baseline(data.v2),
                   verify=lambda s: _expect(_apply_counts(s.stdout), wanted, "applied")
                   + "; " + _count_rows(project.target, "rows", data.v2_rows))
    later = [plan_v2.m, nochange.m, profiled.m, own, apply_v2.m]
    if not apply_v1.m.ok:
        for m in later:
            m.status = "skipped (syncer apply of v1 failed)"
        return [*measured, *later]
    project.empty(data.v1)
    subprocess.run(project.argv("apply", "--auto-approve", "--json"), cwd=project.root, env=env,
                   check=True, stdout=subprocess.DEVNULL)
    project.save_baseline()
    log("group: the plan of the change (csv-diff, DuckDB, syncer plan v2)")
    measured += interleave([*csv_diff_jobs(data, work, skip_peers, slow_runs),
                            duckdb_job(data, work, skip_peers), plan_v2], runs)
    log("group: nothing changed (python -c pass, syncer plan from the recipe, syncer plan "
        "with nothing remembered, syncer plan --profile)")
    measured += interleave([python_job(work), recipe_job(project, work), nochange, profiled],
                           runs)
    if not profiled.m.ok:
        own.status = "skipped (the profiled no-change plan failed)"
    log("group: nothing changed, run again (python -c pass, syncer plan remembered)")
    measured += interleave([python_job(work, "python_pass_again"),
                            remembered_job(project, work)], runs)
    log("group: incremental (sqlite-utils upsert, syncer apply v2)")
    measured += interleave([upsert, apply_v2], runs)
    return [*measured, own]


def _dataset_seconds(stderr: str, dataset: str = "bench/rows") -> float:
    """The seconds ``--profile`` gives the dataset's own phases (its table rows, summed)."""
    found = [float(cells[2]) for cells in (
        [c.strip() for c in re.split(r"[│|]", line)] for line in stderr.splitlines())
        if len(cells) >= 3 and cells[0] == dataset]
    if not found:
        raise AssertionError(f"no profile rows for {dataset} on stderr")
    return sum(found)


# -- targets ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Check:
    """One performance target: the ratio it is stated in, the goal and the verdict."""

    target: str
    measured: str
    goal: str
    verdict: str        # PASS, FAIL or "n/a (why)"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _missing(*ms: Measurement | None) -> str | None:
    for m in ms:
        if m is None:
            return "n/a (not measured)"
        if not m.ok:
            return f"n/a ({m.key}: {m.status})"
    return None


def _noisy(*ms: Measurement | None) -> str | None:
    """A verdict for a target that leans on a noisy measurement: not quoted as PASS/FAIL."""
    loud = [m for m in ms if m is not None and m.noisy]
    if not loud:
        return None
    return "noisy (" + ", ".join(f"{m.key}: runs {100 * (m.spread or 0):.0f} % apart"
                                 for m in loud) + "): run again on a quieter machine"


def _ratio_check(target: str, mine: Measurement | None, peer: Measurement | None,
                 goal: str, faster: float | None = None, slower: float | None = None,
                 informational: bool = False) -> Check:
    """syncer against a peer: ``faster`` = peer s / syncer s must reach it, or ``slower`` =
    syncer s / peer s must not exceed it."""
    why = _missing(mine, peer)
    if why:
        return Check(target, "-", goal, why)
    assert mine and peer and mine.median and peer.median
    if faster is not None:
        ratio, ok = peer.median / mine.median, peer.median / mine.median >= faster
        text = f"{ratio:.2f}x faster"
    else:
        ratio = mine.median / peer.median
        ok = ratio <= (slower or 1.0)
        text = f"{ratio:.2f}x the peer's time"
    measured = f"{text} ({mine.median:.3f} s vs {peer.median:.3f} s)"
    verdict = _noisy(mine, peer) or _verdict(ok)
    return Check(target, measured, goal, f"info: {verdict}" if informational else verdict)


def checks_1m(by_key: dict[str, Measurement]) -> list[Check]:
    """The goals of issue #22 at 1M rows, as whole-command medians (interpreter start included)."""
    get = by_key.get
    plan, plain = get("syncer_plan_v2"), get("csv_diff_no_sniff")
    out = [_ratio_check("plan of the change vs csv-diff --format csv: time", plan, plain,
                        ">= 10x faster", faster=10)]
    why = _missing(plan, plain)
    if why:
        out.append(Check("plan of the change vs csv-diff --format csv: peak memory", "-",
                         "<= 1/5", why))
    else:
        assert plan and plain and plan.peak_mb and plain.peak_mb
        share = plan.peak_mb / plain.peak_mb
        out.append(Check("plan of the change vs csv-diff --format csv: peak memory",
                         f"{share:.2f} ({plan.peak_mb:.0f} MB / {plain.peak_mb:.0f} MB)",
                         "<= 0.20 (1/5)", _verdict(share <= 0.2)))
    out.append(_ratio_check("plan of the change vs csv-diff (sniffing): time", plan,
                            get("csv_diff"), "(for the record)", faster=10, informational=True))
    out.append(_ratio_check("plan of the change vs DuckDB reading both files: time", plan,
                            get("duckdb_diff"), "<= 1.0x (as fast)", slower=1.0))
    python = get("python_pass")
    floor = f"; python -c pass {python.median:.3f} s" if python and python.median else ""
    for name, what, goal in (
            ("syncer_plan_after_apply", "the first after an apply: made from the recipe",
             True),
            ("syncer_plan_nochange", "nothing remembered at all (SYNCER_NO_CACHE=1)", False)):
        found = get(name)
        title = f"plan, nothing changed: whole command ({what})"
        wanted = "<= 0.15 s" if goal else "(for the record)"
        why = _missing(found)
        if why:
            out.append(Check(title, "-", wanted, why))
            continue
        assert found and found.median is not None
        verdict = (_noisy(found) or _verdict(found.median <= 0.15)) if goal else "info"
        out.append(Check(title, f"{found.median:.3f} s{floor}", wanted, verdict))
    again = get("syncer_plan_remembered")
    if not _missing(again):
        assert again and again.median is not None
        out.append(Check("plan, nothing changed: whole command (run again: the plan before "
                         "it remembered)", f"{again.median:.3f} s", "<= 0.15 s",
                         _noisy(again) or _verdict(again.median <= 0.15)))
    own = get("syncer_plan_nochange_dataset")
    if not _missing(own):
        assert own and own.median is not None
        out.append(Check("(for the record) plan, nothing changed: the dataset's own phases "
                         "(--profile)", f"{own.median:.4f} s", "-", "info"))
    out.append(_ratio_check("first load vs plain executemany: time", get("syncer_apply_v1"),
                            get("executemany_v1"), "<= 1.0x", slower=1.0))
    out.append(_ratio_check("incremental apply vs sqlite-utils upsert: time",
                            get("syncer_apply_v2"), get("sqlite_utils_upsert_v2"),
                            ">= 20x faster", faster=20))
    return out


SCALED = ("syncer_plan_v2", "syncer_apply_v1", "syncer_apply_v2")


def checks_scale(by_key: dict[str, Measurement], rows: int,
                 reference: dict[str, Any] | None) -> list[Check]:
    """The 10M-row targets: peak under 1 GB, and time within 1.1 x (rows / reference rows)."""
    out: list[Check] = []
    for key in SCALED:
        m = by_key.get(key)
        name = m.label if m else key
        why = _missing(m)
        if why or m is None or m.peak_mb is None:
            out.append(Check(f"{name}: peak memory", "-", "< 1024 MB", why or "n/a"))
            continue
        out.append(Check(f"{name}: peak memory", f"{m.peak_mb:.0f} MB", "< 1024 MB",
                         _verdict(m.peak_mb < GIB / MIB)))
    if reference is None:
        for key in SCALED:
            m = by_key.get(key)
            out.append(Check(f"{m.label if m else key}: time vs the 1M-row run", "-",
                             "<= 11x", "n/a (pass --compare-to bench/results-1000000.json)"))
        return out
    ref_rows = int(reference["rows"])
    limit = 1.1 * rows / ref_rows
    ref = reference.get("measurements", {})
    for key in SCALED:
        m, old = by_key.get(key), ref.get(key, {}).get("median_seconds")
        name = m.label if m else key
        why = _missing(m) or (None if old else f"n/a ({key} missing in the reference run)")
        if why or m is None or m.median is None or not old:
            out.append(Check(f"{name}: time vs {ref_rows:,} rows", "-", f"<= {limit:.1f}x",
                             why or "n/a"))
            continue
        ratio = m.median / float(old)
        out.append(Check(f"{name}: time at {rows:,} rows / time at {ref_rows:,} rows",
                         f"{ratio:.2f}x ({m.median:.3f} s / {float(old):.3f} s)",
                         f"<= {limit:.1f}x", _verdict(ratio <= limit)))
    return out


# -- machine and report ----------------------------------------------------------------------

def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _syncer_version() -> str:
    """The version of the syncer package the bench runs (``python -m syncer`` of this
    interpreter: the checkout on ``PYTHONPATH`` first); its distribution is ``syncer-data``, so
    asking the metadata for ``syncer`` found nothing."""
    try:
        from syncer import __version__
    except ImportError:
        return "not installed"
    return __version__


def _peer_version(package: str) -> str:
    """The version in the peers' environment (``--peers``), else in this one."""
    for folder in PEER_DIRS:
        python = folder / "python"
        if python.is_file():
            done = subprocess.run([str(python), "-c", "import importlib.metadata as m, sys; "
                                   "print(m.version(sys.argv[1]))", package],
                                  capture_output=True, text=True)
            if done.returncode == 0:
                return done.stdout.strip()
    return _version(package)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 ** 2:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _git_commit() -> str:
    try:
        head = subprocess.run(["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO_DIR), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True).stdout
        return head + (" (with uncommitted changes)" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on (load average: other work on the machine skews them)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "memory": _memory_gib(),
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "polars": _version("polars"),
        "pyarrow": _version("pyarrow"),
        "numpy": _version("numpy"),
        "syncer": _syncer_version(),
        "syncer_commit": _git_commit(),
        "csv-diff": _peer_version("csv-diff"),
        "sqlite-utils": _peer_version("sqlite-utils"),
        "duckdb": _peer_version("duckdb"),
    }


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _check_row(c: Check) -> str:
    return f"| {_cell(c.target)} | {_cell(c.measured)} | {_cell(c.goal)} | {_cell(c.verdict)} |"


def render_markdown(results: dict[str, Any], measurements: list[Measurement],
                    checks: list[Check], scale: list[Check]) -> str:
    """RESULTS.md: banner, machine, data, measurements, targets."""
    rows, runs, data, machine = results["rows"], results["runs"], results["data"], results["machine"]
    lines = ["# syncer benchmark results", ""]
    if results["smoke"]:
        lines += [f"> **Smoke run** ({rows:,} rows, {runs} run(s)): it checks that the harness "
                  "works end to end. The targets are stated for 1,000,000 and 10,000,000 rows; "
                  "these numbers are not the benchmark and the PASS/FAIL below are only "
                  "indicative.", ""]
    lines += [f"Produced by `{results['command']}`. Raw numbers: `{results['json_name']}`. "
              "How to read them: `bench/README.md`.", "", "## Machine", "",
              "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in machine.items()]
    lines += ["", "## Data", "",
              f"- rows: {rows:,} (seed {data['seed']}, generator v{data['generator_version']})",
              f"- v1.csv: {data['v1_bytes'] / MIB:.1f} MB, {data['v1_bytes'] / rows:.0f} bytes a row"
              " (10 columns: id, name, email, city, country, price, quantity, created, active, note)",
              f"- v2.csv: {data['v2_bytes'] / MIB:.1f} MB, {data['v2_rows']:,} rows: "
              f"{data['changed']:,} changed, {data['removed']:,} removed, {data['added']:,} added",
              "", "## Measurements", "",
              f"Whole commands (process start to exit), wall time and peak RSS of the command's "
              f"own process; median and min-max of {runs} run(s), run interleaved with the "
              f"peers of the same group (A, B, A, B, ...). A measurement whose runs are more "
              f"than {NOISY:.0%} apart (max - min over the median) is marked **noisy**: its "
              "median is not a result.", "",
              "| measurement | command | median s | min-max s | spread | peak MB | status | "
              "output check |",
              "|---|---|---:|---|---:|---:|---|---|"]
    for m in measurements:
        span = f"{min(m.seconds):.3f}-{max(m.seconds):.3f}" if m.seconds else "-"
        spread = "-" if m.spread is None else f"{m.spread:.0%}" + (" **noisy**" if m.noisy else "")
        lines.append(f"| {m.label} | `{m.command}` | {_fmt(m.median)} | {span} | {spread} | "
                     f"{_fmt(m.peak_mb, 0)} | {_cell(m.status)} | {_cell(m.check or '-')} |")
    lines += ["", "## Goals of issue #22 (stated for 1,000,000 rows; whole commands)", "",
              "| target | measured | goal | result |", "|---|---|---|---|"]
    lines += [_check_row(c) for c in checks]
    if scale:
        lines += ["", "## Scale targets (stated for 10,000,000 rows)", "",
                  "| target | measured | goal | result |", "|---|---|---|---|"]
        lines += [_check_row(c) for c in scale]
    return "\n".join(lines) + "\n"


# -- main ------------------------------------------------------------------------------------

def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in v1 (default 1000000)")
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (median; default 5)")
    parser.add_argument("--slow-peer-runs", type=int, default=3,
                        help="runs of the peers that take minutes (sqlite-utils, csv-diff "
                             "sniffing; default 3)")
    parser.add_argument("--peers", type=Path, action="append", default=[],
                        help="a bin/ directory holding the peers (csv-diff, sqlite-utils, a "
                             "python with duckdb), searched first; repeatable")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "RESULTS.md",
                        help="markdown report; results-<rows>.json is written next to it")
    parser.add_argument("--work", type=Path, default=BENCH_DIR / "data",
                        help="work directory for data, databases and projects (default bench/data)")
    parser.add_argument("--skip-peers", action="store_true", help="do not run csv-diff and sqlite-utils")
    parser.add_argument("--compare-to", type=Path, default=None,
                        help="results JSON of a smaller run (e.g. bench/results-1000000.json) "
                             "for the scale targets")
    parser.add_argument("--regenerate", action="store_true", help="regenerate the data files")
    args = parser.parse_args(argv)
    if args.rows < 1000:
        parser.error("--rows must be at least 1000")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def load_reference(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    reference: dict[str, Any] = json.loads(path.read_text())
    return reference


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    reference = load_reference(args.compare_to)
    work = args.work.resolve()
    PEER_DIRS[:] = [p.resolve() for p in args.peers]
    machine = machine_info()
    data = generate(args.rows, work, args.regenerate)
    measurements = bench_all(data, work, args.runs, min(args.slow_peer_runs, args.runs),
                             args.skip_peers)
    if hasattr(os, "getloadavg"):
        machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    by_key = {m.key: m for m in measurements}
    checks = checks_1m(by_key)
    scale = (checks_scale(by_key, args.rows, reference)
             if args.rows >= 10_000_000 or reference is not None else [])
    out: Path = args.out
    json_path = out.parent / f"results-{args.rows}.json"
    command = "python bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    results = {"rows": args.rows, "runs": args.runs, "smoke": args.rows < 1_000_000,
               "command": command.strip(), "json_name": json_path.name, "machine": machine,
               "data": data.to_json(), "measurements": {m.key: m.to_json() for m in measurements},
               "checks": [asdict(c) for c in checks], "scale_checks": [asdict(c) for c in scale],
               "compare_to": str(args.compare_to) if args.compare_to else None}
    out.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    out.write_text(render_markdown(results, measurements, checks, scale))
    log(f"wrote {out} and {json_path}")
    for c in [*checks, *scale]:
        log(f"  {c.verdict:>4}  {c.target}: {c.measured} (goal {c.goal})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
