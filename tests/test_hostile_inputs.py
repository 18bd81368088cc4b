"""Hostile input (issue 18), one test per class: deep nesting, size limits, encodings, syncer's
internal column names, reserved target names, NaN and infinities, columns a target cannot hold,
parser options that contradict each other, odd files, and `${VAR}` in names and paths.

Every refusal is exit 1 with the file (and the line where there is one), never a traceback or
exit 3, and leaves the state and the target exactly as they were.  The accepted cases must
round-trip: a second plan, and a plan against the target (``--refresh``), find nothing to do.
"""

from __future__ import annotations

import json
import os
import re

import pytest

from tests.conftest import Project, Result, csv_text, table_exists
from tests.test_bad_inputs import HEADER, MANIFEST, ROWS, applied  # noqa: F401  (a fixture)

PLAIN = MANIFEST.split("    columns:")[0]  # no `columns:`: every source column as text
JSON_MANIFEST = MANIFEST.replace("products.csv", "products.json")


def clean(result: Result) -> None:
    assert "Traceback" not in result.output, str(result)
    assert "Internal error" not in result.output, str(result)
    assert result.code in (0, 1, 2), str(result)


def refused(project: Project, where: str, message: str, *, validate: bool = False) -> None:
    """plan, plan --json and apply (and validate, when asked) exit 1 naming ``where`` (a regex
    for ``file:line``) and saying ``message``; nothing changes."""
    before = project.snapshot()
    results = [project.plan(), project.plan("--json"), project.apply()]
    if validate:
        results.append(project.syncer("validate", "-m", "manifests"))
    for result in results:
        clean(result)
        assert result.code == 1, str(result)
        assert re.search(where + ":", result.err), str(result)
        assert message in result.err, str(result)
    assert project.snapshot() == before


def converged(project: Project) -> None:
    for args in ((), ("--refresh",)):
        plan = project.plan_json(*args)
        assert plan["changes"] is False, (args, plan)


# -- 1. deep nesting -------------------------------------------------------------------------------

def test_deep_flow_list_in_a_manifest(applied: Project) -> None:
    applied.manifest(MANIFEST + "extra: " + "[" * 1000 + "]" * 1000 + "\n")
    refused(applied, r"manifests/shop\.yaml:16", "nested deeper than", validate=True)


def test_deep_block_mapping_in_a_manifest(applied: Project) -> None:
    deep = "".join(" " * (depth + 1) + f"k{depth}:\n" for depth in range(3000))
    applied.manifest(MANIFEST + "extra:\n" + deep)
    refused(applied, r"manifests/shop\.yaml:\d+", "nested deeper than", validate=True)


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_deeply_nested_json_source(applied: Project, fmt: str) -> None:
    applied.manifest(MANIFEST.replace("products.csv", f"products.{fmt}"))
    good = '{"sku": "A-1", "name": "cup", "qty": 3, "price": 1}'
    deep = "[" * 100_000
    applied.write(f"products.{fmt}", f"[{good},\n{deep}\n" if fmt == "json" else f"{good}\n{deep}\n")
    refused(applied, rf"data/products\.{fmt}:2", "nested deeper than")


def test_deep_json_value_in_a_text_column(applied: Project) -> None:
    """Nesting Python's json can read (but not write back) is refused the same way."""
    applied.manifest(JSON_MANIFEST)
    value = "[" * 5000 + "]" * 5000
    applied.write("products.json", '[\n{"sku": "A-1", "name": ' + value + ', "qty": 3, "price": 1}\n]\n')
    refused(applied, r"data/products\.json:2", "nested deeper than")


def test_json_array_of_empty_objects(applied: Project) -> None:
    applied.manifest(JSON_MANIFEST.split("    columns:")[0])
    applied.write("products.json", "[{}, {}]\n")
    refused(applied, r"data/products\.json:1", "every row is an empty object")


# -- 2. size limits --------------------------------------------------------------------------------

def test_a_header_name_over_the_csv_field_limit(applied: Project) -> None:
    applied.manifest(PLAIN)
    applied.write("products.csv", "sku," + "n" * 140_000 + "\nA-1,x\n")
    refused(applied, r"data/products\.csv:1", "column name of 140,000 characters", validate=True)


def test_a_file_of_nul_bytes(applied: Project) -> None:
    applied.write("products.csv", b"\x00" * 200_000)
    refused(applied, r"data/products\.csv:1", "NUL byte", validate=True)


