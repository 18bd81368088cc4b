#!/usr/bin/env python3
"""Peak memory of a first load into Milvus Lite (or the zilliz or hexabase emulator): the
executor feeds the driver batches cut from the rows read a slice at a time, so the peak should
not grow with the number of rows.

Usage::

    python bench/stream_memory.py --rows 1000000 [--format parquet|jsonl] [--runs 1]
                                  [--syncer-path DIR ...]
                                  [--target milvus|milvus-server|zilliz|hexabase] [--profile]

Generates (seeded, vectorised) ``docs-<rows>.parquet`` (or ``.jsonl``): an integer ``id``, a
``title`` and an 8-dim ``embedding``; then runs ``syncer apply --auto-approve --json`` into a fresh Milvus Lite
file and reports the wall time and the peak RSS of the syncer process itself (``RUSAGE_SELF``
read at exit; Milvus Lite 3 runs its engine on threads of that process).  No figure is given
for the process's children: Linux records, as a child's peak, the high-water mark of the memory
it ran in until it exec'd, and a child started by vfork (``git``, asked for the commit) runs in
its parent's, so ``RUSAGE_CHILDREN`` repeated the syncer process's peak at that moment.
``--syncer-path`` runs the same with another checkout of the package (a before/after pair),
interleaved.  Prints a markdown table.

``--target zilliz``: the same Parquet data into ``syncer emulate zilliz --latency-ms 0`` with a
moto S3 server on 127.0.0.1 as the stage (:mod:`http_zilliz`).  ``--target hexabase``: the
bench's scalar v1 CSV (ten columns: Hexabase has no vector type) into ``syncer emulate hexabase
--latency-ms 0``.  Both as ``bench/http_throughput.py`` sets them up (fresh emulators per run);
their table adds the emulator's own peak RSS (``VmHWM``: it is no child of the syncer process).
``--target milvus-server``: the same data into a Milvus server, which is Milvus Lite's own gRPC
server run as a process of its own (``python -m milvus_lite server``), the way a Milvus
deployment is one: the manifest's ``uri:`` is its ``http://127.0.0.1:PORT``, so the syncer
process holds what the milvus driver holds and the engine's cache is the server's (reported apart,
as the emulators' are).
``--profile`` passes ``--profile`` to the apply and prints its table (peak MB per phase).
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
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
SEED = 22
TARGETS = ("milvus", "milvus-server", "zilliz", "hexabase")
HTTP_HEADER = ["| target | syncer | source | rows | seconds (median) | rows/s | "
               "peak MB (syncer process) | peak MB (emulator or server) |",
               "|---|---|---|---:|---:|---:|---:|---:|"]

MANIFEST = """version: 1
target:
  name: vectors
  type: milvus
  uri: {uri}
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

