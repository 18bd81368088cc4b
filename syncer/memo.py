"""A plan that found nothing to do, remembered: the next identical ``syncer plan`` whose inputs
are all unchanged prints the same output without loading the manifests, the state or the target.

This is git's index applied to a whole command.  A plan with no changes, made against the local
files only (manifests, sources, a SQLite state, SQLite targets), offers the files it read
(:func:`offer`); :class:`Recorder` keeps what the run printed and, when it exits 0, stores both
under a key of everything else the output depends on: the arguments, the working directory, the
environment (as one digest: no value is stored), whether stdout/stderr are terminals and their
size (a spinner's frames are replayed as drawn, on a terminal of the same size), the Python,
and syncer's own files.  :func:`replay` finds the entry for this invocation and
prints it only when every input still has the same size, mtime, ctime and inode (an absent file
still absent); anything else, and the command runs in full.

A file changed within :data:`SETTLE_NS` before the run started is never trusted (a change in
the same clock tick as the read would be invisible: git's "racily clean" entries), so such a
run is not remembered.  ``SYNCER_NO_CACHE=1`` turns it off; ``SYNCER_CACHE_DIR`` moves it (by
default ``$XDG_CACHE_HOME/syncer``, else ``~/.cache/syncer``).

Only the standard library is imported here: a replayed plan costs the interpreter's start,
a few ``stat`` calls and a file read.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

FORMAT = 1
SETTLE_NS = 2_000_000_000   # 2 s: the coarsest common file timestamp (FAT); ext4 is ~4 ms
MAX_OUTPUT = 1 << 20        # a bigger output is not worth keeping
MAX_ENTRIES = 256           # beyond this many, the oldest go (an environment that changes on
                            # every run would otherwise leave an entry per run)
_offered: list[str] | None = None


def offer(paths: Iterable[str]) -> None:
    """The run's output depends only on these files (and on what the key holds): it may be
    remembered.  Called by the plan command when nothing is to be done."""
    global _offered
    _offered = sorted(set(paths))


def cache_dir() -> str | None:
    """Where entries live, or None when the cache is off."""
    if os.environ.get("SYNCER_NO_CACHE", "").strip() not in ("", "0"):
        return None
    where = os.environ.get("SYNCER_CACHE_DIR", "").strip()
    if where:
        return where
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.join(
        os.path.expanduser("~"), ".cache")
    return os.path.join(base, "syncer")


def code_stamp() -> list[Any]:
    """syncer's own files (a reinstall or an edit of the code is another program)."""
    from . import __file__ as init, __version__

    stamps: list[Any] = [__version__]
    for folder, dirs, files in os.walk(os.path.dirname(init)):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".py", ".html", ".css", ".js", ".yaml")):
                st = os.stat(os.path.join(folder, name))
                stamps.append((name, st.st_size, st.st_mtime_ns))
    return stamps


def _terminal(stream: TextIO) -> list[Any]:
    try:
        if stream.isatty():
            return [True, *os.get_terminal_size(stream.fileno())]
    except (OSError, ValueError, AttributeError):
        pass
    return [False]


def key(argv: Sequence[str]) -> str:
    """The entry's name: a digest of everything but the files that the output depends on."""
    environment = sorted((k, v) for k, v in os.environ.items() if k != "_")
    # an installed or removed package shows in its folder's mtime (rich, typer: the output)
    packages = [(p, os.stat(p).st_mtime_ns) for p in sys.path
                if p.endswith("-packages") and os.path.isdir(p)]
    parts = [FORMAT, sys.executable, sys.version, os.getcwd(), list(argv), environment,
             _terminal(sys.stdout), _terminal(sys.stderr), code_stamp(), packages]
    return hashlib.blake2b(json.dumps(parts).encode(), digest_size=20).hexdigest()


