"""Load a directory of manifests into a validated :class:`Project`, reporting every problem.

Steps per file: parse YAML with line numbers, interpolate ``${VAR}``, pick the target type's
models, validate with pydantic, resolve paths against the manifest file, check that sources
exist.  Then across files: unique target names, unique dataset names and tables per target.
Nothing here touches the state or a target.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError, create_model
from typing import Literal

from ..errors import ManifestError, Problem
from .checks import dataset_problems
from .files import manifest_files, resolve_source
from .interpolate import interpolate
from .place import Place
from .manifest import ColumnSpec, DatasetSpec, TargetSpec, without_unset_additions
from ..targets.registry import TARGET_TYPES
from .yaml_lines import LineMap, load_yaml



@dataclass(frozen=True)
class Dataset:
    """A dataset as the rest of syncer sees it: its spec plus where it was declared."""

    target: TargetSpec
    spec: DatasetSpec
    manifest: Path
    line: int | None
    files: tuple[Path, ...]
    format: str
    #: the project root: a target file inside it is recorded relative to it
    root: Path | None = None

    @property
    def location(self) -> str:
        """Where the dataset's target is, as the state records it (see
        :meth:`TargetSpec.location`): a checkout moved elsewhere keeps its locations."""
        return self.target.location(self.root)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def id(self) -> str:
        return f"{self.target.name}/{self.spec.name}"

    def relative_files(self) -> list[str]:
        """The source files as paths relative to the manifest's directory."""
        return [os.path.relpath(p, self.manifest.parent) for p in self.files]

    def spec_hash(self) -> str:
        """Hash of everything in the manifest that shapes the rows (not the file contents)."""
        payload = {
            "dataset": without_unset_additions(
                self.spec.model_dump(mode="json", exclude={"allow_deletes", "max_delete"})),
            # relative to the manifest: a checkout moved elsewhere (CI) holds the same dataset
            "files": self.relative_files(),
            "format": self.format,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def place(self) -> Place:
        """The dataset in plain values, as a plan that reads no rows sees it."""
        return Place(self.target.name, self.name, self.target.type, self.spec.table_name,
                     self.spec.mode, self.location, self.root, self.files, self.manifest.parent,
                     self.spec_hash())


@dataclass(frozen=True)
class Project:
    """Every target and dataset the manifests declare: the whole desired state."""

    root: Path
    manifests: tuple[Path, ...]
    targets: tuple[TargetSpec, ...]
    datasets: tuple[Dataset, ...] = field(default=())

    def select(self, target: str | None = None, dataset: str | None = None) -> list[Dataset]:
        """Datasets matching the filters; an unknown name is an error, not an empty selection."""
        from ..errors import SyncError

        chosen = [d for d in self.datasets
                  if (target is None or d.target.name == target)
                  and (dataset is None or d.name == dataset or d.id == dataset)]
        if not chosen and (target or dataset):
            names = sorted({d.target.name for d in self.datasets} if target and not dataset
                           else {d.id for d in self.datasets})
            what = f"target '{target}'" if target and not dataset else f"dataset '{dataset}'"
            raise SyncError(f"no {what} in the manifests",
                            hint=f"choose one of: {', '.join(names) or '(none declared)'}")
        return chosen


def manifest_model(type_name: str) -> type[BaseModel]:
    """The full manifest model for one target type (used for validation and the JSON Schema)."""
    kind = TARGET_TYPES[type_name]
    model: type[BaseModel] = create_model(
        f"{type_name.capitalize()}Manifest",
        __config__=None,
        __base__=_ManifestBase,
        version=(Literal[1], ...),
        target=(kind.target_model, ...),
        datasets=(list[kind.dataset_model], []),  # type: ignore[name-defined]
    )
    return model


class _ManifestBase(BaseModel):
    model_config = {"extra": "forbid", "frozen": True}


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a manifest file (any target type)."""
    from pydantic import TypeAdapter
    from typing import Union

    models = tuple(manifest_model(name) for name in TARGET_TYPES)
    union: Any = models[0] if len(models) == 1 else Union[models]
    schema = TypeAdapter(union).json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "syncer manifest (version 1)"
    return schema


#: ``--env-file`` files, read for ``${VAR}`` before the ``.env`` beside the manifests
ENV_FILES: list[Path] = []


def environment(location: Path) -> dict[str, str]:
    """The variables ``${VAR}`` reads: the process's environment, plus those of ``--env-file``
    files and of a ``.env`` in the manifests' directory or the project root, which never
    override a variable that is set (as docker compose and dotenv do)."""
    environ = dict(os.environ)
    for given in ENV_FILES:
        if not given.is_file():
            raise ManifestError([Problem(given, None, "no such env file (--env-file)")])
    for path in dict.fromkeys(p.resolve() for p in env_files(location)):
        if path.is_file():
            for name, value in read_env_file(path).items():
                environ.setdefault(name, value)
    return environ


def env_files(location: Path) -> list[Path]:
    """Where ``${VAR}`` values may come from, first wins: the ``--env-file`` files, the ``.env``
    beside the manifests, the project root's ``.env`` (present or not)."""
    folder = location if location.is_dir() else location.parent
    return [*ENV_FILES, folder / ".env", project_root(location) / ".env"]


def read_env_file(path: Path) -> dict[str, str]:
    from dotenv import dotenv_values

    try:
        values = dotenv_values(path, interpolate=False)
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError([Problem(path, None, f"cannot read the .env file: {exc}")]) from None
    return {k: v for k, v in values.items() if v is not None}


def load_project(location: Path, env: dict[str, str] | None = None) -> Project:
    """Load and validate every manifest under ``location``; raise ManifestError with all problems."""
    environ = environment(location) if env is None else env
    files = manifest_files(location)
    problems: list[Problem] = []
    targets: list[TargetSpec] = []
    datasets: list[Dataset] = []
    seen_targets: dict[str, tuple[Path, int | None]] = {}
    root = project_root(location)
    for path in files:
        loaded = _load_file(path, environ, problems, root)
        if loaded is None:
            continue
        target, file_datasets, lines = loaded
        if target.name in seen_targets:
            other, other_line = seen_targets[target.name]
            problems.append(Problem(path, lines.line(("target", "name")),
                                    f"target name '{target.name}' is already used in "
                                    f"{other.name}:{other_line}", "give each target a unique name"))
            continue
        seen_targets[target.name] = (path, lines.line(("target", "name")))
        targets.append(target)
        datasets.extend(file_datasets)
    if problems:
        raise ManifestError(problems)
    root = location if location.is_dir() else location.parent
    return Project(root, tuple(files), tuple(targets), tuple(datasets))


def project_root(location: Path) -> Path:
    """The project's directory (sources must stay in it; the default state lives in it): the
    nearest directory holding ``.git`` or the project file ``syncer.yaml`` from the manifest
    directory up; else the working directory when the manifests are inside it; else the
    manifest directory's parent."""
    manifests = (location if location.is_dir() else location.parent).resolve()
    for folder in (manifests, *manifests.parents):
        if marks_root(folder):
            return folder
    here = Path.cwd().resolve()
    return here if manifests.is_relative_to(here) else manifests.parent


def marks_root(folder: Path) -> bool:
    """Whether ``folder`` is a project root by what it holds: ``.git`` or ``syncer.yaml``."""
    return (folder / ".git").exists() or (folder / "syncer.yaml").is_file()


def _load_file(path: Path, env: dict[str, str], problems: list[Problem], root: Path
               ) -> tuple[TargetSpec, list[Dataset], LineMap] | None:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        at = exc.object[:exc.start].count(b"\n") + 1
        problems.append(Problem(path, at, f"manifest is not UTF-8 text (byte "
                                f"0x{exc.object[exc.start]:02x}: {exc.reason})",
                                "save the manifest as UTF-8"))
        return None
    except OSError as exc:
        problems.append(Problem(path, None, f"cannot read manifest: {exc.strerror}"))
        return None
    if "\x00" in text:
        problems.append(Problem(path, text.count("\n", 0, text.index("\x00")) + 1,
                                "manifest contains NUL bytes", "save it as plain text"))
        return None
    data, lines, found = load_yaml(path, text)
    problems.extend(found)
    if found:
        return None
    if not isinstance(data, dict):
        problems.append(Problem(path, 1, "a manifest must be a mapping with version, target, datasets",
                                "start from `syncer init` or the README example"))
        return None
    before = len(problems)
    data = interpolate(data, (), path, lines, env, problems)
    type_name = data.get("target", {}).get("type") if isinstance(data.get("target"), dict) else None
    if type_name not in TARGET_TYPES:
        known = ", ".join(TARGET_TYPES)
        if type_name is None:
            msg = "target.type is missing" if isinstance(data.get("target"), dict) else "missing `target:` section"
        else:
            msg = f"unknown target type '{type_name}'"
        problems.append(Problem(path, lines.line(("target", "type")), msg, f"use one of: {known}"))
        return None
    model = manifest_model(type_name)
    try:
        manifest = model.model_validate(data)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, path, lines, model))
        return None
    if len(problems) > before:
        return None
    target: TargetSpec = manifest.target.resolve_paths(path.parent)  # type: ignore[attr-defined]
    out: list[Dataset] = []
    names: dict[str, int | None] = {}
    tables: dict[str, set[str | None]] = {}
    for index, spec in enumerate(manifest.datasets):  # type: ignore[attr-defined]
        line = lines.line(("datasets", index))
        if spec.name in names:
            problems.append(Problem(path, lines.line(("datasets", index, "name")),
                                    f"dataset name '{spec.name}' is used twice in target "
                                    f"'{target.name}' (first at line {names[spec.name]})",
                                    "give each dataset a unique name"))
            continue
        names[spec.name] = line
        # datasets share a table only in partitions of their own (zilliz `partition:`)
        partition = getattr(spec, "partition", None)
        shared = tables.get(spec.table_name)
        if shared is not None and (partition is None or None in shared or partition in shared):
            problems.append(Problem(path, lines.line(("datasets", index, "table")),
                                    f"table '{spec.table_name}' is written by two datasets",
                                    "give each dataset its own `table:` (or, on zilliz, "
                                    "each its own `partition:`)"))
            continue
        tables.setdefault(spec.table_name, set()).add(partition)
        resolved = resolve_source(spec.source, path, lines.line(("datasets", index, "source")),
                                  problems, root)
        if resolved is None:
            continue
        files, fmt = resolved
        found = dataset_problems(spec, index, fmt, path, lines)
        if found:
            problems.extend(found)
            continue
        out.append(Dataset(target, spec, path, line, files, fmt, root))
    return target, out, lines


