"""A temporary on-disk home for a dataset's rows while it is planned.

Blocks are written as uncompressed Arrow IPC files as they are read, on a writer thread (the
caller goes on normalising the next block meanwhile), so planning never holds the whole file
in memory; the planner then scans them lazily (memory-mapped) for the few columns or rows it
needs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import weakref
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import polars as pl

from ..errors import DiskFull
from ..space import is_full

#: blocks handed to the writer and not yet on disk, at most (memory stays flat)
PENDING = 2
#: a spool directory is named PREFIX + the pid of its process + "-" + a random part
PREFIX = "syncer-spool-"
#: a dead process's spool untouched this long is removed by the next syncer
STALE_SECONDS = 600
_swept = False


class Spool:
    """Arrow IPC files in a private temporary directory, removed by :meth:`close`."""

    def __init__(self) -> None:
        global _swept
        if not _swept:
            _swept = True
            sweep(Path(tempfile.gettempdir()))
        try:
            self.dir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
        except OSError as exc:
            if not is_full(exc, tempfile.gettempdir()):
                raise
            raise DiskFull("the spool (TMPDIR)", tempfile.gettempdir(), str(exc)) from None
        self._files: list[Path] = []
        self._pending: deque[Future[None]] = deque()
        self._writer: ThreadPoolExecutor | None = None
        # removed by close(), or at the latest when the spool is garbage (an error path)
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.dir), ignore_errors=True)

    def write(self, frame: pl.DataFrame) -> None:
        """Queue ``frame`` as the next file; a write that failed raises here or at the next
        read of the spool."""
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="syncer-spool")
        while len(self._pending) >= PENDING:
            self._wait()
        path = self.dir / f"{len(self._files):06d}.arrow"
        self._files.append(path)
        self._pending.append(self._writer.submit(_write, frame, path))

    def flush(self) -> None:
        """Wait until every queued block is on disk."""
        while self._pending:
            self._wait()

    def _wait(self) -> None:
        try:
            self._pending.popleft().result()
        except OSError as exc:
            if not is_full(exc, self.dir):
                raise
            raise DiskFull("the spool (TMPDIR)", self.dir, str(exc)) from None

    @property
    def files(self) -> list[Path]:
        self.flush()
        return self._files

    def scan(self) -> pl.LazyFrame | None:
        return pl.scan_ipc(self.files) if self.files else None

    def parts(self) -> list[pl.LazyFrame]:
        """One lazy frame per file, for work that should hold one block at a time."""
        return [pl.scan_ipc(path) for path in self.files]

    def close(self) -> None:
        if self._writer is not None:
            self._writer.shutdown(wait=True, cancel_futures=True)
            self._writer = None
        self._pending.clear()
        self._cleanup()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sweep(root: Path, stale: float = STALE_SECONDS) -> list[Path]:
    """Remove the spools of syncer processes that are gone (killed before they could clean
    up: SIGKILL, a power cut) and untouched for ``stale`` seconds; those of running processes
    are left alone (the age also spares a process this one cannot see, in another pid
    namespace sharing the directory).  Returns what was removed."""
    removed: list[Path] = []
    if os.name != "posix":
        return removed  # os.kill(pid, 0) asks about a process on POSIX only
    now = time.time()
    for path in root.glob(f"{PREFIX}*-*"):
        pid = path.name[len(PREFIX):].split("-", 1)[0]
        try:
            old = now - path.stat().st_mtime >= stale
        except OSError:
            continue
        if not pid.isdigit() or not old or _alive(int(pid)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # another user's process (or no way to tell): not ours to clean
    return True


def _write(frame: pl.DataFrame, path: Path) -> None:
    frame.write_ipc(path, compression="uncompressed")