def stamp(path: str) -> list[int] | None:
    """What identifies a file's version: size, mtime, ctime, inode (None: it does not exist)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def unchanged(inputs: dict[str, Any]) -> bool:
    """Whether every file still has the stamp recorded for it (an absent one still absent)."""
    for path, was in inputs.items():
        try:
            if stamp(path) != was:
                return False
        except OSError:
            return False
    return True


def settled_stamps(paths: Iterable[str], started_ns: int) -> dict[str, list[int] | None] | None:
    """Every file's stamp, or None when one changed within :data:`SETTLE_NS` before the run
    started (or while it ran): not trusted yet."""
    stamps = {path: stamp(path) for path in paths}
    settled = started_ns - SETTLE_NS
    if any(s is not None and max(s[1], s[2]) >= settled for s in stamps.values()):
        return None
    return stamps


def replay(name: str) -> int | None:
    """Print the remembered output of the invocation whose :func:`key` is ``name`` and return
    its exit code, or None when there is none or an input differs (then nothing was printed)."""
    folder = cache_dir()
    if folder is None:
        return None
    try:
        with open(os.path.join(folder, f"plan-{name}.json"), encoding="utf-8") as handle:
            entry = json.load(handle)
        inputs: dict[str, Any] = entry["inputs"]
        stdout, stderr, code = str(entry["stdout"]), str(entry["stderr"]), int(entry["code"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none yet, or unreadable: the command runs in full (and writes it again)
    if not unchanged(inputs):
        return None
    sys.stderr.write(stderr)
    sys.stderr.flush()
    sys.stdout.write(stdout)
    return code


class Tee:
    """A text stream that writes through and keeps a copy of what was written."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.copy: list[str] = []
        self.size = 0
        self.spoiled = False  # the copy is not the whole output

    def write(self, text: str) -> int:
        try:
            written = self.stream.write(text)
        except BaseException:
            self.spoiled = True
            raise
        self.size += len(text)
        if self.size > MAX_OUTPUT:
            self.spoiled = True
        elif not self.spoiled:
            self.copy.append(text)
        return written

    def __getattr__(self, name: str) -> Any:
        if name == "buffer":  # bytes written past the copy
            self.spoiled = True
        return getattr(self.stream, name)


class Recorder:
    """Tee stdout and stderr for the rest of the run; :meth:`save` stores them if offered."""

    def __init__(self, name: str, started_ns: int) -> None:
        self.started_ns = started_ns
        self.key = name  # :func:`key`, made before the run (which may set variables of its own)
        self.out, self.err = Tee(sys.stdout), Tee(sys.stderr)
        sys.stdout, sys.stderr = self.out, self.err

    def save(self, code: int) -> None:
        """Remember the run when it offered its inputs, exited 0 and its whole output was kept."""
        sys.stdout, sys.stderr = self.out.stream, self.err.stream
        folder = cache_dir()
        if _offered is None or code != 0 or folder is None:
            return
        if self.out.spoiled or self.err.spoiled:
            return
        stdout, stderr = "".join(self.out.copy), "".join(self.err.copy)
        inputs = settled_stamps(_offered, self.started_ns)
        if inputs is None:
            return
        # not the arguments themselves (the key holds their digest): nothing typed is stored
        entry = {"format": FORMAT, "written": time.time(),
                 "inputs": inputs, "stdout": stdout, "stderr": stderr, "code": code}
        write(folder, f"plan-{self.key}.json", json.dumps(entry))
        _prune(folder)


def write(folder: str, name: str, text: str) -> None:
    """Write atomically, readable by the user only; a cache that cannot be written is no error."""
    partial = os.path.join(folder, f".{name}.{os.getpid()}")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(partial, os.path.join(folder, name))
    except OSError:
        try:
            os.unlink(partial)
        except OSError:
            pass


def _prune(folder: str) -> None:
    """Keep the newest :data:`MAX_ENTRIES` entries of each kind (plans, :mod:`syncer.quick`'s
    recipes)."""
    try:
        for kind in ("plan-", "recipe-"):
            entries = [e for e in os.scandir(folder) if e.name.startswith(kind)]
            if len(entries) <= MAX_ENTRIES:
                continue
            entries.sort(key=lambda e: e.stat().st_mtime_ns)
            for old in entries[:len(entries) - MAX_ENTRIES]:
                os.unlink(old.path)
    except OSError:
        pass
