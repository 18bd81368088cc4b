"""Drift on the embedded SQLite target: rows changed, added and deleted directly in the target
are reported by `syncer drift` (exit 2), shown by `plan --refresh`, repaired by
`apply --refresh` as the mode says; `syncer adopt` takes over a pre-filled table.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Project, csv_text

HEADER = ["sku", "qty", "price", "live", "day", "meta"]
ROWS = [
    ["A", "1", "10.5", "true", "2024-01-05", '{"b": 1, "a": 2}'],
    ["B", "2", "3", "no", "2024/02/01", ""],
    ["C", "3", "7.25", "1", "2024-03-01", "[1, 2]"],
    ["D", "4", "0.5", "false", "2024-04-01", "null"],
]
# what the target holds after an apply of ROWS (sqlite: booleans 0/1, dates as text)
DECLARED = {
    ("A", 1, 10.5, 1, "2024-01-05", '{"a":2,"b":1}'),
    ("B", 2, 3.0, 0, "2024-02-01", None),
    ("C", 3, 7.25, 1, "2024-03-01", "[1,2]"),
    ("D", 4, 0.5, 0, "2024-04-01", "null"),
}


def manifest(mode: str, *, delete_missing: bool = True, keyed: bool = True) -> str:
    return f"""\
version: 1
target:
  name: shop
  type: sqlite
  path: ../build/target.db
datasets:
  - name: items
    source: ../data/items.csv
    table: items
    mode: {mode}
{"    key: [sku]" if keyed else ""}
    delete_missing: {str(delete_missing).lower()}
    columns:
      sku: string
      qty: integer
      price: float
      live: boolean
      day: date
      meta: json
"""


def setup(project: Project, mode: str = "upsert", **options: Any) -> None:
    project.manifest(manifest(mode, **options))
    project.write("items.csv", csv_text(HEADER, ROWS))
    project.apply_ok()


def tamper(db: Path) -> None:
    """Change A, delete B, add Z: directly in the target, behind syncer's back."""
    con = sqlite3.connect(db)
    with con:
        con.execute("UPDATE items SET qty = 9 WHERE sku = 'A'")
        con.execute("DELETE FROM items WHERE sku = 'B'")
        con.execute("INSERT INTO items VALUES ('Z', 7, 1.0, 0, '2024-05-05', NULL)")
    con.close()


def rows(db: Path) -> set[tuple[Any, ...]]:
    con = sqlite3.connect(db)
    try:
        return set(con.execute("SELECT sku, qty, price, live, day, meta FROM items"))
    finally:
        con.close()


def drift(project: Project, *args: object) -> Any:
    return project.syncer("drift", "-m", project.manifests, "--state", project.state, *args)


def test_no_drift_right_after_an_apply(project: Project) -> None:
    setup(project)
    assert rows(project.target_db) == DECLARED
    result = drift(project)
    assert result.code == 0, str(result)
    assert "No drift" in result.out
    data = drift(project, "--json").json()
    assert data["drift"] is False
    assert data["datasets"][0] | {"samples": []} == {
        "target": "shop", "dataset": "items", "changed": 0, "added": 0, "removed": 0,
        "samples": []}


def test_drift_reports_exactly_the_rows_changed_added_and_deleted(project: Project) -> None:
    setup(project)
    tamper(project.target_db)
    result = drift(project, "--json")
    assert result.code == 2, str(result)
    item = result.json()["datasets"][0]
    assert (item["changed"], item["added"], item["removed"]) == (1, 1, 1)
    by_op = {s["op"]: s for s in item["samples"]}
    assert by_op["~"] == {"op": "~", "key": "A", "fields": {"qty": [1, 9]}}
    assert by_op["+"]["key"] == "Z" and by_op["+"]["values"]["qty"] == 7
    assert by_op["-"]["key"] == "B"
    text = drift(project)
    assert text.code == 2
    assert "~1 changed +1 added -1 removed" in text.out


def test_plan_refresh_shows_drift_and_the_repair(project: Project) -> None:
    setup(project)
    tamper(project.target_db)
    plain = project.plan_json()
    assert not plain["changes"] and "drift" not in plain["datasets"][0]
    data = project.plan_json("--refresh")
    item = data["datasets"][0]
    assert item["drift"]["changed"] == 1 and item["drift"]["added"] == 1
    assert item["drift"]["removed"] == 1
    assert (item["inserts"], item["updates"], item["deletes"]) == (1, 1, 1)
    text = project.plan("--refresh")
    assert text.code == 0 and "Drift" in text.out and "outside syncer" in text.out


