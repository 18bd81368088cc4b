"""Run the real ``syncer`` command on a pseudo-terminal, as a person at a shell would: what it
prints there (spinners, bars, colours) is what they see."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import sys
import termios
from collections.abc import Callable
from pathlib import Path

from tests.conftest import REPO


def _own_terminal() -> None:
    """In the child: a session of its own whose controlling terminal is the pseudo-terminal,
    so Ctrl-C typed into it (:func:`press_ctrl_c`) reaches syncer as a shell would send it."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def press_ctrl_c(terminal: int) -> None:
    os.write(terminal, b"\x03")


def on_terminal(*args: object, cwd: Path, env: dict[str, str] | None = None,
                timeout: float = 60, during: Callable[[int, str], None]
                | None = None) -> tuple[int, str]:
    """``python -m syncer ARGS`` with stdin, stdout and stderr on one pseudo-terminal; returns
    the exit code and everything it printed.  ``during(terminal, output so far)`` is called as
    output arrives (to press Ctrl-C at the right moment, say)."""
    environ = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", **(env or {})}
    for name in ("NO_COLOR", "SYNCER_DEBUG"):
        if env is None or name not in env:
            environ.pop(name, None)
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), environ.get("PYTHONPATH")]))
    master, slave = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "syncer", *(str(a) for a in args)],
                               cwd=cwd, env=environ, stdin=slave, stdout=slave, stderr=slave,
                               close_fds=True, preexec_fn=_own_terminal)
    os.close(slave)
    chunks: list[bytes] = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                process.kill()
                raise TimeoutError(f"syncer {args} printed nothing for {timeout}s")
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal closed: every writer has exited
                break
            if not chunk:
                break
            chunks.append(chunk)
            if during is not None:
                during(master, b"".join(chunks).decode(errors="replace"))
        code = process.wait(timeout)
    finally:
        os.close(master)
    return code, b"".join(chunks).decode(errors="replace")
