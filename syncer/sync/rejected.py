"""Rows a target rejected, named by their source file and line; a journal entry rebuilt into
the batch that was sent (to settle it)."""

from __future__ import annotations

import polars as pl

from ..errors import TargetError
from ..model.project import Dataset
from ..model.schema import KEY, ROW, SRC, Schema, display_key
from ..state import OP
from ..targets.base import Batch, RowError


def batch_from_delta(batch_id: str, dataset: Dataset, schema: Schema, reset: bool,
                     rows: pl.DataFrame) -> Batch:
    """Rebuild a journal entry into the Batch that was sent (to settle it with the driver)."""
    puts = rows.filter(pl.col(OP) == "put").drop(OP)
    dels = rows.filter(pl.col(OP) == "del").select([*schema.key, KEY])
    return Batch(batch_id, dataset.target.name, dataset.spec, schema, reset, puts, dels)


def rejected_keys(batch: Batch, rejected: list[RowError]) -> list[str]:
    """The identities (``__k``) of the rows the target rejected (left out of the state)."""
    return [_frame_of(batch, e.kind).get_column(KEY)[e.index] for e in rejected]


def rows_rejected(batch: Batch, dataset: Dataset, rejected: list[RowError]) -> TargetError:
    """The error naming every rejected row's source file and line (the first 20)."""
    return TargetError(f"{len(rejected)} row(s) rejected by the target (not recorded):\n"
                       + "\n".join(f"  {_where(batch, dataset, e)}: {e.message}"
                                   for e in rejected[:20])
                       + (f"\n  ... and {len(rejected) - 20} more" if len(rejected) > 20 else ""))


def _frame_of(batch: Batch, kind: str) -> pl.DataFrame:
    return batch.deletes if kind == "delete" else batch.upserts


def _where(batch: Batch, dataset: Dataset, error: RowError) -> str:
    """``file:line`` of a rejected row, so the message points at the source to fix."""
    frame = _frame_of(batch, error.kind)
    if error.kind == "delete":
        return f"key {frame.get_column(KEY)[error.index]}"
    return position(frame, error.index, dataset)


def position(frame: pl.DataFrame, index: int, dataset: Dataset) -> str:
    """``file:line`` of row ``index`` of ``frame`` (its key when the source is not known)."""
    from ..sources.lines import record_lines

    if SRC not in frame.columns or ROW not in frame.columns:
        return f"key {display_key(frame.get_column(KEY)[index])}"
    src, row = frame.get_column(SRC)[index], frame.get_column(ROW)[index]
    path = dataset.files[src]
    line = record_lines(path, dataset.format, dataset.spec.source, [row]).get(row)
    return f"{path.name}:{line}" if line else path.name
