#!/usr/bin/env python3
"""Rows per second into an HTTP target's emulator with a realistic round trip (``--latency-ms``).

Usage::

    python bench/http_throughput.py --rows 100000 [--latency-ms 20] [--runs 1]
                                    [--target hexabase|zilliz|all]

For each target, measures as whole commands (process start to exit) of ``syncer apply
--auto-approve --json``:

1. a first load: ``rows`` rows into the empty target;
2. a 1 % change: 1 % of the rows changed, 0.5 % removed, 0.5 % added, applied over it.

For each: the wall time, rows per second (rows sent / seconds) and the requests the emulator
counted (``GET /_emulator/stats``).  Prints a markdown table per target (and, with ``--runs``
above 1, one of the medians).

* hexabase: ``syncer emulate hexabase --latency-ms N`` (a datastore with the bench's ten
  columns); the data is the bench's v1/v2 CSV.
* zilliz: ``syncer emulate zilliz --latency-ms N`` (default job delay 0.5 s) with a moto S3
  server on 127.0.0.1 as the stage bucket; the data is Parquet (``id``, ``title``, ``price`` and
  an 8-dim ``embedding``: :mod:`http_zilliz`).  The table also shows the S3 requests of each
  command (moto's request recorder), by operation: the stage's and the import jobs' reads.

Every run starts fresh emulators (and a fresh moto server) in a fresh project.

``--in-flight 1,4`` runs each target with ``max_imports_in_flight: 1`` and then ``4`` (one after
the other in every run: interleaved), to weigh imports that wait side by side against imports
followed one at a time; ``--rows-per-import N`` sets ``max_rows_per_import`` (so a load is
several imports or jobs).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import http_zilliz as zilliz  # noqa: E402  (the zilliz target's data, stage and emulator)
import run as bench  # noqa: E402  (the bench's data generator)

TARGETS = ("hexabase", "zilliz")
TYPES = {"integer": "number", "float": "number", "string": "text", "date": "text",
         "boolean": "text"}
HEADER = ["| target | run | rows sent | seconds | rows/s | requests |",
          "|---|---|---:|---:|---:|---:|"]
S3_HEADER = ["| target | run | rows sent | seconds | rows/s | requests | S3 requests |",
             "|---|---|---:|---:|---:|---:|---|"]


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


@dataclass
class Setup:
    """A target's running emulator (and stage) and the project that applies into it."""

    target: str
    project: Path
    env: dict[str, str]
    url: str
    source: Path  # where each run's data file is copied
    s3: zilliz.MotoS3 | None = None
    emulator: subprocess.Popen[bytes] | None = None  # its peak RSS: bench/stream_memory.py


@dataclass
class Measured:
    """One measured command."""

    target: str  # the target, and its settings when the run sets them
    latency_ms: int
    phase: str  # "first load" or "1 % change"
    counts: dict[str, int]
    seconds: float
    requests: int
    s3: Counter[str] | None = None

    @property
    def sent(self) -> int:
        return sum(self.counts.values())

    def label(self) -> str:
        c = self.counts
        return f"{self.phase} (+{c['inserts']:,} ~{c['updates']:,} -{c['deletes']:,})"

    def row(self) -> str:
        line = (f"| {self.target} (--latency-ms {self.latency_ms}) | {self.label()} "
                f"| {self.sent:,} | {self.seconds:.1f} | {self.sent / self.seconds:,.0f} "
                f"| {self.requests} |")
        return line if self.s3 is None else f"{line} {zilliz.s3_summary(self.s3)} |"