#: runs syncer in this process; at exit writes its own peak RSS
RUNNER = r"""
import atexit, json, resource, sys
out = sys.argv[1]
sys.argv = ["syncer", *sys.argv[2:]]
def report():
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with open(out, "w") as fh:
        json.dump({"self": own}, fh)
atexit.register(report)
from syncer.launch import run  # the executable itself (its allocator setting too)
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


def measured_apply(project: Path, package: Path, env: dict[str, str],
                   profile: bool = False) -> dict[str, float]:
    """``syncer apply --auto-approve --json`` in ``project`` with ``package`` first on the path:
    its wall time, its own peak RSS (the RUNNER), its inserts."""
    env = {**env, "PYTHONPATH": str(package), "NO_COLOR": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "rss.json"
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", RUNNER, str(result), "apply", "--auto-approve",
                               "--json", "-m", "manifests", "--state", "state/syncer.db",
                               *(["--profile"] if profile else [])],
                              cwd=project, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"apply failed ({package}): {done.stderr[-2000:]}")
        if profile:
            print(done.stderr, file=sys.stderr, flush=True)
        applied = json.loads(done.stdout)["datasets"][0]["inserts"]
        rss = json.loads(result.read_text())
    return {"seconds": seconds, "self_mb": rss["self"] / 2**20, "inserts": applied}


def one_run(source: Path, package: Path, work: Path, profile: bool = False,
            server: bool = False) -> dict[str, float]:
    """A first load into a fresh Milvus Lite file, or (``server``) a fresh Milvus Lite server
    process (its own peak RSS as ``emulator_mb``)."""
    project = work / "project"
    shutil.rmtree(project, ignore_errors=True)
    for sub in ("manifests", "data", "lite", "state"):
        (project / sub).mkdir(parents=True)
    ext = source.suffix.lstrip(".")
    os.link(source, project / "data" / f"docs.{ext}")
    if not server:
        (project / "manifests" / "vectors.yaml").write_text(
            MANIFEST.format(ext=ext, uri="../lite/vectors.db"))
        return measured_apply(project, package, dict(os.environ), profile)
    import http_throughput as http

    port = http.free_port()
    process = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir",
                                str(project / "lite" / "server"), "--host", "127.0.0.1",
                                "--port", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port)
        (project / "manifests" / "vectors.yaml").write_text(
            MANIFEST.format(ext=ext, uri=f"http://127.0.0.1:{port}"))
        measured: dict[str, Any] = measured_apply(project, package, dict(os.environ), profile)
        measured["emulator_mb"] = peak_rss_mb(process.pid)
        return measured
    finally:
        http.stop(process)


def _wait_for_port(port: int, timeout: float = 60.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"the Milvus Lite server did not listen on {port}") from None
            time.sleep(0.2)


def peak_rss_mb(pid: int) -> float:
    """A live process's peak RSS (``VmHWM`` of /proc), in MB; NaN where there is no /proc."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")
    kib = next((line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")),
               "nan")
    return float(kib) / 1024


def http_source(target: str, rows: int, work: Path) -> Path:
    """The source of an HTTP target: this script's vector Parquet for zilliz, the bench's v1 CSV
    (scalars only) for hexabase."""
    if target == "zilliz":
        return generate(rows, work, "parquet")
    import run as bench  # the bench's data generator (bench/run.py)

    return Path(bench.generate(rows, work / "hexabase").v1)


def http_run(target: str, source: Path, package: Path, work: Path,
             profile: bool = False) -> dict[str, float]:
    """One first load into a fresh emulator (and, for zilliz, a fresh moto S3 stage), set up by
    ``bench/http_throughput.py`` with no added latency."""
    import http_throughput as http
    import http_zilliz as zilliz
    setup = (http.zilliz_setup(work, 0, 0.5) if target == "zilliz"
             else http.hexabase_setup(work, 0))
    with setup as running:
        if running.s3 is not None:  # this script's data has no price column
            (running.project / "manifests" / "zc.yaml").write_text(
                zilliz.manifest(running.url, running.s3.endpoint, "stage", price=False))
        os.link(source, running.source)
        measured: dict[str, Any] = measured_apply(running.project, package, running.env, profile)
        assert running.emulator is not None
        measured["emulator_mb"] = peak_rss_mb(running.emulator.pid)
    return measured


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--target", choices=TARGETS, default="milvus",
                        help="milvus: Milvus Lite in the syncer process; milvus-server: Milvus "
                             "Lite's server as a process of its own; zilliz, hexabase: their "
                             "emulators (no latency)")
    parser.add_argument("--format", choices=("parquet", "jsonl"), default=None,
                        help="milvus: the source's format (both are streamed: see RESULTS); "
                             "zilliz reads Parquet, hexabase the bench's CSV")
    parser.add_argument("--work", type=Path, default=BENCH_DIR / "data" / "stream")
    parser.add_argument("--syncer-path", type=Path, action="append", default=[],
                        help="a directory holding another `syncer` package (before/after)")
    parser.add_argument("--profile", action="store_true",
                        help="pass --profile to the apply and print its table (peak MB per phase)")
    args = parser.parse_args(argv)
    if not args.target.startswith("milvus") and args.format is not None:
        parser.error(f"--format is for --target milvus ({args.target} reads "
                     f"{'Parquet' if args.target == 'zilliz' else 'the bench CSV'})")
    if args.rows < 1 or args.runs < 1:
        parser.error("--rows and --runs must be at least 1")
    args.format = {"milvus": args.format or "parquet", "milvus-server": args.format or "parquet",
                   "zilliz": "parquet", "hexabase": "csv"}[args.target]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    http = not args.target.startswith("milvus")
    apart = args.target != "milvus"  # a process of its own beside syncer: its peak is shown
    sys.path.insert(0, str(BENCH_DIR))
    if http:
        source = http_source(args.target, args.rows, args.work)
    else:
        source = generate(args.rows, args.work, args.format)
    packages = [REPO_DIR, *args.syncer_path]
    runs: dict[Path, list[dict[str, float]]] = {p: [] for p in packages}
    for _ in range(args.runs):
        for package in packages:
            if http:
                measured = http_run(args.target, source, package, args.work, args.profile)
            else:
                measured = one_run(source, package, args.work, args.profile,
                                   server=args.target == "milvus-server")
            if measured["inserts"] != args.rows:
                raise SystemExit(f"{measured['inserts']:,} rows inserted, not {args.rows:,}")
            runs[package].append(measured)
            print(package, runs[package][-1], file=sys.stderr, flush=True)
    if apart:
        print("\n".join(HTTP_HEADER))
    else:
        print("| syncer | source | rows | seconds (median) | rows/s | peak MB (syncer process) |")
        print("|---|---|---:|---:|---:|---:|")
    for package, found in runs.items():
        seconds = statistics.median(r["seconds"] for r in found)
        line = (f"| {package} | {args.format} | {args.rows:,} | {seconds:.1f} | "
                f"{args.rows / seconds:,.0f} | {max(r['self_mb'] for r in found):.0f} |")
        if apart:
            line = f"| {args.target} {line} {max(r['emulator_mb'] for r in found):.0f} |"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
