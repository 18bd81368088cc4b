"""What to watch and when it changed: the directories and paths that matter for a project
(:class:`WatchSet`), the debounced batches of changes to them (:func:`changes`), and the wait for
a source that is still being written (:func:`wait_until_written`)."""

from __future__ import annotations

import glob
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import watchfiles

from ..errors import SyncError
from ..model.project import Project

TICK_MS = 250  # longest sleep without a file event: timers (interval, backoff) run this often
QUIET_MAX = 1.0  # longest wait for a source file that is still being written


@dataclass(frozen=True)
class WatchSet:
    """What to watch for one project: the directories, and which paths in them matter.

    watchfiles watches directories, so this lists the manifest directory and the directory of
    every source file (for a glob, the deepest directory without a wildcard, recursively when
    the wildcard spans directories); a path is relevant when it is a manifest, a source file, or
    matches a dataset's glob (so a file that appears later is seen).
    """

    dirs: frozenset[Path]
    recursive: bool = False
    manifest_dir: Path | None = None
    manifest_file: Path | None = None
    files: Mapping[str, frozenset[str]] = field(default_factory=dict)  # source file -> dataset ids
    patterns: tuple[tuple[re.Pattern[str], str], ...] = ()            # glob -> dataset id

    @classmethod
    def of(cls, location: Path, project: Project | None) -> WatchSet:
        where = location.resolve()
        is_file = where.is_file() or where.suffix in (".yaml", ".yml")
        dirs = {where.parent if is_file else where}
        recursive = False
        files: dict[str, set[str]] = {}
        patterns: list[tuple[re.Pattern[str], str]] = []
        for ds in project.datasets if project else ():
            for path in ds.files:
                files.setdefault(str(path), set()).add(ds.id)
                dirs.add(path.parent)
            source = ds.spec.source.path
            if glob.has_magic(source):
                pattern = os.path.normpath(ds.manifest.resolve().parent / source)
                base, deep = _glob_base(pattern)
                dirs.add(base)
                recursive = recursive or deep
                patterns.append((glob_regex(pattern), ds.id))
        return cls(frozenset(dirs), recursive, None if is_file else where,
                   where if is_file else None,
                   {path: frozenset(ids) for path, ids in files.items()}, tuple(patterns))

    def is_manifest(self, path: str) -> bool:
        p = Path(path)
        if self.manifest_file is not None:
            return p == self.manifest_file
        return p.parent == self.manifest_dir and p.suffix in (".yaml", ".yml")

    def datasets(self, paths: set[str]) -> set[str]:
        """The datasets whose sources include (or whose globs match) one of ``paths``."""
        found: set[str] = set()
        for path in paths:
            found |= self.files.get(path, frozenset())
            found |= {ds for regex, ds in self.patterns if regex.match(path)}
        return found

    def relevant(self, path: str) -> bool:
        return (path in self.files or self.is_manifest(path)
                or any(regex.match(path) for regex, _ in self.patterns))


def _glob_base(pattern: str) -> tuple[Path, bool]:
    """The deepest directory of ``pattern`` without a wildcard, and whether matches may lie in
    its subdirectories (then the watch must be recursive)."""
    parts = Path(pattern).parts
    first = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    return Path(*parts[:first]), len(parts) - first > 1


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A regular expression matching the paths ``glob.glob(pattern, recursive=True)`` finds:
    ``*``, ``?`` and ``[...]`` stay within one path segment and skip hidden names; ``**``
    spans any number of directories."""
    parts = pattern.split(os.sep)
    out = ""
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            out += r"(?!\.)[^/]*(?:/(?!\.)[^/]*)*" if last else r"(?:(?!\.)[^/]+/)*"
            continue
        out += _segment_regex(part) + ("" if last else "/")
    return re.compile(out + r"\Z")


def _segment_regex(part: str) -> str:
    out = r"(?!\.)" if part[:1] in ("*", "?", "[") else ""
    i = 0
    while i < len(part):
        char = part[i]
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[" and (end := _class_end(part, i)) > 0:
            body = part[i + 1:end]
            if body.startswith("!"):
                out += "[^/" + body[1:].replace("\\", "\\\\") + "]"
            else:
                out += "[" + body.replace("\\", "\\\\") + "]"
            i = end
        else:
            out += re.escape(char)
        i += 1
    return out


def _class_end(part: str, start: int) -> int:
    """Where the ``[...]`` opened at ``start`` closes (a ``]`` right after ``[`` or ``[!`` is
    part of the class, as in fnmatch); -1 when it never closes (then ``[`` is literal)."""
    i = start + 1
    if part[i:i + 1] == "!":
        i += 1
    if part[i:i + 1] == "]":
        i += 1
    return part.find("]", i)


def changes(watch_set: Callable[[], WatchSet], stop: threading.Event, *, debounce_ms: int,
            step_ms: int, tick_ms: int = TICK_MS) -> Iterator[set[tuple[watchfiles.Change, str]]]:
    """Debounced batches of relevant changes, until ``stop`` is set.

    A batch with nothing relevant in it (a timer tick every ``tick_ms`` without events, or only
    events on other files) is yielded empty, so the caller's timers run even in a busy
    directory.  The watch follows ``watch_set()``: when its directories change (the manifests
    now name other sources), watching restarts on the new ones.
    """
    while not stop.is_set():
        current = watch_set()
        dirs = sorted(str(d) for d in current.dirs if d.is_dir())
        watcher = watchfiles.watch(*dirs, watch_filter=None, debounce=debounce_ms, step=step_ms,
                                   stop_event=stop, rust_timeout=tick_ms, yield_on_timeout=True,
                                   recursive=current.recursive)
        try:
            while True:
                try:
                    raw = next(watcher)
                except StopIteration:
                    return  # stopped
                except (OSError, RuntimeError) as exc:
                    raise SyncError(f"cannot watch {', '.join(dirs)}: {exc}",
                                    hint="raise fs.inotify.max_user_watches, or set "
                                         "WATCHFILES_FORCE_POLLING=1 (network and container "
                                         "mounts)") from None
                latest = watch_set()
                yield {(change, path) for change, path in raw if latest.relevant(path)}
                latest = watch_set()
                if (sorted(str(d) for d in latest.dirs if d.is_dir()) != dirs
                        or latest.recursive != current.recursive):
                    break  # restart on the new directories
        finally:
            watcher.close()



def wait_until_written(paths: Iterable[Path], step_ms: int, stop: threading.Event) -> None:
    """Wait until none of ``paths`` was modified within the last step.

    A batch of events ends after one quiet step, but repeated writes to one file are one
    event: a file still being copied in place could be read half-way (and its missing tail
    planned as deletes).  Usually the last write is older than a step and this costs a stat
    per file; the wait is bounded in case a clock (a network share's) runs ahead."""
    files = set(paths)
    step = step_ms / 1000
    deadline = time.monotonic() + QUIET_MAX
    while not stop.is_set():
        newest = 0.0
        for path in files:
            try:
                newest = max(newest, path.stat().st_mtime)
            except OSError:
                continue  # gone: planning reports it
        wait = min(newest + step - time.time(), deadline - time.monotonic())
        if wait <= 0:
            return
        time.sleep(min(wait, step))
