"""The state is bound to its target (issue 16), on the SQLite target, through the CLI: a plan
never says "No changes" about a target it did not look at or that is not what the state says,
and never sends an append again because the state was lost or swapped.

Scenarios: the target deleted or emptied; the manifest's path or table changed; a second state
against the same target; an append into a non-empty table with no state; a target that cannot
be reached at plan time.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import Project, csv_text, table_exists
from tests.pg import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS  # the state's new columns, on both backends

ROWS = [["A", "cup"], ["B", "pan"], ["C", "pot"]]


def manifest(shop: Project, *, path: str = "../build/target.db", table: str = "",
             mode: str = "append") -> None:
    key = "    key: [sku]\n" if mode == "upsert" else ""
    shop.manifest(f"""\
version: 1
target:
  name: shop
  type: sqlite
  path: {path}
datasets:
  - name: products
    source: ../data/products.csv
    mode: {mode}
{key}{f"    table: {table}" + chr(10) if table else ""}""")


@pytest.fixture
def shop(project: Project) -> Project:
    manifest(project)
    project.write("products.csv", csv_text(["sku", "name"], ROWS))
    return project


def held(shop: Project, table: str = "products", db: Path | None = None) -> Counter[tuple[str, str]]:
    return shop.table(table, ["sku", "name"], db=db)


def check_of(shop: Project, *args: object) -> dict[str, object]:
    result = shop.plan("--json", *args)
    data = json.loads(result.out)
    item: dict[str, object] = data["datasets"][0]["target_check"]
    return item


def test_a_deleted_target_is_drift_never_no_changes(shop: Project) -> None:
    shop.apply_ok()
    shop.target_db.unlink()
    result = shop.plan()
    assert result.code == 0, str(result)
    assert "No changes" not in result.out
    assert "does not exist, but the state says 3 row(s)" in result.out
    assert "--refresh" in result.out
    assert check_of(shop)["status"] == "drift"
    blocked = shop.apply()
    assert blocked.code == 1 and "nothing was applied" in blocked.output, str(blocked)
    shop.apply_ok("--refresh")
    assert held(shop) == Counter(map(tuple, ROWS))
    assert "No changes." in shop.plan().out


def test_an_emptied_table_then_one_edit_is_not_applied_on_a_wrong_snapshot(
        shop: Project) -> None:
    """The issue's report: after `rm -rf build` and one edit, apply said in sync with 1 of 3
    rows.  Now the edit is blocked until the table is repaired."""
    manifest(shop, mode="upsert")
    shop.apply_ok()
    with sqlite3.connect(shop.target_db) as db:
        db.execute("DELETE FROM products")
    shop.write("products.csv", csv_text(["sku", "name"], [["A", "mug"], *ROWS[1:]]))
    result = shop.plan()
    assert "No changes" not in result.out
    assert "holds 0 row(s), the state says 3" in result.out, str(result)
    assert shop.apply().code == 1
    assert held(shop) == Counter()
    shop.apply_ok("--refresh")
    assert held(shop) == Counter([("A", "mug"), ("B", "pan"), ("C", "pot")])


def test_a_changed_table_is_a_move_and_a_full_load_there(shop: Project) -> None:
    shop.apply_ok()
    manifest(shop, table="goods")
    result = shop.plan()
    assert "moved: was build/target.db:products, now build/target.db:goods" in result.out
    assert "+3 ~0 -0" in result.out and "No changes" not in result.out
    moved = json.loads(shop.plan("--json").out)["datasets"][0]["moved"]
    assert moved == {"from": "build/target.db:products", "to": "build/target.db:goods"}
    shop.apply_ok()
    assert held(shop, "goods") == Counter(map(tuple, ROWS))
    assert held(shop, "products") == Counter(map(tuple, ROWS))  # the old table is left alone
    assert "No changes." in shop.plan().out
    record = shop.record("products")
    assert record is not None and record["table_name"] == "goods"


def test_a_changed_path_is_a_move_and_a_full_load_there(shop: Project) -> None:
    shop.apply_ok()
    manifest(shop, path="../build/other.db")
    result = shop.plan()
    assert "moved: was build/target.db:products, now build/other.db:products" in result.out
    shop.apply_ok()
    other = shop.root / "build" / "other.db"
    assert held(shop, db=other) == Counter(map(tuple, ROWS))
    assert held(shop) == Counter(map(tuple, ROWS))  # left as it was
    assert "No changes." in shop.plan().out
    record = shop.record("products")
    assert record is not None and record["location"] == "build/other.db"


def test_a_second_state_never_appends_again(shop: Project) -> None:
    """The README's watch example with another --state: the append table went from 3 to 6."""
    shop.apply_ok()
    other = shop.root / "state" / "other.db"  # a SQLite state beside the first (any backend)
    result = shop.syncer("plan", "-m", shop.manifests, "--state", other)
    assert "already holds 3 row(s) and this state has none recorded" in result.out, str(result)
    assert "syncer adopt shop/products" in result.out
    applied = shop.syncer("apply", "-m", shop.manifests, "--state", other, "--auto-approve")
    assert applied.code == 1, str(applied)
    assert held(shop) == Counter(map(tuple, ROWS))
    adopted = shop.syncer("adopt", "shop/products", "-m", shop.manifests, "--state", other)
    assert adopted.code == 0, str(adopted)
    again = shop.syncer("plan", "-m", shop.manifests, "--state", other)
    assert "No changes." in again.out, str(again)


