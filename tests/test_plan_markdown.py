"""`plan --format markdown`, the pull-request comment: one compact table per target, unchanged
datasets on one line, blocked reasons in the table, sample changes folded in <details>."""

from __future__ import annotations

from tests.conftest import Project, csv_text

SHOP = """\
version: 1
target: {name: shop, type: sqlite, path: ../build/shop.db}
datasets:
  - {name: products, source: ../data/products.csv, mode: upsert, key: [sku]}
  - {name: tags, source: ../data/tags.csv, mode: replace}
"""
CRM = """\
version: 1
target: {name: crm, type: sqlite, path: ../build/crm.db}
datasets:
  - {name: people, source: ../data/people.csv, mode: upsert, key: [id]}
"""


def test_a_table_per_target(project: Project) -> None:
    project.manifest(SHOP, "shop.yaml")
    project.manifest(CRM, "crm.yaml")
    project.write("products.csv", csv_text(["sku", "name"], [["A", "a|b"], ["B", "b"], ["C", "c"]]))
    project.write("tags.csv", csv_text(["tag"], [["red"]]))
    project.write("people.csv", csv_text(["id", "name"], [[1, "Ann"], [2, "Bob"]]))
    project.apply_ok()
    project.write("products.csv", csv_text(["sku", "name"], [["A", "a|c"]]))  # 2 of 3 deleted
    project.write("people.csv", csv_text(["id", "name"], [[1, "Ann"], [2, "Bob"], [3, "```"]]))

    result = project.plan("--format", "markdown")
    assert result.code == 0, str(result)
    text = result.out
    lines = text.splitlines()
    assert lines[:3] == ["### syncer plan", "", "**1 to insert, 1 to update, 2 to delete.**"]
    assert any(line.startswith("**1 dataset(s) blocked by a safety guard**") for line in lines)
    # one heading and one table per target, in manifest order (crm.yaml sorts first)
    assert text.index("#### crm") < text.index("#### shop")
    assert lines.count("| target | dataset | mode | + | ~ | - | blocked |") == 2
    assert "| crm | people | upsert | 1 | 0 | 0 |  |" in lines
    [products] = [line for line in lines if line.startswith("| shop | products |")]
    assert products.startswith("| shop | products | upsert | 0 | 1 | 2 | the plan deletes 2 of 3 rows")
    assert "No changes: `tags`." in lines  # unchanged datasets are named, not tabled
    # samples are folded, and a value holding backticks cannot close the fence
    assert "<details><summary>shop/products: +0 ~1 -2, sample changes</summary>" in lines
    assert '~ A name: "a|b" -> "a|c"' in lines
    assert "````diff" in lines and '+ 3 id="3", name="```"' in lines


def test_no_changes(project: Project) -> None:
    project.manifest(SHOP)
    project.write("products.csv", csv_text(["sku", "name"], [["A", "a"]]))
    project.write("tags.csv", csv_text(["tag"], [["red"]]))
    project.apply_ok()
    lines = project.plan("--format", "markdown").out.splitlines()
    assert "**No changes.** The targets match the manifests." in lines
    assert "No changes: `products`, `tags`." in lines
    assert not any(line.startswith("| target |") for line in lines)
