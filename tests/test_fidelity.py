"""Issue 19, points 1-5: null markers, datetime and decimal, every bad column reported at once
with exact counts, "problems in the data", plan --json on failure, and the syncer version in the
JSON outputs and the history.  Through the CLI; the target read back with sqlite3."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import syncer
from tests.conftest import Project, csv_text, jsonl_text


def manifest(source: str, *, columns: str | None = None, mode: str = "replace",
             key: str | None = None, extra: str = "") -> str:
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


def rows_of(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(db)
    try:
        return list(con.execute(sql))
    finally:
        con.close()


# -- 1. null markers -------------------------------------------------------------------------------

# what R's write.csv(row.names = FALSE) writes: strings quoted, NA bare in every column type
R_EXPORT = ('"id","carrier","dep_delay","distance","air_time","day","tailnum"\n'
            '1,"UA",2,1400,227,2013-01-01,"N14228"\n'
            '2,"AA",NA,1089,NA,2013-01-01,NA\n'
            '3,"B6",-1,NA,183,NA,"N619AA"\n')
R_COLUMNS = """
id: integer
carrier: string
dep_delay: integer
distance: float
air_time: integer
day: date
tailnum: string
"""


def test_an_r_export_with_na_in_typed_columns_loads_as_nulls(project: Project) -> None:
    project.write("flights.csv", R_EXPORT)
    project.manifest(manifest("{path: ../data/flights.csv, null_values: [NA]}", key="id",
                              mode="upsert", columns=R_COLUMNS))
    project.apply_ok()
    assert rows_of(project.target_db, "SELECT id, carrier, dep_delay, distance, air_time, day, "
                   "tailnum FROM items ORDER BY id") == [
        (1, "UA", 2, 1400.0, 227, "2013-01-01", "N14228"),
        (2, "AA", None, 1089.0, None, "2013-01-01", None),
        (3, "B6", -1, None, 183, None, "N619AA")]
    assert project.plan_json()["changes"] is False
    # a marker is a null before hashing: writing the nulls as empty fields is no change
    project.write("flights.csv", R_EXPORT.replace("NA", ""))
    assert project.plan_json()["changes"] is False


def test_without_null_values_na_is_still_refused_in_a_typed_column(project: Project) -> None:
    project.write("flights.csv", R_EXPORT)
    project.manifest(manifest("../data/flights.csv", columns=R_COLUMNS))
    result = project.plan()
    assert result.code == 1
    assert "data/flights.csv:3: column 'dep_delay': 'NA' is not a valid integer" in result.err


def test_a_column_overrides_the_source_markers(project: Project) -> None:
    """The country code NA stays text in its column ([] there: no markers), while `-` means
    null in the price column only and NA everywhere else."""
    project.write("items.csv", csv_text(["sku", "country", "price", "note"], [
        ["A", "NA", "-", "NA"], ["B", "JP", "1.5", "-"], ["C", "", "NA", "x"]]))
    project.manifest(manifest("{path: ../data/items.csv, null_values: [NA]}", columns="""
