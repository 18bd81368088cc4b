"""Options shared by several commands, so every command spells them the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import runner

Manifests = Annotated[Path, typer.Option("-m", "--manifests", help="Manifest directory (or one file).")]
StateOpt = Annotated[Optional[Path], typer.Option(
    "--state", help="State database (default: $SYNCER_STATE, else state/syncer.db).")]
TargetOpt = Annotated[Optional[str], typer.Option("--target", help="Only this target.")]
DatasetOpt = Annotated[Optional[str], typer.Option(
    "--dataset", help="Only this dataset (NAME or TARGET/NAME).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
NoColor = Annotated[bool, typer.Option("--no-color", help="Plain output (also: NO_COLOR=1).")]
AllowDeletes = Annotated[bool, typer.Option(
    "--allow-deletes", help="Allow plans that empty a dataset or delete more than max_delete.")]



def selection(manifests: Path, state: Path | None, target: str | None,
               dataset: str | None) -> runner.Selection:
    return runner.Selection(manifests, runner.state_path(state), target, dataset)
