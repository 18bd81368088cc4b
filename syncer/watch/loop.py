"""``syncer watch``: reconcile once, then keep the targets in line as manifests and sources change.

::

    changes()      watchfiles -> debounced batches of the paths that matter (empty: a timer tick)
    Watcher.run()  hold the state lock; reconcile everything; then, per batch: reload the
                   manifests when they changed, mark the datasets affected, reconcile the ones
                   that are due (not backing off); every ``interval`` re-plan everything

A reconcile goes through the same building blocks as ``syncer apply`` (settle the journal,
:func:`~syncer.sync.plan.build_plan`, :class:`~syncer.sync.execute.Executor`), one dataset at a time, so
a bad source or a target that is down only holds up its own datasets: they back off exponentially
(capped) and are retried, and the process never exits because of them.

Settings come from the argument, else the environment (``SYNCER_WATCH_*``), else the default, as
in watchfiles.  Nothing here knows about the CLI framework or the terminal: events are logged on
the ``syncer.watch`` logger, one line each (:class:`EventFormatter`: text or JSON lines).
"""

from __future__ import annotations

import glob
import json
import logging
import os
import random
import re
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

import watchfiles

from ..errors import StateError, SyncError, TargetError
from ..sync.execute import Executor
from .health import Status
from ..state.sqlite.lock import FileLock as StateLock
from ..sync.plan import Planned, build_plan
from ..model.project import Dataset, Project, load_project
from ..sync.session import Drivers, run_info
from ..secrets import redact
from ..state import StateStore, open_state

log = logging.getLogger("syncer.watch")

TICK_MS = 250  # longest sleep without a file event: timers (interval, backoff) run this often
QUIET_MAX = 1.0  # longest wait for a source file that is still being written


# -- settings ---------------------------------------------------------------------------------

#: the environment variable of each setting (read when the argument is not given)
ENV = {"interval": "SYNCER_WATCH_INTERVAL", "debounce_ms": "SYNCER_WATCH_DEBOUNCE",
       "step_ms": "SYNCER_WATCH_STEP", "health_port": "SYNCER_WATCH_HEALTH_PORT",
       "health_host": "SYNCER_WATCH_HEALTH_HOST",
       "log_format": "SYNCER_LOG_FORMAT", "backoff": "SYNCER_WATCH_BACKOFF",
       "max_backoff": "SYNCER_WATCH_BACKOFF_MAX", "stop_grace": "SYNCER_WATCH_STOP_GRACE",
       "self_heal": "SYNCER_WATCH_SELF_HEAL"}


@dataclass(frozen=True)
class WatchConfig:
    """Every setting of a watch; build it with :meth:`resolve`."""

    manifests: Path
    state: Path
    interval: float = 300.0       # seconds between full re-plans
    debounce_ms: int = 50         # longest time watchfiles groups events for
    step_ms: int = 20             # quiet time that ends a batch of events (watchfiles' step)
    health_port: int | None = None
    health_host: str = "127.0.0.1"  # 0.0.0.0 to be scraped from outside a container
    log_format: str = "text"      # text | json
    backoff: float = 1.0          # first retry delay of a failing dataset, seconds
    max_backoff: float = 60.0     # the delay doubles up to this
    stop_grace: float = 5.0       # after SIGTERM, how long the batch in flight may take
    self_heal: bool = False       # interval passes plan with --refresh and repair drift

    @classmethod
    def resolve(cls, manifests: Path, state: Path, env: Mapping[str, str] | None = None,
                **given: Any) -> WatchConfig:
        """Each setting from ``given`` (None: not given), else ``env``, else the default."""
        environ = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in ("manifests", "state"):
                continue
            value = given.pop(f.name, None)
            variable = ENV[f.name]
            if value is None and environ.get(variable, "").strip():
                value = _parse(variable, environ[variable].strip(), f.default)
            if value is not None:
                values[f.name] = value
        if given:
            raise TypeError(f"unknown watch settings: {', '.join(given)}")
        config = cls(manifests, state, **values)
        config.check()
        return config

    def check(self) -> None:
        problems = [message for bad, message in (
            (self.interval <= 0, "--interval must be more than 0 seconds"),
            (self.debounce_ms < 0, "--debounce must be 0 or more milliseconds"),
            (self.step_ms < 1, f"{ENV['step_ms']} must be 1 or more milliseconds"),
            (self.health_port is not None and not 0 <= self.health_port <= 65535,
             "--health-port must be a TCP port (0 picks a free one)"),
            (self.log_format not in ("text", "json"), "--log-format must be text or json"),
            (self.backoff <= 0 or self.max_backoff < self.backoff,
             f"{ENV['backoff']} must be > 0 and at most {ENV['max_backoff']}"),
            (self.stop_grace < 0, f"{ENV['stop_grace']} must be 0 or more seconds"),
        ) if bad]
        if problems:
            raise SyncError("; ".join(problems))


