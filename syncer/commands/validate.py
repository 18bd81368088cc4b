"""`syncer validate` and `syncer schema`: check manifests, print their JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

from .. import runner
from ..project import json_schema
from ..ui import console
from .options import JsonOpt, Manifests


def validate(manifests: Manifests = Path("manifests"), json_out: JsonOpt = False) -> None:
    """Check the manifests and that every source exists, without touching state or targets."""
    project, _ = runner.load(runner.Selection(manifests, Path(":memory:")))
    if json_out:
        print(json.dumps({"valid": True, "targets": len(project.targets),
                          "datasets": [d.id for d in project.datasets]}))
    else:
        console().print(f"[green]OK[/green]: {len(project.manifests)} manifest(s), "
                        f"{len(project.targets)} target(s), {len(project.datasets)} dataset(s).")


def schema() -> None:
    """Print the JSON Schema of a manifest (for editors and CI checks)."""
    print(json.dumps(json_schema(), indent=2))
