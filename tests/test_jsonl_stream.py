"""JSON Lines sources read in blocks (issue 22 point 3, syncer/sources/jsonl.py): the rows, the
columns, the line numbers and the messages are those of the line-by-line reader, whatever the
block size.  Blocks are made small here (``BLOCK``), so a file of a few dozen lines has many."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from syncer.errors import SourceError
from syncer.model.manifest import DatasetSpec, SourceSpec
from syncer.model.project import Dataset
from syncer.sources import jsonl
from syncer.sources.readers import read_file
from syncer.sources.rows import load_rows
from tests.conftest import Project, jsonl_text

SMALL = 64  # bytes: a block holds a line or two


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonl, "BLOCK", SMALL)


def careful_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every block read line by line with the standard library (the reader of before)."""
    monkeypatch.setattr(jsonl, "_plain", lambda dense, data: False)


def reference(path: Path) -> pl.DataFrame:
    """The whole file through json.loads, one record a line: what the rows must be."""
    lines = [(n, raw) for n, raw in enumerate(path.read_text("utf-8").split("\n"), 1)
             if raw.strip()]
    records = [json.loads(raw) for _, raw in lines]
    return jsonl.frame_from_records(path, records, [n for n, _ in lines])


def streamed(path: Path, wanted: list[str] | None = None) -> tuple[list[str], pl.DataFrame]:
    raw = read_file(path, "jsonl", SourceSpec.model_validate({"path": str(path)}), wanted)
    frames = list(raw.batches)
    return raw.columns, pl.concat(frames, how="vertical")


def dataset(path: Path, **spec: object) -> Dataset:
    ds = DatasetSpec.model_validate({"name": "d", "source": str(path), **spec})
    return Dataset(None, ds, path.parent / "m.yaml", 1, (path,), "jsonl")  # type: ignore[arg-type]


def odd_values(seed: int) -> list[Any]:
    """Values whose text pyarrow's types alone would get wrong, and plain ones."""
    rng = random.Random(seed)
    return [None, True, False, 0, -7, 2**63 + 5, 10**30, 2.0, -0.0, 1.5, 0.1 + 0.2, 1e-5,
            3.2e-7, 1e16, 1.7976931348623157e308, math.nan, math.inf, "text", "1.5", "é\n\"",
            [], [1, 2], [1, 2.5], [0.25, None], [0.0001, 1e-9], ["a"], [[1]], {"b": 1, "a": 2},
            {"nested": [1.0, {"z": None}]}, rng.random(), rng.uniform(-1e6, 1e6)]


def test_many_blocks_give_the_rows_of_the_line_by_line_reader(tmp_path: Path,
                                                              small_blocks: None) -> None:
    values = odd_values(1)
    rows = [{"id": i, "v": values[i % len(values)], "w": values[(i * 7) % len(values)]}
            for i in range(120)]
    path = tmp_path / "d.jsonl"
    # NaN and infinities as json.dumps writes them (json.loads reads them back)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    columns, frame = streamed(path)
    assert columns == ["id", "v", "w"]
    assert frame.equals(reference(path))
    assert frame.schema == pl.Schema({"id": pl.String, "v": pl.String, "w": pl.String})


def test_the_fast_path_is_taken_for_a_plain_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 small_blocks: None) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(jsonl_text({"id": i, "e": [i / 7, 0.5]} for i in range(50)))
    careful: list[jsonl.Block] = []
    original = jsonl._careful

    def counted(path: Path, block: jsonl.Block) -> jsonl.Parsed:
        careful.append(block)
        return original(path, block)

    monkeypatch.setattr(jsonl, "_careful", counted)
    _, frame = streamed(path, ["id", "e"])
    assert frame.height == 50 and not careful
    assert frame.equals(reference(path))