sku: string
country: {type: string, null_values: []}
price: {type: float, null_values: ["-", NA]}
note: string
"""))
    project.apply_ok()
    assert rows_of(project.target_db, "SELECT sku, country, price, note FROM items ORDER BY sku") \
        == [("A", "NA", None, None), ("B", "JP", 1.5, "-"), ("C", None, None, "x")]


def test_null_markers_apply_to_untyped_columns_and_json_sources(project: Project) -> None:
    project.write("items.jsonl", jsonl_text([
        {"sku": "A", "qty": "\\N", "label": ""}, {"sku": "B", "qty": 3, "label": "\\N"},
        {"sku": "C", "qty": None, "label": "x"}]))
    project.manifest(manifest("{path: ../data/items.jsonl, null_values: ['\\N', '']}"))
    project.apply_ok()
    assert rows_of(project.target_db, "SELECT sku, qty, label FROM items ORDER BY sku") == [
        ("A", None, None), ("B", "3", None), ("C", None, "x")]


def test_the_json_schema_shows_the_new_keys(project: Project) -> None:
    result = project.syncer("schema")
    assert result.code == 0
    text = json.loads(result.out)
    defs = text["$defs"]
    assert "null_values" in defs["SourceSpec"]["properties"]
    assert {"null_values", "timezone", "scale"} <= set(defs["ColumnSpec"]["properties"])
    assert "timezone" in defs["DatasetSpec"]["properties"]
    assert {"datetime", "decimal"} <= set(defs["ColumnSpec"]["properties"]["type"]["enum"])


# -- 2. datetime, date, decimal --------------------------------------------------------------------

def test_datetimes_are_keyed_and_stored_as_utc_text(project: Project) -> None:
    """Hourly readings: with `date` the two readings of 2013-01-01 were one duplicate key."""
    project.write("weather.csv", "time,temp\n2013-01-01T10:00:00Z,1.5\n2013-01-01 10:00,2.5\n"
                                 "2013-01-01T11:30:00.250+01:00,3.5\n")
    project.manifest(manifest("../data/weather.csv", key="time", mode="upsert",
                              extra="    timezone: Europe/Paris\n",
                              columns="time: datetime\ntemp: float"))
    project.apply_ok()
    assert rows_of(project.target_db, "SELECT time, temp FROM items ORDER BY time") == [
        ("2013-01-01T09:00:00Z", 2.5), ("2013-01-01T10:00:00Z", 1.5),
        ("2013-01-01T10:30:00.25Z", 3.5)]
    # the same instants written otherwise: no change
    project.write("weather.csv", "time,temp\n2013-01-01 11:00:00+0100,1.5\n"
                                 "2013-01-01T09:00Z,2.5\n2013-01-01 11:30:00.250000,3.5\n")
    assert project.plan_json()["changes"] is False
    # one reading changes: an update of that key
    project.write("weather.csv", "time,temp\n2013-01-01T10:00:00Z,9.5\n2013-01-01 10:00,2.5\n"
                                 "2013-01-01T11:30:00.250+01:00,3.5\n")
    item = project.plan_json()["datasets"][0]
    assert (item["inserts"], item["updates"], item["deletes"]) == (0, 1, 0)
    project.apply_ok()
    assert ("2013-01-01T10:00:00Z", 9.5) in rows_of(project.target_db, "SELECT * FROM items")


def test_a_column_timezone_overrides_the_dataset_one(project: Project) -> None:
    project.write("t.csv", "id,paris,tokyo,utc\n1,2013-07-01 12:00,2013-07-01 12:00,"
                           "2013-07-01 12:00\n")
    project.manifest(manifest("../data/t.csv", extra="    timezone: Europe/Paris\n", columns="""
