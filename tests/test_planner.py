"""The planner alone (pure: frames in, a diff out)."""

from __future__ import annotations

import polars as pl
import pytest

from syncer import planner
from syncer.manifest import DatasetSpec
from syncer.schema import KEY, ROW, SRC, Schema


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
        monkeypatch.setattr(planner, "_with_key_hash",
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
