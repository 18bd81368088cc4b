"""Sources: encodings, delimiters, JSON, JSON Lines, Parquet, globs, column renaming and types that
normalise so that re-saving a file in another program is not a change."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import Project, csv_text, jsonl_text


def manifest(source: str, *, mode: str = "replace", key: str | None = None,
             columns: str | None = None, extra: str = "") -> str:
    text = f"""\
version: 1
target:
  name: shop
  type: sqlite
  path: ../build/target.db
datasets:
  - name: items
    source: {source}
    mode: {mode}
"""
    if key:
        text += f"    key: [{key}]\n"
    text += extra
    if columns:
        text += "    columns:\n" + "".join(f"      {line}\n" for line in columns.strip().splitlines())
    return text


def test_csv_with_a_utf8_bom(project: Project) -> None:
    content = "\ufeffsku,name\nA,caf\u00e9\nB,na\u00efve\n"
    project.write("items.csv", content.encode("utf-8"))
    project.manifest(manifest("{path: ../data/items.csv, encoding: utf-8-sig}", key="sku",
                              mode="upsert"))
    project.apply_ok()
    assert project.table("items", ["sku", "name"]) == {("A", "caf\u00e9"): 1, ("B", "na\u00efve"): 1}
    # the default utf-8 also strips the BOM: the first column is `sku`, not `\ufeffsku`
    project.manifest(manifest("../data/items.csv", key="sku", mode="upsert"))
    assert project.plan_json()["changes"] is False


def test_csv_in_cp932(project: Project) -> None:
    rows = [["1", "\u6771\u4eac", "\u30b3\u30fc\u30d2\u30fc\u8c46"], ["2", "\u5927\u962a", "\uff8a\uff9d\uff76\uff78"]]
    project.write("items.csv", csv_text(["id", "city", "item"], rows), encoding="cp932")
    project.manifest(manifest("{path: ../data/items.csv, encoding: cp932}", key="id", mode="upsert"))
    project.apply_ok()
    assert project.table("items", ["id", "city", "item"]) == {tuple(rows[0]): 1, tuple(rows[1]): 1}
    # read as utf-8 the same bytes are an error naming the line, not mojibake
    project.manifest(manifest("../data/items.csv", key="id", mode="upsert"))
    result = project.plan()
    assert result.code == 1
    assert "data/items.csv:2:" in result.err and "not valid utf-8" in result.err


def test_tsv_and_a_custom_delimiter(project: Project) -> None:
    project.write("items.tsv", "code\tlabel\ncups\tCups, glasses\nbrew\tBrewing; all\n")
    project.write("semi.txt", 'code;label\ncups;"Cups; glasses"\nbrew;Brewing, all\n')
    project.manifest(manifest("../data/items.tsv"))
    project.manifest(manifest("{path: ../data/semi.txt, format: csv, delimiter: ';'}")
                     .replace("name: shop", "name: semi").replace("target.db", "semi.db"),
                     name="semi.yaml")
    project.apply_ok()
    assert project.table("items") == {("cups", "Cups, glasses"): 1, ("brew", "Brewing; all"): 1}
    assert project.table("items", db=project.root / "build" / "semi.db") == {
        ("cups", "Cups; glasses"): 1, ("brew", "Brewing, all"): 1}


def test_json_array_and_json_lines(project: Project) -> None:
    rows = [{"sku": "A", "price": 10.5, "tags": ["x", "y"], "note": None, "ok": True},
            {"sku": "B", "price": 3, "tags": [], "note": "", "ok": False}]
    project.write("items.json", json.dumps(rows, indent=2))
    project.write("items.jsonl", jsonl_text(rows))
    project.manifest(manifest("../data/items.json", key="sku", mode="upsert"))
    project.manifest(manifest("../data/items.jsonl", key="sku", mode="upsert")
                     .replace("name: shop", "name: lines").replace("target.db", "lines.db"),
                     name="lines.yaml")
    project.apply_ok()
    expected = {("A", "10.5", '["x","y"]', None, "true"): 1, ("B", "3", "[]", "", "false"): 1}
    columns = ["sku", "price", "tags", "note", "ok"]
    assert project.table("items", columns) == expected
    assert project.table("items", columns, db=project.root / "build" / "lines.db") == expected
    # re-saved compactly, keys reordered, numbers as text: not a change
    project.write("items.json", json.dumps([{"ok": True, "note": None, "tags": ["x", "y"],
                                             "price": "10.5", "sku": "A"},
                                            {"ok": False, "note": "", "tags": [], "price": 3,
                                             "sku": "B"}]))
    plan = project.plan_json()
    assert plan["changes"] is False, plan
    project.apply_ok()
    project.write("items.json", json.dumps([{"sku": "A", "price": 10.5, "tags": ["x", "y"],
                                             "note": None, "ok": True},
                                            {"sku": "B", "price": 4, "tags": [], "note": "",
                                             "ok": False}]))
    item = project.plan_json()["datasets"][1]
    assert item["dataset"] == "items" and item["target"] == "shop"
    assert (item["inserts"], item["updates"], item["deletes"]) == (0, 1, 0)
    assert item["samples"][0]["fields"] == {"price": ["3", "4"]}


def test_json_lines_keep_unicode_line_separators_inside_values(project: Project) -> None:
    rows = [{"id": "1", "text": "first\u2028second"}, {"id": "2", "text": "next\u0085line"},
            {"id": "3", "text": "plain"}]
    project.write("items.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    project.manifest(manifest("../data/items.jsonl", key="id", mode="upsert"))
    project.apply_ok()
    assert project.table("items", ["id", "text"]) == {(r["id"], r["text"]): 1 for r in rows}
    # and line numbers in errors still count \n lines only
    project.write("items.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
                  + '{"id": "4", "text": }\n')
    result = project.plan()
    assert result.code == 1
    assert "data/items.jsonl:4: invalid JSON" in result.err


def test_csv_text_that_looks_like_null_is_text(project: Project) -> None:
    """Only an empty field is null: NA (Namibia), null, N/A and nan are ordinary values."""
    project.write("items.csv", 'code,label\nNA,Namibia\nnull,"null"\nN/A,nan\nx,""\ny,\n')
    project.manifest(manifest("../data/items.csv", key="code", mode="upsert"))
    project.apply_ok()
    assert project.table("items", ["code", "label"]) == {
        ("NA", "Namibia"): 1, ("null", "null"): 1, ("N/A", "nan"): 1, ("x", None): 1,
        ("y", None): 1}


@pytest.mark.parametrize("header", ["code,label", "code,label\n", "code,label\r\n"])
def test_a_csv_with_only_a_header_is_zero_rows(project: Project, header: str) -> None:
    """With or without a newline after the header: no rows, not a parse error."""
    project.write("items.csv", "code,label\nA,x\n")
    project.manifest(manifest("../data/items.csv", key="code", mode="upsert"))
    project.apply_ok()
    project.write("items.csv", header)
    project.apply_ok("--allow-deletes")
    assert not project.table("items")


def test_parquet_with_native_types(project: Project) -> None:
    frame = pl.DataFrame({
        "sku": ["A", "B", "C"],
        "qty": [1, None, 3],
        "price": [10.0, 12.5, None],
        "ok": [True, False, None],
        "day": [dt.date(2024, 1, 5), dt.date(2024, 2, 29), None],
    })
    frame.write_parquet(project.data / "items.parquet", compression="zstd")
    project.manifest(manifest("../data/items.parquet", key="sku", mode="upsert", columns="""
