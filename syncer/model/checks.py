"""Checks of one dataset that need more than its own model: the names it gives the target
(columns, table), and CSV options against the format the source turned out to have."""

from __future__ import annotations

from pathlib import Path

from ..errors import Problem
from .manifest import DatasetSpec
from .names import ROW_NUMBER, column_problems, reserved_table
from .yaml_lines import LineMap


def dataset_problems(spec: DatasetSpec, index: int, fmt: str, path: Path,
                     lines: LineMap) -> list[Problem]:
    """Every problem of dataset ``index`` of the manifest at ``path``, each at its line."""
    at = ("datasets", index)
    found: list[Problem] = []
    reserved = reserved_table(spec.table_name)
    if reserved:
        found.append(Problem(path, lines.line((*at, "table") if spec.table else (*at, "name")),
                             reserved, "choose another `table:`"))
    if spec.columns is not None:
        for name, message, hint in column_problems(spec.columns):
            found.append(Problem(path, lines.line((*at, "columns", name)),
                                 f"datasets[{index}].columns: {message}", hint))
        for name, column in spec.columns.items():
            if column.from_ == ROW_NUMBER:
                found.append(Problem(path, lines.line((*at, "columns", name, "from")),
                                     f"datasets[{index}].columns.{name}: '{ROW_NUMBER}' cannot be "
                                     "read from a file: it is the record number syncer adds",
                                     "rename the column in the file"))
    if fmt in ("csv", "tsv"):
        source = spec.source
        delimiter = source.delimiter or ("\t" if fmt == "tsv" else ",")
        wrong: str | None = None
        if "\n" in (delimiter, source.quotechar) or "\r" in (delimiter, source.quotechar):
            wrong = "a line break cannot be the delimiter or the quote character"
        elif delimiter == source.quotechar:
            wrong = (f"the quote character {source.quotechar!r} is also the delimiter "
                       f"{'(the default for ' + fmt + ')' if source.delimiter is None else ''}")
        if wrong:
            found.append(Problem(path, lines.line((*at, "source")),
                                 f"datasets[{index}].source: {wrong}".rstrip(),
                                 "choose a different `delimiter:` or `quotechar:`"))
    return found
