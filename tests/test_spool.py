"""The spool: blocks written on a writer thread, read back in order; a failed write is not lost."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from syncer.sources.spool import PREFIX, Spool, sweep


def test_blocks_come_back_in_the_order_they_were_written() -> None:
    with Spool() as spool:
        for start in range(0, 50, 5):
            spool.write(pl.DataFrame({"n": list(range(start, start + 5))}))
        scanned = spool.scan()
        assert scanned is not None
        assert scanned.collect().get_column("n").to_list() == list(range(50))
        assert [part.collect().height for part in spool.parts()] == [5] * 10
        directory = spool.dir
    assert not directory.exists()


def test_a_write_that_failed_on_the_writer_is_raised_to_the_caller() -> None:
    spool = Spool()
    shutil.rmtree(spool.dir)  # the disk lost the directory: every write fails
    with pytest.raises(OSError):
        for _ in range(5):
            spool.write(pl.DataFrame({"n": [1, 2, 3]}))
        spool.flush()
    spool.close()


def test_spools_of_killed_processes_are_swept_and_those_of_live_ones_kept(
        tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    left = tmp_path / f"{PREFIX}{dead}-abc123"
    left.mkdir()
    (left / "000000.arrow").write_bytes(b"rows")
    fresh = tmp_path / f"{PREFIX}{dead}-ghi789"  # maybe a process this one cannot see
    fresh.mkdir()
    ours = tmp_path / f"{PREFIX}{os.getpid()}-def456"
    ours.mkdir()
    other = tmp_path / "syncer-spool-unnamed"
    other.mkdir()
    hour_ago = time.time() - 3600
    for path in (left, ours, other):
        os.utime(path, (hour_ago, hour_ago))
    assert sweep(tmp_path) == [left]
    assert not left.exists() and fresh.exists() and ours.exists() and other.exists()
