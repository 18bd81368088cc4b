"""Load a directory of manifests into a validated :class:`Project`, reporting every problem.

Steps per file: parse YAML with line numbers, interpolate ``${VAR}``, pick the target type's
models, validate with pydantic, resolve paths against the manifest file, check that sources
exist.  Then across files: unique target names, unique dataset names and tables per target.
Nothing here touches the state or a target.
"""

from __future__ import annotations

import difflib
import glob
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError, create_model
from typing import Literal

from .. import secrets
from ..errors import ManifestError, Problem
from .manifest import ColumnSpec, DatasetSpec, SourceSpec, TargetSpec
from ..targets.registry import TARGET_TYPES
from .yaml_lines import LineMap, PathKey, load_yaml

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl",
               ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class Dataset:
    """A dataset as the rest of syncer sees it: its spec plus where it was declared."""

    target: TargetSpec
    spec: DatasetSpec
    manifest: Path
    line: int | None
    files: tuple[Path, ...]
    format: str

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
            "dataset": self.spec.model_dump(mode="json", exclude={"allow_deletes", "max_delete"}),
            # relative to the manifest: a checkout moved elsewhere (CI) holds the same dataset
            "files": self.relative_files(),
            "format": self.format,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


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


def manifest_files(location: Path) -> list[Path]:
    if location.is_file():
        return [location]
    if not location.is_dir():
        raise ManifestError([Problem(location, None, "manifest directory does not exist",
                                     "pass -m/--manifests DIR, or create ./manifests")])
    files = sorted(p for p in location.iterdir()
                   if p.suffix in (".yaml", ".yml") and p.is_file())
    if not files:
        raise ManifestError([Problem(location, None, "no manifests (*.yaml) found",
                                     "add a manifest file, or point -m at the right directory")])
    return files


def load_project(location: Path, env: dict[str, str] | None = None) -> Project:
    """Load and validate every manifest under ``location``; raise ManifestError with all problems."""
    environ = dict(os.environ) if env is None else env
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
    """The directory sources must stay in: the nearest directory holding ``.git`` from the
    manifest directory up; else the working directory when the manifests are inside it; else
    the manifest directory's parent."""
    manifests = (location if location.is_dir() else location.parent).resolve()
    for folder in (manifests, *manifests.parents):
        if (folder / ".git").exists():
            return folder
    here = Path.cwd().resolve()
    return here if manifests.is_relative_to(here) else manifests.parent


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
    data = _interpolate(data, (), path, lines, env, problems)
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
        resolved = _resolve_source(spec.source, path, lines.line(("datasets", index, "source")),
                                   problems, root)
        if resolved is None:
            continue
        files, fmt = resolved
        out.append(Dataset(target, spec, path, line, files, fmt))
    return target, out, lines


def _resolve_source(source: SourceSpec, manifest: Path, line: int | None,
                    problems: list[Problem], root: Path) -> tuple[tuple[Path, ...], str] | None:
    pattern = (manifest.parent / source.path)
    if glob.has_magic(source.path):
        files = tuple(sorted(Path(p).resolve() for p in glob.glob(str(pattern), recursive=True)
                             if Path(p).is_file()))
        if not files:
            problems.append(Problem(manifest, line, f"source glob '{source.path}' matches no file",
                                    "check the pattern; paths are relative to the manifest file"))
            return None
    else:
        resolved = pattern.resolve()
        if resolved.is_dir():
            problems.append(Problem(manifest, line, f"source '{source.path}' is a directory, not a "
                                    "file", "name a file, or a glob such as dir/*.csv"))
            return None
        if not resolved.is_file():
            problems.append(Problem(manifest, line, f"source file '{source.path}' does not exist "
                                    f"(looked for {resolved})",
                                    "fix the path; it is relative to the manifest file"))
            return None
        files = (resolved,)
    outside = [f for f in files if not f.is_relative_to(root)]
    if outside:
        problems.append(Problem(manifest, line, f"source '{source.path}' resolves to {outside[0]}, "
                                f"outside the project root {root}",
                                "keep data files inside the repository (the nearest directory "
                                "with .git; without one, the working directory or the manifest "
                                "directory's parent); a symlink counts where it points"))
        return None
    fmt = source.format or _EXTENSIONS.get(files[0].suffix.lower())
    if fmt is None:
        problems.append(Problem(manifest, line, f"cannot tell the format of '{source.path}'",
                                "add `format: csv|tsv|json|jsonl|parquet` to the source"))
        return None
    return files, fmt


def _interpolate(value: Any, where: PathKey, path: Path, lines: LineMap,
                 env: dict[str, str], problems: list[Problem]) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, (*where, k), path, lines, env, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*where, i), path, lines, env, problems) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        if name not in env:
            problems.append(Problem(path, lines.line(where),
                                    f"environment variable {name} is not set",
                                    f"export {name}=... before running syncer"))
            return ""
        secrets.register(env[name])
        return env[name]

    return _VAR.sub(substitute, value)


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


__all__ = ["ColumnSpec", "Dataset", "Project", "json_schema", "load_project", "manifest_model"]