def test_a_huge_sparse_file(applied: Project) -> None:
    """2 GB of zeros (sparse: nothing is written): refused from its first MB, not read whole."""
    with (applied.data / "products.csv").open("wb") as handle:
        handle.truncate(2 << 30)
    refused(applied, r"data/products\.csv:1", "NUL byte", validate=True)


def test_a_header_line_without_an_end(applied: Project) -> None:
    applied.manifest(PLAIN)
    applied.write("products.csv", "sku," + ",".join(f"c{i}" for i in range(400_000)))
    refused(applied, r"data/products\.csv:1", "header row is longer than", validate=True)


# -- 3. encodings ----------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_a_bom_less_file_in_an_encoding_that_needs_one(applied: Project, encoding: str) -> None:
    applied.manifest(MANIFEST.replace("source: ../data/products.csv",
                                      f"source: {{path: ../data/products.csv, encoding: {encoding}}}"))
    applied.write("products.csv", csv_text(HEADER, ROWS))  # UTF-8, no BOM
    refused(applied, r"data/products\.csv:1", f"no {encoding} byte order mark", validate=True)


def test_utf16_with_a_bom_is_read(applied: Project) -> None:
    applied.manifest(MANIFEST.replace("source: ../data/products.csv",
                                      "source: {path: ../data/products.csv, encoding: utf-16}"))
    applied.write("products.csv", csv_text(HEADER, ROWS).encode("utf-16"))
    assert applied.syncer("validate", "-m", "manifests").code == 0
    assert applied.plan_json()["changes"] is False


def test_a_parquet_column_without_a_name(applied: Project) -> None:
    import polars as pl

    applied.manifest(PLAIN.replace("products.csv", "products.parquet"))
    pl.DataFrame({"sku": ["A-1"], "": ["x"]}).write_parquet(applied.data / "products.parquet")
    refused(applied, r"data/products\.parquet", "column 2 has no name", validate=True)


# -- 4. syncer's internal column names -------------------------------------------------------------

INTERNAL = ["__k", "__h", "__src", "__row", "__kh", "__op", "__at", "__line"]


@pytest.mark.parametrize("name", INTERNAL)
def test_a_source_column_with_an_internal_name(applied: Project, name: str) -> None:
    applied.manifest(PLAIN)
    applied.write("products.csv", csv_text(["sku", name], [["A-1", "1"], ["A-2", "2"]]))
    refused(applied, r"data/products\.csv:1", f"column name '{name}' is reserved", validate=True)


@pytest.mark.parametrize("name", INTERNAL)
def test_an_internal_name_in_a_json_source(applied: Project, name: str) -> None:
    applied.manifest(JSON_MANIFEST.split("    columns:")[0])
    applied.write("products.json", json.dumps([{"sku": "A-1", name: 1}]))
    refused(applied, r"data/products\.json:1", f"column name '{name}' is reserved")


@pytest.mark.parametrize("name", INTERNAL)
def test_a_declared_column_with_an_internal_name(applied: Project, name: str) -> None:
    applied.manifest(MANIFEST + f"      {name}: string\n")
    refused(applied, r"manifests/shop\.yaml:16", f"column name '{name}' is reserved", validate=True)


@pytest.mark.parametrize("name", ["__k", "__h", "__src", "__kh", "__op"])
def test_an_internal_name_renamed_with_from_round_trips(project: Project, name: str) -> None:
    project.manifest(MANIFEST.replace("      price: float\n",
                                      f"      price: float\n      extra: {{from: {name}}}\n"))
    project.write("products.csv", csv_text([*HEADER, name], [[*r, f"v{i}"] for i, r in enumerate(ROWS)]))
    project.apply_ok()
    assert project.table("products", ["sku", "extra"])[("A-2", "v1")] == 1
    converged(project)


def test_from_row_number_column_is_refused(applied: Project) -> None:
    """``__row`` is the record number syncer adds to the raw rows: it cannot be read from a file."""
    applied.manifest(MANIFEST + "      extra: {from: __row}\n")
    refused(applied, r"manifests/shop\.yaml:16", "'__row' cannot be read", validate=True)


