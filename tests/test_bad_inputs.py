"""Bad inputs: exit 1, a message that names the file and the line, no traceback, and neither the
state nor the target touched.  Safety guards block plans that delete too much until allowed.
"""

from __future__ import annotations

from collections.abc import Callable

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
      qty: integer
      price: float
"""
HEADER = ["sku", "name", "qty", "price"]
ROWS = [["A-1", "cup", "3", "10.00"], ["A-2", "glass", "1", "12.50"], ["B-1", "pot", "7", "39.90"],
        ["B-2", "grinder", "2", "54"], ["C-1", "beans", "10", "8.5"], ["C-2", "filter", "40", "3"]]


@pytest.fixture
def applied(project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A project whose first version was applied: the state and the target hold 6 rows."""
    monkeypatch.delenv("SYNCER_TEST_UNSET_DIR", raising=False)
    project.manifest(MANIFEST)
    project.write("products.csv", csv_text(HEADER, ROWS))
    project.apply_ok()
    assert sum(project.table("products").values()) == 6
    return project


def edit_manifest(old: str, new: str) -> Callable[[Project], None]:
    def edit(project: Project) -> None:
        assert old in MANIFEST
        project.manifest(MANIFEST.replace(old, new))
    return edit


def source(content: str | bytes) -> Callable[[Project], None]:
    def write(project: Project) -> None:
        project.write("products.csv", content)
    return write


def rows_with(*extra: list[str], header: list[str] = HEADER) -> str:
    return csv_text(header, [*ROWS[:3], *extra])


BAD_INPUTS = [
    pytest.param(edit_manifest("    key: [sku]", "\tkey: [sku]"),
                 "manifests/shop.yaml:10", "invalid YAML", id="invalid-yaml"),
    pytest.param(edit_manifest("    mode: upsert", "    mode: upsert\n    modee: upsert"),
                 "manifests/shop.yaml:10", "unknown key 'modee'", id="unknown-key"),
    pytest.param(edit_manifest("    key: [sku]\n", ""),
                 "manifests/shop.yaml:7", "mode upsert needs a key", id="upsert-without-key"),
    pytest.param(edit_manifest("../build/target.db", "../build/${SYNCER_TEST_UNSET_DIR}/target.db"),
                 "manifests/shop.yaml:5", "environment variable SYNCER_TEST_UNSET_DIR is not set",
                 id="unset-variable"),
    pytest.param(edit_manifest("../data/products.csv", "../data/missing.csv"),
                 "manifests/shop.yaml:8", "source file '../data/missing.csv' does not exist",
                 id="missing-source-file"),
    pytest.param(source(csv_text(["code", "name", "qty", "price"], ROWS)),
                 "data/products.csv:1", "column 'sku' is not in the file", id="missing-key-column"),
    pytest.param(source(rows_with(["B-1", "again", "1", "1"])),
                 "data/products.csv:4", "duplicate key in sku", id="duplicate-key"),
    pytest.param(source(rows_with(["D-1", "short", "1"])),
                 "data/products.csv:5", "row has 3 fields, the header has 4", id="ragged-too-few"),
    pytest.param(source(rows_with(["D-1", "long", "1", "2", "3"])),
                 "data/products.csv:5", "row has 5 fields, the header has 4", id="ragged-too-many"),
    pytest.param(source(rows_with(["D-1", "caf\u00e9", "1", "2"]).encode("latin-1")),
                 "data/products.csv:5", "byte 0xe9 is not valid utf-8", id="latin-1-bytes"),
    pytest.param(source(rows_with(["D-1", "typo", "abc", "2"])),
                 "data/products.csv:5", "'abc' is not a valid integer", id="bad-integer"),
    pytest.param(source(rows_with(["D-1", "typo", "1", "1,5"])),
                 "data/products.csv:5", "'1,5' is not a valid float", id="bad-float"),
]


@pytest.mark.parametrize(("breakage", "where", "message"), BAD_INPUTS)
def test_bad_input_is_reported_with_file_and_line_and_touches_nothing(
        applied: Project, breakage: Callable[[Project], None], where: str, message: str) -> None:
    before = applied.snapshot()
    breakage(applied)
    results = [applied.plan(), applied.plan("--json"), applied.apply(),
               applied.apply("--allow-deletes")]
    if where.startswith("manifests/"):
        results.append(applied.syncer("validate", "-m", "manifests"))
    for result in results:
        assert result.code == 1, str(result)
        assert f"{where}:" in result.err, str(result)
        assert message in result.err, str(result)
        assert "Traceback" not in result.output
        assert "Internal error" not in result.output
    assert applied.snapshot() == before


def test_unknown_key_has_a_did_you_mean_hint(applied: Project) -> None:
    applied.manifest(MANIFEST.replace("    mode: upsert", "    mode: upsert\n    delete_mising: true"))
    result = applied.plan()
    assert result.code == 1
    assert "manifests/shop.yaml:10: unknown key 'delete_mising'" in result.err
    assert "did you mean 'delete_missing'?" in result.err


def test_missing_key_column_without_declared_columns(applied: Project) -> None:
    """No `columns:`: every source column is text, and the key must still be among them."""
    before = applied.snapshot()
    applied.manifest(MANIFEST.split("    columns:")[0])
    applied.write("products.csv", csv_text(["code", "name"], [["A-1", "cup"]]))
    result = applied.apply()
    assert result.code == 1, str(result)
    assert "data/products.csv:1: key column 'sku' is not in the file" in result.err
    assert "Internal error" not in result.output and "Traceback" not in result.output
    assert applied.snapshot() == before


