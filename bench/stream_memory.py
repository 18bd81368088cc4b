#!/usr/bin/env python3
"""Peak memory of a first load into Milvus Lite: the executor feeds the driver batches cut from
the rows read a slice at a time, so the peak should not grow with the number of rows.

Usage::

    python bench/stream_memory.py --rows 1000000 [--format parquet|jsonl] [--runs 1]
                                  [--syncer-path DIR ...]

Generates (seeded, vectorised) ``docs-<rows>.parquet`` (or ``.jsonl``): an integer ``id``, a
``title`` and an 8-dim ``embedding``; then runs ``syncer apply --auto-approve --json`` into a fresh Milvus Lite
file and reports the wall time and the peak RSS of the syncer process itself (``RUSAGE_SELF``
read at exit: Milvus Lite's server is a separate process, reported apart as the largest child).
``--syncer-path`` runs the same with another checkout of the package (a before/after pair),
interleaved.  Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
SEED = 22

MANIFEST = """version: 1
target:
  name: vectors
  type: milvus
  uri: ../lite/vectors.db
datasets:
  - name: docs
    source: ../data/docs.{ext}
    table: docs
    mode: upsert
    key: id
    columns:
      id: integer
      title: string
      embedding: {{type: vector, dim: 8}}
"""

#: runs syncer in this process; at exit writes its own peak RSS and its largest child's
RUNNER = r"""
import atexit, json, resource, sys
out = sys.argv[1]
sys.argv = ["syncer", *sys.argv[2:]]
def report():
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    with open(out, "w") as fh:
        json.dump({"self": own, "children": kids}, fh)
atexit.register(report)
from syncer.cli import run
run()
"""


def generate(rows: int, work: Path, fmt: str = "parquet") -> Path:
    import numpy as np
    import polars as pl

    path = work / f"docs-{rows}.{fmt}"
    if path.is_file():
        return path
    rng = np.random.default_rng(SEED)
    vectors = rng.random((rows, 8), dtype=np.float32)
    frame = pl.DataFrame({
        "id": np.arange(1, rows + 1, dtype=np.int64),
        "title": pl.Series(["doc"] * rows) + pl.Series(np.arange(rows)).cast(pl.String),
        "embedding": pl.Series("embedding", vectors.round(4)).cast(pl.List(pl.Float32)),
    })
    partial = path.with_suffix(".partial")
    if fmt == "jsonl":
        frame.write_ndjson(partial)
    else:
        frame.write_parquet(partial, row_group_size=100_000)
    partial.replace(path)
    return path


def one_run(source: Path, package: Path, work: Path) -> dict[str, float]:
    project = work / "project"
    shutil.rmtree(project, ignore_errors=True)
    for sub in ("manifests", "data", "lite", "state"):
        (project / sub).mkdir(parents=True)
    ext = source.suffix.lstrip(".")
    (project / "manifests" / "vectors.yaml").write_text(MANIFEST.format(ext=ext))
    os.link(source, project / "data" / f"docs.{ext}")
    env = {**os.environ, "PYTHONPATH": str(package), "NO_COLOR": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "rss.json"
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", RUNNER, str(result), "apply", "--auto-approve",
                               "--json", "-m", "manifests", "--state", "state/syncer.db"],
                              cwd=project, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"apply failed ({package}): {done.stderr[-2000:]}")
        applied = json.loads(done.stdout)["datasets"][0]["inserts"]
        rss = json.loads(result.read_text())
    return {"seconds": seconds, "self_mb": rss["self"] / 2**20,
            "children_mb": rss["children"] / 2**20, "inserts": applied}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--format", choices=("parquet", "jsonl"), default="parquet",
                        help="the source's format (both are streamed: see RESULTS)")
    parser.add_argument("--work", type=Path, default=BENCH_DIR / "data" / "stream")
    parser.add_argument("--syncer-path", type=Path, action="append", default=[],
                        help="a directory holding another `syncer` package (before/after)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    source = generate(args.rows, args.work, args.format)
    packages = [REPO_DIR, *args.syncer_path]
    runs: dict[Path, list[dict[str, float]]] = {p: [] for p in packages}
    for _ in range(args.runs):
        for package in packages:
            runs[package].append(one_run(source, package, args.work))
            print(package, runs[package][-1], file=sys.stderr, flush=True)
    print(f"| syncer | source | rows | seconds (median) | rows/s | peak MB (syncer process) | "
          "peak MB (largest child) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for package, found in runs.items():
        seconds = statistics.median(r["seconds"] for r in found)
        print(f"| {package} | {args.format} | {args.rows:,} | {seconds:.1f} | {args.rows / seconds:,.0f} | "
              f"{max(r['self_mb'] for r in found):.0f} | {max(r['children_mb'] for r in found):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
