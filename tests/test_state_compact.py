"""Compaction a key range at a time (syncer/state/compact.py): the compacted state replays to
exactly the rows the journal replayed to before (random batches of puts, deletes and resets, on
SQLite and PostgreSQL, keyed and keyless, with a rehash), and a compaction of many batches
never holds more than a range of rows."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncer.model.manifest import DatasetSpec
from syncer.model.schema import HASH, KEY, Schema
from syncer.state import ChunkStore, open_state
from syncer.state import chunks as snap
from syncer.state import compact, replay

_names = itertools.count()


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return str(tmp_path / "state.db")


def _schema(keyed: bool, order: tuple[str, ...] = ("id", "name", "n")) -> Schema:
    columns = {"id": "integer", "name": "string", "n": "integer"}
    spec = DatasetSpec.model_validate({
        "name": "items", "source": "x.csv", "mode": "upsert" if keyed else "append",
        **({"key": ["id"]} if keyed else {}), "columns": {c: columns[c] for c in order}})
    return Schema.declared(spec, list(order))


def _rows(schema: Schema, puts: dict[int, int]) -> pl.DataFrame:
    """Keyed rows by id; keyless ones of the values alone, so equal rows recur (``hash#n``)."""
    pairs = sorted(puts.items())
    ids = [i for i, _ in pairs] if schema.key else [v for _, v in pairs]
    frame = pl.DataFrame({"id": ids, "name": [f"name {v}" for _, v in pairs],
                          "n": [v % 3 for _, v in pairs]},
                         schema={"id": pl.Int64, "name": pl.String, "n": pl.Int64})
    return schema.digest(frame.select(schema.names))


def _dels(schema: Schema, ids: list[int]) -> pl.DataFrame:
    """Deleted identities: of keyed rows, their key; of keyless ones, rows like the puts."""
    if schema.key:
        return schema.key_columns(pl.DataFrame({KEY: [str(i) for i in ids]},
                                               schema={KEY: pl.String}))
    return _rows(schema, {i: i for i in ids})


def _same(got: pl.DataFrame | None, want: pl.DataFrame | None) -> None:
    assert (got is None) == (want is None)
    if got is not None and want is not None:
        assert got.columns == want.columns
        order = [KEY, HASH, *[c for c in got.columns if c not in (KEY, HASH)]]
        assert got.sort(order).equals(want.sort(order))


@contextmanager
def _small(range_bytes: int, chunk_rows: int) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(compact, "RANGE_BYTES", range_bytes)
        patch.setattr(snap, "CHUNK_ROWS", chunk_rows)
        yield


def _compact_now(store: ChunkStore, dataset: str, schema: Schema) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(snap, "needs_compaction", lambda *_: True)
        store.commit_dataset("t", dataset, schema=schema, fingerprint=None, spec_hash=None)


batch = st.tuples(st.integers(0, 9).map(lambda r: r == 0),  # a reset, now and then
                  st.dictionaries(st.integers(0, 60), st.integers(0, 5), max_size=25),
                  st.lists(st.integers(0, 60), max_size=8, unique=True))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batches=st.lists(batch, min_size=1, max_size=7),
       compact_after=st.sets(st.integers(0, 6), max_size=2),
       keyed=st.booleans(), rehash=st.booleans(),
       range_bytes=st.sampled_from([64, 300, 1 << 30]), chunk_rows=st.sampled_from([3, 7, 1000]))