def test_duplicate_key_lists_the_lines(applied: Project) -> None:
    applied.write("products.csv", rows_with(["A-2", "again", "1", "1"], ["B-1", "more", "1", "1"]))
    result = applied.plan()
    assert result.code == 1
    assert "2 key(s) appear more than once" in result.err
    assert "A-2 (line 3)" in result.err and "A-2 (line 5)" in result.err
    assert "B-1 (line 4)" in result.err and "B-1 (line 6)" in result.err


def test_bad_json_lines_are_reported_with_their_line(project: Project) -> None:
    project.manifest(MANIFEST.replace("products.csv", "products.jsonl"))
    project.write("products.jsonl", '{"sku": "A", "name": "a", "qty": 1, "price": 1}\n\n'
                                    '{"sku": "B", "name": "b", "qty": 1, "price": 1\n')
    result = project.plan()
    assert result.code == 1
    assert "data/products.jsonl:3: invalid JSON" in result.err
    project.write("products.jsonl", '{"sku": "A", "name": "a", "qty": 1, "price": 1}\n'
                                    '{"sku": "B", "name": "b", "qty": "many", "price": 1}\n')
    result = project.plan()
    assert result.code == 1
    assert "data/products.jsonl:2: column 'qty': 'many' is not a valid integer" in result.err


def test_every_manifest_problem_is_reported_at_once(project: Project) -> None:
    project.manifest(MANIFEST.replace("    mode: upsert", "    mode: upsert\n    modee: upsert"),
                     name="a.yaml")
    project.manifest(MANIFEST.replace("name: shop", "name: other")
                     .replace("../data/products.csv", "../data/missing.csv"), name="b.yaml")
    project.write("products.csv", csv_text(HEADER, ROWS))
    result = project.plan()
    assert result.code == 1
    assert "2 problems in the manifests" in result.err
    assert "manifests/a.yaml:10: unknown key 'modee'" in result.err
    assert "manifests/b.yaml:8: source file '../data/missing.csv' does not exist" in result.err
    assert not project.state.exists()
    assert not project.target_db.exists()


def test_every_source_problem_is_reported_at_once(applied: Project) -> None:
    applied.manifest(MANIFEST + """\
  - name: more
    source: ../data/more.csv
    mode: replace
""")
    applied.write("products.csv", rows_with(["D-1", "typo", "abc", "2"]))
    applied.write("more.csv", "a,b\n1,2\n3\n")
    before = applied.snapshot()
    result = applied.apply()
    assert result.code == 1
    assert "data/products.csv:5:" in result.err
    assert "data/more.csv:3:" in result.err
    assert applied.snapshot() == before


# -- safety guards ---------------------------------------------------------------------------------

def test_empty_source_with_existing_rows_is_blocked(applied: Project) -> None:
    before = applied.snapshot()
    applied.write("products.csv", csv_text(HEADER, []))
    plan = applied.plan_json()
    assert "would empty the dataset" in plan["datasets"][0]["blocked"]
    result = applied.apply()
    assert result.code == 1
    assert "shop/products" in result.err and "would empty the dataset" in result.err
    assert "Traceback" not in result.output
    assert applied.snapshot() == before
    applied.apply_ok("--allow-deletes")
    assert not applied.table("products")
    assert applied.plan_json()["changes"] is False


def test_a_missing_source_is_never_treated_as_empty(applied: Project) -> None:
    before = applied.snapshot()
    (applied.data / "products.csv").unlink()
    result = applied.apply("--allow-deletes")
    assert result.code == 1
    assert "does not exist" in result.err
    assert applied.snapshot() == before


def delete_five(project: Project) -> None:
    project.write("products.csv", csv_text(HEADER, ROWS[:1]))  # 5 of 6 rows deleted (> 50 %)


def test_delete_over_max_delete_is_blocked_until_allowed(applied: Project) -> None:
    before = applied.snapshot()
    delete_five(applied)
    result = applied.apply()
    assert result.code == 1
    assert "the plan deletes 5 of 6 rows, over max_delete 50% (default) (3 rows)" in result.err
    assert applied.snapshot() == before
    applied.apply_ok("--allow-deletes")
    assert applied.table("products", ["sku"]) == {("A-1",): 1}


@pytest.mark.parametrize("limit", ["100%", "'90%'", "5"])
def test_manifest_max_delete_allows_the_delete(applied: Project, limit: str) -> None:
    applied.manifest(MANIFEST.replace("    key: [sku]", f"    key: [sku]\n    max_delete: {limit}"))
    delete_five(applied)
    applied.apply_ok()
    assert applied.table("products", ["sku"]) == {("A-1",): 1}


@pytest.mark.parametrize("limit", ["4", "50%"])
def test_manifest_max_delete_below_the_delete_still_blocks(applied: Project, limit: str) -> None:
    applied.manifest(MANIFEST.replace("    key: [sku]", f"    key: [sku]\n    max_delete: {limit}"))
    before = applied.snapshot()
    delete_five(applied)
    result = applied.apply()
    assert result.code == 1
    assert f"over max_delete {limit}" in result.err
    assert applied.snapshot() == before


def test_manifest_allow_deletes(applied: Project) -> None:
    applied.manifest(MANIFEST.replace("    key: [sku]", "    key: [sku]\n    allow_deletes: true"))
    applied.write("products.csv", csv_text(HEADER, []))
    applied.apply_ok()
    assert not applied.table("products")
