"""A temporary on-disk home for a dataset's rows while it is planned.

Blocks are written as uncompressed Arrow IPC files as they are read, so planning never holds
the whole file in memory; the planner then scans them lazily (memory-mapped) for the few
columns or rows it needs.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path

import polars as pl


class Spool:
    """Arrow IPC files in a private temporary directory, removed by :meth:`close`."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="syncer-spool-"))
        self.files: list[Path] = []
        # removed by close(), or at the latest when the spool is garbage (an error path)
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.dir), ignore_errors=True)

    def write(self, frame: pl.DataFrame) -> None:
        path = self.dir / f"{len(self.files):06d}.arrow"
        frame.write_ipc(path, compression="uncompressed")
        self.files.append(path)

    def scan(self) -> pl.LazyFrame | None:
        return pl.scan_ipc(self.files) if self.files else None

    def parts(self) -> list[pl.LazyFrame]:
        """One lazy frame per file, for work that should hold one block at a time."""
        return [pl.scan_ipc(path) for path in self.files]

    def close(self) -> None:
        self._cleanup()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
