"""Importing a database library without pandas.

sqlite-utils and ADBC's DB-API (through ``pyarrow.dataset``) import pandas when it is installed
(pymilvus brings it), for DataFrame support syncer never uses: 0.3-0.6 s of every apply into
SQLite or PostgreSQL.  Inside :func:`without_pandas` ``import pandas`` fails as if it were not
installed, which both libraries handle; a pandas already loaded is left alone, and a later
``import pandas`` (pymilvus's, in a project with a Milvus target too) works as usual.
"""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Iterator
from contextlib import contextmanager


class _NoPandas(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, *_: object) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError("pandas is not used by syncer's database targets",
                                      name=name)
        return None


@contextmanager
def without_pandas() -> Iterator[None]:
    """Imports made inside this block see no pandas."""
    if "pandas" in sys.modules:
        yield
        return
    finder = _NoPandas()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
