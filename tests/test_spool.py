"""The spool: blocks written on a writer thread, read back in order; a failed write is not lost."""

from __future__ import annotations

import shutil

import polars as pl
import pytest

from syncer.spool import Spool


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
