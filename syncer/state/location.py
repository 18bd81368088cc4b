"""Where the state is: ``--state``, else ``$SYNCER_STATE``, else ``state:`` in the project file
(``syncer.yaml`` at the project root), else ``state/syncer.db``.

A location is a path (the SQLite state, the embedded default) or a ``postgresql://`` URL.  A
URL names a project with ``?project=NAME``, else the project file's ``project:``, else the
project root's directory name (the Git checkout's, see
:func:`syncer.model.project.project_root`), so every clone of a repository shares one state.
The project file's values are interpolated from the environment (``state: ${SYNCER_STATE_URL}``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .. import secrets
from ..errors import StateError
from .postgres.url import is_url, parse

DEFAULT_STATE = Path("state/syncer.db")
PROJECT_FILE = "syncer.yaml"
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

Location = Path | str  # a str is always a URL


@dataclass(frozen=True)
class ProjectFile:
    path: Path
    state: str | None
    project: str | None


def project_root(manifests: Path | None) -> Path:
    from ..model.project import project_root as root

    return root(manifests if manifests is not None else Path("manifests"))


def read_project_file(manifests: Path | None) -> ProjectFile | None:
    """``syncer.yaml`` at the project root, if there is one."""
    path = project_root(manifests) / PROJECT_FILE
    if not path.is_file():
        return None
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise StateError(f"{path}: cannot read the project file: {exc}") from None
    if not isinstance(data, dict) or set(data) - {"state", "project"}:
        raise StateError(f"{path}: the project file holds `state:` and `project:` only",
                         hint="state: ${SYNCER_STATE_URL}")
    values = {k: _interpolate(path, k, data[k]) for k in ("state", "project") if data.get(k)}
    return ProjectFile(path, values.get("state"), values.get("project"))


def _interpolate(path: Path, key: str, value: object) -> str:
    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        if name not in os.environ:
            raise StateError(f"{path}: `{key}:` uses the environment variable {name}, which is "
                             "not set", hint=f"export {name}=... before running syncer")
        secrets.register(os.environ[name])
        return os.environ[name]

    return _VAR.sub(substitute, str(value))


def resolve(option: str | Path | None, manifests: Path | None = None) -> Location:
    """The state's location; a URL comes back with its project named."""
    value: str | Path | None = option if option not in (None, "") else None
    if value is None:
        value = os.environ.get("SYNCER_STATE", "").strip() or None
    found = read_project_file(manifests) if value is None or is_url(str(value)) else None
    if value is None and found is not None and found.state:
        value = found.state
        if not is_url(value) and not Path(value).is_absolute():
            value = found.path.parent / value
    if value is None:
        return default_state(manifests)
    if not is_url(str(value)):
        return Path(value)
    url = parse(str(value))
    if url.project is not None:
        return str(value)
    name = found.project if found is not None and found.project else project_root(manifests).name
    return url.with_project(name).text


def default_state(manifests: Path | None) -> Path:
    """``state/syncer.db`` at the project root (the directory holding ``.git`` or
    ``syncer.yaml``), wherever the command runs from: ``-m .`` inside ``manifests/`` finds the
    same state as ``-m manifests`` from the root.  Shown relative to the working directory when
    inside it."""
    if manifests is None:
        return DEFAULT_STATE
    path = project_root(manifests) / DEFAULT_STATE
    here = Path.cwd().resolve()
    return path.relative_to(here) if path.is_relative_to(here) else path


def shown(location: Location) -> str:
    """The state's location as messages name it (a URL without its password)."""
    return parse(location).display if isinstance(location, str) else str(location)
