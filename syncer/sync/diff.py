"""The planner: declared rows + applied snapshot -> the changes a mode implies.  Pure: no I/O.

Diffing is a join on row identity (``__k``) comparing row hashes (``__h``), done by polars in
native code, so a million rows diff in a fraction of a second with no per-row Python work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from ..model.manifest import DatasetSpec
from ..model.changes import FieldChange, RowChange
from ..model.schema import HASH, KEY, ROW, SRC, Schema, display_key
from .rows import Rows

OLD = "__h_old"
SAMPLES = 3


@dataclass(frozen=True)
class Changes:
    """Exactly what an apply sends: rows to write, snapshot rows to delete, and whether the
    target is reloaded from scratch first (``replace``)."""

    upserts: Rows
    deletes: pl.DataFrame
    reset: bool

    def digest(self) -> str:
        """Order-independent fingerprint of the change set (to detect a stale saved plan)."""
        def part(frame: pl.DataFrame, columns: list[str]) -> int:
            if frame.height == 0:
                return 0
            return int(frame.select(columns).hash_rows(seed=7).cast(pl.Int128).sum() % (1 << 64))
        # a deleted row is known by its identity alone (its hash is the snapshot's business)
        return (f"{part(self.upserts.keys, [KEY, HASH]):016x}{part(self.deletes, [KEY]):016x}"
                f"{int(self.reset)}")


@dataclass(frozen=True)
class Diff:
    inserts: int
    updates: int
    deletes: int
    unchanged: int
    blocked: str | None
    warnings: tuple[str, ...]
    sample_keys: dict[str, list[str]]   # a few identities per op, for display
    changes: Changes
    samples: tuple[RowChange, ...] = ()  # filled by :func:`samples` once old rows are fetched
    duplicates: pl.DataFrame | None = None  # rows whose key is not unique: no plan is possible
    current: int = 0  # rows in the snapshot the plan was made against

    @property
    def has_changes(self) -> bool:
        return bool(self.inserts or self.updates or self.deletes)


def diff(spec: DatasetSpec, schema: Schema,
         rows: pl.DataFrame | pl.LazyFrame | list[pl.LazyFrame] | None,
         snapshot: pl.DataFrame | None, *, allow_deletes: bool = False,
         refreshed: bool = False) -> Diff:
    """Plan one dataset.

    ``rows``: the declared rows (value columns, ``__h``, ``__src``, ``__row``, and ``__k`` when
    keyed), eager, lazy, or a list of lazy parts (None: no rows); ``snapshot``: the applied
    ``__k`` and ``__h`` only (``refreshed``: what the target holds, read back).  Only identities and hashes are read here; the values of the rows
    to write stay where they are until the apply collects them (:class:`Rows`).
    """
    snap = snapshot if snapshot is not None else schema.empty_frame().select(KEY, HASH)
    parts = (list(rows) if isinstance(rows, (list, tuple)) else
             [rows.lazy()] if rows is not None else [])
    lazy = pl.concat(parts) if parts else _empty(schema).lazy()
    if not schema.key:
        # a keyless identity counts equal rows, so it needs all of them at once
        lazy = schema.digest(lazy.collect()).lazy()
        parts = [lazy]
    # identities and hashes only (the values stay in the spool), compared partition by
    # partition of key hashes when there are many: memory stays flat as datasets grow
    keep_all = spec.mode == "replace" or not snap.height
    found = _identities(lazy, snap.select(KEY, HASH), keyed=bool(schema.key), keep_all=keep_all)
    if found.dupes is not None:
        where = lazy.select(KEY, SRC, ROW).join(found.dupes.lazy(), on=KEY, how="semi").collect()
        return _duplicates(where, schema)
    new, gone, changed = found.new, found.gone, found.changed
    warnings: list[str] = []
    mode = spec.mode
    if mode == "append":
        # refreshed, the rows compared are what the target holds, not what syncer delivered
        changed_text, gone_text = (("row(s) in the target differ from the source",
                                    "row(s) in the target are not in the source") if refreshed
                                   else ("delivered row(s) changed in the source",
                                         "delivered row(s) left the source"))
        if changed.height:
            warnings.append(f"{changed.height} {changed_text}; "
                            "append never updates (use mode upsert to update)")
        if gone.height:
            warnings.append(f"{gone.height} {gone_text}; append keeps them")
        updates, deletes = changed.clear(), gone.clear()
    elif mode == "upsert":
        updates = changed
        deletes = gone
        if not spec.delete_missing and gone.height:
            warnings.append(f"{gone.height} key(s) left the source and stay in the target "
                            "(delete_missing: false)")
            deletes = gone.clear()
    else:
        updates, deletes = changed, gone

    has_changes = bool(new.height or updates.height or deletes.height)
    reset = mode == "replace" and has_changes
    # the values are read by the apply, not here: the plan needs identities and hashes only
    if reset:
        assert found.all_keys is not None  # kept for replace
        upserts = Rows(lazy, found.all_keys, everything=True, parts=tuple(parts))
    else:
        write = pl.concat([new, updates]).select(KEY)
        everything = write.height == found.total  # (a first load)
        keys = (found.all_keys if everything and found.all_keys is not None else
                found.written.join(write, on=KEY, how="semi"))
        upserts = Rows(lazy, keys, everything, parts=tuple(parts))
    # a reset reloads the target, so the removed rows need no deletes of their own
    removed = schema.key_columns(deletes if not reset else deletes.clear())
    blocked = _guard(spec, snap.height, found.total, deletes.height, allow_deletes)
    unchanged = found.total - new.height - changed.height
    # the smallest identities: a stable choice, and neighbours in the snapshot's sorted chunks,
    # so showing their old values reads one chunk, not the whole snapshot
    sample_keys = {op: first_keys(frame, schema)
                   for op, frame in (("+", new), ("~", updates), ("-", deletes))}
    return Diff(new.height, updates.height, deletes.height, unchanged, blocked, tuple(warnings),
                sample_keys, Changes(upserts, removed, reset), current=snap.height)


KH = "__kh"
_KEY_SEED = 0x51C0FFEE
#: identities are compared in partitions of about this many rows (by a hash of the key)
PARTITION_ROWS = 2_000_000


@dataclass(frozen=True)
class _Found:
    """What comparing identities found (``__k`` frames; ``written`` and ``all_keys`` also
    carry ``__h``): the duplicates, or the new, gone and changed identities."""

    total: int
    dupes: pl.DataFrame | None
    new: pl.DataFrame
    gone: pl.DataFrame
    changed: pl.DataFrame
    written: pl.DataFrame           # identity and hash of every new or changed row
    all_keys: pl.DataFrame | None   # of every declared row, when ``keep_all``


def _identities(lazy: pl.LazyFrame, snap: pl.DataFrame, *, keyed: bool,
                keep_all: bool) -> _Found:
    """Compare the declared identities with the snapshot's, one partition of key hashes at a
    time (one partition up to PARTITION_ROWS rows: all of them at once).  A key lands in the
    same partition on both sides, so each partition is a complete comparison of its keys."""
    total = lazy.select(pl.len()).collect().item()
    # a first load has nothing to compare: its identities are read once, whatever their number
    # (each partition would read every block again)
    count = max(1, -(-max(total, snap.height) // PARTITION_ROWS)) if snap.height else 1
    # blocks spooled with their key hashes (see :func:`with_key_hash`) are partitioned by an
    # integer: each partition reads the blocks again, but hashes no string
    spooled = KH in lazy.collect_schema().names()
    query = lazy.select(KEY, HASH, KH) if spooled else lazy.select(KEY, HASH)
    key_hash = pl.col(KH) if spooled else pl.col(KEY).hash(seed=_KEY_SEED)
    bucket = (key_hash % count).cast(pl.UInt32)
    # the snapshot's rows in partition order, once (a filter per partition reads them all)
    in_snap = (snap.select((pl.col(KEY).hash(seed=_KEY_SEED) % count).cast(pl.UInt32))
               .to_series() if count > 1 else None)
    order = in_snap.arg_sort() if in_snap is not None else None
    bounds = (in_snap.gather(order).search_sorted(pl.Series(range(count + 1), dtype=pl.UInt32))
              .to_list() if in_snap is not None and order is not None else [])
    del in_snap
    news, gones, changeds, writtens, alls, dupes = [], [], [], [], [], []
    for part in range(count):
        source = with_key_hash((query if count == 1 else query.filter(bucket == part)).collect())
        old = snap if order is None else snap.select(pl.all().gather(
            order.slice(bounds[part], bounds[part + 1] - bounds[part])))
        if keyed:
            found = duplicated(source)
            if found.height:
                dupes.append(found)
        if dupes:
            continue  # no plan can be made: only the duplicates are wanted now
        if old.height:
            new, gone, changed = compare_identities(source, old)
            writtens.append(source.select(KEY, HASH).join(pl.concat([new, changed]), on=KEY,
                                                          how="semi"))
        else:  # a first load: every declared row is new
            new, gone, changed = source.select(KEY), old.select(KEY), source.select(KEY).clear()
            writtens.append(source.select(KEY, HASH))
        if keep_all:
            alls.append(source.select(KEY, HASH))
        news.append(new)
        gones.append(gone)
        changeds.append(changed)
    empty = snap.select(KEY).clear()
    if dupes:
        return _Found(total, pl.concat(dupes), empty, empty, empty, snap.clear(), None)
    return _Found(total, None, pl.concat(news), pl.concat(gones), pl.concat(changeds),
                  pl.concat(writtens), pl.concat(alls) if keep_all else None)


def with_key_hash(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with ``__kh``, the 64-bit hash of its identity (unless it has it already, or
    has no identity yet: a keyless block's identity needs the whole dataset).

    Identities are compared as these hashes: a join on integers is a fraction of the time and
    memory of one on strings; the few pairs where it matters are checked as strings."""
    if KH in frame.columns or KEY not in frame.columns:
        return frame
    return frame.with_columns(pl.col(KEY).hash(seed=_KEY_SEED).alias(KH))