sku: string
qty: integer
price: float
ok: boolean
day: date
"""))
    project.apply_ok()
    assert project.table("items", ["sku", "qty", "price", "ok", "day"]) == {
        ("A", 1, 10.0, 1, "2024-01-05"): 1, ("B", None, 12.5, 0, "2024-02-29"): 1,
        ("C", 3, None, None, None): 1}
    # other bytes, same rows: not a change
    frame.reverse().write_parquet(project.data / "items.parquet", compression="snappy")
    assert project.plan_json()["changes"] is False
    frame.with_columns(pl.col("qty") * 2).write_parquet(project.data / "items.parquet")
    plan = project.plan_json()["datasets"][0]
    assert (plan["inserts"], plan["updates"], plan["deletes"]) == (0, 2, 0)


def test_glob_source_over_two_files(project: Project) -> None:
    project.write("parts/a.csv", csv_text(["sku", "name"], [["A", "cup"], ["B", "pot"]]))
    project.write("parts/b.csv", csv_text(["sku", "name"], [["C", "mug"]]))
    project.manifest(manifest("../data/parts/*.csv", key="sku", mode="upsert"))
    project.apply_ok()
    assert project.table("items") == {("A", "cup"): 1, ("B", "pot"): 1, ("C", "mug"): 1}
    assert project.plan_json()["changes"] is False
    project.write("parts/c.csv", csv_text(["sku", "name"], [["D", "lid"]]))
    plan = project.plan_json()["datasets"][0]
    assert (plan["inserts"], plan["updates"], plan["deletes"]) == (1, 0, 0)
    # a key duplicated across the files is named with its file and line
    project.write("parts/c.csv", csv_text(["sku", "name"], [["D", "lid"], ["A", "again"]]))
    result = project.plan()
    assert result.code == 1
    assert "duplicate key" in result.err and "data/parts/a.csv:2" in result.err


def test_columns_rename_select_and_type(project: Project) -> None:
    project.write("items.csv", "sku,qty,ignored\nA,3,x\nB,10,y\n")
    project.manifest(manifest("../data/items.csv", key="sku", mode="upsert", columns="""
