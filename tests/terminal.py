"""Run the real ``syncer`` command on a pseudo-terminal, as a person at a shell would: what it
prints there (spinners, bars, colours) is what they see."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import REPO


def on_terminal(*args: object, cwd: Path, env: dict[str, str] | None = None,
                timeout: float = 60, during: Callable[[subprocess.Popen[bytes], str], None]
                | None = None) -> tuple[int, str]:
    """``python -m syncer ARGS`` with stdin, stdout and stderr on one pseudo-terminal; returns
    the exit code and everything it printed.  ``during(process, output so far)`` is called as
    output arrives (to press Ctrl-C at the right moment, say)."""
    environ = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", **(env or {})}
    for name in ("NO_COLOR", "SYNCER_DEBUG"):
        if env is None or name not in env:
            environ.pop(name, None)
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), environ.get("PYTHONPATH")]))
    master, slave = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "syncer", *(str(a) for a in args)],
                               cwd=cwd, env=environ, stdin=slave, stdout=slave, stderr=slave,
                               close_fds=True, start_new_session=True)
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
                during(process, b"".join(chunks).decode(errors="replace"))
        code = process.wait(timeout)
    finally:
        os.close(master)
    return code, b"".join(chunks).decode(errors="replace")
