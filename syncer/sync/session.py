"""A command's hold on a project: which state, the store (locked while it writes), one driver
per target, and the run recorded in the history.  ``apply``, ``adopt``, ``state forget`` and
``syncer watch`` all go through here, so they behave the same.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Interrupted
from ..model.project import Dataset, Project, load_project
from ..model.manifest import TargetSpec
from ..state import Lock, StateStore, open_state
from ..state.location import DEFAULT_STATE, Location, resolve
from ..targets.base import Driver
from ..targets.registry import open_driver

__all__ = ["DEFAULT_STATE", "Location", "state_path"]


def state_path(option: str | Path | None, manifests: Path | None = None) -> Location:
    """The state: ``--state``, else ``$SYNCER_STATE``, else the project file's ``state:``, else
    ``state/syncer.db`` (a path, or a PostgreSQL URL with its project named: see
    :mod:`syncer.state.location`)."""
    return resolve(option, manifests)


@dataclass(frozen=True)
class Selection:
    manifests: Path
    state: Location
    target: str | None = None
    dataset: str | None = None

    @property
    def filtered(self) -> bool:
        return bool(self.target or self.dataset)


def load(selection: Selection) -> tuple[Project, list[Dataset]]:
    project = load_project(selection.manifests)
    return project, project.select(selection.target, selection.dataset)


class Drivers:
    """Drivers opened on demand (one per target), closed together.  ``factory`` is the test
    seam (the registry's :func:`open_driver` by default)."""

    def __init__(self, factory: Callable[[TargetSpec], Driver] = open_driver) -> None:
        self._factory = factory
        self._open: dict[str, Driver] = {}

    def of(self, dataset: Dataset) -> Driver:
        name = dataset.target.name
        if name not in self._open:
            self._open[name] = self._factory(dataset.target)
        return self._open[name]

    def close(self) -> None:
        for driver in self._open.values():
            driver.close()
        self._open.clear()

    def __enter__(self) -> Drivers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Session:
    """The store (``lock`` is held when the session writes) and the drivers of one command."""

    store: StateStore
    drivers: Drivers
    lock: Lock | None = None


@contextmanager
def session(location: Location, command: str, *, write: bool, lock_timeout: float = 0.0,
            create: bool = True) -> Iterator[Session]:
    """Open the state at ``location`` (and lock it, for a command that writes); the drivers
    opened during the session are closed with it.  A read-only session of a state that does
    not exist yet reads an empty one and writes nothing."""
    with open_state(location, create=create, missing_ok=not write) as store:
        lock = store.lock(command, lock_timeout) if write else None
        try:
            with Drivers() as drivers:
                yield Session(store, drivers, lock)
        finally:
            if lock is not None:
                lock.release()


@dataclass
class RunRecord:
    """One run in the history: begun when it first changes something, finished with one
    outcome word (``ok``, ``failed``, ``interrupted``, ``error``) decided here alone."""

    store: StateStore
    run_id: str
    command: str
    manifests: Path
    #: what the history records about the manifests (:func:`run_info`; asked of git if None)
    info: dict[str, object] | None = None
    begun: bool = False
    summaries: list[dict[str, Any]] = field(default_factory=list)

    def begin(self) -> None:
        if not self.begun:
            info = self.info if self.info is not None else run_info(self.manifests)
            self.store.begin_run(self.run_id, self.command, info)
            self.begun = True

    def finish(self, *, interrupted: bool = False, crashed: bool = False) -> str:
        """Record the outcome (a run never begun records nothing); returns the word."""
        outcome = ("interrupted" if interrupted else "error" if crashed else
                   "failed" if any(s.get("error") for s in self.summaries) else "ok")
        if self.begun:  # what was applied before an interrupt is recorded too
            self.store.finish_run(self.run_id, outcome, self.summaries)
        return outcome

    def abort(self, exc: BaseException) -> None:
        """The run stopped on ``exc`` (Ctrl-C or SIGTERM, or a bug): say so in the history
        (only a killed process leaves a run unfinished).  Never masks ``exc``: a failure here
        is dropped."""
        interrupted = isinstance(exc, (KeyboardInterrupt, Interrupted))
        try:
            self.finish(interrupted=interrupted, crashed=not interrupted)
        except Exception:  # noqa: BLE001 - the first failure is the one to report
            pass


def run_info(manifests: Path) -> dict[str, object]:
    commit = git_commit(manifests)
    return {"user": _user(), "host": socket.gethostname(), "pid": os.getpid(),
            "git_commit": commit, "git_dirty": git_dirty(manifests) if commit else None}


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def git_dirty(path: Path) -> bool | None:
    """Whether the Git working tree holding the manifests has uncommitted changes (then the
    commit alone does not say what was applied)."""
    where = path if path.is_dir() else path.parent
    try:
        out = subprocess.run(["git", "-C", str(where), "status", "--porcelain",
                              "--untracked-files=no"], capture_output=True, text=True, timeout=5,
                             check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip()) if out.returncode == 0 else None


def git_commit(path: Path) -> str | None:
    """The commit checked out where the manifests live, when they are in a Git repository."""
    where = path if path.is_dir() else path.parent
    try:
        out = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None
