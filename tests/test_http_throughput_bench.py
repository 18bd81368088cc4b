"""bench/http_throughput.py: its arguments, how it names S3 requests, and a smoke run of the
zilliz target (2,000 rows, no added latency) against the real emulator and a moto S3 server on
127.0.0.1, as the bench runs them (``syncer emulate zilliz``, ``python -m moto.server``)."""

from __future__ import annotations

import importlib
import re
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load(name: str) -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _load("http_throughput")


def test_arguments_default_to_the_hexabase_run_of_before(bench: ModuleType) -> None:
    args = bench.parse_args([])
    assert (args.target, args.rows, args.latency_ms, args.runs) == ("hexabase", 100_000, 20, 1)
    assert bench.parse_args(["--target", "all", "--runs", "3"]).target == "all"
    with pytest.raises(SystemExit):
        bench.parse_args(["--target", "milvus"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--rows", "10"])


def test_s3_requests_are_named_by_operation(bench: ModuleType) -> None:
    name = bench.zilliz.s3_operation
    base = "http://127.0.0.1:9000/stage"
    assert name("PUT", f"{base}/syncer/zc/docs/b.parquet") == "PutObject"
    assert name("PUT", f"{base}/k?partNumber=2&uploadId=x") == "UploadPart"
    assert name("POST", f"{base}/k?uploads") == "CreateMultipartUpload"
    assert name("POST", f"{base}/k?uploadId=x") == "CompleteMultipartUpload"
    assert name("GET", f"{base}/syncer/zc/docs/b.parquet") == "GetObject"
    assert name("GET", f"{base}?list-type=2&prefix=syncer%2F") == "ListObjectsV2"
    assert name("POST", f"{base}?delete") == "DeleteObjects"
    assert name("HEAD", base) == "HeadBucket"
    assert bench.zilliz.s3_summary(Counter({"GetObject": 1, "PutObject": 2})) == \
        "3 (PutObject 2, GetObject 1)"


def test_a_small_zilliz_run_measures_both_commands(bench: ModuleType, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--rows", "2000", "--latency-ms", "0", "--target", "zilliz",
                       "--job-delay", "0.05", "--work", str(tmp_path)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[:2] == bench.S3_HEADER
    first, change = table[2:]
    assert "| zilliz (--latency-ms 0) | first load (+2,000 ~0 -0) | 2,000 |" in first
    assert "| zilliz (--latency-ms 0) | 1 % change (+10 ~20 -10) | 40 |" in change
    for row in (first, change):
        requests, s3 = row.strip("| ").split(" | ")[-2:]
        assert int(requests) > 3
        # the import file and its job note go up, the emulator reads the file, then it goes
        assert re.search(r"PutObject 2\b", s3) and "GetObject 1" in s3 and "DeleteObjects" in s3
    # the first load into the collection it created deletes nothing first: fewer requests
    assert int(first.split(" | ")[-2]) < int(change.split(" | ")[-2])


def test_in_flight_settings_go_into_the_target_block(bench: ModuleType, tmp_path: Path) -> None:
    args = bench.parse_args(["--in-flight", "1,4", "--rows-per-import", "500"])
    assert (args.in_flight, args.rows_per_import) == ([1, 4], 500)
    assert bench.parse_args([]).in_flight is None
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "hx.yaml").write_text(bench.manifest("http://127.0.0.1:1"))
    setup = bench.Setup("hexabase", tmp_path, {}, "http://127.0.0.1:1", tmp_path / "rows.csv")
    bench.configure(setup, bench.settings(4, 500))
    import yaml

    target = yaml.safe_load((tmp_path / "manifests" / "hx.yaml").read_text())["target"]
    assert (target["max_imports_in_flight"], target["max_rows_per_import"]) == (4, 500)
    assert setup.target == "hexabase, max_imports_in_flight: 4, max_rows_per_import: 500"
