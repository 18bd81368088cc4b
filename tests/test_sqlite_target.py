"""The sqlite target's table handling: created from the declared columns, extended when the
schema grows, and given a unique key index when it was created without one."""

from __future__ import annotations

import sqlite3

import pytest

from tests.conftest import Project, csv_text, table_exists

MANIFEST = """\
version: 1
target: {name: shop, type: sqlite, path: ../build/target.db}
datasets:
  - name: products
    source: ../data/products.csv
    mode: upsert
    key: [sku]
    columns:
COLUMNS"""


def _manifest(project: Project, columns: dict[str, str]) -> None:
    lines = "".join(f"      {name}: {kind}\n" for name, kind in columns.items())
    project.manifest(MANIFEST.replace("COLUMNS", lines))


def test_table_is_created_with_typed_columns_and_the_key_as_primary_key(project: Project) -> None:
    _manifest(project, {"sku": "string", "price": "float", "qty": "integer"})
    project.write("products.csv", csv_text(["sku", "price", "qty"], [["A", "1.50", "2"]]))
    project.apply_ok()
    with sqlite3.connect(project.target_db) as db:
        info = {row[1]: (row[2], row[5]) for row in db.execute("PRAGMA table_info(products)")}
        assert info == {"sku": ("TEXT", 1), "price": ("REAL", 0), "qty": ("INTEGER", 0)}
        assert db.execute("SELECT typeof(price), typeof(qty) FROM products").fetchone() == (
            "real", "integer")


def test_a_new_column_is_added_and_filled(project: Project) -> None:
    _manifest(project, {"sku": "string", "price": "float"})
    project.write("products.csv", csv_text(["sku", "price", "qty"], [["A", "1.5", "2"]]))
    project.apply_ok()
    _manifest(project, {"sku": "string", "price": "float", "qty": "integer"})
    project.apply_ok()
    assert project.table("products") == {("A", 1.5, 2): 1}
    assert project.plan_json()["changes"] is False


def test_an_existing_table_without_a_key_gets_a_unique_index(project: Project) -> None:
    project.target_db.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(project.target_db) as db:
        db.execute("CREATE TABLE products (sku TEXT, price FLOAT)")
    _manifest(project, {"sku": "string", "price": "float"})
    project.write("products.csv", csv_text(["sku", "price"], [["A", "1"], ["B", "2"]]))
    project.apply_ok()
    project.write("products.csv", csv_text(["sku", "price"], [["A", "3"], ["B", "2"]]))
    project.apply_ok()
    assert project.table("products") == {("A", 3.0): 1, ("B", 2.0): 1}
    with sqlite3.connect(project.target_db) as db:
        unique = [row for row in db.execute("PRAGMA index_list(products)") if row[2]]
    assert unique, "upserts need a unique index on the key"


