"""The SQLite state's lock: an OS file lock beside the database (released by the kernel when its holder dies) plus a note
of who holds it, so a refusal can name the holder and a dead holder's note is recognised.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from ...errors import LockError
from ..base import Holder


class FileLock:
    """Exclusive lock on a state database, held from :meth:`acquire` to :meth:`release`."""

    def __init__(self, state_path: Path) -> None:
        self.path = state_path.with_name(state_path.name + ".lock")
        self._handle: IO[str] | None = None
        self.stale: Holder | None = None  # a dead holder's note found when acquiring

    def acquire(self, command: str, timeout: float = 0.0) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        handle = os.fdopen(fd, "r+")
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = read_holder(self.path)
                    handle.close()
                    who = holder.describe() if holder else "another process"
                    raise LockError(f"the state is locked by {who}",
                                    hint="wait for it to finish, or pass --lock-timeout SECONDS") from None
                time.sleep(0.1)
        previous = read_holder(self.path)
        if previous is not None and not _alive(previous):
            self.stale = previous
        handle.seek(0)
        handle.truncate()
        holder = Holder(os.getpid(), _host(),
                        datetime.now(timezone.utc).isoformat(timespec="seconds"), command)
        handle.write(json.dumps(holder.__dict__))
        handle.flush()
        self._handle = handle

    def alive(self) -> bool:
        return self._handle is not None  # the kernel keeps a file lock while its holder lives

    def release(self) -> None:
        if self._handle is not None:
            self._handle.seek(0)
            self._handle.truncate()
            self._handle.flush()
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def read_holder(path: Path) -> Holder | None:
    try:
        data = json.loads(path.read_text() or "null")
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    try:
        return Holder(int(data["pid"]), str(data["host"]), str(data["started_at"]), str(data["command"]))
    except (KeyError, ValueError, TypeError):
        return None


def _alive(holder: Holder) -> bool:
    if holder.host != _host():
        return True  # cannot tell; assume alive
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _host() -> str:
    import socket  # only a command that locks needs it (a plan does not: its start stays quick)

    return socket.gethostname()