def _known_names(model: type[BaseModel], seen: set[type] | None = None) -> set[str]:
    seen = seen or set()
    names: set[str] = set()
    if model in seen:
        return names
    seen.add(model)
    for name, info in model.model_fields.items():
        names.add(info.alias or name)
        for arg in _model_args(info.annotation):
            names |= _known_names(arg, seen)
    return names


def _model_args(annotation: Any) -> list[type[BaseModel]]:
    from typing import get_args

    found: list[type[BaseModel]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    for arg in get_args(annotation):
        found.extend(_model_args(arg))
    return found


def _pydantic_problems(exc: ValidationError, path: Path, lines: LineMap,
                       model: type[BaseModel]) -> list[Problem]:
    problems: list[Problem] = []
    known = _known_names(model) | {"version", "target", "datasets"}
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if not isinstance(part, str) or
                    not part.startswith(("function-", "literal[")))
        where = _dotted(loc)
        hint: str | None = None
        if error["type"] == "extra_forbidden":
            key = str(loc[-1]) if loc else ""
            close = difflib.get_close_matches(key, sorted(known), n=1)
            message = f"unknown key '{key}'" + (f" in {_dotted(loc[:-1])}" if loc[:-1] else "")
            hint = f"did you mean '{close[0]}'?" if close else "remove it (see `syncer schema`)"
        elif error["type"] == "missing":
            message = f"{where}: required key is missing"
            hint = f"add `{loc[-1]}:`" if loc else None
        else:
            msg = error["msg"].removeprefix("Value error, ")
            message = f"{where}: {msg}" if where else msg
        problems.append(Problem(path, lines.line(loc), message, hint))
    return problems


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


__all__ = ["ColumnSpec", "Dataset", "Project", "json_schema", "load_project", "manifest_files",
           "manifest_model"]
