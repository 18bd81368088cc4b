"""bench/stream_memory.py: its ``--target`` arguments, and a smoke run of the hexabase target
(500 rows) against the real emulator on 127.0.0.1, as the bench runs it."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module("stream_memory")


def test_the_target_defaults_to_milvus_and_its_parquet(bench: ModuleType) -> None:
    args = bench.parse_args([])
    assert (args.target, args.format, args.rows, args.profile) == (
        "milvus", "parquet", 1_000_000, False)
    assert bench.parse_args(["--format", "jsonl"]).format == "jsonl"
    assert bench.parse_args(["--target", "zilliz"]).format == "parquet"
    assert bench.parse_args(["--target", "hexabase", "--profile"]).format == "csv"


@pytest.mark.parametrize("argv", [["--target", "postgres"], ["--target", "zilliz", "--format",
                                  "jsonl"], ["--target", "hexabase", "--format", "parquet"],
                                  ["--rows", "0"]])
def test_bad_arguments_are_refused(bench: ModuleType, argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        bench.parse_args(argv)


def test_the_zilliz_manifest_can_leave_out_the_price(bench: ModuleType) -> None:
    zilliz = importlib.import_module("http_zilliz")
    with_price = zilliz.manifest("http://127.0.0.1:1", "http://127.0.0.1:2", "stage")
    without = zilliz.manifest("http://127.0.0.1:1", "http://127.0.0.1:2", "stage", price=False)
    assert "price: float" in with_price
    assert without == with_price.replace("      price: float\n", "")


def test_a_small_hexabase_run_reports_the_peaks(bench: ModuleType, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--target", "hexabase", "--rows", "500", "--work", str(tmp_path)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[:2] == bench.HTTP_HEADER
    cells = table[2].strip("| ").split(" | ")
    assert cells[0] == "hexabase" and cells[2:4] == ["csv", "500"]
    syncer_mb, emulator_mb = (float(c) for c in cells[-2:])
    assert 20 < syncer_mb < 2000 and 20 < emulator_mb < 2000


def test_a_small_milvus_server_run_reports_syncer_and_the_server_apart(
        bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Milvus Lite's gRPC server as a process of its own (a Milvus server): the rows land there,
    and its peak is reported apart from the syncer process's."""
    pytest.importorskip("milvus_lite")
    assert bench.parse_args(["--target", "milvus-server"]).format == "parquet"
    assert bench.main(["--target", "milvus-server", "--rows", "500",
                       "--work", str(tmp_path)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[:2] == bench.HTTP_HEADER
    cells = table[2].strip("| ").split(" | ")
    assert cells[0] == "milvus-server" and cells[2:4] == ["parquet", "500"]
    syncer_mb, _child_mb, server_mb = (float(c) for c in cells[-3:])
    assert 20 < syncer_mb < 2000 and 20 < server_mb < 2000
