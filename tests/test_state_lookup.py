"""Looking a few applied rows up by identity (a plan's sample rows, drift's old values) reads
only the record batches that hold them, and the rows are exactly those of the whole snapshot."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest

from syncer.model.manifest import DatasetSpec
from syncer.model.schema import Schema
from syncer.state import chunks as snap
from syncer.state import open_state


def _schema() -> Schema:
    spec = DatasetSpec.model_validate({"name": "items", "source": "x.csv", "mode": "upsert",
                                       "key": ["id"], "columns": {"id": "integer",
                                                                  "name": "string",
                                                                  "price": "float"}})
    return Schema.declared(spec, ["id", "name", "price"])


def _rows(schema: Schema, count: int) -> pl.DataFrame:
    return schema.digest(pl.DataFrame({"id": list(range(count)),
                                       "name": [f"name {i}" for i in range(count)],
                                       "price": [i / 4 for i in range(count)]}))


def test_a_few_rows_are_read_from_their_record_batches(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snap, "CHUNK_ROWS", 1000)
    monkeypatch.setattr(snap, "BATCH_ROWS", 100)
    schema = _schema()
    rows = _rows(schema, 5000)
    wanted = ["17", "2500", "4999", "999", "1000", "nope"]
    with open_state(tmp_path / "state.db") as store:
        store.ensure_dataset("t", "items", "sqlite", "items", "upsert")
        store.open_batch("run", "b1", "t", "items", schema, False,
                         iter([rows.slice(0, 2500), rows.slice(2500)]), rows.clear())
        store.fold_batch("b1")
        whole = store.snapshot("t", "items")
        found = store.snapshot_rows("t", "items", wanted)
    assert whole is not None and found is not None
    expected = whole.filter(pl.col("__k").is_in(wanted)).sort("__k")
    assert found.sort("__k").equals(expected)
    assert sorted(found.get_column("id").to_list()) == [17, 999, 1000, 2500, 4999]


def test_a_chunk_is_stored_in_record_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow as pa
    import pyarrow.ipc as ipc

    monkeypatch.setattr(snap, "BATCH_ROWS", 100)
    rows = _rows(_schema(), 1000)
    [(count, data, _keys, _low, _high)] = snap.chunks(rows)
    assert count == 1000
    assert ipc.open_file(pa.py_buffer(data)).num_record_batches == 10


@pytest.mark.parametrize("positions", [[0], [5, 6, 250, 999], list(range(0, 1000, 20))])
def test_rows_of_a_chunk_written_whole_are_read_as_well(positions: list[int]) -> None:
    """States written before chunks had record batches (one batch a chunk) read the same, and
    a lookup of many rows (over FEW_ROWS) decodes the chunk once."""
    rows = _rows(_schema(), 1000).sort("__k")
    for blob in (snap.encode(rows, "zstd"), snap.encode(rows, "zstd", 64)):
        assert snap.decode_rows(blob, positions).equals(rows[positions])
        assert pl.read_ipc(io.BytesIO(blob)).equals(rows)