def test_a_key_first_seen_in_a_later_block_is_a_column(tmp_path: Path, small_blocks: None) -> None:
    path = tmp_path / "d.jsonl"
    rows: list[dict[str, Any]] = [{"id": i} for i in range(30)] + [{"id": 30, "late": "x"}]
    path.write_text(jsonl_text(rows))
    columns, frame = streamed(path)  # no columns declared: every key of the file
    assert columns == ["id", "late"]
    assert frame.get_column("late").to_list() == [None] * 30 + ["x"]
    # declared, and missing from the first block: found by a pass over the file
    columns, frame = streamed(path, ["id", "late"])
    assert columns == ["id", "late"] and frame.get_column("late").null_count() == 30


def test_a_block_of_empty_objects_keeps_its_rows(tmp_path: Path, small_blocks: None) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"id": 1}\n' + "{}\n" * 40 + '{"id": 2}\n')
    _, frame = streamed(path)
    assert frame.height == 42 and frame.get_column("id").drop_nulls().to_list() == ["1", "2"]


def test_blank_lines_keep_records_and_lines_apart(tmp_path: Path, small_blocks: None) -> None:
    path = tmp_path / "d.jsonl"
    lines = []
    for i in range(40):
        lines.append(json.dumps({"sku": f"S{i}", "qty": "lots" if i == 33 else i}))
        lines += [""] * (i % 3) + (["  \u00a0 "] if i % 5 == 0 else [])
    path.write_text("\n".join(lines) + "\n\n")
    _, frame = streamed(path)
    assert frame.equals(reference(path))
    # the bad value of record 33 is reported at its own line, blank lines counted
    line = lines.index(json.dumps({"sku": "S33", "qty": "lots"})) + 1
    with pytest.raises(SourceError) as caught:
        load_rows(dataset(path, key="sku", columns={"sku": "string", "qty": "integer"}))
    assert caught.value.line == line and "'lots'" in caught.value.message


@pytest.mark.parametrize("bad, message", [
    ('{"sku": "X", "qty": }', "invalid JSON: Expecting value (column 21)"),
    ("[1, 2]", "expected a JSON object, found list"),
    ("null", "expected a JSON object, found NoneType"),
    ('{"sku": "X"} {"sku": "Y"}', "invalid JSON: Extra data (column 14)"),
    ('{"sku": "X\ty"}', "invalid JSON: Invalid control character at (column 11)"),
    ('{"sku": ' + "[" * 3000 + "]" * 3000 + "}", "nested deeper than Python can read"),
])
def test_an_error_in_a_later_block_names_its_line(tmp_path: Path, small_blocks: None, bad: str,
                                                  message: str) -> None:
    path = tmp_path / "d.jsonl"
    good = [json.dumps({"sku": f"S{i}"}) for i in range(50)]
    path.write_text("\n".join(good[:20] + ["", bad] + good[20:]) + "\n")
    with pytest.raises(SourceError) as caught:
        streamed(path, ["sku"])
    assert caught.value.line == 22
    assert message in caught.value.message


def test_undecodable_bytes_and_nul_are_said_before_an_earlier_json_error(
        tmp_path: Path, small_blocks: None) -> None:
    path = tmp_path / "d.jsonl"
    head = '{"sku": "A"}\n{"sku": }\n' + '{"sku": "B"}\n' * 20
    path.write_bytes(head.encode() + b'{"sku": "\xff"}\n')
    with pytest.raises(SourceError) as caught:
        streamed(path)
    assert "not valid utf-8" in caught.value.message and caught.value.line == 23
    path.write_bytes(head.encode() + b'{"sku": "\x00"}\n')
    with pytest.raises(SourceError) as caught:
        streamed(path)
    assert "NUL" in caught.value.message and caught.value.line == 23