def _parse(variable: str, text: str, default: Any) -> Any:
    if isinstance(default, bool):
        if text.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return text.lower() in ("1", "true", "yes", "on")
        raise SyncError(f"{variable}={text!r} is not a valid boolean (true or false)")
    kind = str if isinstance(default, str) else float if isinstance(default, float) else int
    try:
        return kind(text)
    except ValueError:
        raise SyncError(f"{variable}={text!r} is not a valid {kind.__name__}") from None


# -- what to watch ----------------------------------------------------------------------------

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
                patterns.append((_glob_regex(pattern), ds.id))
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


def _glob_regex(pattern: str) -> re.Pattern[str]:
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


# -- stopping ---------------------------------------------------------------------------------

class StopTimeout(BaseException):
    """The stop grace ran out with a reconcile in flight (raised in the main thread).

    A BaseException, so that no ``except Exception`` on the way mistakes it for a failure."""


class StopSignals:
    """SIGINT and SIGTERM as a request to stop.

    The first one sets ``stop``: no new change is taken, the dataset in flight is finished and
    the loop ends.  A second one raises KeyboardInterrupt at once; ``grace`` seconds after the
    first, a reconcile still in flight is interrupted with :class:`StopTimeout`.  Either way the
    journal keeps the batch that was interrupted and the next run settles it with the target.
    Outside the main thread (an in-process caller) nothing is installed: set ``stop`` instead.
    """

    def __init__(self, stop: threading.Event, grace: float) -> None:
        self.stop = stop
        self.grace = grace
        self._previous: dict[int, Any] = {}
        self._in_flight = False
        self._expired = False
        self._timer: threading.Timer | None = None
        self._closing = threading.Lock()  # no late kill once the old handlers are back
        self._closed = False

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._closing:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        self._in_flight = True
        try:
            yield
        finally:
            self._in_flight = False

    def _handle(self, signum: int, _frame: object) -> None:
        if self._expired:
            if self._in_flight:
                raise StopTimeout
            return
        if self.stop.is_set():
            raise KeyboardInterrupt
        self.stop.set()
        name = signal.Signals(signum).name
        event(logging.INFO, "stop", f"{name}: stopping (finishing the dataset in flight)",
              signal=name)
        if self._in_flight and self.grace > 0 and hasattr(signal, "pthread_kill"):
            main = threading.main_thread().ident
            assert main is not None
            self._timer = threading.Timer(self.grace, self._expire, (main, signum))
            self._timer.daemon = True
            self._timer.start()

    def _expire(self, main: int, signum: int) -> None:
        with self._closing:
            if self._closed:
                return
            self._expired = True
            signal.pthread_kill(main, signum)  # to the main thread: it interrupts a blocking call


# -- logging ----------------------------------------------------------------------------------

def event(level: int, name: str, message: str, **values: Any) -> None:
    """Log one event on ``syncer.watch``: a message plus the fields a log shipper indexes."""
    log.log(level, message, extra={"event": name, "fields": values})


class EventFormatter(logging.Formatter):
    """One line per event: ``ts LEVEL event message`` as text, or a JSON object with ts, level,
    event, message and the event's fields (target, dataset, inserts, seconds, error, ...)."""

    def __init__(self, json_lines: bool = False) -> None:
        super().__init__()
        self.json_lines = json_lines

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, timezone.utc).isoformat(
            timespec="milliseconds").replace("+00:00", "Z")
        message = redact(record.getMessage())
        if record.exc_info and os.environ.get("SYNCER_DEBUG"):
            message += "\n" + redact("".join(traceback.format_exception(*record.exc_info)))
        name = getattr(record, "event", record.name)
        if self.json_lines:
            values = {k: _plain(v) for k, v in (getattr(record, "fields", None) or {}).items()}
            return json.dumps({"ts": ts, "level": record.levelname.lower(), "event": name,
                               **values, "message": message}, ensure_ascii=False, default=str)
        return f"{ts} {record.levelname:<7} {name:<9} {message}".replace("\n", " | ")


