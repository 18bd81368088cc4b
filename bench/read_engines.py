#!/usr/bin/env python3
"""The plan's read phase on other engines: which parses (and hashes) the bench's CSV fastest.

Usage::

    pip install -r bench/requirements.txt      # duckdb, beside syncer's own packages
    python bench/read_engines.py --file bench/data/v2.csv [--runs 5]

Each engine runs as a process of its own, interleaved with the others (A, B, C, A, B, C ...),
and reads the whole file into polars frames of one row per record (what the plan's read phase
needs next); every engine's row count is checked.  Reported per engine: the median and min-max
of the whole process (start to exit), of the import of its packages (for ``syncer-read``, with
the loading of the bench's manifest), and of the read itself, and the process's peak RSS.
Every engine runs with polars' allocator set as the ``syncer`` executable sets it.  The engines:

- ``pyarrow-serial``: pyarrow's streaming CSV reader on one thread, every column as text (the
  reader syncer falls back to);
- ``pyarrow-segments``: syncer's reader, pyarrow in 4 MB segments on every core
  (``syncer/sources/csv_parallel.py``), every column as text;
- ``polars-batched``: polars' own reader, ``scan_csv(...).collect_batches()``, as text;
- ``duckdb-text``: DuckDB's ``read_csv(all_varchar=true)``, record batches into polars;
- ``duckdb-hash``: DuckDB as the scan *and* hash engine: ``SELECT id, hash(values)`` over
  ``read_csv`` with its own type detection, into polars (no normalisation of its own);
- ``syncer-read``: syncer's whole read phase as the plan runs it: parse, normalise to the
  declared types, hash, and spool to Arrow IPC files (``stream_rows`` + ``Spool.write``).

The first five only parse (or parse and hash); ``syncer-read`` does the work a plan needs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

ENGINES = ("pyarrow-serial", "pyarrow-segments", "polars-batched", "duckdb-text", "duckdb-hash",
           "syncer-read")


def child(engine: str, path: Path) -> dict[str, float | int]:
    """Run one engine in this process; its import and read times and the rows it read."""
    started = time.perf_counter()
    rows = 0
    if engine == "syncer-read":
        from syncer.model.project import load_project
        from syncer.sources.rows import stream_rows
        from syncer.sources.spool import Spool
        from syncer.sync.diff import with_key_hash
        project = load_project(path)
        imported = time.perf_counter()
        spool = Spool()
        try:
            for block in stream_rows(project.datasets[0]).batches:
                rows += block.height
                spool.write(with_key_hash(block))
            spool.flush()
        finally:
            spool.close()
        return {"import": imported - started, "read": time.perf_counter() - imported,
                "rows": rows}
    import polars as pl
    with path.open(encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split(",")
    if engine.startswith("pyarrow"):
        import pyarrow as pa
        import pyarrow.csv as pacsv
        from syncer.sources.csv_parallel import arrow_options, parallel_blocks
        imported = time.perf_counter()
        options = arrow_options(header, "utf8", ",", '"', 4 << 20)
        if engine == "pyarrow-serial":
            reader = pacsv.open_csv(path, read_options=options[0], parse_options=options[1],
                                    convert_options=options[2])
            for batch in reader:
                frame = pl.from_arrow(pa.Table.from_batches([batch]))
                assert isinstance(frame, pl.DataFrame)
                rows += frame.height
        else:
            for frame in parallel_blocks(path, options):
                rows += frame.height
    elif engine == "polars-batched":
        imported = time.perf_counter()
        for frame in pl.scan_csv(path, infer_schema=False).collect_batches():
            rows += frame.height
    else:
        import duckdb
        imported = time.perf_counter()
        literal = str(path).replace("'", "''")
        if engine == "duckdb-text":
            query = f"SELECT * FROM read_csv('{literal}', all_varchar = true)"
        else:
            values = ", ".join(header[1:])
            query = f"SELECT {header[0]}, hash({values}) AS h FROM read_csv('{literal}')"
        relation = duckdb.sql(query)
        assert relation is not None  # (a query, not a statement)
        reader = relation.to_arrow_reader(1 << 20)
        for batch in reader:
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            rows += frame.height
    return {"import": imported - started, "read": time.perf_counter() - imported, "rows": rows}


def run_one(engine: str, target: Path) -> dict[str, float | int]:
    """One engine as a process of its own: wall time, peak RSS and what it reported."""
    from syncer.launch import ALLOCATOR

    # every engine with the allocator setting the syncer executable gives polars
    env = {**os.environ, ALLOCATOR[0]: os.environ.get(ALLOCATOR[0], ALLOCATOR[1])}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", engine, str(target)],
                            stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"{engine} failed with exit {proc.returncode}")
    result: dict[str, float | int] = json.loads(out)
    result["wall"] = wall
    result["peak_mb"] = usage.ru_maxrss // 1024
    return result


def project(root: Path, source: Path) -> Path:
    """The manifests of a bench project over ``source`` (bench/ab.py's, as run.py plans it)."""
    from ab import project as bench_project
    return bench_project(root, source) / "manifests"


def spread(values: list[float]) -> str:
    return f"{min(values):.3f}-{max(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, help="the CSV (bench/run.py's v1.csv or v2.csv)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]))))
        return
    if args.file is None:
        parser.error("--file is required")
    engines = args.engines.split(",")
    results: dict[str, list[dict[str, float | int]]] = {e: [] for e in engines}
    with tempfile.TemporaryDirectory(prefix="syncer-engines-") as tmp:
        manifests = project(Path(tmp) / "project", args.file.resolve())
        for _ in range(args.runs):
            for engine in engines:
                target = manifests if engine == "syncer-read" else args.file.resolve()
                results[engine].append(run_one(engine, target))
    print(f"{args.file}: median (min-max) of {args.runs} interleaved runs, seconds\n")
    print("| engine | rows | whole process | imports | read | peak MB |")
    print("|---|---:|---|---|---|---:|")
    for engine, runs in results.items():
        counts = {int(r["rows"]) for r in runs}
        walls = [float(r["wall"]) for r in runs]
        imports = [float(r["import"]) for r in runs]
        reads = [float(r["read"]) for r in runs]
        peak = max(int(r["peak_mb"]) for r in runs)
        print(f"| {engine} | {'/'.join(f'{c:,}' for c in sorted(counts))} "
              f"| {statistics.median(walls):.3f} ({spread(walls)}) "
              f"| {statistics.median(imports):.3f} ({spread(imports)}) "
              f"| {statistics.median(reads):.3f} ({spread(reads)}) | {peak} |")


if __name__ == "__main__":
    main()
