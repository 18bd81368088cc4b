"""Which column and table names a dataset may use: the rules shared by the manifest check (the
``columns:`` a dataset declares, its ``table:``) and the source check (the header of a file read
without ``columns:``), so validate, plan and apply refuse the same names with the same words.

syncer's own bookkeeping columns (``__k``, ``__h``, ``__src``, ``__row``, ``__kh``, ``__op``,
``__at``...) travel in the same frames as a dataset's columns, and its own tables
(``_syncer_batches``, the temporary ``_syncer_upserts``...) live in the same database as the
dataset's table: a user name in either namespace would be overwritten or would alter syncer's
tables.  Whole prefixes are reserved, not a list of today's names, so a name syncer adds later
can never collide either.
"""

from __future__ import annotations

from collections.abc import Iterable

#: column names starting with this are syncer's (bookkeeping columns in the row frames)
COLUMN_PREFIX = "__"
#: the record number syncer adds to a file's raw columns: not even ``from:`` can read it
ROW_NUMBER = "__row"
#: table names starting with this (any case: SQLite names are case-insensitive) are syncer's
TABLE_PREFIX = "_syncer"
#: SQLite keeps a dataset's unique key index under ``<table>_syncer_key``
TABLE_SUFFIX = "_syncer_key"
#: the most columns a table can hold (SQLite's default SQLITE_MAX_COLUMN, the lowest limit of
#: syncer's embedded targets)
MAX_COLUMNS = 2000
#: the longest column name syncer accepts
MAX_NAME = 1024


def reserved_column(name: str) -> str | None:
    """Why ``name`` cannot be a dataset's column, or None."""
    if name.startswith(COLUMN_PREFIX):
        return (f"column name '{name}' is reserved: names starting with '{COLUMN_PREFIX}' are "
                "syncer's own bookkeeping columns")
    return None


def rename_hint(name: str) -> str:
    """How to keep a source column whose name is reserved."""
    if name == ROW_NUMBER:
        return f"rename the column in the file ('{ROW_NUMBER}' is the record number syncer adds)"
    return (f"declare it under another name, e.g. `columns: {{{name.lstrip('_') or 'value'}: "
            f"{{from: {name}}}}}`, or rename it in the file")


def column_problems(names: Iterable[str]) -> list[tuple[str, str, str]]:
    """``(name, message, hint)`` for each column name a target cannot hold: reserved names,
    names that differ only in case (one column in SQLite and most stores), names too long,
    and more columns than a table holds."""
    found: list[tuple[str, str, str]] = []
    seen: dict[str, str] = {}
    names = list(names)
    for name in names:
        reserved = reserved_column(name)
        if reserved:
            found.append((name, reserved, rename_hint(name)))
        elif len(name) > MAX_NAME:
            found.append((name, f"column name of {len(name):,} characters (at most {MAX_NAME:,})",
                          "shorten it; is the first line really a header?"))
        folded = name.casefold()
        if folded in seen and seen[folded] != name:
            found.append((name, f"columns '{seen[folded]}' and '{name}' differ only in case "
                          "(one column in the target)", "rename one of them"))
        seen.setdefault(folded, name)
    if len(names) > MAX_COLUMNS:
        found.append((names[MAX_COLUMNS], f"{len(names):,} columns; a table holds at most "
                      f"{MAX_COLUMNS:,}", "declare the columns to keep under `columns:`"))
    return found


def reserved_table(name: str) -> str | None:
    """Why ``name`` cannot be a dataset's table, or None."""
    folded = name.casefold()
    if folded.startswith(TABLE_PREFIX) or folded.endswith(TABLE_SUFFIX):
        return (f"table name '{name}' is reserved: syncer keeps its own tables in the target "
                f"under names starting with '{TABLE_PREFIX}' or ending in '{TABLE_SUFFIX}'")
    return None
