"""`syncer validate` and `syncer schema`: check manifests, print their JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..model.project import Project, load_project
from ..errors import ManifestError, Problem, SourceError, SyncError
from ..model.project import json_schema
from ..secrets import redact
from ..ui import console
from .options import JsonOpt, Manifests, NoColor


def validate(manifests: Manifests = Path("manifests"), json_out: JsonOpt = False,
             no_color: NoColor = False) -> None:
    """Check the manifests and that every source exists, without touching state or targets."""
    try:
        project = load_project(manifests)
        _check_sources(project)
    except SyncError as exc:
        if json_out:  # the problems as data on stdout; the message and exit 1 still follow
            print(redact(json.dumps({"valid": False, "manifests": [], "targets": [],
                                     "datasets": [], "problems": _problems(exc)})))
        raise
    if json_out:
        print(redact(json.dumps({
            "valid": True,
            "manifests": [_display(p) for p in project.manifests],
            "targets": [{"name": t.name, "type": t.type} for t in project.targets],
            "datasets": [{"target": d.target.name, "dataset": d.name, "mode": d.spec.mode,
                          "table": d.spec.table_name} for d in project.datasets],
            "problems": []})))
    else:
        console(no_color=no_color).print(
            f"[green]OK[/green]: {len(project.manifests)} manifest(s), "
            f"{len(project.targets)} target(s), {len(project.datasets)} dataset(s).")


def _check_sources(project: Project) -> None:
    """What plan would refuse in a source's header (or Parquet footer), found without reading
    rows: its column names against the dataset's declared columns and key, the encoding's byte
    order mark, NUL bytes and runaway first lines."""
    from ..sources.header import source_problems

    problems = []
    for dataset in project.datasets:
        spec = dataset.spec
        declared = (None if spec.columns is None else
                    {name: column.from_ or name for name, column in spec.columns.items()})
        for path in dataset.files:
            problems.extend(source_problems(path, dataset.format, spec.source, declared,
                                            list(spec.key or ())))
    if problems:
        raise ManifestError(problems)


def schema() -> None:
    """Print the JSON Schema of a manifest (for editors and CI checks)."""
    print(json.dumps(json_schema(), indent=2))


def _problems(exc: SyncError) -> list[dict[str, Any]]:
    if isinstance(exc, ManifestError):
        found = exc.problems
    elif isinstance(exc, SourceError):
        found = [exc.problem]
    else:
        found = [Problem(None, None, exc.message, exc.hint)]
    return [{"file": _display(p.path) if p.path else None, "line": p.line, "message": p.message,
             "hint": p.hint} for p in found]


def _display(path: Path) -> str:
    """A path relative to the working directory when it is below it (as in the text errors)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, RuntimeError, OSError):  # elsewhere, or a symlink loop
        return str(path)
