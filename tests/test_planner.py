"""The planner alone (pure: frames in, a diff out)."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from syncer.sync import diff as planner
from syncer.model.manifest import DatasetSpec
from syncer.model.schema import KEY, ROW, SRC, Schema


def _rows(schema: Schema, values: dict[str, str]) -> pl.DataFrame:
    frame = pl.DataFrame({"id": list(values), "name": list(values.values())})
    frame = frame.with_columns(pl.lit(0, dtype=pl.Int32).alias(SRC),
                               pl.int_range(pl.len(), dtype=pl.Int64).alias(ROW))
    return schema.digest(frame)


@pytest.mark.parametrize("collide", [False, True])
def test_a_key_hash_collision_falls_back_to_exact_keys(monkeypatch: pytest.MonkeyPatch,
                                                        collide: bool) -> None:
    """Identities are compared as 64-bit hashes; when two share one, the diff is still exact."""
    if collide:
        monkeypatch.setattr(planner, "with_key_hash",
                            lambda frame: frame.with_columns(pl.lit(7, dtype=pl.UInt64)
                                                             .alias(planner.KH)))
    spec = DatasetSpec.model_validate({"name": "items", "source": "x.csv", "mode": "upsert",
                                       "key": ["id"], "allow_deletes": True,
                                       "columns": {"id": "string", "name": "string"}})
    schema = Schema.declared(spec, ["id", "name"])
    old = _rows(schema, {"a": "1", "b": "2", "c": "3", "d": "4"})
    new = _rows(schema, {"a": "1", "b": "22", "d": "4", "e": "5"})
    result = planner.diff(spec, schema, new.lazy(), old.select(KEY, planner.HASH))
    assert (result.inserts, result.updates, result.deletes, result.unchanged) == (1, 1, 1, 2)
    assert sorted(result.changes.upserts.collect().get_column(KEY).to_list()) == ["b", "e"]
    assert result.changes.deletes.get_column(KEY).to_list() == ["c"]
    assert result.duplicates is None
    dupes = planner.diff(spec, schema, pl.concat([new, new.head(1)]).lazy(), None)
    assert dupes.duplicates is not None
    assert dupes.duplicates.get_column(KEY).to_list() == ["a", "a"]


@pytest.mark.parametrize("mode", ["upsert", "replace", "append"])
def test_partitioned_comparison_plans_exactly_what_one_pass_plans(
        monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """Large datasets compare identities one partition of key hashes at a time; forcing tiny
    partitions gives the same plan as comparing everything at once."""
    import random

    rng = random.Random(7)
    spec = DatasetSpec.model_validate({"name": "items", "source": "x.csv", "mode": mode,
                                       "key": ["id"], "allow_deletes": True,
                                       "columns": {"id": "string", "name": "string"}})
    schema = Schema.declared(spec, ["id", "name"])
    before = {f"k{i}": str(rng.randint(0, 9)) for i in range(300)}
    after = {k: (v if rng.random() < 0.8 else v + "x") for k, v in before.items()
             if rng.random() < 0.9}
    after.update({f"n{i}": "new" for i in range(40)})
    old = _rows(schema, before).select(KEY, planner.HASH)

    def plan(spooled: bool = False) -> tuple:
        # spooled: the blocks carry their key hashes, as the spool keeps them
        rows = _rows(schema, after)
        result = planner.diff(spec, schema, (planner.with_key_hash(rows) if spooled else
                                             rows).lazy(), old)
        return (result.inserts, result.updates, result.deletes, result.unchanged,
                sorted(result.changes.upserts.collect().get_column(KEY).to_list()),
                sorted(result.changes.deletes.get_column(KEY).to_list()),
                result.changes.digest(), result.sample_keys)

    whole = plan()
    assert plan(spooled=True) == whole
    monkeypatch.setattr(planner, "PARTITION_ROWS", 37)
    assert plan() == whole
    assert plan(spooled=True) == whole
    assert whole[0] == 40
    spec_keys = {"name": "items", "source": "x.csv", "mode": mode, "key": ["id"],
                 "columns": {"id": "string", "name": "string"}}
    dup_spec = DatasetSpec.model_validate(spec_keys)
    twice = pl.concat([_rows(schema, after), _rows(schema, {"k1": "a", "n3": "b"})])
    found = planner.diff(dup_spec, schema, twice.lazy(), old)
    assert found.duplicates is not None
    assert sorted(set(found.duplicates.get_column(KEY).to_list())) == sorted(
        ["n3"] + (["k1"] if "k1" in after else []))


def test_samples_are_picked_from_the_blocks_that_hold_them() -> None:
    """Declared rows arrive as several blocks (a spool's files); picking rows by identity reads
    only the blocks holding one, and finds rows in any block, the last included."""
    spec = DatasetSpec.model_validate({"name": "items", "source": "x.csv", "mode": "upsert",
                                       "key": ["id"], "allow_deletes": True,
                                       "columns": {"id": "string", "name": "string"}})
    schema = Schema.declared(spec, ["id", "name"])
    rows = _rows(schema, {f"k{i:03d}": f"v{i}" for i in range(90)})
    parts = [rows.slice(start, 30).lazy() for start in (0, 30, 60)]
    old = _rows(schema, {"k000": "v0", "k045": "old", "zz": "gone"}).select(KEY, planner.HASH)
    result = planner.diff(spec, schema, parts, old)
    assert (result.inserts, result.updates, result.deletes) == (88, 1, 1)
    picked = result.changes.upserts.pick(["k089", "k045", "k001", "absent"])
    assert sorted(picked.get_column("name").to_list()) == ["v1", "v45", "v89"]
    assert result.changes.upserts.pick(["absent"]).height == 0
    assert result.sample_keys == {"+": ["k001", "k002", "k003"], "~": ["k045"], "-": ["zz"]}


def test_rows_to_write_are_read_in_slices_of_whole_blocks() -> None:
    """The apply reads the rows to write a slice at a time (whole blocks, about ``rows`` per
    slice), only the written ones, and as often as it asks."""
    spec = DatasetSpec.model_validate({"name": "items", "source": "x.csv", "mode": "upsert",
                                       "key": ["id"], "allow_deletes": True,
                                       "columns": {"id": "string", "name": "string"}})
    schema = Schema.declared(spec, ["id", "name"])
    rows = _rows(schema, {f"k{i:03d}": f"v{i}" for i in range(90)})
    parts = [rows.slice(start, 10).lazy() for start in range(0, 90, 10)]
    first = planner.diff(spec, schema, parts, None).changes.upserts
    assert first.everything
    sizes = [frame.height for frame in first.slices(25)]
    assert sizes == [30, 30, 30]  # blocks are never split: a slice ends past 25 rows
    again = pl.concat(first.slices(25))
    assert again.get_column("id").to_list() == [f"k{i:03d}" for i in range(90)]
    old = _rows(schema, {"k005": "v5", "k050": "old", "k089": "old"}).select(KEY, planner.HASH)
    some = planner.diff(spec, schema, parts, old).changes.upserts
    written = [frame.get_column("id").to_list() for frame in some.slices(45)]
    assert sorted(k for frame in written for k in frame) == sorted(
        f"k{i:03d}" for i in range(90) if i != 5)
    assert len(written) == 2 and some.empty().columns == rows.columns


def test_rows_picked_from_blocks_hold_only_their_own_bytes(tmp_path: Path) -> None:
    """A few rows picked out of large blocks must not keep the blocks' string buffers alive
    (polars strings are views into them): 150,000 rows picked from ten million held 600 MB."""
    spec = DatasetSpec.model_validate({"name": "items", "source": "x.csv", "mode": "upsert",
                                       "key": ["id"], "columns": {"id": "string", "name": "string"}})
    schema = Schema.declared(spec, ["id", "name"])
    rows = _rows(schema, {f"k{i:05d}": f"a value long enough to live in a buffer {i}"
                          for i in range(20_000)})
    path = tmp_path / "block.arrow"
    rows.write_ipc(path)
    old = rows.filter(pl.col("id") != "k00007").select(KEY, planner.HASH)
    picked = planner.diff(spec, schema, [pl.scan_ipc(path)], old).changes.upserts.collect()
    assert picked.get_column("id").to_list() == ["k00007"]

    def held(frame: pl.DataFrame) -> int:
        table = frame.to_arrow(compat_level=pl.CompatLevel.newest())
        return sum(b.size for column in table.columns for chunk in column.chunks
                   for b in chunk.buffers() if b is not None)

    assert held(picked) < 4096 < held(rows)


@pytest.mark.parametrize(("columns", "values"), [
    ({"id": "integer"}, lambda r, i: {"id": r.randint(-10**6, 10**6)}),
    ({"id": "string"}, lambda r, i: {"id": str(r.randint(0, 10**6))}),
    ({"id": "string"}, lambda r, i: {"id": r.choice(["a", "b", "10", "9"]) + str(i)}),
    ({"day": "date", "n": "integer"}, lambda r, i: {"day": f"2024-0{r.randint(1, 9)}-1{i % 10}",
                                                     "n": i}),
])
def test_samples_picked_in_chunks_are_the_smallest_of_all(
        monkeypatch: pytest.MonkeyPatch, columns: dict[str, str],
        values: Callable[[random.Random, int], dict[str, Any]]) -> None:
    """The smallest identities (the plan's samples) are picked a chunk of identities at a time
    (memory of one chunk at 10M rows); tiny chunks pick exactly what one pass picks."""
    rng = random.Random(3)
    spec = DatasetSpec.model_validate({"name": "items", "source": "x.csv", "mode": "upsert",
                                       "key": list(columns), "columns": columns})
    schema = Schema.declared(spec, list(columns))
    rows = pl.DataFrame([values(rng, i) for i in range(500)])
    rows = rows.unique(subset=list(columns)).with_columns(
        pl.lit(0, dtype=pl.Int32).alias(SRC), pl.int_range(pl.len(), dtype=pl.Int64).alias(ROW))
    keys = schema.digest(rows).select(KEY)
    whole = planner.first_keys(keys, schema, 5)
    monkeypatch.setattr(planner, "PICK_CHUNK", 7)
    assert planner.first_keys(keys, schema, 5) == whole
    assert len(whole) == 5
