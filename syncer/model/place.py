"""One dataset as a plan that reads no rows sees it: where it goes and what it was declared as,
in plain values (no manifest models, so no pydantic).

:meth:`syncer.model.project.Dataset.place` makes one from the validated manifests; the target
check (:mod:`syncer.sync.check`) and the look that decides whether a dataset must be read at
all (:mod:`syncer.sync.glance`) take nothing else, so :mod:`syncer.quick` can run them from a
remembered place without loading the manifests.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Place:
    target: str        # the target's name
    name: str          # the dataset's name
    target_type: str
    table_name: str    # the table / datastore / collection the dataset is written to
    mode: str
    #: where the target is, as the state records it (``TargetSpec.location``)
    location: str
    #: the project root (a target file inside it is shown relative to the working directory)
    root: Path | None
    #: the source files (absolute) and the directory they are named relative to
    files: tuple[Path, ...]
    base: Path
    #: everything in the manifest that shapes the rows (``Dataset.spec_hash``)
    spec_hash: str

    @property
    def id(self) -> str:
        return f"{self.target}/{self.name}"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(root=None if self.root is None else str(self.root),
                   files=[str(f) for f in self.files], base=str(self.base))
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Place:
        root = data["root"]
        return cls(str(data["target"]), str(data["name"]), str(data["target_type"]),
                   str(data["table_name"]), str(data["mode"]), str(data["location"]),
                   None if root is None else Path(root), tuple(Path(f) for f in data["files"]),
                   Path(data["base"]), str(data["spec_hash"]))


def file_location(path: str, root: Path | None) -> str:
    """A target file's location: relative to the project ``root`` when inside it (a checkout
    cloned elsewhere keeps it), else its absolute path."""
    resolved = Path(path).resolve()
    if root is not None and resolved.is_relative_to(root.resolve()):
        return resolved.relative_to(root.resolve()).as_posix()
    return str(resolved)