def test_an_apply_does_not_import_pandas(project: Project) -> None:
    """sqlite-utils and ADBC would import pandas (when installed) for DataFrame support syncer
    never uses; it is kept out, and stays importable afterwards."""
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    _manifest(project, {"sku": "string", "price": "float"})
    project.write("products.csv", csv_text(["sku", "price"], [["A", "1"], ["B", "2"]]))
    script = ("import sys; from syncer.cli import main\n"
              "sys.argv = ['syncer', 'apply', '-m', 'manifests', '--state', 'state/syncer.db',"
              " '--auto-approve', '--json']\n"
              "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
              "print('PANDAS', 'pandas' in sys.modules, code, file=sys.stderr)\n"
              "import importlib.util; print('FINDABLE', importlib.util.find_spec('pandas') is not None,"
              " file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=project.root, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert json.loads(done.stdout)["datasets"][0]["inserts"] == 2, done.stderr
    assert "PANDAS False 0" in done.stderr, done.stderr
    import importlib.util

    if importlib.util.find_spec("pandas") is not None:  # the block is lifted after the imports
        assert "FINDABLE True" in done.stderr, done.stderr
    assert project.table("products") == {("A", 1.0): 1, ("B", 2.0): 1}


def test_values_are_stored_as_sqlite_utils_stores_them_on_a_load_and_on_an_upsert(
        project: Project) -> None:
    """A first load goes straight into the table, a later change through a temporary table:
    both store dates as ISO text, booleans as 0/1, JSON and vectors as JSON text."""
    _manifest(project, {"sku": "string", "day": "date", "ok": "boolean", "meta": "json",
                        "vec": "{type: vector, dim: 2}"})
    header = ["sku", "day", "ok", "meta", "vec"]
    project.write("products.csv", csv_text(header, [
        ["A", "0999-05-06", "true", '{"a": 1}', "[1.5, 2]"],
        ["B", "", "false", "", ""]]))
    project.apply_ok()
    query = "SELECT sku, day, typeof(day), ok, typeof(ok), meta, vec FROM products ORDER BY sku"
    loaded = [("A", "0999-05-06", "text", 1, "integer", '{"a":1}', "[1.5, 2.0]"),
              ("B", None, "null", 0, "integer", None, None)]
    with sqlite3.connect(project.target_db) as db:
        assert db.execute(query).fetchall() == loaded
    project.write("products.csv", csv_text(header, [
        ["A", "0999-05-06", "true", '{"a": 1}', "[1.5, 2]"],
        ["B", "2024-02-29", "true", '{"b": [2]}', "[0, -1]"]]))
    project.apply_ok()
    with sqlite3.connect(project.target_db) as db:
        assert db.execute(query).fetchall() == [
            loaded[0], ("B", "2024-02-29", "text", 1, "integer", '{"b":[2]}', "[0.0, -1.0]")]


def test_a_first_load_read_in_many_slices_is_one_batch_and_one_transaction(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small blocks, slices and chunks stand in for millions of rows: the load is still one
    journal entry and one target transaction, and the chunks it leaves (sorted per slice, so
    their key ranges overlap) still give the next plan every old value it shows."""
    monkeypatch.setattr("syncer.sources.readers._BLOCK", 64)
    monkeypatch.setattr("syncer.targets.base.SLICE_ROWS", 7)
    monkeypatch.setattr("syncer.state.chunks.CHUNK_ROWS", 3)
    from syncer.state import chunks as snapshot
    slices: list[int] = []
    chunks_of = snapshot.chunks
    monkeypatch.setattr(snapshot, "chunks", lambda frame: slices.append(frame.height) or
                        chunks_of(frame))
    _manifest(project, {"sku": "string", "qty": "integer"})
    rows = [[f"s{i:02d}", str(i)] for i in reversed(range(40))]
    project.write("products.csv", csv_text(["sku", "qty"], rows))
    project.apply_ok()
    assert len(slices) > 3 and sum(slices) == 40 and max(slices) < 20
    assert project.table("products") == {(f"s{i:02d}", i): 1 for i in range(40)}
    with sqlite3.connect(project.target_db) as db:
        assert db.execute("SELECT COUNT(*) FROM _syncer_batches").fetchone() == (1,)
    with sqlite3.connect(project.state) as db:
        assert db.execute("SELECT upserts, status FROM journal").fetchall() == [(40, "done")]
        chunks, stored = db.execute("SELECT COUNT(*), SUM(rows) FROM snapshot_chunks").fetchone()
    assert stored == 40 and chunks >= 40 // 7
    rows[0][1], rows[20][1] = "990", "920"  # s39 and s19 change
    del rows[10]  # s29 goes
    project.write("products.csv", csv_text(["sku", "qty"], rows))
    (dataset,) = project.plan_json("--allow-deletes")["datasets"]
    assert (dataset["inserts"], dataset["updates"], dataset["deletes"]) == (0, 2, 1)
    assert {(s["op"], s["key"]): s.get("fields", s.get("values")) for s in dataset["samples"]} == {
        ("~", "s19"): {"qty": [19, 920]}, ("~", "s39"): {"qty": [39, 990]},
        ("-", "s29"): {"sku": "s29", "qty": 29}}
    project.apply_ok("--allow-deletes")
    assert project.table("products")[("s19", 920)] == 1 and ("s29", 29) not in project.table(
        "products")
    assert project.plan_json()["changes"] is False


def test_a_bug_inside_apply_is_a_bug_not_a_target_error(project: Project,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Only SQLite's and ADBC's own errors become a TargetError (exit 1): an exception from
    syncer's code in the driver's apply is a bug (exit 3), and nothing of the batch is kept."""
    from syncer.targets.sqlite import driver as sqlite_driver

    def broken(*_: object, **__: object) -> object:
        raise RuntimeError("a bug in the driver")

    _manifest(project, {"sku": "string", "price": "float"})
    project.write("products.csv", csv_text(["sku", "price"], [["A", "1"], ["B", "2"]]))
    with monkeypatch.context() as patch:
        patch.setattr(sqlite_driver, "_slices", broken)
        result = project.apply()
    assert result.code == 3, str(result)
    assert "a bug in the driver" in result.output, str(result)
    # rolled back: the table too, which the first batch was to create (no empty table left)
    assert not table_exists(project.target_db, "products")
    project.apply_ok()  # the next run settles the open batch ("not landed") and applies it
    assert project.table("products") == {("A", 1.0): 1, ("B", 2.0): 1}
    assert project.plan_json()["changes"] is False


def _journal_mode(path: object) -> str:
    with sqlite3.connect(str(path)) as db:
        return str(db.execute("PRAGMA journal_mode").fetchone()[0])


def test_a_database_the_run_creates_is_loaded_without_wal_then_switched_to_wal(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """WAL would write a first load twice; a file nobody reads yet is loaded in rollback-journal
    mode, and is in WAL mode once its first batch committed (readers never wait after that)."""
    from syncer.targets.base import Batch

    modes: list[str] = []
    before_commit = Batch.before_commit
    monkeypatch.setattr(Batch, "before_commit", lambda self: modes.append(
        _journal_mode(project.target_db)) or before_commit(self))
    _manifest(project, {"sku": "string", "price": "float"})
    project.write("products.csv", csv_text(["sku", "price"], [["A", "1"], ["B", "2"]]))
    assert not project.target_db.exists()
    project.apply_ok()
    assert modes == ["delete"] and _journal_mode(project.target_db) == "wal"
    project.write("products.csv", csv_text(["sku", "price"], [["A", "3"], ["C", "2"]]))
    project.apply_ok()
    assert modes == ["delete", "wal"]
    assert project.table("products") == {("A", 3.0): 1, ("C", 2.0): 1}


def test_an_existing_database_is_written_in_wal_mode(project: Project) -> None:
    project.target_db.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(project.target_db) as db:
        db.execute("CREATE TABLE other (x)")
    assert _journal_mode(project.target_db) == "delete"
    _manifest(project, {"sku": "string", "price": "float"})
    project.write("products.csv", csv_text(["sku", "price"], [["A", "1"]]))
    project.apply_ok()
    assert _journal_mode(project.target_db) == "wal"
