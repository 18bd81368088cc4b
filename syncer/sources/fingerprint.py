"""Fingerprints of source files: size, mtime and a content hash, recomputed only when needed.

An unchanged file is a no-op without reading its rows: when size and mtime match what was
recorded, the recorded content hash is trusted; otherwise the file is hashed (xxh3-128, ~GB/s)
and compared, so a ``touch`` is still not a change.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import xxhash

_CHUNK = 8 << 20


@dataclass(frozen=True)
class FileStamp:
    path: str
    size: int
    mtime_ns: int
    digest: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _hash(path: Path) -> str:
    # into one reused buffer: a fresh 8 MB bytes object per read costs more (its pages are
    # faulted in anew each time) than hashing it
    h = xxhash.xxh3_128()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as handle:
        while size := handle.readinto(buffer):
            h.update(view[:size])
    return h.hexdigest()


def fingerprint(files: tuple[Path, ...], previous: list[FileStamp] | None = None,
                base: Path | None = None) -> list[FileStamp]:
    """Stamp every file, reusing a previous digest when size and mtime are the same.

    Stamps name files relative to ``base`` (the manifest's directory), so a checkout cloned
    into another directory keeps its fingerprints; absolute names from older states still match.
    """
    home = os.path.abspath(base) if base is not None else None

    def where(name: str) -> str:
        return os.path.abspath(os.path.join(home, name) if home is not None else name)

    known = {where(s.path): s for s in previous or []}
    stamps: list[FileStamp] = []
    for path in files:
        st = os.stat(path)
        name = os.path.relpath(path, home) if home is not None else str(path)
        old = known.get(os.path.abspath(path))
        if old is not None and old.size == st.st_size and old.mtime_ns == st.st_mtime_ns:
            stamps.append(FileStamp(name, old.size, old.mtime_ns, old.digest))
        else:
            stamps.append(FileStamp(name, st.st_size, st.st_mtime_ns, _hash(path)))
    return stamps


def unchanged(current: list[FileStamp], previous: list[FileStamp] | None) -> bool:
    """The same contents in the same order (a renamed file with the same rows is no change)."""
    if previous is None:
        return False
    return [s.digest for s in current] == [s.digest for s in previous]