sku: string
amount: {type: integer, from: qty}
"""))
    project.apply_ok()
    assert project.table("items") == {("A", 3): 1, ("B", 10): 1}
    plan = project.plan_json()
    assert plan["changes"] is False
    project.write("items.csv", "sku,quantity\nA,3\n")
    result = project.plan()
    assert result.code == 1
    assert "data/items.csv:1: column 'qty' is not in the file" in result.err
    assert "the file has: sku, quantity" in result.err


TYPED = """
id: integer
price: float
active: boolean
day: date
meta: json
"""
TYPED_V1 = ('id,price,active,day,meta\n'
            '1,10.00,TRUE,2024/01/05,"{""b"": 1, ""a"": [1, 2]}"\n'
            '2,0.50,no,2023-12-31 00:00:00,null\n'  # midnight: still a date
            '3,,,,\n')
TYPED_V2 = ('"meta","day","active","price","id"\r\n'   # other column order, quoting, endings
            '"{""a"":[1,2],""b"":1}","2024-01-05","1","10.0","1.0"\r\n'
            '"null","2023-12-31","False","0.5","2"\r\n'
            '"","","","","3"\r\n')


def test_types_normalise_so_a_resaved_file_is_not_a_change(project: Project) -> None:
    project.write("items.csv", TYPED_V1)
    project.manifest(manifest("../data/items.csv", key="id", mode="upsert", columns=TYPED))
    project.apply_ok()
    assert project.table("items", ["id", "price", "active", "day", "meta"]) == {
        (1, 10.0, 1, "2024-01-05", '{"a":[1,2],"b":1}'): 1,
        (2, 0.5, 0, "2023-12-31", "null"): 1,
        (3, None, None, None, None): 1}
    project.write("items.csv", TYPED_V2)
    plan = project.plan_json()
    assert plan["changes"] is False, plan
    # a real change in a typed value is one
    project.write("items.csv", TYPED_V2.replace('"10.0"', '"10.01"'))
    item = project.plan_json()["datasets"][0]
    assert (item["inserts"], item["updates"], item["deletes"]) == (0, 1, 0)
    assert item["samples"][0]["fields"] == {"price": [10.0, 10.01]}


@pytest.mark.parametrize(("column", "bad", "kind"), [
    ("active", "maybe", "boolean"), ("day", "2024-13-45", "date"), ("meta", "{oops", "json")])
def test_bad_typed_values_name_the_line(project: Project, column: str, bad: str, kind: str) -> None:
    project.write("items.csv", TYPED_V1)
    project.manifest(manifest("../data/items.csv", key="id", mode="upsert", columns=TYPED))
    project.apply_ok()
    before = project.snapshot()
    values = {"id": "4", "price": "1", "active": "yes", "day": "2024-01-01", "meta": "{}",
              column: bad}
    project.write("items.csv", TYPED_V1 + csv_text(list(values), [list(values.values())])
                  .split("\n", 1)[1])
    result = project.apply()
    assert result.code == 1
    assert f"data/items.csv:5: column '{column}': {bad!r} is not a valid {kind}" in result.err
    assert project.snapshot() == before


@pytest.mark.parametrize(("name", "content"), [("items.jsonl", ""), ("items.json", "[]")])
def test_an_empty_json_source_is_zero_rows(project: Project, name: str, content: str) -> None:
    """An empty JSON Lines file (or ``[]``) names no columns; it is still a valid, empty source."""
    project.write(name, jsonl_text([{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}]) if
                  name.endswith("jsonl") else json.dumps([{"sku": "A", "qty": 1},
                                                          {"sku": "B", "qty": 2}]))
    for columns in (None, "sku: string\nqty: integer"):
        project.manifest(manifest(f"../data/{name}", key="sku", mode="upsert", columns=columns))
        project.apply_ok("--allow-deletes")
        assert sum(project.table("items").values()) == 2
        project.write(name, content)
        plan = project.plan_json()
        assert "would empty the dataset" in plan["datasets"][0]["blocked"]
        project.apply_ok("--allow-deletes")
        assert not project.table("items")
        assert project.plan_json()["changes"] is False
        project.write(name, jsonl_text([{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}]) if
                      name.endswith("jsonl") else '[{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}]')


def test_moving_csv_columns_is_not_a_change(project: Project) -> None:
    """Without `columns:`, the columns are the file's; their order does not identify a row."""
    project.write("items.csv", "sku,name,price\nA,cup,1\nB,pot,2\nC,mug,3\n")
    project.manifest(manifest("../data/items.csv", key="sku", mode="upsert"))
    project.apply_ok()
    project.write("items.csv", "price,sku,name\n1,A,cup\n2,B,pot\n3,C,mug\n")
    assert project.plan_json()["changes"] is False
    project.apply_ok()
    # after the move was recorded, one edited row is one update, not three
    project.write("items.csv", "price,sku,name\n1,A,cup\n2,B,big pot\n3,C,mug\n")
    item = project.plan_json()["datasets"][0]
    assert (item["inserts"], item["updates"], item["deletes"]) == (0, 1, 0)
    project.apply_ok()
    assert project.table("items", ["sku", "name", "price"]) == {
        ("A", "cup", "1"): 1, ("B", "big pot", "2"): 1, ("C", "mug", "3"): 1}


