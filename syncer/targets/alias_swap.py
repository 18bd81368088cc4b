"""Replace a dataset's rows behind an alias, so readers never see half the data: the algorithm
the milvus and zilliz drivers share.

A replace builds a fresh collection ``<table>__<batch id>`` holding every row, then creates or
moves the alias to it and drops the collections earlier replaces built.  After a crash,
:meth:`AliasSwap.settle` tells from where the alias points whether the swap happened, finishes
it when the new collection is complete, or drops the half-built one (readers still see the
previous collection).  The target-side operations come through :class:`AliasOps`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..errors import TargetError
from .base import RowError


class AliasOps(Protocol):
    """The collection and alias operations of one target (each raises TargetError on failure)."""

    def alias_target(self, alias: str) -> str | None:
        """The collection ``alias`` points to, or None when there is no such alias."""

    def exists(self, name: str) -> bool:
        """Whether a collection ``name`` exists."""

    def drop(self, name: str) -> None:
        """Drop collection ``name``."""

    def create_alias(self, alias: str, name: str) -> None: ...

    def alter_alias(self, alias: str, name: str) -> None: ...

    def drop_replaced(self, table: str, *, keep: str, previous: str | None,
                      marker: str | None) -> None:
        """Drop the collections earlier alias replaces of this dataset built, except ``keep``
        (``previous`` is the one the alias pointed to before it moved, if any)."""


def staging_name(table: str, batch_id: str) -> str:
    """The collection an alias replace of ``batch_id`` builds (the batch id makes it unique)."""
    return f"{table}__{re.sub(r'[^A-Za-z0-9]', '_', batch_id)}"[:255]


@dataclass(frozen=True)
class AliasSwap:
    """The alias replace of one dataset: ``table`` is its base name, ``where`` names the target
    in messages, ``marker`` (when the target keeps one) marks the collections syncer built."""

    ops: AliasOps
    where: str
    table: str
    alias: str
    marker: str | None = None

    def check(self) -> None:
        """Refuse an alias name that a collection already has (before anything is sent)."""
        if self.ops.alias_target(self.alias) is None and self.ops.exists(self.alias):
            raise TargetError(f"{self.where}: '{self.alias}' is a collection, not an alias; an "
                              "alias replace cannot take its name; nothing was sent",
                              hint="choose another `alias:`, or rename or drop that collection")

    def staging(self, batch_id: str) -> str:
        return staging_name(self.table, batch_id)

    def replace(self, name: str, build: Callable[[], list[RowError]]) -> list[RowError]:
        """``build`` creates collection ``name`` and loads every row into it (returning the rows
        it refused); then the alias moves to it."""
        errors = build()
        self.move(name)
        return errors

    def move(self, name: str) -> None:
        """Create the alias, or move it to ``name``; then drop what earlier replaces built."""
        previous = self.ops.alias_target(self.alias)
        if previous == name:
            pass
        elif previous is None:
            self.ops.create_alias(self.alias, name)
        else:
            self.ops.alter_alias(self.alias, name)
        self.ops.drop_replaced(self.table, keep=name, previous=previous, marker=self.marker)

    def settle(self, name: str, complete: Callable[[], bool]) -> bool:
        """Whether the replace that builds ``name`` landed.  ``complete`` tells whether the
        collection, when it exists, holds every row (the alias is then moved to it now)."""
        if self.ops.alias_target(self.alias) == name:
            self.ops.drop_replaced(self.table, keep=name, previous=None, marker=self.marker)
            return True
        if not self.ops.exists(name):
            return False
        if complete():
            self.move(name)
            return True
        # the alias never moved: readers still see the previous collection; drop the half-built one
        self.ops.drop(name)
        return False
