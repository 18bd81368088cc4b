"""What a plan read, as files: whether :mod:`syncer.memo` may remember it, and on what.

Paths are kept as named (absolute, symlinks not followed): a ``stat`` follows them at replay,
so a symlink pointed elsewhere (a deploy's ``current``) shows as another file.

A plan can be replayed only when its output depends on local files alone and on nothing that
moves by itself: every dataset in sync (no change, nothing blocked, its target looked at and
as the state says), a SQLite state and only SQLite targets (a server's table can change with
no file to show it), and sources named by path or by a glob within one directory.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from ..model.plan import Plan
from ..model.project import Project, env_files, marks_root, project_root
from ..state.location import PROJECT_FILE
from .session import Selection

#: files SQLite keeps beside a database: a write shows in one of them (``-shm`` changes on reads)
SIDE_FILES = ("", "-wal", "-journal")


def plan_inputs(project: Project, plan: Plan, selection: Selection) -> list[str] | None:
    """Every file the plan's output depends on, or None when it may not be remembered."""
    if not plan.settled:
        return None
    found = local_inputs(project, selection, {d.id for d in plan.datasets})
    return None if found is None else found.every


class Inputs:
    """The files a plan of local files reads: those the manifests are compiled from (the
    manifests, the folders and files that decide the project, the folders a source glob
    lists) and those it looks at on every run (the state, the sources, the target files)."""

    def __init__(self) -> None:
        self.project: list[str] = []
        self.looked_at: list[str] = []

    @property
    def every(self) -> list[str]:
        return [*self.looked_at, *self.project]


def local_inputs(project: Project, selection: Selection, planned: set[str]) -> Inputs | None:
    """The files a plan of the datasets ``planned`` reads, or None when it depends on more
    than local files (a PostgreSQL state, a target that is not a SQLite file, a source glob
    across folders)."""
    if not isinstance(selection.state, Path):
        return None
    found = Inputs()
    found.looked_at += _database(selection.state)
    found.project += _project_files(selection.manifests, project)
    for dataset in project.datasets:
        if dataset.id not in planned:
            continue
        target_file = getattr(dataset.target, "path", None)
        if dataset.target.type != "sqlite" or not isinstance(target_file, str):
            return None
        pattern = dataset.spec.source.path
        if glob.has_magic(os.path.dirname(pattern)):
            return None  # matches in folders that may come and go
        named = os.path.abspath(dataset.manifest.parent / pattern)
        if glob.has_magic(pattern):
            found.project.append(os.path.dirname(named))
        else:
            found.looked_at.append(named)
        found.looked_at.extend(str(p) for p in dataset.files)
        found.looked_at.extend(_database(Path(target_file)))
    return found


def _database(path: Path) -> list[str]:
    base = os.path.abspath(path)
    return [base + side for side in SIDE_FILES]


def _project_files(manifests: Path, project: Project) -> list[str]:
    """The manifests, the folders listed for them and for the project root (a new manifest,
    ``.git``, ``syncer.yaml`` or ``.env`` appearing shows in a folder's mtime), the project file
    and every ``.env`` the variables may come from."""
    named = os.path.abspath(manifests if manifests.is_dir() else manifests.parent)
    folder = Path(named).resolve()
    root = project_root(manifests)
    # the folders the root was looked for in: up to it, or every one when none qualified
    found = marks_root(root)
    paths = [named, *(os.path.abspath(p) for p in project.manifests)]
    for parent in (folder, *folder.parents):
        paths.append(str(parent))
        if found and parent == root:
            break
    paths.append(str(root / PROJECT_FILE))
    paths += [os.path.abspath(p) for p in env_files(manifests)]
    return paths