def fresh_project(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    for sub in ("manifests", "data", "state", "emulator"):
        (path / sub).mkdir(parents=True)
    return path


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def hexabase_setup(work: Path, latency_ms: int) -> Iterator[Setup]:
    project = fresh_project(work / "project")
    (project / "schema.yaml").write_text(schema_yaml())
    url = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "NO_COLOR": "1"}
    emulator = subprocess.Popen(
        [sys.executable, "-m", "syncer", "emulate", "hexabase", "--port", url.rsplit(":", 1)[1],
         "--schema", str(project / "schema.yaml"), "--data", str(project / "emulator"),
         "--latency-ms", str(latency_ms)], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                requests_so_far(url)
                break
            except OSError:
                time.sleep(0.1)
        (project / "manifests" / "hx.yaml").write_text(manifest(url))
        yield Setup("hexabase", project, env, url, project / "data" / "rows.csv",
                    emulator=emulator)
    finally:
        stop(emulator)


@contextmanager
def zilliz_setup(work: Path, latency_ms: int, job_delay: float) -> Iterator[Setup]:
    project = fresh_project(work / "project-zilliz")
    env = {**os.environ, "NO_COLOR": "1", **zilliz.S3_KEYS,
           "AWS_CONFIG_FILE": str(project / "no-aws-config"),
           "AWS_SHARED_CREDENTIALS_FILE": str(project / "no-aws-credentials")}
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        env.pop(name, None)
    s3 = zilliz.MotoS3(free_port(), project, env)
    try:
        s3.create_bucket("stage")
        url = f"http://127.0.0.1:{free_port()}"
        emulator = zilliz.start_emulator(int(url.rsplit(":", 1)[1]), s3.endpoint,
                                         project / "emulator", latency_ms, job_delay, env)
        try:
            zilliz.wait_until(lambda: requests_so_far(url), "the zilliz emulator")
            (project / "manifests" / "zc.yaml").write_text(
                zilliz.manifest(url, s3.endpoint, "stage"))
            yield Setup("zilliz", project, env, url, project / "data" / "docs.parquet", s3,
                        emulator)
        finally:
            stop(emulator)
    finally:
        s3.stop()


def measure(setup: Setup, sources: Sequence[tuple[str, Path]], latency_ms: int,
            echo: bool = True) -> list[Measured]:
    """Apply each source in turn; one :class:`Measured` each."""
    out: list[Measured] = []
    for phase, source in sources:
        shutil.copyfile(source, setup.source)
        before = requests_so_far(setup.url)
        if setup.s3 is not None:
            setup.s3.start_counting()
        seconds, counts = timed_apply(setup.project, setup.env)
        made = requests_so_far(setup.url) - before
        s3 = setup.s3.stop_counting() if setup.s3 is not None else None
        out.append(Measured(setup.target, latency_ms, phase, counts, seconds, made, s3))
        if echo:
            print(out[-1].row(), file=sys.stderr, flush=True)
    return out


def settings(in_flight: int | None, rows_per_import: int | None) -> str:
    """The target's settings a run adds to its manifest (none: the defaults)."""
    lines = [f"  max_imports_in_flight: {in_flight}\n" if in_flight else "",
             f"  max_rows_per_import: {rows_per_import}\n" if rows_per_import else ""]
    return "".join(lines)


def configure(setup: Setup, extra: str) -> None:
    """Add ``extra`` (target settings) to the manifest's target block."""
    if extra:
        manifest_file = next((setup.project / "manifests").glob("*.yaml"))
        text = manifest_file.read_text()
        manifest_file.write_text(text.replace("datasets:\n", extra + "datasets:\n", 1))
        setup.target = ", ".join([setup.target, *(line.strip() for line in extra.splitlines())])


def run_target(target: str, args: argparse.Namespace, work: Path) -> list[Measured]:
    """``args.runs`` runs of a target's first load and 1 % change, each on fresh emulators
    (with each ``--in-flight`` setting in turn)."""
    results: list[Measured] = []
    if target == "hexabase":
        data = bench.generate(args.rows, work)
        sources = (("first load", data.v1), ("1 % change", data.v2))
    else:
        v1, v2 = zilliz.generate(args.rows, work / "zilliz")
        sources = (("first load", v1), ("1 % change", v2))
    for _ in range(args.runs):
        for in_flight in args.in_flight or [None]:
            if target == "hexabase":
                setup = hexabase_setup(work, args.latency_ms)
            else:
                setup = zilliz_setup(work, args.latency_ms, args.job_delay)
            with setup as running:
                configure(running, settings(in_flight, args.rows_per_import))
                results += measure(running, sources, args.latency_ms)
    return results


def spread(values: Sequence[float], fmt: str) -> str:
    low, high = min(values), max(values)
    text = format(statistics.median(values), fmt)
    return text if low == high else f"{text} ({format(low, fmt)}-{format(high, fmt)})"


def medians(results: Sequence[Measured]) -> list[str]:
    """A table of the runs' medians (min-max) per target and phase."""
    lines = ["| target | run | runs | rows sent | seconds | rows/s | requests |",
             "|---|---|---:|---:|---:|---:|---:|"]
    groups: dict[tuple[str, str], list[Measured]] = {}
    for m in results:
        groups.setdefault((m.target, m.phase), []).append(m)
    for (target, _phase), group in groups.items():
        first = group[0]
        rates = [m.sent / m.seconds for m in group]
        lines.append(f"| {target} (--latency-ms {first.latency_ms}) | {first.label()} "
                     f"| {len(group)} | {first.sent:,} | {spread([m.seconds for m in group], '.1f')}"
                     f" | {spread(rates, ',.0f')} "
                     f"| {spread([float(m.requests) for m in group], '.0f')} |")
    return lines


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--runs", type=int, default=1, help="runs per target (fresh emulators)")
    parser.add_argument("--target", choices=(*TARGETS, "all"), default="hexabase")
    parser.add_argument("--job-delay", type=float, default=0.5,
                        help="zilliz: seconds an import job takes (the emulator's default)")
    parser.add_argument("--work", type=Path, default=BENCH_DIR / "data" / "http")
    parser.add_argument("--in-flight", type=lambda text: [int(n) for n in text.split(",")],
                        default=None, help="max_imports_in_flight values to run in turn, e.g. 1,4")
    parser.add_argument("--rows-per-import", type=int, default=None,
                        help="max_rows_per_import of the target (its default when not given)")
    args = parser.parse_args(argv)
    if args.rows < 200 or args.runs < 1:
        parser.error("--rows must be at least 200 (a 1 % change needs rows) and --runs >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work: Path = args.work.resolve()
    targets = TARGETS if args.target == "all" else (args.target,)
    tables: list[str] = []
    everything: list[Measured] = []
    for target in targets:
        results = run_target(target, args, work)
        everything += results
        header = S3_HEADER if any(m.s3 is not None for m in results) else HEADER
        tables.append("\n".join([*header, *(m.row() for m in results)]))
    if args.runs > 1:
        tables.append("\n".join(medians(everything)))
    print("\n\n".join(tables))
    return 0


if __name__ == "__main__":
    sys.exit(main())
