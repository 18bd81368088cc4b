"""The zilliz side of ``bench/http_throughput.py``: its data, a moto S3 server as the stage, and
``syncer emulate zilliz`` reading from it.

* :func:`generate`: seeded Parquet sources ``docs-v1-<rows>.parquet`` (an integer ``id``, a
  ``title``, a ``price`` and an 8-dim ``embedding``) and ``docs-v2-<rows>.parquet`` (1 % of the
  rows changed, 0.5 % removed, 0.5 % added: the shares of the bench's v2).
* :class:`MotoS3`: ``python -m moto.server`` on 127.0.0.1 with its request recorder
  (``/moto-api/recorder/``), so the S3 requests of one command can be counted by operation.
* :func:`start_emulator`: ``syncer emulate zilliz --latency-ms N`` on 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

SEED = 22
GENERATOR_VERSION = 1
DIM = 8
CHANGED, REMOVED, ADDED = 0.01, 0.005, 0.005
#: the emulator's defaults (``syncer emulate zilliz --help``)
API_KEY = "zilliz-emulator-key"
CLUSTER_ID = "in01-emulator"
#: moto's test keys: the stage's uploads and the import jobs' reads use them
S3_KEYS = {"AWS_ACCESS_KEY_ID": "AKIABENCHTHROUGHPUT1", "AWS_SECRET_ACCESS_KEY": "bench-secret",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


def manifest(url: str, s3_endpoint: str, bucket: str, price: bool = True) -> str:
    """One upsert dataset into collection ``docs`` (the target's defaults otherwise: Parquet
    import files, ``poll_interval: 2``, ``rate_limit: 20``, 100,000 rows per import job).
    ``price=False``: no ``price`` column (the data of ``bench/stream_memory.py``)."""
    scalars = "      id: integer\n      title: string\n" + ("      price: float\n" if price else "")
    return ("version: 1\ntarget:\n  name: zc\n  type: zilliz\n"
            f"  url: {url}\n  endpoint: {url}\n  api_key: {API_KEY}\n  cluster_id: {CLUSTER_ID}\n"
            f'  stage: {{url: "s3://{bucket}/syncer", endpoint_url: "{s3_endpoint}"}}\n'
            "datasets:\n  - name: docs\n    source: ../data/docs.parquet\n    table: docs\n"
            "    mode: upsert\n    key: id\n    delete_missing: true\n    columns:\n"
            f"{scalars}      embedding: {{type: vector, dim: {DIM}}}\n")


def _rows(rng: Any, first_id: int, count: int) -> Any:
    import numpy as np
    import polars as pl

    return pl.DataFrame({
        "id": np.arange(first_id, first_id + count, dtype=np.int64),
        "price": np.round(rng.lognormal(3.0, 1.0, count), 2),
        "embedding": pl.Series(rng.random((count, DIM), dtype=np.float32).round(4))
        .cast(pl.List(pl.Float32)),
    }).select("id", pl.format("doc {}", "id").alias("title"), "price", "embedding")


def change_counts(rows: int) -> tuple[int, int, int]:
    """Rows changed, removed and added between v1 and v2."""
    return round(rows * CHANGED), round(rows * REMOVED), round(rows * ADDED)


def generate(rows: int, work: Path) -> tuple[Path, Path]:
    """``(v1, v2)``: the Parquet sources of ``rows`` rows (reused when already written)."""
    import numpy as np
    import polars as pl

    work.mkdir(parents=True, exist_ok=True)
    tag = f"{rows}-g{GENERATOR_VERSION}"
    v1_path, v2_path = work / f"docs-v1-{tag}.parquet", work / f"docs-v2-{tag}.parquet"
    if v1_path.is_file() and v2_path.is_file():
        return v1_path, v2_path
    rng = np.random.default_rng(SEED)
    v1 = _rows(rng, 1, rows)
    changed, removed, added = change_counts(rows)
    picks = rng.choice(rows, changed + removed, replace=False)
    kind = np.full(rows, -1, dtype=np.int8)
    kind[picks[:changed]] = rng.integers(0, 3, changed)  # the title, the price or the vector
    gone = np.zeros(rows, dtype=bool)
    gone[picks[changed:]] = True
    k = pl.col("_kind")
    v2 = v1.with_columns(pl.Series("_kind", kind), pl.Series("_gone", gone)).with_columns(
        pl.when(k == 0).then(pl.col("title") + " (revised)").otherwise(pl.col("title")),
        pl.when(k == 1).then(pl.col("price") + 1.25).otherwise(pl.col("price")),
        pl.when(k == 2).then(pl.col("embedding").list.eval(pl.element() * 0.5))
        .otherwise(pl.col("embedding")),
    ).filter(~pl.col("_gone")).drop("_kind", "_gone")
    v2 = pl.concat([v2, _rows(rng, rows + 1, added)], how="vertical")
    for frame, path in ((v1, v1_path), (v2, v2_path)):
        partial = path.with_suffix(".partial")
        frame.write_parquet(partial)
        partial.replace(path)
    return v1_path, v2_path


def wait_until(ready: Callable[[], object], what: str, seconds: float = 30.0) -> None:
    """Call ``ready`` until it stops raising OSError (a server coming up)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            ready()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"{what} did not come up in {seconds:g}s") from None
            time.sleep(0.1)


