"""Sources: read a dataset's files into normalised, hashed rows, and fingerprint them.

Fingerprints are light (``os.stat`` and a file hash); the readers need polars and pyarrow, so
they load on first use (PEP 562): a plan that finds every source unchanged never imports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .fingerprint import FileStamp, fingerprint, unchanged

if TYPE_CHECKING:
    from .rows import RowStream, SourceRows, duplicate_keys, load_rows, stream_rows

_ROWS = {"RowStream", "SourceRows", "duplicate_keys", "load_rows", "stream_rows"}

__all__ = ["FileStamp", "RowStream", "SourceRows", "duplicate_keys", "fingerprint", "load_rows",
           "stream_rows", "unchanged"]


def __getattr__(name: str) -> Any:
    if name in _ROWS:
        from . import rows

        return getattr(rows, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
