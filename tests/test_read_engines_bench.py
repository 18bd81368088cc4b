"""bench/read_engines.py: every engine reads every row of the bench's CSV (the figures in
bench/RESULTS.md compare engines that did the same work), in a file large enough for syncer's
reader to cut it into segments."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
ROWS = 130_000  # about 14 MB: over csv_parallel.MIN_BYTES, so the segments path is taken


@pytest.fixture(scope="module")
def engines() -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module("read_engines")


@pytest.fixture(scope="module")
def source(engines: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = importlib.import_module("run")  # (bench/ is on the path: see ``engines``)
    data = run.generate(ROWS, tmp_path_factory.mktemp("data"))
    path: Path = data.v2
    return path


def test_the_file_is_cut_into_segments(source: Path) -> None:
    from syncer.sources import csv_parallel
    assert source.stat().st_size >= csv_parallel.MIN_BYTES
    options = csv_parallel.arrow_options(source.open().readline().strip().split(","), "utf8",
                                         ",", '"', 4 << 20)
    assert sum(1 for _ in csv_parallel.parallel_blocks(source, options)) > 1


@pytest.mark.parametrize("engine", ["pyarrow-serial", "pyarrow-segments", "polars-batched",
                                    "duckdb-text", "duckdb-hash", "syncer-read"])
def test_every_engine_reads_every_row(engines: ModuleType, source: Path, tmp_path: Path,
                                      engine: str) -> None:
    if engine.startswith("duckdb") and importlib.util.find_spec("duckdb") is None:
        pytest.skip("duckdb is a bench peer (bench/requirements.txt), not a dev dependency")
    target = engines.project(tmp_path / "project", source) if engine == "syncer-read" else source
    result = engines.child(engine, target)
    assert result["rows"] == ROWS  # (v2 has as many rows as v1: as many added as removed)
    assert result["read"] > 0 and result["import"] >= 0


def test_an_engine_runs_as_a_process_of_its_own(engines: ModuleType, source: Path) -> None:
    result = engines.run_one("polars-batched", source)
    assert result["rows"] == ROWS
    assert result["wall"] > result["read"] > 0 and result["peak_mb"] > 20