id: integer
paris: datetime
tokyo: {type: datetime, timezone: Asia/Tokyo}
utc: {type: datetime, timezone: UTC}
"""))
    project.apply_ok()
    assert rows_of(project.target_db, "SELECT paris, tokyo, utc FROM items") == [
        ("2013-07-01T10:00:00Z", "2013-07-01T03:00:00Z", "2013-07-01T12:00:00Z")]


def test_a_naive_time_in_a_daylight_saving_gap_is_refused(project: Project) -> None:
    project.write("t.csv", "id,at\n1,2013-03-31 01:30\n2,2013-03-31 02:30\n")
    project.manifest(manifest("../data/t.csv", extra="    timezone: Europe/Paris\n",
                              columns="id: integer\nat: datetime"))
    result = project.plan()
    assert result.code == 1
    assert ("data/t.csv:3: column 'at': '2013-03-31 02:30' does not exist or is ambiguous in "
            "Europe/Paris") in result.err


def test_date_refuses_a_time_of_day_naming_the_line(project: Project) -> None:
    project.write("t.csv", "id,day\n1,2013-01-01\n2,2013-01-02 00:00:00\n3,2013-01-01T10:00:00Z\n")
    project.manifest(manifest("../data/t.csv", key="id", mode="upsert",
                              columns="id: integer\nday: date"))
    result = project.plan()
    assert result.code == 1
    assert ("data/t.csv:4: column 'day': '2013-01-01T10:00:00Z' has a time of day" in result.err)
    assert "type: datetime" in result.err
    assert not project.target_db.exists()


def test_an_unknown_timezone_is_a_manifest_problem(project: Project) -> None:
    project.write("t.csv", "id,at\n1,2013-01-01 10:00\n")
    project.manifest(manifest("../data/t.csv", extra="    timezone: Europe/Pariss\n",
                              columns="id: integer\nat: datetime"))
    result = project.syncer("validate", "-m", project.manifests)
    assert result.code == 1
    assert "manifests/shop.yaml:10:" in result.err and "unknown time zone 'Europe/Pariss'" in \
        result.err


def test_decimals_are_exact_canonical_text(project: Project) -> None:
    project.write("p.csv", "sku,price\nA,12.5\nB,+0012.500\nC,-0.00\nD,.1\n")
    project.manifest(manifest("../data/p.csv", key="sku", mode="upsert",
                              columns="sku: string\nprice: {type: decimal, scale: 2}"))
    project.apply_ok()
    assert rows_of(project.target_db, "SELECT sku, price, typeof(price) FROM items ORDER BY sku") \
        == [("A", "12.50", "text"), ("B", "12.50", "text"), ("C", "0.00", "text"),
            ("D", "0.10", "text")]
    project.write("p.csv", "sku,price\nA,12.50\nB,12.5\nC,0\nD,0.10\n")
    assert project.plan_json()["changes"] is False
    project.write("p.csv", "sku,price\nA,12.505\nB,1e3\nC,0\nD,0.10\n")
    result = project.plan()
    assert result.code == 1
    assert "data/p.csv:2: column 'price': '12.505' has more than 2 digit(s) after the point" \
        in result.err


def test_a_decimal_column_needs_a_scale(project: Project) -> None:
    project.write("p.csv", "sku,price\nA,1\n")
    project.manifest(manifest("../data/p.csv", columns="sku: string\nprice: decimal"))
    result = project.syncer("validate", "-m", project.manifests)
    assert result.code == 1
    assert "a decimal column needs `scale:`" in result.err


# -- 3. every problem at once, exact counts over many blocks ----------------------------------------

FLIGHT_COLUMNS = """
id: integer
dep_time: integer
dep_delay: float
arr_time: integer
arr_delay: float
air_time: integer
day: date
"""


def test_every_bad_column_is_reported_with_exact_counts_over_many_blocks(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("syncer.sources.readers._BLOCK", 4096)  # ~150 rows a block
    names = ["id", "dep_time", "dep_delay", "arr_time", "arr_delay", "air_time", "day"]
    rows = []
    expected = {name: [] for name in names[1:6]}
    for i in range(6000):
        row = [str(i), "517", "2.0", "830", "11.0", "227", "2013-01-01"]
        for position, name in enumerate(names[1:6], start=1):
            # column k is bad on every (k+6)-th row, from a different first row
            if i % (position + 6) == position:
                row[position] = "NA"
                expected[name].append(i)
        rows.append(row)
    project.write("flights.csv", csv_text(names, rows))
    assert project.write("flights.csv", csv_text(names, rows)).stat().st_size > 20 * 4096
    project.manifest(manifest("../data/flights.csv", columns=FLIGHT_COLUMNS))
    result = project.plan()
    assert result.code == 1
    assert "5 problems in the data of data/flights.csv:" in result.err
    assert "problems in the manifests" not in result.err
    for name, bad in expected.items():
        kind = "integer" if name in ("dep_time", "arr_time", "air_time") else "float"
        # line = record + 2 (the header is line 1)
        assert (f"data/flights.csv:{bad[0] + 2}: column '{name}': 'NA' is not a valid {kind} "
                f"({len(bad) - 1} more rows like it)") in result.err, (name, result.err)
    # the same as data
    result = project.plan("--json")
    assert result.code == 1
    document = json.loads(result.out)
    assert document["changes"] is None and document["syncer_version"] == syncer.__version__
    found = {p["column"]: p for p in document["problems"]}
    assert set(found) == set(expected)
    for name, bad in expected.items():
        assert found[name]["rows"] == len(bad)
        assert found[name]["line"] == bad[0] + 2
        assert found[name]["file"] == "data/flights.csv"
        assert found[name]["hint"]
    assert not project.target_db.exists()


def test_problems_in_several_files_are_headed_as_data(project: Project) -> None:
    project.manifest(manifest("../data/a.csv", columns="id: integer") + """\
  - name: more
    source: ../data/b.csv
    columns: {n: integer}