def test_a_dataset_failing_before_its_first_batch_leaves_no_state(
        applied: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    from syncer.errors import TargetError
    from syncer.targets.sqlite.driver import SqliteDriver

    applied.manifest(MANIFEST + "  - name: fresh\n    source: ../data/fresh.csv\n")
    applied.write("fresh.csv", "a,b\n1,2\n")

    def refuse(self: SqliteDriver, batch: object) -> list[object]:
        raise TargetError("the target refused the batch")

    monkeypatch.setattr(SqliteDriver, "apply", refuse)
    result = applied.apply()
    clean(result)
    assert result.code == 1
    assert applied.record("fresh") is None
    assert applied.record("products") is not None
    assert applied.table("products") and not table_exists(applied.state, "fresh")


def test_a_dataset_failing_before_its_first_batch_leaves_no_table(
        applied: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    from syncer.errors import TargetError
    from syncer.targets.sqlite.driver import SqliteDriver

    applied.manifest(MANIFEST + "  - name: fresh\n    source: ../data/fresh.csv\n")
    applied.write("fresh.csv", "a,b\n1,2\n")

    def refuse(self: SqliteDriver, batch: object) -> list[object]:
        raise TargetError("the target refused the batch")

    monkeypatch.setattr(SqliteDriver, "apply", refuse)
    assert applied.apply().code == 1
    assert not table_exists(applied.target_db, "fresh")


# -- 5. reserved target names ----------------------------------------------------------------------

@pytest.mark.parametrize("table", ["_syncer_batches", "_SYNCER_batches", "_syncer_upserts",
                                   "_syncer_anything", "products_syncer_key"])
def test_a_table_with_a_name_syncer_uses(applied: Project, table: str) -> None:
    applied.manifest(MANIFEST.replace("    mode: upsert", f"    table: {table}\n    mode: upsert"))
    refused(applied, r"manifests/shop\.yaml:9", f"table name '{table}' is reserved", validate=True)
    rows = applied.table("_syncer_batches")
    assert rows and all(len(r) == 3 for r in rows)


def test_a_dataset_named_like_syncer_bookkeeping(applied: Project) -> None:
    applied.manifest(MANIFEST.replace("name: products", "name: _syncer_batches"))
    refused(applied, r"manifests/shop\.yaml:7", "table name '_syncer_batches' is reserved",
            validate=True)


# -- 6. NaN and infinities -------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity", "-Infinity"])
def test_non_finite_float_in_csv_is_refused(applied: Project, value: str) -> None:
    applied.write("products.csv", csv_text(HEADER, [*ROWS, ["D-1", "x", "1", value]]))
    refused(applied, r"data/products\.csv:8", "is not a finite number")


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_float_in_json_is_refused(applied: Project, value: str) -> None:
    applied.manifest(JSON_MANIFEST)
    applied.write("products.json", '[\n{"sku": "A-1", "name": "cup", "qty": 3, "price": 1},\n'
                  f'{{"sku": "A-2", "name": "cup", "qty": 3, "price": {value}}}\n]\n')
    refused(applied, r"data/products\.json:3", "is not a finite number")


def test_non_finite_in_a_vector_is_refused(applied: Project) -> None:
    applied.manifest(MANIFEST.replace("products.csv", "products.jsonl").replace(
        "      price: float\n", "      price: float\n      vec: {type: vector, dim: 2}\n"))
    applied.write("products.jsonl", '{"sku": "A-1", "name": "a", "qty": 1, "price": 1, "vec": [1, 2]}\n'
                  '{"sku": "A-2", "name": "b", "qty": 1, "price": 1, "vec": [NaN, 2]}\n')
    refused(applied, r"data/products\.jsonl:2", "is not a finite number")


def test_nan_as_text_round_trips(project: Project) -> None:
    """In a text column, ``nan`` is the text it is: stored and compared as such."""
    project.manifest(PLAIN)
    project.write("products.csv", csv_text(HEADER, [*ROWS, ["D-1", "x", "1", "nan"]]))
    project.apply_ok()
    assert project.table("products", ["sku", "price"])[("D-1", "nan")] == 1
    converged(project)
    drift = project.syncer("drift", "-m", "manifests", "--state", project.state)
    clean(drift)
    assert drift.code == 0, str(drift)


# -- 7. columns the target cannot hold -------------------------------------------------------------

def test_header_names_equal_but_for_case(applied: Project) -> None:
    applied.manifest(PLAIN)
    applied.write("products.csv", "sku,Name,name\nA-1,x,y\n")
    refused(applied, r"data/products\.csv:1", "'Name' and 'name' differ only in case", validate=True)


def test_declared_columns_equal_but_for_case(applied: Project) -> None:
    applied.manifest(MANIFEST + "      Name: {from: name}\n")
    refused(applied, r"manifests/shop\.yaml:16", "'name' and 'Name' differ only in case",
            validate=True)


def test_more_columns_than_a_table_holds(applied: Project) -> None:
    applied.manifest(PLAIN)
    names = ["sku", *(f"c{i}" for i in range(2100))]
    applied.write("products.csv", csv_text(names, [["A-1", *("1" for _ in range(2100))]]))
    refused(applied, r"data/products\.csv:1", "2,101 columns", validate=True)


def test_more_columns_than_a_table_holds_in_json(applied: Project) -> None:
    applied.manifest(JSON_MANIFEST.split("    columns:")[0])
    applied.write("products.json", json.dumps([{"sku": "A-1", **{f"c{i}": 1 for i in range(2100)}}]))
    refused(applied, r"data/products\.json:1", "2,101 columns")


# -- 8. contradictory options and odd files --------------------------------------------------------

@pytest.mark.parametrize("source", ["{path: ../data/products.csv, delimiter: ';', quotechar: ';'}",
                                    "{path: ../data/products.csv, quotechar: ','}",
                                    "{path: ../data/products.csv, delimiter: \"\\n\"}",
                                    "{path: ../data/products.csv, quotechar: \"\\r\"}"])
def test_parser_options_that_contradict(applied: Project, source: str) -> None:
    applied.manifest(MANIFEST.replace("source: ../data/products.csv", f"source: {source}"))
    refused(applied, r"manifests/shop\.yaml:8", "datasets[0].source", validate=True)


@pytest.mark.parametrize("value", ["${UNTERM", "x${", "${1BAD}", "${}"])
def test_a_malformed_variable_reference(applied: Project, value: str) -> None:
    applied.manifest(MANIFEST.replace("  path: ../build/target.db", f"  path: '{value}'"))
    refused(applied, r"manifests/shop\.yaml:5", "malformed ${...}", validate=True)


def test_a_fifo_source(applied: Project) -> None:
    os.mkfifo(applied.data / "fifo.csv")
    applied.manifest(MANIFEST.replace("products.csv", "fifo.csv"))
    refused(applied, r"manifests/shop\.yaml:8", "is not a regular file (a FIFO)", validate=True)


def test_a_manifest_symlink_loop(applied: Project) -> None:
    os.symlink("loop.yaml", applied.manifests / "loop.yaml")
    refused(applied, r"manifests(?=: loop\.yaml)", "symlink loop", validate=True)


def test_a_directory_named_like_a_manifest(applied: Project) -> None:
    (applied.manifests / "x.yaml").mkdir()
    refused(applied, r"manifests(?=: x\.yaml)", "is a directory, not a manifest", validate=True)


def test_a_dangling_manifest_symlink(applied: Project) -> None:
    os.symlink("gone.yaml", applied.manifests / "dangling.yaml")
    refused(applied, r"manifests(?=: dangling\.yaml)", "points to nothing", validate=True)


# -- 9. secrets in names and paths -----------------------------------------------------------------

SECRET = "s3cr3t-value-9f2c"


@pytest.mark.parametrize(("old", "new", "line"), [
    ("    mode: upsert", "    table: t_${SYNCER_SECRET}\n    mode: upsert", 9),
    ("../data/products.csv", "../data/${SYNCER_SECRET}.csv", 8),
    ("source: ../data/products.csv", "source: {path: '../data/${SYNCER_SECRET}.csv'}", 8),
    ("name: products", "name: p${SYNCER_SECRET}", 7),
    ("name: shop", "name: ${SYNCER_SECRET}", 3),
    ("      sku: string", "      sku: {from: '${SYNCER_SECRET}'}", 12),
])
def test_variables_in_names_and_paths_are_refused(
        applied: Project, monkeypatch: pytest.MonkeyPatch, old: str, new: str, line: int) -> None:
    monkeypatch.setenv("SYNCER_SECRET", SECRET)
    applied.write(f"{SECRET}.csv", csv_text(HEADER, ROWS))
    applied.manifest(MANIFEST.replace(old, new))
    refused(applied, rf"manifests/shop\.yaml:{line}", "${SYNCER_SECRET} cannot be used in",
            validate=True)
    for args in (("state", "list", "--json"), ("history",)):
        result = applied.syncer(*args, "--state", applied.state)
        assert SECRET not in result.output
    assert all(SECRET not in line for part in applied.snapshot() for line in part)


def test_variables_still_work_in_target_settings(
        applied: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCER_BUILD", "build")
    applied.manifest(MANIFEST.replace("../build/target.db", "../${SYNCER_BUILD}/target.db"))
    assert applied.plan_json()["changes"] is False