def s3_operation(method: str, url: str) -> str:
    """The S3 operation of a recorded request (path-style URLs: ``/bucket[/key]``)."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    has_key = "/" in parts.path.strip("/")
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    if method == "POST" and "uploads" in query:
        return "CreateMultipartUpload"
    if method == "POST" and "uploadId" in query:
        return "CompleteMultipartUpload"
    if method == "PUT" and "partNumber" in query:
        return "UploadPart"
    if method == "GET" and not has_key:
        return "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"
    names = {("PUT", True): "PutObject", ("GET", True): "GetObject", ("HEAD", True): "HeadObject",
             ("DELETE", True): "DeleteObject", ("PUT", False): "CreateBucket",
             ("HEAD", False): "HeadBucket"}
    return names.get((method, has_key), f"{method} {'object' if has_key else 'bucket'}")


def s3_summary(ops: Counter[str]) -> str:
    """``7 (PutObject 2, GetObject 1, ...)``: the total and each operation, most first."""
    detail = ", ".join(f"{name} {n}" for name, n in ops.most_common())
    return f"{sum(ops.values())} ({detail})" if ops else "0"


class MotoS3:
    """A moto S3 server on 127.0.0.1 whose request recorder counts a command's S3 requests."""

    def __init__(self, port: int, folder: Path, env: dict[str, str]) -> None:
        self.endpoint = f"http://127.0.0.1:{port}"
        self.recording = folder / "moto-recording.jsonl"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            env={**env, "MOTO_RECORDER_FILEPATH": str(self.recording)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: self._call("GET", "/moto-api/data.json"), "moto server")
        except BaseException:
            self.stop()
            raise

    def _call(self, method: str, path: str) -> bytes:
        request = urllib.request.Request(self.endpoint + path, method=method, data=b""
                                         if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=30) as reply:
            return bytes(reply.read())

    def create_bucket(self, name: str) -> None:
        """An empty bucket (moto checks no signature: a plain PUT will do)."""
        self._call("PUT", f"/{name}")

    def start_counting(self) -> None:
        self._call("POST", "/moto-api/recorder/reset-recording")
        self._call("POST", "/moto-api/recorder/start-recording")

    def stop_counting(self) -> Counter[str]:
        """The operations recorded since :meth:`start_counting`."""
        self._call("POST", "/moto-api/recorder/stop-recording")
        text = self._call("GET", "/moto-api/recorder/download-recording").decode()
        ops: Counter[str] = Counter()
        for line in text.splitlines():
            if line.strip():
                entry = json.loads(line)
                ops[s3_operation(str(entry["method"]), str(entry["url"]))] += 1
        return ops

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_emulator(port: int, s3_endpoint: str, data: Path, latency_ms: int, job_delay: float,
                   env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``syncer emulate zilliz`` on 127.0.0.1:``port``, import files read from ``s3_endpoint``."""
    return subprocess.Popen(
        [sys.executable, "-m", "syncer", "emulate", "zilliz", "--port", str(port),
         "--s3-endpoint", s3_endpoint, "--data", str(data), "--latency-ms", str(latency_ms),
         "--job-delay", str(job_delay), "--cluster-id", CLUSTER_ID],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
