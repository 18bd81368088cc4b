"""`syncer show PLANFILE`: render a saved plan as `plan` did, without applying anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..errors import PlanError, SyncError
from ..model.markdown import markdown
from ..model.plan import FORMAT_VERSION, Plan
from ..secrets import redact
from ..ui import console, render_plan
from .options import JsonOpt, NoColor


def show(
    plan_file: Annotated[Path, typer.Argument(metavar="PLANFILE",
                                              help="A plan saved with `syncer plan --out`.")],
    json_out: JsonOpt = False,
    fmt: Annotated[str, typer.Option("--format", help="text | json | markdown")] = "text",
    no_color: NoColor = False,
) -> None:
    """Show a saved plan (text, JSON or Markdown) without applying it or reading anything else."""
    if fmt not in ("text", "json", "markdown"):
        raise SyncError(f"unknown --format '{fmt}'", hint="use text, json or markdown")
    plan = _load(plan_file)
    if json_out or fmt == "json":
        print(redact(json.dumps(plan.to_json(), default=str)))
    elif fmt == "markdown":
        print(markdown(plan), end="")
    else:
        render_plan(console(no_color=no_color), plan)


def _load(path: Path) -> Plan:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanError(f"plan file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PlanError(f"{path} is not a syncer plan file ({exc})",
                        hint="make one with `syncer plan --out FILE`") from None
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        version = data.get("format_version") if isinstance(data, dict) else None
        raise PlanError(f"{path}: plan format {version} is not supported",
                        hint="make a new plan with this syncer version")
    try:
        return Plan.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanError(f"{path} is not a syncer plan file ({exc!r} is missing or wrong)",
                        hint="make one with `syncer plan --out FILE`") from None
