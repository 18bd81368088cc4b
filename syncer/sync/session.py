"""The commands' shared steps, free of any CLI framework: find the state, load, plan, apply.

``syncer watch`` and the CLI both go through here, so they behave the same.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ApplyFailed, PlanError
from ..state.lock import StateLock
from ..model.plan import SavedPlan
from .plan import Planned, build_plan
from .progress import Reporter
from ..model.project import Project, load_project
from ..state.sqlite import StateStore
from ..targets.base import Driver
from ..targets.registry import open_driver

if TYPE_CHECKING:
    from .execute import ApplyResult

DEFAULT_STATE = Path("state/syncer.db")


def state_path(option: Path | None) -> Path:
    """The state database: ``--state``, else ``$SYNCER_STATE``, else ``state/syncer.db``."""
    if option is not None:
        return option
    env = os.environ.get("SYNCER_STATE")
    return Path(env) if env else DEFAULT_STATE


@dataclass(frozen=True)
class Selection:
    manifests: Path
    state: Path
    target: str | None = None
    dataset: str | None = None

    @property
    def filtered(self) -> bool:
        return bool(self.target or self.dataset)


def load(selection: Selection) -> tuple[Project, list]:  # type: ignore[type-arg]
    project = load_project(selection.manifests)
    return project, project.select(selection.target, selection.dataset)


def open_state(path: Path, *, write: bool) -> StateStore:
    if not write and not path.exists():
        return StateStore(Path(":memory:"))
    return StateStore(path)


def plan(selection: Selection, *, allow_deletes: bool = False, progress=None,  # type: ignore[no-untyped-def]
         refresh: bool = False) -> tuple[Project, Planned]:
    project, datasets = load(selection)
    with open_state(selection.state, write=False) as store, Drivers() as drivers:
        planned = build_plan(project, store, datasets, allow_deletes=allow_deletes,
                             progress=progress, filtered=selection.filtered,
                             refresh=drivers.of if refresh else None)
    planned.close()  # a plan to show or save: the rows to write are not read
    return project, planned


class Drivers:
    """Drivers opened on demand (one per target), closed together."""

    def __init__(self) -> None:
        self._open: dict[str, Driver] = {}

    def of(self, dataset) -> Driver:  # type: ignore[no-untyped-def]
        name = dataset.target.name
        if name not in self._open:
            self._open[name] = open_driver(dataset.target)
        return self._open[name]

    def close(self) -> None:
        for driver in self._open.values():
            driver.close()
        self._open.clear()

    def __enter__(self) -> Drivers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def locked_state(path: Path, command: str, timeout: float = 0.0) -> Iterator[tuple[StateStore, StateLock]]:
    lock = StateLock(path)
    lock.acquire(command, timeout)
    try:
        with StateStore(path) as store:
            yield store, lock
    finally:
        lock.release()


def run_info(manifests: Path) -> dict[str, object]:
    return {"user": _user(), "host": socket.gethostname(), "pid": os.getpid(),
            "git_commit": git_commit(manifests)}


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def git_commit(path: Path) -> str | None:
    """The commit checked out where the manifests live, when they are in a Git repository."""
    where = path if path.is_dir() else path.parent
    try:
        out = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


class Applier:
    """One apply: settle the journal, plan (or check a saved plan), confirm, execute, record."""

    def __init__(self, selection: Selection, store: StateStore, reporter: Reporter | None = None,
                 allow_deletes: bool = False, refresh: bool = False) -> None:
        self.selection = selection
        self.refresh = refresh
        self.store = store
        self.reporter = reporter or Reporter()
        self.allow_deletes = allow_deletes
        self.project, self.datasets = load(selection)
        from .execute import Executor  # the write path: loaded by the commands that write

        self.executor = Executor(self.project, store, self.reporter)
        self._planned: list[Planned] = []

    def close(self) -> None:
        self.executor.close()
        for planned in self._planned:
            planned.close()

    def settle(self) -> list[str]:
        return self.executor.settle_open_batches()

    def plan(self, saved: SavedPlan | None = None, progress=None,  # type: ignore[no-untyped-def]
             with_samples: bool = True) -> Planned:
        datasets = self.datasets
        if saved is not None:
            wanted = set(saved.dataset_ids)
            datasets = [d for d in self.project.datasets if d.id in wanted]
        planned = build_plan(self.project, self.store, datasets, allow_deletes=self.allow_deletes,
                             progress=progress, filtered=self.selection.filtered or saved is not None,
                             refresh=self.executor.driver if self.refresh else None,
                             keep_actual=self.refresh, with_samples=with_samples)
        self._planned.append(planned)
        if saved is not None:
            saved.check(planned.plan)
        return planned

    def apply(self, planned: Planned, command: str = "apply") -> ApplyResult:
        blocked = planned.plan.blocked
        if blocked:
            reasons = "\n".join(f"  {d.id}: {d.blocked}" for d in blocked)
            raise PlanError(f"the plan is blocked by a safety guard; nothing was applied:\n{reasons}")
        self.store.begin_run(self.executor.run_id, command, run_info(self.selection.manifests))
        try:
            result = self.executor.apply(planned)
        except BaseException as exc:
            # interrupted, or a bug: say so in the history (only a killed process leaves a run
            # unfinished); the open batch, if any, is settled by the next apply
            outcome = "interrupted" if isinstance(exc, KeyboardInterrupt) else "error"
            try:
                self.store.finish_run(self.executor.run_id, outcome, [])
            except Exception:  # noqa: BLE001 - the first failure is the one to report
                pass
            raise
        outcome = "failed" if result.failed else "ok"
        self.store.finish_run(self.executor.run_id, outcome, [d.to_json() for d in result.datasets])
        if result.failed:
            names = "\n".join(f"  {d.id}: {d.error}" for d in result.failed)
            ok = len(result.datasets) - len(result.failed)
            raise ApplyFailed(f"{len(result.failed)} dataset(s) failed ({ok} applied):\n{names}")
        return result