def test_a_recorded_type_change_keeps_later_plans_exact(project: Project) -> None:
    """string -> json changes every row hash but no value: no change now, and later edits are
    counted exactly (the state must keep the rows rehashed under the new schema)."""
    rows = [[str(i), json.dumps({"n": i}, separators=(",", ":"))] for i in range(5)]
    project.write("items.csv", csv_text(["id", "meta"], rows))
    project.manifest(manifest("../data/items.csv", key="id", mode="upsert",
                              columns="id: string\nmeta: string"))
    project.apply_ok()
    project.manifest(manifest("../data/items.csv", key="id", mode="upsert",
                              columns="id: string\nmeta: json"))
    assert project.plan_json()["changes"] is False
    project.apply_ok()
    rows[2][1] = '{"n": 22}'
    project.write("items.csv", csv_text(["id", "meta"], rows))
    item = project.plan_json()["datasets"][0]
    assert (item["inserts"], item["updates"], item["deletes"]) == (0, 1, 0)


@pytest.mark.parametrize(("values", "expected"), [
    (["true", "false", None, "true"], [True, False, None, True]),      # the plain spelling
    (["TRUE", "no", " yes ", "0", ""], [True, False, True, False, None]),  # every other one
    (["true", "False", "on", None], [True, False, True, None]),        # plain and other mixed
])
def test_booleans_read_the_same_whichever_spelling(values: list, expected: list) -> None:
    from syncer.model.schema import Column, Schema
    from syncer.sources.normalise import normalise

    schema = Schema((Column("ok", "boolean", "ok"),), ())
    raw = pl.DataFrame({"ok": pl.Series(values, dtype=pl.String),
                        "__row": pl.Series(range(len(values)), dtype=pl.Int64)})
    out = normalise(raw, schema, Path("x.csv"), lambda rows: {r: r + 2 for r in rows})
    assert out.get_column("ok").to_list() == expected


