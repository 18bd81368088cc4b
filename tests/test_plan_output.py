"""Plan output: exact counts, the versioned JSON shape, field-level text, exit codes, Markdown."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Project, csv_text

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
    columns:
      sku: string
      name: string
      price: float
  - name: tags
    source: ../data/tags.csv
    mode: replace
"""

PRODUCTS_V1 = [[f"P{i:02d}", f"product {i}", f"{i}.00"] for i in range(1, 11)]
PRODUCTS_V1[0][2] = "10.00"
# v2: P01 price 10.00 -> 12.50 and P02 renamed (2 updates); P10 gone (1 delete); P11-13 new (3)
PRODUCTS_V2 = [list(r) for r in PRODUCTS_V1[:9]]
PRODUCTS_V2[0][2] = "12.50"
PRODUCTS_V2[1][1] = "renamed"
PRODUCTS_V2 += [[f"P{i}", f"product {i}", "1.5"] for i in (11, 12, 13)]
TAGS_V1 = [["red"], ["green"], ["blue"]]
TAGS_V2 = [["red"], ["green"], ["navy"]]  # by content: one row out, one row in


@pytest.fixture
def changed(project: Project) -> Project:
    """A project applied at v1 whose sources are now at v2: +3 ~2 -1 and +1 ~0 -1."""
    project.manifest(MANIFEST)
    project.write("products.csv", csv_text(["sku", "name", "price"], PRODUCTS_V1))
    project.write("tags.csv", csv_text(["tag"], TAGS_V1))
    project.apply_ok()
    project.write("products.csv", csv_text(["sku", "name", "price"], PRODUCTS_V2, quote_all=True))
    project.write("tags.csv", csv_text(["tag"], TAGS_V2))
    return project


def test_json_has_exact_counts_and_the_versioned_shape(changed: Project) -> None:
    result = changed.plan("--json")
    assert result.code == 0, str(result)
    data = json.loads(result.out)
    assert set(data) == {"format_version", "syncer_version", "changes", "targets_checked",
                         "datasets_planned", "datasets", "orphans", "problems"}
    assert data["targets_checked"] == data["datasets_planned"] == len(data["datasets"])
    assert data["format_version"] == 1
    assert data["changes"] is True
    assert data["orphans"] == []
    by_name = {d["dataset"]: d for d in data["datasets"]}
    assert list(by_name) == ["products", "tags"]
    for item in data["datasets"]:
        assert {"target", "dataset", "mode", "inserts", "updates", "deletes", "blocked"} <= set(item)
        assert item["target"] == "shop" and item["blocked"] is None
    products, tags = by_name["products"], by_name["tags"]
    assert (products["mode"], products["inserts"], products["updates"], products["deletes"]) == (
        "upsert", 3, 2, 1)
    assert (tags["mode"], tags["inserts"], tags["updates"], tags["deletes"]) == ("replace", 1, 0, 1)
    updates = {s["key"]: s["fields"] for s in products["samples"] if s["op"] == "~"}
    assert updates["P01"] == {"price": [10.0, 12.5]}
    assert updates["P02"] == {"name": ["product 2", "renamed"]}
    assert [s["key"] for s in products["samples"] if s["op"] == "-"] == ["P10"]


def test_format_json_is_the_same_as_json(changed: Project) -> None:
    assert json.loads(changed.plan("--format", "json").out) == json.loads(changed.plan("--json").out)


def test_no_changes_json(changed: Project) -> None:
    changed.apply_ok()
    data = changed.plan_json()
    assert data["changes"] is False
    assert [(d["inserts"], d["updates"], d["deletes"]) for d in data["datasets"]] == [(0, 0, 0)] * 2


def test_text_shows_counts_and_field_level_changes(changed: Project) -> None:
    result = changed.plan()
    assert result.code == 0, str(result)
    text = result.out
    assert "shop/products (upsert -> products): +3 ~2 -1" in text
    assert "shop/tags (replace -> tags): +1 ~0 -1" in text
    # floats are normalised: the file said 10.00 and 12.50
    assert "~ P01 price: 10.0 -> 12.5" in text
    assert '~ P02 name: "product 2" -> "renamed"' in text
    assert "- P10 " in text
    assert "Plan: 4 to insert, 2 to update, 2 to delete." in text


def test_detailed_exitcode(changed: Project) -> None:
    assert changed.plan("--detailed-exitcode").code == 2
    assert changed.plan("--json", "--detailed-exitcode").code == 2
    assert changed.plan().code == 0  # without the flag, changes are not an exit code
    changed.apply_ok()
    quiet = changed.plan("--detailed-exitcode")
    assert quiet.code == 0, str(quiet)
    assert "No changes." in quiet.out
    changed.write("products.csv", "sku,name,price\nP01,x,not-a-number\n")
    failed = changed.plan("--detailed-exitcode")
    assert failed.code == 1
    assert "Traceback" not in failed.output


