"""The PostgreSQL state's lock: one per project, a session-level advisory lock held on a
connection of its own for the lock's whole life, so a holder that crashes or is cut off loses it
with its connection (no force-unlock is ever needed).  Who holds it (pid, host, user, command,
since) is written in ``lock_holders`` so that a refused command can name the holder; a row found
there by the next holder was left by one that died holding the lock (``stale``).

A watcher can keep one of these for its life while it opens and closes stores: the lock does
not depend on the store that took it.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ...errors import LockError, StateLost
from ..base import Holder
from .connection import connect, translated
from .url import PgUrl

if TYPE_CHECKING:
    import psycopg

POLL_SECONDS = 0.2
#: how long the server takes to drop a lock whose holder vanished (keepalives: 5 + 3 x 2 s)
KEEPALIVE_SECONDS = 11


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


class AdvisoryLock:
    """Exclusive lock on one project of a PostgreSQL state, held from :meth:`acquire` to
    :meth:`release` (or until its connection dies)."""

    def __init__(self, url: PgUrl) -> None:
        self.url = url
        self.db: psycopg.Connection[tuple[object, ...]] | None = None
        self.stale: Holder | None = None

    @property
    def table(self) -> str:
        return f'"{self.url.schema}".lock_holders'

    def acquire(self, command: str, timeout: float = 0.0) -> None:
        db = connect(self.url, "lock")
        # the server notices a holder that vanished without closing (a cut cable, a frozen
        # host) within about KEEPALIVE_SECONDS and drops its lock: a standby watcher then takes
        # over (a killed process closes its socket, and loses the lock at once)
        with translated(self.url):
            db.execute("SET tcp_keepalives_idle = 5")
            db.execute("SET tcp_keepalives_interval = 2")
            db.execute("SET tcp_keepalives_count = 3")
        deadline = time.monotonic() + timeout
        try:
            with translated(self.url):
                while not db.execute("SELECT pg_try_advisory_lock(%s)",
                                     (self.url.lock_key,)).fetchone() == (True,):
                    if time.monotonic() >= deadline:
                        holder = self._holder(db)
                        who = holder.describe() if holder else "another process"
                        raise LockError(f"the state is locked by {who}",
                                        hint="wait for it to finish, or pass --lock-timeout "
                                             "SECONDS")
                    time.sleep(POLL_SECONDS)
                self.stale = self._holder(db)  # still there: its holder died holding the lock
                backend = db.execute("SELECT pg_backend_pid()").fetchone()
                db.execute(f"INSERT INTO {self.table} (project, pid, host, \"user\", command, "
                           "started_at, backend_pid) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                           "ON CONFLICT (project) DO UPDATE SET pid=excluded.pid, "
                           "host=excluded.host, \"user\"=excluded.\"user\", "
                           "command=excluded.command, started_at=excluded.started_at, "
                           "backend_pid=excluded.backend_pid",
                           (self._project, os.getpid(), socket.gethostname(), _user(), command,
                            datetime.now(timezone.utc).isoformat(timespec="seconds"),
                            backend[0] if backend else 0))
        except BaseException:
            db.close()
            raise
        self.db = db

    @property
    def _project(self) -> str:
        return self.url.project or ""

    def _holder(self, db: psycopg.Connection[tuple[object, ...]]) -> Holder | None:
        row = db.execute(f"SELECT pid, host, started_at, command, \"user\" FROM {self.table} "
                         "WHERE project = %s", (self._project,)).fetchone()
        if row is None:
            return None
        pid, host, started_at, command, user = row
        return Holder(int(pid), str(host), str(started_at), str(command),  # type: ignore[call-overload]
                      str(user) if user else None)

    def check(self) -> None:
        """Raise StateLost when the lock's connection is gone (the lock went with it)."""
        if self.db is None:
            return
        try:
            with translated(self.url):
                self.db.execute("SELECT 1")
        except StateLost:
            raise StateLost(f"lost the lock on the state {self.url.display}: its connection to "
                            "the server was closed",
                            hint="nothing the target did not confirm was recorded; run the "
                                 "command again (an unfinished batch is settled first)") from None

    def alive(self) -> bool:
        try:
            self.check()
        except StateLost:
            return False
        return self.db is not None

    def release(self) -> None:
        db, self.db = self.db, None
        if db is None:
            return
        try:
            with translated(self.url):
                db.execute(f"DELETE FROM {self.table} WHERE project = %s", (self._project,))
                db.execute("SELECT pg_advisory_unlock(%s)", (self.url.lock_key,))
        except StateLost:
            pass  # the connection is gone, and the lock with it
        finally:
            db.close()