def test_the_rows_equal_those_of_the_line_by_line_reader(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    values = odd_values(2)
    path = tmp_path / "d.jsonl"
    path.write_text(jsonl_text({"sku": f"S{i}", "note": values[i % len(values)],
                                "price": (i * 37) % 1000 / 8, "v": [i / 3, -i / 9, 0.0]}
                               for i in range(300)))
    spec: dict[str, object] = {"key": "sku", "columns": {
        "sku": "string", "note": "string", "price": "float", "v": {"type": "vector", "dim": 3}}}
    with monkeypatch.context() as patch:
        careful_only(patch)
        before = load_rows(dataset(path, **spec)).frame
    monkeypatch.setattr(jsonl, "BLOCK", 512)
    after = load_rows(dataset(path, **spec)).frame
    assert after.equals(before)  # the same values, hashes and record numbers


# -- through the CLI ---------------------------------------------------------------------------

MANIFEST = """\
version: 1
target:
  name: shop
  type: sqlite
  path: ../build/target.db
datasets:
  - name: items
    source: ../data/items.jsonl
    mode: upsert
    key: [sku]
    columns:
      sku: string
      qty: integer
      tags: json
      v: {type: vector, dim: 2}
"""


def items(count: int) -> list[dict[str, Any]]:
    return [{"sku": f"S{i:03}", "qty": i, "tags": {"b": i % 2, "a": [1.0, "x"]},
             "v": [i / 10, 0.5]} for i in range(count)]


def test_a_plan_after_an_apply_by_the_line_by_line_reader_sees_only_the_change(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.manifest(MANIFEST)
    project.write("items.jsonl", jsonl_text(items(200)))
    with monkeypatch.context() as patch:
        careful_only(patch)
        project.apply_ok()
    monkeypatch.setattr(jsonl, "BLOCK", 1024)
    rows = items(201)
    rows[5]["qty"] = 555
    project.write("items.jsonl", "\n" + jsonl_text(rows))  # a blank first line moves every line
    plan = project.plan_json()
    item = plan["datasets"][0]
    assert (item["inserts"], item["updates"], item["deletes"]) == (1, 1, 0)
    project.apply_ok()
    assert project.table("items", ["sku", "qty"])[("S005", 555)] == 1


@pytest.mark.parametrize("tail, line, words", [
    ('{"sku": "S999", "qty": 1,}', 62, "invalid JSON"),
    ('{"sku": "S999", "qty": "many", "tags": 1, "v": [1, 2]}', 62, "'many' is not a valid integer"),
    ('{"sku": "S001", "qty": 1, "tags": 1, "v": [1, 2]}', 2, "duplicate key"),
    ('{"sku": "S999", "qty": 1, "tags": 1, "v": [1, 2, 3]}', 62, "has 3 values, expected dim 2"),
])
def test_bad_input_in_a_later_block_exits_1_naming_the_line(
        project: Project, monkeypatch: pytest.MonkeyPatch, tail: str, line: int,
        words: str) -> None:
    monkeypatch.setattr(jsonl, "BLOCK", 256)
    project.manifest(MANIFEST)
    project.write("items.jsonl", jsonl_text(items(60)) + "\n" + tail + "\n")
    for result in (project.plan(), project.apply()):
        assert result.code == 1, str(result)
        assert "Traceback" not in result.output and "Internal error" not in result.output
        assert f"items.jsonl:{line}" in result.output, str(result)
        assert words in result.output


@pytest.mark.parametrize("depth", [150, 900])
@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_deep_nesting_is_read_per_line_not_by_pyarrow(tmp_path: Path, depth: int,
                                                      opener: str) -> None:
    """pyarrow and polars recurse over nested values: polars crashed the process at 1,000
    levels, so a deep line never reaches them (json.loads reads it, or says it is too deep)."""
    closer = "]" if opener == "[" else "}"
    path = tmp_path / "d.jsonl"
    path.write_text('{"sku": "A"}\n{"sku": "B", "v": ' + opener * depth + "1" + closer * depth
                    + "}\n")
    _, frame = streamed(path)
    assert frame.equals(reference(path))