""")
    project.write("a.csv", "id\n1\nx\n")
    project.write("b.csv", "n\ny\n2\n")
    result = project.plan()
    assert result.code == 1
    assert "2 problems in the data of data/a.csv, data/b.csv:" in result.err
    assert "data/a.csv:3: column 'id': 'x'" in result.err
    assert "data/b.csv:2: column 'n': 'y'" in result.err


def test_empty_keys_are_counted_over_every_block(project: Project,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("syncer.sources.readers._BLOCK", 1024)
    rows = [["" if i % 10 == 3 else str(i), "x" * 20] for i in range(2000)]
    project.write("k.csv", csv_text(["id", "v"], rows))
    project.manifest(manifest("../data/k.csv", key="id", mode="upsert"))
    result = project.plan()
    assert result.code == 1
    assert "data/k.csv:5: empty key value in id (199 more rows like it)" in result.err


# -- 4. messages -----------------------------------------------------------------------------------

def test_plan_json_prints_the_manifest_problems_too(project: Project) -> None:
    project.write("a.csv", "id\n1\n")
    project.manifest(manifest("../data/a.csv", extra="    modee: replace\n"))
    result = project.plan("--json")
    assert result.code == 1
    assert "unknown key 'modee'" in result.err
    document = json.loads(result.out)
    assert document["problems"][0]["file"] == "manifests/shop.yaml"
    assert document["problems"][0]["line"] == 10
    assert "modee" in document["problems"][0]["message"]
    assert set(document["problems"][0]) == {"file", "line", "column", "rows", "message", "hint"}


def test_a_successful_plan_json_has_no_problems(project: Project) -> None:
    project.write("a.csv", "id\n1\n")
    project.manifest(manifest("../data/a.csv"))
    assert project.plan_json()["problems"] == []


# -- 5. versions -----------------------------------------------------------------------------------

def test_every_json_output_names_the_syncer_version(project: Project) -> None:
    version = syncer.__version__
    project.write("a.csv", "id\n1\n")
    project.manifest(manifest("../data/a.csv"))
    assert project.plan_json()["syncer_version"] == version
    result = project.syncer("validate", "-m", project.manifests, "--json")
    assert json.loads(result.out)["syncer_version"] == version
    result = project.apply("--json")
    assert result.code == 0, str(result)
    assert json.loads(result.out)["syncer_version"] == version
    result = project.syncer("drift", "-m", project.manifests, "--state", project.state, "--json")
    assert result.code == 0, str(result)
    assert json.loads(result.out)["syncer_version"] == version
    result = project.syncer("state", "show", "items", "--state", project.state, "--json")
    assert json.loads(result.out)["syncer_version"] == version
    result = project.syncer("history", "--state", project.state, "--json")
    runs = json.loads(result.out)
    assert runs and all(r["syncer_version"] == version for r in runs)
    # recorded in the state with the run, read back independently
    assert rows_of(project.state, "SELECT DISTINCT syncer_version FROM runs") == [(version,)]


def test_the_new_keys_leave_an_existing_datasets_spec_hash_alone() -> None:
    """A manifest that uses none of the new keys hashes as before the upgrade (its unchanged
    sources are not read again); one that sets them hashes differently."""
    from syncer.model.manifest import DatasetSpec, without_unset_additions

    def dumped(**extra: Any) -> str:
        spec = DatasetSpec.model_validate({"name": "d", "source": "a.csv",
                                           "columns": {"n": "integer"}, **extra})
        return json.dumps(without_unset_additions(spec.model_dump(mode="json")))

    old = dumped()
    assert not {"null_values", "timezone", "scale"} & set(old.replace('"', " ").split())
    assert dumped(timezone="Asia/Tokyo") != old
    assert dumped(source={"path": "a.csv", "null_values": ["NA"]}) != old
