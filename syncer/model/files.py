"""Finding the files a project names: its manifests, and each dataset's source files.

Every entry that looks like a manifest or names a source must be a regular file: a directory,
a FIFO, a dangling symlink or a symlink loop is reported where it is found (never skipped, never
"does not exist"), and nothing here opens a file that is not regular (a FIFO would block).
"""

from __future__ import annotations

import glob
import os
import stat
from pathlib import Path

from ..errors import ManifestError, Problem
from .manifest import SourceSpec

EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl",
              ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


def not_regular(path: Path) -> str | None:
    """Why ``path`` is not a regular file (following symlinks), or None when it is one."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "points to nothing (a dangling symlink)" if path.is_symlink() else "does not exist"
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            return "is a symlink loop"
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory"
    kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "special")
    return f"is not a regular file ({kind})"


def manifest_files(location: Path) -> list[Path]:
    """The manifests at ``location`` (a file, or every *.yaml / *.yml in a directory)."""
    if location.is_file():
        return [location]
    if not location.is_dir():
        raise ManifestError([Problem(location, None, "manifest directory does not exist",
                                     "pass -m/--manifests DIR, or create ./manifests")])
    entries = sorted(p for p in location.iterdir() if p.suffix in (".yaml", ".yml"))
    problems = []
    for entry in entries:
        why = not_regular(entry)
        if why == "is a directory":
            why = "is a directory, not a manifest"
        if why is not None:
            # the directory, not the entry: a symlink's path would be shown where it points
            problems.append(Problem(location, None, f"{entry.name} {why}",
                                    "remove or rename it: every *.yaml / *.yml entry in the "
                                    "manifest directory is read as a manifest"))
    if problems:
        raise ManifestError(problems)
    if not entries:
        raise ManifestError([Problem(location, None, "no manifests (*.yaml) found",
                                     "add a manifest file, or point -m at the right directory")])
    return entries


def resolve_source(source: SourceSpec, manifest: Path, line: int | None,
                   problems: list[Problem], root: Path) -> tuple[tuple[Path, ...], str] | None:
    """A dataset's source files (resolved) and format, or None with the problem appended."""
    pattern = (manifest.parent / source.path)
    if glob.has_magic(source.path):
        matches = [Path(p) for p in glob.glob(str(pattern), recursive=True)]
        odd = [(p, why) for p in matches
               if (why := not_regular(p)) not in (None, "is a directory")]
        if odd:
            problems.append(Problem(manifest, line, f"source glob '{source.path}' matches "
                                    f"{odd[0][0].name}, which {odd[0][1]}",
                                    "narrow the pattern to regular files"))
            return None
        files = tuple(sorted(p.resolve() for p in matches if p.is_file()))
        if not files:
            problems.append(Problem(manifest, line, f"source glob '{source.path}' matches no file",
                                    "check the pattern; paths are relative to the manifest file"))
            return None
    else:
        resolved = pattern.resolve()
        why = not_regular(resolved)
        if why == "is a directory":
            problems.append(Problem(manifest, line, f"source '{source.path}' is a directory, not a "
                                    "file", "name a file, or a glob such as dir/*.csv"))
            return None
        if why == "does not exist":
            problems.append(Problem(manifest, line, f"source file '{source.path}' does not exist "
                                    f"(looked for {resolved})",
                                    "fix the path; it is relative to the manifest file"))
            return None
        if why is not None:
            problems.append(Problem(manifest, line, f"source '{source.path}' {why}",
                                    "name a regular file: syncer reads a source more than once"))
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
    fmt = source.format or EXTENSIONS.get(files[0].suffix.lower())
    if fmt is None:
        problems.append(Problem(manifest, line, f"cannot tell the format of '{source.path}'",
                                "add `format: csv|tsv|json|jsonl|parquet` to the source"))
        return None
    return files, fmt
