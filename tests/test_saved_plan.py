"""Saved plans (``plan --out`` then ``apply FILE``) and ``--dataset`` / ``--target`` filters."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Project, csv_text, db_dump, pg_query
from tests.pg import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS

MANIFEST = """\
version: 1
target:
  name: shop
  type: sqlite
  path: ../build/target.db
datasets:
  - name: products
    source: ../data/products.csv
    mode: upsert
    key: [sku]
  - name: tags
    source: ../data/tags.csv
    mode: replace
"""
OTHER = """\
version: 1
target:
  name: other
  type: sqlite
  path: ../build/other.db
datasets:
  - name: notes
    source: ../data/notes.csv
    mode: replace
"""
P1 = [["A", "cup"], ["B", "pot"], ["C", "mug"]]
P2 = [["A", "cup"], ["B", "moka pot"], ["C", "mug"], ["D", "tray"]]


@pytest.fixture
def shop(project: Project) -> Project:
    project.manifest(MANIFEST)
    project.write("products.csv", csv_text(["sku", "name"], P1))
    project.write("tags.csv", csv_text(["tag"], [["red"], ["blue"]]))
    project.apply_ok()
    return project


def dataset_state(project: Project, target: str, dataset: str) -> tuple[Any, ...]:
    """Everything the state holds about one dataset: its record and its snapshot chunks."""
    if isinstance(project.state, str):
        return (pg_query(project.state, "SELECT * FROM datasets WHERE target=%s AND dataset=%s",
                         (target, dataset)),
                pg_query(project.state, "SELECT chunk, rows, data FROM snapshot_chunks WHERE "
                         "target=%s AND dataset=%s ORDER BY chunk", (target, dataset)))
    con = sqlite3.connect(project.state)
    try:
        record = con.execute("SELECT * FROM datasets WHERE target=? AND dataset=?",
                             (target, dataset)).fetchall()
        chunks = con.execute("SELECT chunk, rows, data FROM snapshot_chunks WHERE target=? AND "
                             "dataset=? ORDER BY chunk", (target, dataset)).fetchall()
        return (record, chunks)
    finally:
        con.close()


def test_fresh_saved_plan_applies_exactly_and_then_plan_is_empty(shop: Project) -> None:
    shop.write("products.csv", csv_text(["sku", "name"], P2))
    saved = shop.plan("--out", "p.json")
    assert saved.code == 0, str(saved)
    assert "Saved the plan to p.json" in saved.out
    data = json.loads(Path("p.json").read_text())
    assert data["format_version"] == 1
    assert [(d["dataset"], d["inserts"], d["updates"]) for d in data["datasets"]] == [
        ("products", 1, 1), ("tags", 0, 0)]
    # a saved plan needs no --auto-approve: it was reviewed when it was made
    result = shop.syncer("apply", "p.json", "--state", shop.state)
    assert result.code == 0, str(result)
    assert shop.table("products") == {("A", "cup"): 1, ("B", "moka pot"): 1, ("C", "mug"): 1,
                                      ("D", "tray"): 1}
    assert shop.plan_json()["changes"] is False


def test_a_saved_plan_with_deletes_applies_them(shop: Project) -> None:
    """Deleted rows are pinned by their identities (they carry no row hash)."""
    shop.write("products.csv", csv_text(["sku", "name"], P2[1:]))
    saved = shop.plan("--out", "p.json", "--allow-deletes")
    assert saved.code == 0, str(saved)
    data = json.loads(Path("p.json").read_text())
    assert [(d["dataset"], d["inserts"], d["updates"], d["deletes"])
            for d in data["datasets"]][0] == ("products", 1, 1, 1)
    result = shop.syncer("apply", "p.json", "--state", shop.state, "--allow-deletes")
    assert result.code == 0, str(result)
    assert shop.table("products") == {("B", "moka pot"): 1, ("C", "mug"): 1, ("D", "tray"): 1}


def test_saved_plan_is_stale_after_the_source_changed(shop: Project) -> None:
    shop.write("products.csv", csv_text(["sku", "name"], P2))
    assert shop.plan("--out", "p.json").code == 0
    shop.write("products.csv", csv_text(["sku", "name"], [*P2, ["E", "lid"]]))
    before = shop.snapshot()
    result = shop.syncer("apply", "p.json", "--state", shop.state)
    assert result.code == 1, str(result)
    assert "stale plan for shop/products" in result.err
    assert "a source file changed" in result.err
    assert "Traceback" not in result.output
    assert shop.snapshot() == before


def test_saved_plan_is_stale_after_another_apply(shop: Project) -> None:
    shop.write("products.csv", csv_text(["sku", "name"], P2))
    assert shop.plan("--out", "p.json").code == 0
    shop.apply_ok()  # someone applied in between
    before = shop.snapshot()
    result = shop.syncer("apply", "p.json", "--state", shop.state)
    assert result.code == 1, str(result)
    assert "stale" in result.err and "the state changed" in result.err
    assert shop.snapshot() == before


def test_saved_plan_is_stale_after_the_manifest_changed(shop: Project) -> None:
    shop.write("products.csv", csv_text(["sku", "name"], P2))
    assert shop.plan("--out", "p.json").code == 0
    shop.manifest(MANIFEST.replace("    key: [sku]", "    key: [sku]\n    delete_missing: false"))
    result = shop.syncer("apply", "p.json", "--state", shop.state)
    assert result.code == 1
    assert "stale" in result.err and "its manifest changed" in result.err


def test_saved_plan_is_stale_when_only_the_state_moved(shop: Project) -> None:
    """Same source bytes, but the state generation moved (another apply of the same data)."""
    shop.write("tags.csv", csv_text(["tag"], [["red"]]))
    assert shop.plan("--out", "p.json", "--dataset", "tags").code == 0
    shop.apply_ok("--dataset", "tags")
    result = shop.syncer("apply", "p.json", "--state", shop.state)
    assert result.code == 1
    assert "stale plan for shop/tags" in result.err


def test_saved_plan_for_one_dataset_applies_only_that_one(shop: Project) -> None:
    shop.write("products.csv", csv_text(["sku", "name"], P2))
    shop.write("tags.csv", csv_text(["tag"], [["green"]]))
    assert shop.plan("--dataset", "products", "--out", "p.json").code == 0
    tags_before = dataset_state(shop, "shop", "tags")
    result = shop.syncer("apply", "p.json", "--state", shop.state)
    assert result.code == 0, str(result)
    assert ("D", "tray") in shop.table("products")
    assert shop.table("tags") == {("red",): 1, ("blue",): 1}
    assert dataset_state(shop, "shop", "tags") == tags_before


def test_missing_or_invalid_plan_file(shop: Project) -> None:
    result = shop.syncer("apply", "nope.json", "--state", shop.state)
    assert result.code == 1 and "does not exist" in result.err
    Path("bad.json").write_text("{not json")
    result = shop.syncer("apply", "bad.json", "--state", shop.state)
    assert result.code == 1 and "not a syncer plan file" in result.err
    assert "Traceback" not in result.output


@pytest.mark.parametrize("selector", ["products", "shop/products"])
def test_dataset_filter_applies_only_that_dataset(shop: Project, selector: str) -> None:
    shop.write("products.csv", csv_text(["sku", "name"], P2))
    shop.write("tags.csv", csv_text(["tag"], [["green"]]))
    tags_before = dataset_state(shop, "shop", "tags")
    plan = shop.plan_json("--dataset", selector)
    assert [d["dataset"] for d in plan["datasets"]] == ["products"]
    assert plan["orphans"] == []  # filtered out is not orphaned
    shop.apply_ok("--dataset", selector)
    assert ("D", "tray") in shop.table("products")
    assert shop.table("tags") == {("red",): 1, ("blue",): 1}
    assert dataset_state(shop, "shop", "tags") == tags_before
    # the rest is still pending
    rest = shop.plan_json()
    assert [(d["dataset"], d["inserts"], d["deletes"]) for d in rest["datasets"]] == [
        ("products", 0, 0), ("tags", 1, 2)]


def test_target_filter_applies_only_that_target(shop: Project) -> None:
    shop.manifest(OTHER, name="other.yaml")
    shop.write("notes.csv", csv_text(["note"], [["hello"]]))
    shop.write("tags.csv", csv_text(["tag"], [["green"]]))
    other_db = shop.root / "build" / "other.db"
    shop_before = db_dump(shop.target_db)
    shop_state = [dataset_state(shop, "shop", n) for n in ("products", "tags")]
    plan = shop.plan_json("--target", "other")
    assert [d["target"] for d in plan["datasets"]] == ["other"]
    shop.apply_ok("--target", "other")
    assert shop.table("notes", db=other_db) == {("hello",): 1}
    assert db_dump(shop.target_db) == shop_before
    assert [dataset_state(shop, "shop", n) for n in ("products", "tags")] == shop_state
    assert shop.plan_json("--target", "other")["changes"] is False
    assert shop.plan_json("--target", "shop")["changes"] is True


def test_unknown_filter_is_an_error_not_an_empty_selection(shop: Project) -> None:
    result = shop.plan("--dataset", "nope")
    assert result.code == 1
    assert "no dataset 'nope'" in result.err and "shop/products" in result.err
    result = shop.apply("--target", "nope")
    assert result.code == 1
    assert "no target 'nope'" in result.err


@pytest.mark.parametrize("how", [(), ("--json",), ("--format", "markdown")])
def test_show_renders_a_saved_plan_as_plan_did(shop: Project, how: tuple[str, ...]) -> None:
    """`syncer show FILE` prints what `plan` printed (samples, warnings, blocked reasons, the
    unchanged datasets), reading nothing but the file, and applies nothing."""
    shop.write("products.csv", csv_text(["sku", "name"], P2[2:]))  # deletes 2 of 3: blocked
    planned = shop.plan("--out", "p.json", *how)
    assert planned.code == 0, str(planned)
    before = db_dump(shop.target_db)
    Path(shop.manifests / "shop.yaml").unlink()  # nothing but the file is read
    shown = shop.syncer("show", "p.json", *how)
    assert shown.code == 0, str(shown)
    expected = planned.out.split("Saved the plan to")[0]
    if how == ("--json",):
        assert json.loads(shown.out) == json.loads(expected)
    else:
        assert shown.out == expected
    assert "blocked" in shown.out and "tags" in shown.out
    assert db_dump(shop.target_db) == before


def test_show_refuses_a_file_that_is_not_a_plan(shop: Project) -> None:
    Path("p.json").write_text('{"format_version": 1, "datasets": [{"target": "x"}]}')
    result = shop.syncer("show", "p.json")
    assert result.code == 1 and "is not a syncer plan file" in result.err, str(result)
    missing = shop.syncer("show", "nope.json")
    assert missing.code == 1 and "does not exist" in missing.err, str(missing)
