"""The rows a plan will write, read only when they are needed (by an apply, or for samples)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl

from ..model.schema import HASH, KEY

#: blocks read at once when the rows to write are picked from the declared ones
COLLECT_ROWS = 1_000_000


@dataclass(frozen=True)
class Rows:
    """Rows to write, read when they are needed: the declared rows (``source``, lazy: the spool
    of a large dataset), kept to the identities of ``keys`` unless ``everything``.  ``keys``
    (``__k``, ``__h``) is always at hand, so a plan counts and fingerprints its writes without
    reading a single value; only an apply (and the few samples) reads them."""

    source: pl.LazyFrame
    keys: pl.DataFrame
    everything: bool = False
    #: ``source`` as the blocks it is made of (a spool's files), when there are several
    parts: tuple[pl.LazyFrame, ...] = ()

    @property
    def height(self) -> int:
        return self.keys.height

    def collect(self) -> pl.DataFrame:
        if self.everything:
            return self.source.collect()
        if not self.keys.height:
            return self.empty()
        # block by block: memory holds the rows found and one group of blocks, however large
        # the source
        return pl.concat([self.empty(), *self.slices(COLLECT_ROWS)])

    def empty(self) -> pl.DataFrame:
        """No rows, with the columns of these."""
        return self.source.clear().collect()

    def slices(self, rows: int) -> Iterator[pl.DataFrame]:
        """The rows to write, about ``rows`` at a time (whole blocks: a slice may be larger),
        read block by block, so a first load of millions of rows is never in memory at once.
        Each call reads them again."""
        if not self.keys.height:
            return
        parts = list(self.parts) or [self.source]
        sizes = (pl.concat([part.select(pl.len()) for part in parts]).collect().to_series()
                 .to_list() if len(parts) > 1 else [rows])
        wanted = None if self.everything else self.keys.lazy().select(KEY)
        group: list[pl.LazyFrame] = []
        held = 0
        for number, (part, size) in enumerate(zip(parts, sizes)):
            group.append(part)
            held += size
            if held < rows and number < len(parts) - 1:
                continue
            lazy = pl.concat(group) if len(group) > 1 else group[0]
            frame = (lazy.collect() if wanted is None else
                     _compact(lazy.join(wanted, on=KEY, how="semi").collect()))
            group, held = [], 0
            if frame.height:
                yield frame

    def pick(self, keys: list[str]) -> pl.DataFrame:
        """The rows with these identities (for samples)."""
        wanted = pl.col(KEY).is_in(pl.Series(KEY, keys, dtype=pl.String).implode())
        source = self.source
        if len(self.parts) > 1:
            # find the blocks holding them by their identities alone, then read only those
            # (a filter over every column of every block reads them all)
            hits = pl.concat([part.select(wanted.any()) for part in self.parts]).collect()
            source = pl.concat([part for part, hit in zip(self.parts, hits.to_series()) if hit]
                               or [self.source.clear()])
        return source.filter(wanted).collect(engine="streaming")

    @classmethod
    def of(cls, frame: pl.DataFrame) -> Rows:
        """Rows already in memory (tests, journal replays)."""
        return cls(frame.lazy(), frame.select(KEY, HASH), everything=True)


def _compact(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` in buffers of its own.  Rows picked out of blocks share the blocks' string
    buffers (polars strings are views into them), which would keep every block read so far in
    memory: 150,000 rows picked from ten million held 600 MB.  An Arrow IPC round trip copies
    just the bytes the rows use."""
    buffer = io.BytesIO()
    frame.write_ipc(buffer)
    buffer.seek(0)
    return pl.read_ipc(buffer)