@pytest.mark.parametrize("mode", ["upsert", "replace"])
def test_apply_refresh_restores_the_declared_rows(project: Project, mode: str) -> None:
    setup(project, mode)
    tamper(project.target_db)
    project.apply_ok("--refresh")
    assert rows(project.target_db) == DECLARED
    assert drift(project).code == 0
    assert not project.plan_json()["changes"]
    assert not project.plan_json("--refresh")["changes"]


def test_upsert_keeps_strangers_without_delete_missing(project: Project) -> None:
    setup(project, "upsert", delete_missing=False)
    tamper(project.target_db)
    data = project.plan_json("--refresh")["datasets"][0]
    assert (data["inserts"], data["updates"], data["deletes"]) == (1, 1, 0)
    project.apply_ok("--refresh")
    assert rows(project.target_db) == DECLARED | {("Z", 7, 1.0, 0, "2024-05-05", None)}
    # the stranger is now known to the state: no drift, nothing to do
    assert drift(project).code == 0
    assert not project.plan_json("--refresh")["changes"]


def test_append_repairs_missing_delivered_rows_only(project: Project) -> None:
    setup(project, "append")
    tamper(project.target_db)
    data = project.plan_json("--refresh")["datasets"][0]
    assert (data["inserts"], data["updates"], data["deletes"]) == (1, 0, 0)
    assert data["drift"]["removed"] == 1
    project.apply_ok("--refresh")
    held = rows(project.target_db)
    assert ("B", 2, 3.0, 0, "2024-02-01", None) in held          # re-delivered
    assert ("A", 9, 10.5, 1, "2024-01-05", '{"a":2,"b":1}') in held  # append never updates
    assert ("Z", 7, 1.0, 0, "2024-05-05", None) in held          # append never deletes
    assert drift(project).code == 0


def test_keyless_drift(project: Project) -> None:
    setup(project, "replace", keyed=False)
    tamper(project.target_db)
    item = drift(project, "--json").json()["datasets"][0]
    # without a key a changed row is one removed and one added
    assert (item["changed"], item["added"], item["removed"]) == (0, 2, 2)
    project.apply_ok("--refresh")
    assert rows(project.target_db) == DECLARED
    assert drift(project).code == 0


def test_drift_filters_and_errors(project: Project) -> None:
    setup(project)
    assert drift(project, "--dataset", "items").code == 0
    assert drift(project, "--target", "nope").code == 1
    assert project.apply("--refresh", "plan.json").code == 1


def prefill(db: Path, values: list[tuple[Any, ...]], *, unique: bool = True) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(db)
    with con:
        key = "PRIMARY KEY" if unique else ""
        con.execute(f"CREATE TABLE items (sku TEXT {key}, qty INTEGER, price REAL, live INTEGER, "
                    "day TEXT, meta TEXT)")
        con.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)", values)
    con.close()


def test_adopt_makes_the_first_plan_the_true_difference(project: Project) -> None:
    project.manifest(manifest("upsert"))
    project.write("items.csv", csv_text(HEADER, ROWS))
    held = sorted(DECLARED)
    # the table already holds A, B, C as declared, D changed, and a stranger
    prefill(project.target_db, [*held[:3], ("D", 5, 0.5, 0, "2024-04-01", "null"),
                                ("Y", 1, 1.0, 1, "2024-01-01", None)])
    full = project.plan_json()["datasets"][0]
    assert full["inserts"] == 4  # without adopt: a full upload
    result = project.syncer("adopt", "items", "-m", project.manifests, "--state", project.state)
    assert result.code == 0, str(result)
    assert "5 row(s)" in result.out
    item = project.plan_json()["datasets"][0]
    assert (item["inserts"], item["updates"], item["deletes"]) == (0, 1, 1)
    assert drift(project).code == 0
    project.apply_ok()
    assert rows(project.target_db) == DECLARED
    assert not project.plan_json("--refresh")["changes"]


def test_adopt_refuses_duplicate_keys(project: Project) -> None:
    project.manifest(manifest("upsert"))
    project.write("items.csv", csv_text(HEADER, ROWS))
    prefill(project.target_db, [("A", 1, 1.0, 1, None, None), ("A", 2, 1.0, 1, None, None),
                                ("B", 1, 1.0, 1, None, None)], unique=False)
    result = project.syncer("adopt", "shop/items", "-m", project.manifests,
                            "--state", project.state)
    assert result.code == 1, str(result)
    assert "not unique" in result.err and "A" in result.err
    assert not project.state.exists() or project.plan_json()["datasets"][0]["inserts"] == 4