def test_a_word_that_is_no_boolean_is_refused_among_plain_ones() -> None:
    from syncer.errors import SourceError
    from syncer.model.schema import Column, Schema
    from syncer.sources.normalise import normalise

    schema = Schema((Column("ok", "boolean", "ok"),), ())
    raw = pl.DataFrame({"ok": ["true", "false", "maybe"], "__row": pl.Series([0, 1, 2])})
    with pytest.raises(SourceError) as caught:
        normalise(raw, schema, Path("x.csv"), lambda rows: {r: r + 2 for r in rows})
    assert "'maybe' is not a valid boolean" in str(caught.value)
    assert caught.value.problem.line == 4


def test_a_large_parquet_file_is_read_in_slices_with_the_same_rows(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over PARQUET_SLICE rows a Parquet source is read a slice at a time (memory stays flat):
    the rows, their types and the lines named in errors are those of reading it whole."""
    from syncer.sources import readers

    monkeypatch.setattr(readers, "PARQUET_SLICE", 4)
    frame = pl.DataFrame({
        "sku": [f"S{i:02d}" for i in range(25)],
        "qty": [None if i % 7 == 0 else i for i in range(25)],
        "day": [dt.date(2024, 1, 1 + i) for i in range(25)],
    })
    frame.write_parquet(project.data / "items.parquet", row_group_size=3)
    project.manifest(manifest("../data/items.parquet", key="sku", mode="upsert", columns="""
sku: string
qty: integer
day: date
"""))
    raw = readers.read_file(project.data / "items.parquet", "parquet",
                            _source_spec(project))
    blocks = list(raw.batches)
    assert [b.height for b in blocks] == [4, 4, 4, 4, 4, 4, 1]
    assert pl.concat(blocks).equals(pl.read_parquet(project.data / "items.parquet"))
    project.apply_ok()
    assert project.table("items", ["sku", "qty", "day"]) == {
        (f"S{i:02d}", None if i % 7 == 0 else i, f"2024-01-{1 + i:02d}"): 1 for i in range(25)}
    assert project.plan_json()["changes"] is False
    frame.with_columns(pl.col("qty") + 1).write_parquet(project.data / "items.parquet")
    plan = project.plan_json()["datasets"][0]
    assert (plan["inserts"], plan["updates"], plan["deletes"]) == (0, 21, 0)
    frame.vstack(frame.head(1)).write_parquet(project.data / "items.parquet")
    refused = project.plan()
    assert refused.code == 1 and "duplicate key" in refused.err, str(refused)


def _source_spec(project: Project):  # type: ignore[no-untyped-def]
    from syncer.model.project import load_project

    return load_project(project.root / "manifests").datasets[0].spec.source