def test_a_compacted_state_replays_to_the_rows_it_replayed_to_before(
        location: str, batches: list[tuple[bool, dict[int, int], list[int]]],
        compact_after: set[int], keyed: bool, rehash: bool, range_bytes: int,
        chunk_rows: int) -> None:
    schema = _schema(keyed)
    dataset = f"d{next(_names)}"
    with open_state(location) as store, _small(range_bytes, chunk_rows):
        store.ensure_dataset("t", dataset, "sqlite", dataset, "upsert")
        store.commit_dataset("t", dataset, schema=schema, fingerprint=None, spec_hash=None)
        for number, (reset, puts, dels) in enumerate(batches):
            rows = _rows(schema, puts)
            store.open_batch("run", f"{dataset}-{number}", "t", dataset, schema, reset,
                             iter([rows.slice(0, rows.height // 2), rows.slice(rows.height // 2)]),
                             _dels(schema, dels))
            store.fold_batch(f"{dataset}-{number}")
            if number in compact_after:
                before = store.snapshot("t", dataset)
                _compact_now(store, dataset, schema)
                _same(store.snapshot("t", dataset), before)
        before = store.snapshot("t", dataset)
        assert before is not None
        new = _schema(keyed, ("n", "id", "name")) if rehash else schema
        if rehash:  # the same columns in another order: every hash (and keyless identity) changes
            before = new.rehash(before, schema).select([*new.names, HASH, KEY])
        _compact_now(store, dataset, new)
        after = store.snapshot("t", dataset)
        _same(after, before)
        assert after is not None
        recorded = store.dataset("t", dataset)
        assert recorded is not None and recorded.rows == after.height
        assert store.storage.folded("t", dataset) == []


def test_a_compaction_of_many_batches_holds_a_range_of_rows_at_a_time(
        location: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Twenty batches of 2,000 rows (every row of a first load, then rewrites and deletes):
    no decoded chunk, replayed range or written frame is larger than a range's rows, and the
    whole snapshot is never read."""
    monkeypatch.setattr(snap, "CHUNK_ROWS", 500)
    schema = _schema(True)
    batches = 20
    with open_state(location) as store:
        store.ensure_dataset("t", "big", "sqlite", "big", "upsert")
        for number in range(batches):
            ids = range(number * 2000, (number + 1) * 2000) if number < 16 else range(
                (number - 16) * 3000, (number - 16) * 3000 + 2000)
            rows = _rows(schema, {i: i + number for i in ids})
            dels = [i for i in range(0, 32_000, 7)] if number == batches - 1 else []
            store.open_batch("run", f"b{number}", "t", "big", schema, number == 0,
                             iter([rows]), _dels(schema, dels))
            store.fold_batch(f"b{number}")
        before = store.snapshot("t", "big")
        assert before is not None and before.height > 25_000
        per_row = before.estimated_size() / before.height
        monkeypatch.setattr(compact, "RANGE_BYTES", int(4000 * per_row))  # ~8 ranges

        seen: list[int] = []
        decode, replayed, write = snap.decode, compact._replay, replay.write_chunks

        def spy_decode(blob: bytes, columns: list[str] | None = None) -> pl.DataFrame:
            frame = decode(blob, columns)
            seen.append(frame.height)
            return frame

        def spy_replay(runs: list[compact.Run], part: int,
                       spill: compact.Spill) -> pl.DataFrame | None:
            out = replayed(runs, part, spill)
            seen.append(out.height if out is not None else 0)
            return out

        def spy_write(*args: object) -> int:
            frames = list(args[3])  # type: ignore[call-overload]
            seen.extend(f.height for f in frames)
            return write(*args[:3], frames, *args[4:])  # type: ignore[arg-type]

        def whole(*_: object, **__: object) -> None:
            raise AssertionError("the compaction read the whole snapshot")

        monkeypatch.setattr(snap, "decode", spy_decode)
        monkeypatch.setattr(compact, "_replay", spy_replay)
        monkeypatch.setattr(replay, "write_chunks", spy_write)
        monkeypatch.setattr(replay, "read", whole)
        store.commit_dataset("t", "big", schema=schema, fingerprint=None, spec_hash=None)
        monkeypatch.undo()
        after = store.snapshot("t", "big")
    _same(after, before)
    assert seen and max(seen) <= 6000, max(seen)  # a range (~4,000 rows) and its sampling slack
    assert sum(1 for h in seen if h > 100) > 8
