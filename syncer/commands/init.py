"""`syncer init`: scaffold a project that `syncer plan` runs in straight away.

The scaffold comes from :mod:`syncer.templates` (package data): a commented example manifest
whose first line points editors at the JSON Schema, its data file, and a ``.gitignore`` for the
state database.  The schema itself is generated, so it always matches this syncer version.
Nothing a user wrote is overwritten: existing files are kept unless ``--force``, and a
``.gitignore`` only gains the lines it lacks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..errors import SyncError
from ..model.project import json_schema
from ..ui import console, info
from .options import NoColor

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
SCHEMA_FILE = Path(".syncer/manifest.schema.json")
EXAMPLE_FILES = {  # scaffold path -> template name
    Path("manifests/example.yaml"): "example.yaml",
    Path("data/products.csv"): "products.csv",
}


def template(name: str) -> str:
    """The text of one scaffold template shipped inside the package."""
    # a plain path: `syncer` is a namespace package, which importlib.resources serves poorly
    return (TEMPLATES / name).read_text(encoding="utf-8")


def init(
    directory: Annotated[Path, typer.Argument(
        help="Project directory (created if missing; default: the current one).")] = Path("."),
    force: Annotated[bool, typer.Option(
        "--force", help="Overwrite the example files when they exist.")] = False,
    no_color: NoColor = False,
) -> None:
    """Scaffold a project: an example manifest, its data, the manifest schema, a .gitignore."""
    if directory.exists() and not directory.is_dir():
        raise SyncError(f"{directory} exists and is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    out = console(no_color=no_color)
    done: list[tuple[Path, str]] = []

    existing = _manifests(directory / "manifests")
    if existing and not force:
        done.append((Path("manifests"), f"kept: already holds {len(existing)} manifest(s), "
                                        "no example added"))
    else:
        for path, name in EXAMPLE_FILES.items():
            done.append((path, _write(directory / path, template(name), force)))

    schema = json.dumps(json_schema(), indent=2) + "\n"
    done.append((SCHEMA_FILE, _write(directory / SCHEMA_FILE, schema, overwrite=True)))
    done.append((Path(".gitignore"), _gitignore(directory / ".gitignore")))

    where = "the current directory" if directory.resolve() == Path.cwd().resolve() else str(directory)
    out.print(f"Initialised a syncer project in {where}:")
    width = max(len(str(p)) for p, _ in done)
    for path, what in done:
        info(out, f"  {str(path):<{width}}  {what}")
    step = "" if directory.resolve() == Path.cwd().resolve() else f"cd {directory} && "
    info(out, f"\nNext: `{step}syncer plan` shows what `syncer apply` would load; "
              "edit manifests/ and data/ to make it yours.")


def _manifests(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()]


def _write(path: Path, text: str, overwrite: bool) -> str:
    if path.exists():
        if path.read_text(encoding="utf-8") == text:
            return "unchanged"
        if not overwrite:
            return "kept (exists; --force overwrites it)"
        path.write_text(text, encoding="utf-8")
        return "updated"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return "created"


def _gitignore(path: Path) -> str:
    wanted = template("gitignore")
    if not path.exists():
        path.write_text(wanted, encoding="utf-8")
        return "created"
    current = path.read_text(encoding="utf-8")
    have = {line.strip() for line in current.splitlines()}
    missing = [line for line in wanted.splitlines()
               if line.strip() and not line.startswith("#") and line.strip() not in have]
    if not missing:
        return "unchanged"
    lead = "" if current.endswith("\n") or not current else "\n"
    path.write_text(current + lead + "# syncer\n" + "\n".join(missing) + "\n", encoding="utf-8")
    return f"added {len(missing)} line(s)"
