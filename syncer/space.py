"""Telling a full disk from other I/O failures, so it is reported as what it is: which location
is full, not a damaged database, a bug, or a rollback error that hides the cause."""

from __future__ import annotations

import errno
import os
from pathlib import Path

#: below this much free space, SQLite's "disk I/O error" is taken for a full disk
LOW_SPACE = 1 << 20


def free_bytes(path: Path | str) -> int | None:
    """Free space on the filesystem holding ``path`` (or its nearest existing parent)."""
    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        stats = os.statvfs(folder)
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize


def is_full(exc: BaseException, path: Path | str) -> bool:
    """Whether ``exc``, raised while writing at ``path``, means the disk is full."""
    if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    if any(s in text for s in ("no space left", "disk is full", "os error 28", "quota exceeded")):
        return True
    if "disk i/o error" in text:  # SQLite, when it cannot grow its -shm or -wal file
        free = free_bytes(path)
        return free is not None and free < LOW_SPACE
    return False