def _plain(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    return value


def configure_logging(log_format: str = "text", stream: TextIO | None = None) -> None:
    """Send ``syncer.watch`` events to ``stream`` (stderr), one line each, flushed."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(EventFormatter(json_lines=log_format == "json"))
    log.handlers = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False


# -- the loop ---------------------------------------------------------------------------------

@dataclass
class _Run:
    """One reconcile's bookkeeping: the runs-table entry is opened on the first real change."""

    store: StateStore
    executor: Executor
    info: dict[str, object]
    begun: bool = False
    summaries: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("applied", "unchanged", "failed", "blocked"), 0))

    def begin(self) -> None:
        if not self.begun:
            self.store.begin_run(self.executor.run_id, "watch", self.info)
            self.begun = True


class Watcher:
    """The watch loop.  :meth:`run` returns once ``stop`` is set (by a signal, or a caller)."""

    def __init__(self, config: WatchConfig, stop: threading.Event | None = None,
                 status: Status | None = None, signals: StopSignals | None = None) -> None:
        self.config = config
        self.stop = stop or threading.Event()
        self.status = status or Status()
        self.signals = signals
        self.project: Project | None = None
        self.watch_set = WatchSet.of(config.manifests, None)
        self.pending: set[str] = set()            # datasets to re-plan
        self.failures: dict[str, int] = {}        # consecutive failures per dataset
        self.retry_at: dict[str, float] = {}      # monotonic time a failing dataset is due
        self.manifest_error: str | None = None
        self._info: dict[str, object] = {}

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> None:
        """Hold the state lock; reconcile everything; follow changes until stopped.

        Invalid manifests at start are an error (there is nothing valid to run on); later they
        are logged and the last valid ones are kept."""
        lock = StateLock(self.config.state)
        lock.acquire("watch")
        ending = ""
        try:
            if lock.stale is not None:
                event(logging.WARNING, "lock", "a lock left by a dead process was released: "
                      + lock.stale.describe())
            self._use(load_project(self.config.manifests))
            assert self.project is not None
            self.status.set_running(True)
            event(logging.INFO, "start",
                  f"watching {_show(self.config.manifests)}: {len(self.project.datasets)} "
                  f"dataset(s) in {len(self.project.targets)} target(s); state "
                  f"{_show(self.config.state)}; full re-plan every {self.config.interval:g}s",
                  manifests=str(self.config.manifests), state=str(self.config.state),
                  datasets=len(self.project.datasets), interval=self.config.interval,
                  debounce_ms=self.config.debounce_ms, pid=os.getpid())
            # every dataset is due; the first batch is a tick once the watch is up, so nothing
            # that changes during the first reconcile is missed
            self.pending = {d.id for d in self.project.datasets}
            reason = "start"
            next_full = time.monotonic() + self.config.interval
            for batch in changes(lambda: self.watch_set, self.stop,
                                 debounce_ms=self.config.debounce_ms, step_ms=self.config.step_ms):
                watched = (self.watch_set.dirs, self.watch_set.recursive)
                if batch:
                    self._on_changes(batch)
                    reason = "change" if reason == "retry" else reason
                if time.monotonic() >= next_full:
                    self._reload()
                    self.pending |= {d.id for d in self.project.datasets}
                    next_full = time.monotonic() + self.config.interval
                    reason = "interval"
                if (self.watch_set.dirs, self.watch_set.recursive) != watched:
                    continue  # the watch restarts on the new directories first, then reconcile
                self._run_due(reason)
                reason = "retry"
            ending = "stopped"
        except KeyboardInterrupt:
            ending = "interrupted"
            raise
        finally:
            self.status.set_running(False)
            lock.release()
            if ending == "stopped":
                event(logging.INFO, "stopped", "stopped; the state lock is released")
            elif ending == "interrupted":
                event(logging.WARNING, "stopped", "interrupted: a batch in flight stays in the "
                      "journal and the next run settles it; the state lock is released")

    def _run_due(self, reason: str) -> None:
        now = time.monotonic()
        due = {i for i in self.pending if self.retry_at.get(i, 0.0) <= now}
        if not due or self.stop.is_set():
            return
        try:
            if self.signals is not None:
                with self.signals.in_flight():
                    self._reconcile(due, reason)
            else:
                self._reconcile(due, reason)
        except StopTimeout:
            event(logging.WARNING, "stop", f"the dataset in flight did not finish within "
                  f"{self.config.stop_grace:g}s: interrupted; its batch stays in the journal and "
                  "the next run settles it with the target")

    # -- changes ----------------------------------------------------------------------------
    def _on_changes(self, batch: set[tuple[watchfiles.Change, str]]) -> None:
        paths = {path for _, path in batch}
        manifests = any(self.watch_set.is_manifest(p) for p in paths)
        # a source that appeared or left may change what a glob matches: reload to find out
        moved = any(change != watchfiles.Change.modified for change, p in batch
                    if not self.watch_set.is_manifest(p))
        shown = sorted(_show(Path(p)) for p in paths)
        event(logging.INFO, "change", ", ".join(shown[:10]) + (
            f" and {len(shown) - 10} more" if len(shown) > 10 else ""), paths=shown)
        affected = self.watch_set.datasets(paths)
        if manifests or moved:
            affected |= self._reload()
        assert self.project is not None
        self.pending |= affected & {d.id for d in self.project.datasets}

    def _reload(self) -> set[str]:
        """Load the manifests again; return the datasets that are new or declared differently.
        Invalid manifests are logged and the last valid ones kept."""
        assert self.project is not None
        try:
            project = load_project(self.config.manifests)
        except Exception as exc:  # noqa: BLE001 - a manifest problem never stops the watcher
            message = redact(str(exc)) if isinstance(exc, SyncError) else f"{type(exc).__name__}: {exc}"
            self.manifest_error = message
            self.status.manifests(message)
            event(logging.ERROR, "manifests", "invalid manifests; still running on the last "
                  f"valid ones: {message}", error=message)
            return set()
        old = {d.id: d for d in self.project.datasets}
        new = {d.id: d for d in project.datasets}
        changed = {i for i, d in new.items() if old.get(i) != d}
        removed = sorted(old.keys() - new.keys())
        self._use(project)
        if self.manifest_error is not None:
            event(logging.INFO, "manifests", "the manifests are valid again")
            self.manifest_error = None
            self.status.manifests(None)
        if changed:
            event(logging.INFO, "manifests", f"reloaded: {len(changed)} dataset(s) new or "
                  f"changed: {', '.join(sorted(changed))}", datasets=sorted(changed))
        for gone in removed:
            self.pending.discard(gone)
            self.failures.pop(gone, None)
            self.retry_at.pop(gone, None)
            target, _, name = gone.partition("/")
            event(logging.WARNING, "orphaned", f"{gone} is no longer declared; its target data "
                  "is left alone (`syncer state forget` drops it from the state)",
                  target=target, dataset=name)
        return changed

    def _use(self, project: Project) -> None:
        self.project = project
        self.watch_set = WatchSet.of(self.config.manifests, project)
        self.status.declare([(d.target.name, d.name) for d in project.datasets])
        self._info = run_info(self.config.manifests)  # once per load: it asks git

    # -- reconcile --------------------------------------------------------------------------
    def _reconcile(self, ids: set[str], reason: str) -> None:
        """Plan and apply ``ids``, one dataset at a time, through apply's building blocks."""
        assert self.project is not None
        started = time.monotonic()
        project = self.project
        datasets = [d for d in project.datasets if d.id in ids]
        self.pending -= ids
        done: set[str] = set()
        run: _Run | None = None
        self._wait_until_written(datasets)
        try:
            with open_state(self.config.state) as store:
                run = _Run(store, Executor(project, store, Drivers()), self._info)
                interrupted = True  # until the loop ends normally (a forced stop, a bug)
                try:
                    for ds in self._settle(run, datasets):
                        if self.stop.is_set():
                            break
                        done.add(ds.id)
                        try:
                            outcome = self._one(ds, project, run,
                                                drift_check=reason == "interval")
                        except Exception as exc:  # noqa: BLE001 - a bug: log it, back off
                            self._failed(ds, f"unexpected {type(exc).__name__}: {exc}",
                                         retry=True, exc=exc)
                            outcome = "failed"
                        run.counts[outcome] = run.counts.get(outcome, 0) + 1
                    interrupted = False
                finally:
                    self._finish(run, interrupted)
        except Exception as exc:  # noqa: BLE001 - the state store failed: retry what is left
            for ds in datasets:
                if ds.id not in done:
                    self._failed(ds, f"{type(exc).__name__}: {exc}" if not isinstance(
                        exc, SyncError) else str(exc), retry=True, exc=exc)
        self.status.reconciled()
        counts = run.counts if run else {}
        seconds = time.monotonic() - started
        summary = ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "nothing to do"
        event(logging.INFO, "reconcile", f"{reason}: {len(datasets)} dataset(s): {summary} "
              f"({seconds:.3f}s)", reason=reason, datasets=len(datasets), seconds=seconds,
              **{k: counts.get(k, 0) for k in ("applied", "failed", "blocked")})

    def _wait_until_written(self, datasets: list[Dataset]) -> None:
        """Wait until no source of ``datasets`` was modified within the last step.

        A batch of events ends after one quiet step, but repeated writes to one file are one
        event: a file still being copied in place could be read half-way (and its missing tail
        planned as deletes).  Usually the last write is older than a step and this costs a stat
        per file; the wait is bounded in case a clock (a network share's) runs ahead."""
        step = self.config.step_ms / 1000
        deadline = time.monotonic() + QUIET_MAX
        while not self.stop.is_set():
            newest = 0.0
            for path in {f for ds in datasets for f in ds.files}:
                try:
                    newest = max(newest, path.stat().st_mtime)
                except OSError:
                    continue  # gone: planning reports it
            wait = min(newest + step - time.time(), deadline - time.monotonic())
            if wait <= 0:
                return
            time.sleep(min(wait, step))

    def _settle(self, run: _Run, datasets: list[Dataset]) -> list[Dataset]:
        """Settle batches a crash or an outage left open before re-planning their datasets
        (as apply does); when that fails, those datasets wait and the others go ahead."""
        open_ids = {f"{b.target}/{b.dataset}" for b in run.store.open_batches()}
        if not open_ids & {d.id for d in datasets}:
            return datasets
        try:
            for note in run.executor.settle_open_batches():
                event(logging.INFO, "settle", note)
        except Exception as exc:  # noqa: BLE001 - the target is still down: retry later
            message = redact(str(exc)) if isinstance(exc, SyncError) else f"{type(exc).__name__}: {exc}"
            for ds in datasets:
                if ds.id in open_ids:
                    self._failed(ds, f"cannot settle the batch left open: {message}", retry=True)
            return [d for d in datasets if d.id not in open_ids]
        return datasets

    def _one(self, ds: Dataset, project: Project, run: _Run, drift_check: bool = False) -> str:
        started = time.monotonic()
        heal = drift_check and self.config.self_heal
        try:
            planned = build_plan(project, run.store, [ds], filtered=True,
                                 refresh=run.executor.driver if heal else None, keep_actual=heal)
        except SyncError as exc:
            # a bad source waits for its next change; state or target trouble is retried
            self._failed(ds, str(exc), retry=isinstance(exc, (StateError, TargetError)))
            return "failed"
        try:
            return self._apply_one(ds, planned, run, started, heal, drift_check)
        finally:
            planned.close()

    def _apply_one(self, ds: Dataset, planned: Planned, run: _Run, started: float, heal: bool,
                   drift_check: bool) -> str:
        plan_seconds = time.monotonic() - started
        self.status.planned(ds.id, plan_seconds)
        item = planned.plan.datasets[0]
        where = {"target": ds.target.name, "dataset": ds.name}
        if item.blocked:
            self.failures.pop(ds.id, None)
            self.retry_at.pop(ds.id, None)
            self.status.blocked(ds.id, item.blocked)
            event(logging.WARNING, "blocked", f"{ds.id}: blocked by a safety guard, not applied: "
                  f"{item.blocked}", **where, reason=item.blocked, inserts=item.inserts,
                  updates=item.updates, deletes=item.deletes)
            return "blocked"
        if item.drift is not None:
            self._drift(ds, item.drift.rows, item.drift, healing=True)
        if item.has_changes:
            event(logging.INFO, "plan", f"{ds.id} ({item.mode}): +{item.inserts} ~{item.updates} "
                  f"-{item.deletes}", **where, mode=item.mode, inserts=item.inserts,
                  updates=item.updates, deletes=item.deletes, seconds=plan_seconds)
            run.begin()
        result = run.executor.apply(planned).datasets[0]
        if item.has_changes:
            run.summaries.append(result.to_json())
        if result.error:
            self._failed(ds, result.error, retry=True)
            return "failed"
        self.status.applied(ds.id, result.inserts, result.updates, result.deletes,
                            result.seconds, item.has_changes)
        if item.has_changes:
            event(logging.INFO, "apply", f"{ds.id}: applied +{result.inserts} ~{result.updates} "
                  f"-{result.deletes} in {result.seconds:.3f}s", **where, inserts=result.inserts,
                  updates=result.updates, deletes=result.deletes, seconds=result.seconds)
        self.retry_at.pop(ds.id, None)
        if self.failures.pop(ds.id, None):
            event(logging.INFO, "recovered", f"{ds.id}: in sync again", **where)
        if heal:
            self.status.drift(ds.id, 0)  # repaired
        elif drift_check:
            self._check_drift(ds, run)
        return "applied" if item.has_changes else "unchanged"

    def _check_drift(self, ds: Dataset, run: _Run) -> None:
        """Read the target back and report drift (log and metric); nothing is repaired."""
        from ..sync.refresh import check

        try:
            [found] = check(run.store, [ds], run.executor.driver)
        except SyncError as exc:
            event(logging.WARNING, "drift", f"{ds.id}: cannot read the target back: "
                  f"{redact(str(exc))}", target=ds.target.name, dataset=ds.name)
            return
        self._drift(ds, found.drift.rows, found.drift, healing=False)
        self.status.drift(ds.id, found.drift.rows)

    def _drift(self, ds: Dataset, rows: int, found: Any, *, healing: bool) -> None:
        if not rows:
            return
        what = "repairing it" if healing else "not repaired (run with --self-heal, or " \
            "`syncer apply --refresh`)"
        event(logging.WARNING, "drift", f"{ds.id}: drift: ~{found.changed} changed "
              f"+{found.added} added -{found.removed} removed outside syncer; {what}",
              target=ds.target.name, dataset=ds.name, changed=found.changed, added=found.added,
              removed=found.removed)

    def _finish(self, run: _Run, interrupted: bool) -> None:
        try:
            if run.begun:
                outcome = "interrupted" if interrupted else "failed" if any(
                    s.get("error") for s in run.summaries) else "ok"
                run.store.finish_run(run.executor.run_id, outcome, run.summaries)
        finally:
            run.executor.drivers.close()

    def _failed(self, ds: Dataset, error: str, *, retry: bool,
                exc: BaseException | None = None) -> None:
        count = self.failures[ds.id] = self.failures.get(ds.id, 0) + 1
        error = redact(error)
        delay: float | None = None
        if retry:
            delay = min(self.config.max_backoff, self.config.backoff * 2 ** (count - 1))
            delay *= 0.75 + random.random() / 4  # jitter: targets coming back are not stampeded
            self.pending.add(ds.id)
            self.retry_at[ds.id] = time.monotonic() + delay
        else:
            self.retry_at.pop(ds.id, None)
        self.status.failed(ds.id, error, count, delay)
        then = (f"retrying in {delay:.1f}s" if delay is not None
                else "waiting for the source or manifest to change")
        log.error(f"{ds.id}: {error} ({then})",
                  exc_info=exc if exc is not None and not isinstance(exc, SyncError) else None,
                  extra={"event": "error", "fields": {
                      "target": ds.target.name, "dataset": ds.name, "error": error,
                      "failures": count, "retry_in": delay}})


def _show(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


__all__ = ["EventFormatter", "StopSignals", "StopTimeout", "WatchConfig", "WatchSet", "Watcher",
           "changes", "configure_logging", "event"]