def test_adopt_of_an_empty_or_missing_table(project: Project) -> None:
    project.manifest(manifest("upsert"))
    project.write("items.csv", csv_text(HEADER, ROWS))
    result = project.syncer("adopt", "items", "-m", project.manifests, "--state", project.state,
                            "--json")
    assert result.code == 0, str(result)
    assert result.json()["rows"] == 0
    assert project.plan_json()["datasets"][0]["inserts"] == 4


# -- watch ---------------------------------------------------------------------------------------

def watch_pass(project: Project, **settings: Any) -> Any:
    """One interval pass of the watch loop over every dataset; the watcher's status."""
    import io

    from syncer.model.project import load_project
    from syncer.watch import Status, WatchConfig, Watcher, configure_logging

    log = io.StringIO()
    configure_logging("json", log)
    status = Status()
    watcher = Watcher(WatchConfig.resolve(project.manifests, project.state, {}, **settings),
                      status=status)
    watcher._use(load_project(project.manifests))
    watcher._reconcile({"shop/items"}, "interval")
    return status, log.getvalue()


def test_watch_reports_drift_as_a_metric_and_log_line(project: Project) -> None:
    setup(project)
    tamper(project.target_db)
    status, log = watch_pass(project)
    assert 'syncer_drift_rows{target="shop",dataset="items"} 3' in status.metrics()
    assert '"event": "drift"' in log and '"changed": 1' in log
    assert rows(project.target_db) != DECLARED  # reported, not repaired
    assert drift(project).code == 2


def test_watch_self_heal_repairs_drift(project: Project) -> None:
    setup(project)
    tamper(project.target_db)
    status, log = watch_pass(project, self_heal=True)
    assert rows(project.target_db) == DECLARED
    assert 'syncer_drift_rows{target="shop",dataset="items"} 0' in status.metrics()
    assert "repairing it" in log
    assert drift(project).code == 0


def test_watch_self_heal_setting_from_the_environment() -> None:
    from syncer.errors import SyncError
    from syncer.watch import WatchConfig

    assert WatchConfig.resolve(Path("m"), Path("s"), {"SYNCER_WATCH_SELF_HEAL": "true"}).self_heal
    assert not WatchConfig.resolve(Path("m"), Path("s"), {}).self_heal
    with pytest.raises(SyncError):
        WatchConfig.resolve(Path("m"), Path("s"), {"SYNCER_WATCH_SELF_HEAL": "maybe"})


def test_a_refreshed_plan_cannot_be_saved(project: Project) -> None:
    setup(project)
    result = project.plan("--refresh", "--out", project.root / "plan.json")
    assert result.code == 1 and "--refresh" in result.err


def test_markdown_plan_has_a_drift_table(project: Project) -> None:
    setup(project)
    tamper(project.target_db)
    result = project.plan("--refresh", "--format", "markdown")
    assert result.code == 0, str(result)
    assert "#### Drift" in result.out and "| shop | items | 1 | 1 | 1 |" in result.out
    assert "#### Drift" not in project.plan("--format", "markdown").out


def test_drift_on_a_target_never_created_creates_nothing(project: Project) -> None:
    project.manifest(manifest("upsert"))
    project.write("items.csv", csv_text(HEADER, ROWS))
    assert drift(project).code == 0
    assert not project.target_db.exists()


def test_duplicate_keys_in_the_target_are_an_error_not_a_guess(project: Project) -> None:
    project.manifest(manifest("upsert"))
    project.write("items.csv", csv_text(HEADER, ROWS))
    prefill(project.target_db, [("A", 1, 1.0, 1, None, None), ("A", 2, 1.0, 1, None, None)],
            unique=False)
    result = drift(project)
    assert result.code == 1 and "more than once" in result.err and "A" in result.err
    assert project.plan("--refresh").code == 1


def test_a_refreshed_append_plan_calls_extra_target_rows_what_they_are(project: Project) -> None:
    """Refreshed, the rows compared are the target's: a row syncer never delivered did not
    "leave the source"."""
    setup(project, "append")
    tamper(project.target_db)
    warnings = project.plan_json("--refresh")["datasets"][0]["warnings"]
    assert "1 row(s) in the target are not in the source; append keeps them" in warnings
    assert "1 row(s) in the target differ from the source; append never updates (use mode " \
           "upsert to update)" in warnings
    assert not any("left the source" in w for w in warnings), warnings