def test_markdown_renders_a_table(changed: Project) -> None:
    result = changed.plan("--format", "markdown")
    assert result.code == 0, str(result)
    lines = result.out.splitlines()
    assert "| target | dataset | mode | + | ~ | - | blocked |" in lines
    assert "|---|---|---|---:|---:|---:|---|" in lines
    assert "| shop | products | upsert | 3 | 2 | 1 |  |" in lines
    assert "| shop | tags | replace | 1 | 0 | 1 |  |" in lines
    assert "**4 to insert, 2 to update, 2 to delete.**" in lines
    assert "~ P01 price: 10.0 -> 12.5" in result.out


def test_unknown_format_is_an_error(changed: Project) -> None:
    result = changed.plan("--format", "yaml")
    assert result.code == 1
    assert "unknown --format 'yaml'" in result.output


def test_blocked_is_reported_in_json(project: Project) -> None:
    project.manifest(MANIFEST)
    project.write("products.csv", csv_text(["sku", "name", "price"], PRODUCTS_V1))
    project.write("tags.csv", csv_text(["tag"], TAGS_V1))
    project.apply_ok()
    project.write("products.csv", csv_text(["sku", "name", "price"], PRODUCTS_V1[:3]))
    data = project.plan_json()
    products = data["datasets"][0]
    assert products["deletes"] == 7
    assert "over max_delete" in products["blocked"]
    assert data["datasets"][1]["blocked"] is None


def test_profile_shows_where_the_time_went(changed: Project) -> None:
    planned = changed.plan("--json", "--profile")
    assert planned.code == 0, str(planned)
    assert json.loads(planned.out)["changes"] is True  # stdout stays pure JSON
    for phase in ("fingerprint", "read", "snapshot", "diff", "command total", "peak MB"):
        assert phase in planned.err
    assert "shop/products" in planned.err
    applied = changed.apply("--auto-approve", "--profile")
    assert applied.code == 0, str(applied)
    for phase in ("prepare", "write", "state"):
        assert phase in applied.err


def test_a_terminal_sees_which_dataset_is_being_read(changed: Project) -> None:
    """On a terminal, planning shows a status line naming the dataset it reads."""
    import os
    import pty
    import select
    import subprocess
    import sys

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "syncer", "plan", "--state", str(changed.state)],
                            cwd=changed.root, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    seen = b""
    while select.select([master], [], [], 20)[0]:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    assert proc.wait(timeout=20) == 0
    os.close(master)
    assert b"reading shop/products" in seen


def test_an_apply_reporting_json_reads_no_sample_rows(changed: Project,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`apply --json` prints the result, not the plan: it does not read rows only to show them;
    the same apply on a terminal shows its samples."""
    from syncer.sync import rows as planner

    picked: list[list[str]] = []
    real = planner.Rows.pick
    monkeypatch.setattr(planner.Rows, "pick",
                        lambda self, keys: picked.append(keys) or real(self, keys))
    applied = changed.apply("--auto-approve", "--allow-deletes", "--json")
    assert applied.code == 0, str(applied)
    assert picked == []
    counts = {(d["target"], d["dataset"]): (d["inserts"], d["updates"], d["deletes"])
              for d in json.loads(applied.out)["datasets"]}
    assert counts == {("shop", "products"): (3, 2, 1), ("shop", "tags"): (1, 0, 1)}
    changed.write("tags.csv", csv_text(["tag"], [["blue"]]))
    shown = changed.apply("--auto-approve", "--allow-deletes")
    assert shown.code == 0, str(shown)
    assert picked and '+ tag="blue"' in shown.out


@pytest.mark.parametrize("typed", [True, False])
def test_sample_keys_come_in_the_keys_own_order(project: Project, typed: bool) -> None:
    """1, 2, 10, not 1, 10, 11: numbers as numbers, and so an untyped id of digits."""
    columns = "    columns: {id: integer, name: string}\n" if typed else ""
    project.manifest("version: 1\ntarget: {name: shop, type: sqlite, path: ../build/target.db}\n"
                     "datasets:\n  - name: items\n    source: ../data/items.csv\n"
                     f"    mode: upsert\n    key: id\n{columns}")
    project.write("items.csv", csv_text(["id", "name"], [[i, f"n{i}"] for i in range(1, 13)]))
    samples = project.plan_json()["datasets"][0]["samples"]
    assert [s["key"] for s in samples] == ["1", "2", "3"]
    shown = project.plan()
    assert shown.out.index("+ 1 ") < shown.out.index("+ 2 ") < shown.out.index("+ 3 ")