def duplicated(source: pl.DataFrame) -> pl.DataFrame:
    """Identities that are not unique (exact: equal key hashes are checked as strings)."""
    if KH not in source.columns:
        source = with_key_hash(source)
    if source.get_column(KH).n_unique() == source.height:
        return source.select(KEY).clear()  # the usual case, told by one hash set
    suspects = source.filter(pl.col(KH).is_duplicated())
    return suspects.filter(pl.col(KEY).is_duplicated()).select(KEY).unique()


def compare_identities(src: pl.DataFrame, snap: pl.DataFrame
             ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Identities that are new, gone, and present on both sides with another row hash
    (``src`` may carry its key hashes already).  One join of key hashes and row hashes only,
    keeping the pairs that differ; their identities are then taken by position, and the pairs
    it matched with other row hashes are checked as strings."""
    if KH not in src.columns:
        src = with_key_hash(src)
    ours = src.select(KH, HASH).with_row_index(_AT)
    theirs = with_key_hash(snap).select(KH, pl.col(HASH).alias(OLD)).with_row_index(_OLD_AT)
    differ = (ours.lazy().join(theirs.lazy(), on=KH, how="full", coalesce=True)
              .filter(pl.col(HASH).ne_missing(pl.col(OLD)))
              .select(_AT, _OLD_AT, pl.col(HASH).is_null().alias("gone"),
                      pl.col(OLD).is_null().alias("new"))
              .collect())
    keys, old_keys = src.get_column(KEY), snap.get_column(KEY)

    def named(rows: pl.DataFrame, at: str, column: pl.Series) -> pl.DataFrame:
        return pl.DataFrame([column.gather(rows.get_column(at)).alias(KEY)])

    new = named(differ.filter("new"), _AT, keys)
    gone = named(differ.filter("gone"), _OLD_AT, old_keys)
    both = differ.filter(~pl.col("new") & ~pl.col("gone"))
    changed = named(both, _AT, keys)
    if (changed.get_column(KEY) != old_keys.gather(both.get_column(_OLD_AT))).any():
        return _compare_exact(src.drop(KH), snap)  # two identities share a 64-bit hash
    return new, gone, changed


_AT, _OLD_AT = "__at", "__at_old"


def _compare_exact(source: pl.DataFrame, snap: pl.DataFrame
                   ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    joined = source.join(snap.select(KEY, pl.col(HASH).alias(OLD)), on=KEY, how="full",
                         coalesce=True)
    return (joined.filter(pl.col(OLD).is_null()).select(KEY),
            joined.filter(pl.col(HASH).is_null()).select(KEY),
            joined.filter(pl.col(HASH).is_not_null() & pl.col(OLD).is_not_null()
                          & (pl.col(HASH) != pl.col(OLD))).select(KEY))


def _empty(schema: Schema) -> pl.DataFrame:
    return schema.empty_frame().with_columns(pl.lit(0, dtype=pl.Int32).alias(SRC),
                                             pl.lit(0, dtype=pl.Int64).alias(ROW)).clear()


def _duplicates(dupes: pl.DataFrame, schema: Schema) -> Diff:
    """A plan that cannot be made: the caller turns ``duplicates`` into a source error."""
    empty = schema.empty_frame()
    return Diff(0, 0, 0, 0, "duplicate keys", (), {}, Changes(Rows.of(empty), empty, False),
                duplicates=dupes)


def _guard(spec: DatasetSpec, current: int, declared: int, deletes: int,
           allow_deletes: bool) -> str | None:
    if allow_deletes or spec.allow_deletes or deletes == 0:
        return None
    if declared == 0 and current > 0 and spec.mode != "append":
        return (f"the plan would empty the dataset (all {current} rows deleted; the source has no "
                "rows); pass --allow-deletes or set `allow_deletes: true` if that is intended")
    limit = spec.delete_limit(current)
    if deletes > limit:
        setting = spec.max_delete if spec.max_delete is not None else "50% (default)"
        return (f"the plan deletes {deletes} of {current} rows, over max_delete {setting} "
                f"({limit} rows); pass --allow-deletes or raise `max_delete` if that is intended")
    return None


def samples(schema: Schema, sample_keys: dict[str, list[str]], rows: pl.DataFrame,
            old: pl.DataFrame | None) -> tuple[RowChange, ...]:
    """Sample changes for display: new rows, field-level updates, deleted rows."""
    names = schema.names
    old = old if old is not None else schema.empty_frame()
    out: list[RowChange] = []

    def pick(frame: pl.DataFrame, keys: list[str]) -> list[dict[str, Any]]:
        found = {r[KEY]: r for r in frame.join(pl.DataFrame({KEY: keys}, schema={KEY: pl.String}),
                                               on=KEY, how="semi").iter_rows(named=True)}
        return [found[k] for k in keys if k in found]

    for row in pick(rows, sample_keys.get("+", [])):
        out.append(RowChange("+", _key(schema, row[KEY]), values=tuple((n, row[n]) for n in names)))
    before = {r[KEY]: r for r in pick(old, sample_keys.get("~", []))}
    for new_row in pick(rows, sample_keys.get("~", [])):
        old_row = before.get(new_row[KEY], {})
        fields = tuple(FieldChange(n, old_row.get(n), new_row.get(n)) for n in names
                       if old_row.get(n) != new_row.get(n))
        out.append(RowChange("~", _key(schema, new_row[KEY]), fields=fields))
    for row in pick(old, sample_keys.get("-", [])):
        out.append(RowChange("-", _key(schema, row[KEY]),
                             values=tuple((n, row.get(n)) for n in names)))
    return tuple(out)


#: identities typed at a time when picking the smallest: the memory of one chunk (typing 10M
#: identities at once and ranking them took 540 MB and 1.2 s of a 10M-row first load's plan)
PICK_CHUNK = 1_000_000


def first_keys(frame: pl.DataFrame, schema: Schema, count: int = SAMPLES) -> list[str]:
    """The ``count`` smallest identities of ``frame`` in the key's own order: numbers as numbers
    (1, 2, 10, not 1, 10, 11), dates as dates, and a text key whose values are all digits (an
    untyped id) as numbers too.  The smallest of each chunk of identities, then of those."""
    if not frame.height:
        return []
    if not schema.key:
        return frame.get_column(KEY).bottom_k(count).sort().to_list()
    chunks = [frame.slice(start, PICK_CHUNK).select(KEY)
              for start in range(0, frame.height, PICK_CHUNK)]
    digits = {name for name in schema.key if schema.column(name).type == "string" and all(
        schema.key_columns(chunk).get_column(name).str.contains(r"^[0-9]+$").all()
        for chunk in chunks)}
    order: list[pl.Expr] = []
    for name in schema.key:
        column = pl.col(name)
        order += [column.str.len_bytes(), column] if name in digits else [column]
    picks = pl.concat([schema.key_columns(chunk).bottom_k(count, by=order) for chunk in chunks])
    return picks.bottom_k(count, by=order).sort(order).get_column(KEY).to_list()


def _key(schema: Schema, key: str) -> str:
    # rows without a key are identified by content; their hash is no use to a reader
    return display_key(key) if schema.key else ""
