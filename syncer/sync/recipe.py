"""What a full ``syncer plan`` leaves for :mod:`syncer.quick`: its manifests compiled to plain
values, and the files they were compiled from."""

from __future__ import annotations

from pathlib import Path

from .. import quick, ui
from ..model.project import Project
from .inputs import local_inputs
from .session import Selection


def remember(project: Project, selection: Selection, note: str, *, json_out: bool, fmt: str,
             no_color: bool, allow_existing: bool) -> None:
    """Offer the recipe of this plan (written when the run ends well), when it plans local files
    only: a SQLite state and SQLite targets."""
    selected = project.select(selection.target, selection.dataset)
    found = local_inputs(project, selection, {d.id for d in selected})
    if found is None or not selected:
        return
    assert isinstance(selection.state, Path)  # local_inputs: a SQLite state
    recipe = {
        "state": str(selection.state),
        "note": note,
        "ui": [ui.SETTINGS.verbosity, ui.SETTINGS.no_color],
        "output": {"json": json_out, "fmt": fmt, "no_color": no_color},
        "allow_existing": allow_existing,
        "places": [d.place().to_json() for d in selected],
        "declared": sorted([d.target.name, d.name] for d in project.datasets),
        "filtered_targets": (sorted({d.target.name for d in selected}) if selection.filtered
                             else None),
        # local_inputs: every selected dataset's target is a SQLite file
        "sqlite": {d.target.name: str(getattr(d.target, "path")) for d in selected},
        "memo": found.every,
    }
    quick.remember(recipe, found.project)