def test_a_state_whose_marker_the_target_does_not_hold_is_refused(shop: Project) -> None:
    """A second state replaces the table: the first one is no longer that target's state."""
    manifest(shop, mode="replace")
    shop.apply_ok()
    other = shop.root / "state" / "other.db"
    shop.write("products.csv", csv_text(["sku", "name"], ROWS[:2] + [["D", "lid"]]))
    assert shop.syncer("apply", "-m", shop.manifests, "--state", other,
                       "--auto-approve").code == 0
    shop.write("products.csv", csv_text(["sku", "name"], ROWS))
    result = shop.plan()
    assert "No changes" not in result.out
    assert "this state is not that target's" in result.out, str(result)
    assert "syncer adopt shop/products" in result.out and "--refresh" in result.out
    assert check_of(shop)["status"] == "foreign"
    shop.apply_ok("--refresh")
    assert held(shop) == Counter(map(tuple, ROWS))
    assert "No changes." in shop.plan().out


def test_an_append_into_a_table_holding_rows_without_state_is_blocked(shop: Project) -> None:
    shop.target_db.parent.mkdir(parents=True)
    with sqlite3.connect(shop.target_db) as db:
        db.execute("CREATE TABLE products (sku TEXT, name TEXT)")
        db.execute("INSERT INTO products VALUES ('A', 'cup'), ('Z', 'old')")
    result = shop.plan()
    assert "already holds 2 row(s)" in result.out and "--allow-existing" in result.out
    assert shop.apply().code == 1
    assert held(shop) == Counter([("A", "cup"), ("Z", "old")])
    shop.apply_ok("--allow-existing")  # asked for: appended anyway
    assert sum(held(shop).values()) == 5


def test_an_unreachable_target_is_said_per_dataset_and_exits_1(shop: Project) -> None:
    shop.apply_ok()
    shop.target_db.write_bytes(b"not a database at all" * 100)
    result = shop.plan()
    assert result.code == 1, str(result)
    assert "No changes" not in result.output
    assert "shop/products" in result.err and "--no-target-check" in result.err
    assert "Traceback" not in result.output
    offline = shop.plan("--no-target-check")
    assert offline.code == 0, str(offline)
    assert "targets not checked (--no-target-check)" in offline.out.lower()
    assert "The targets match" not in offline.out
    data = json.loads(shop.plan("--json", "--no-target-check").out)
    assert data["targets_checked"] == 0
    assert data["datasets"][0]["target_check"] == {"checked": False}


def test_the_check_creates_nothing(shop: Project) -> None:
    result = shop.plan()
    assert result.code == 0, str(result)
    assert "Targets checked: 1 of 1." in result.out
    assert not shop.target_db.exists() and not table_exists(shop.target_db, "products")
