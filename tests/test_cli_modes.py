"""Acceptance: for every mode, a sequence of source versions applied in turn leaves the target table
exactly as the mode defines, and ``plan`` right after every ``apply`` reports no changes.

Runs the real CLI in-process; reads the target with sqlite3 and compares multisets of rows.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Project, csv_text, expected_rows, run_subprocess

HEADER = ["sku", "region", "qty", "price", "note"]
COLUMNS = ["sku", "region", "qty", "price", "note"]
KEY = (0, 1)

# Raw text rows.  Versions 3 and 5 re-save earlier content with other number formats.
V1 = [
    ["A", "eu", "3", "10.00", "first"],
    ["A", "us", "1", "20.5", ""],
    ["B", "eu", "2", "7.25", "comma, inside"],
    ["C", "eu", "5", "1.0", 'quote " inside'],
]
V2 = [  # edit A/eu, add D/eu, remove C/eu
    ["A", "eu", "3", "12.50", "first"],
    ["A", "us", "1", "20.5", ""],
    ["B", "eu", "2", "7.25", "comma, inside"],
    ["D", "eu", "9", "3.00", "two\nlines"],
]
V3 = [  # V2 reordered and re-formatted: not a change
    ["D", "eu", "9.0", "3", "two\nlines"],
    ["B", "eu", "2", "7.250", "comma, inside"],
    ["A", "us", "1", "20.50", None],
    ["A", "eu", "3", "12.5", "first"],
]
V_DUP = [*V3, ["B", "eu", "2", "7.25", "comma, inside"], ["B", "eu", "2", "7.25", "comma, inside"]]
V_DUP_LESS = [*V3, ["B", "eu", "2", "7.25", "comma, inside"]]
V_FEW = [["A", "us", "4", "21", "changed"], ["E", "eu", "1", "0.5", "new"]]
V_EMPTY: list[list[Any]] = []

# (rows, quote_all, crlf, is_a_resave_of_the_previous_version)
KEYED_SEQUENCE = [
    (V1, False, False, False),
    (V2, True, True, False),
    (V3, False, True, True),
    (V3, True, False, True),
    (V_FEW, False, False, False),
    (V1, True, True, False),
    (V_EMPTY, False, False, False),
    (V2, False, False, False),
]
UNKEYED_SEQUENCE = [
    (V1, False, False, False),
    (V2, True, True, False),
    (V3, False, True, True),
    (V_DUP, True, True, False),
    (V_DUP_LESS, False, False, False),
    (V_DUP, False, True, False),
    (V_FEW, True, False, False),
    (V_EMPTY, False, False, False),
    (V1, False, False, False),
]


def typed(row: list[Any]) -> tuple[Any, ...]:
    """A raw row as the target stores it: CSV's empty field is null; numbers normalised."""
    sku, region, qty, price, note = row
    return (sku, region, int(float(qty)), float(price), note or None)


def manifest(mode: str, keyed: bool, delete_missing: bool = True) -> str:
    key = "    key: [sku, region]\n" if keyed else ""
    extra = "" if delete_missing else "    delete_missing: false\n"
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
{key}{extra}    columns:
      sku: string
      region: string
      qty: integer
      price: float
      note: string
"""


CASES = [
    pytest.param("replace", False, True, id="replace"),
    pytest.param("replace", True, True, id="replace-composite-key"),
    pytest.param("append", False, True, id="append"),
    pytest.param("append", True, True, id="append-composite-key"),
    pytest.param("upsert", True, True, id="upsert-delete-missing"),
    pytest.param("upsert", True, False, id="upsert-keep-missing"),
]


@pytest.mark.parametrize(("mode", "keyed", "delete_missing"), CASES)
def test_version_sequence_leaves_exactly_what_the_mode_defines(
        project: Project, mode: str, keyed: bool, delete_missing: bool) -> None:
    project.manifest(manifest(mode, keyed, delete_missing))
    sequence = KEYED_SEQUENCE if keyed else UNKEYED_SEQUENCE
    applied: list[list[tuple[Any, ...]]] = []
    for step, (rows, quote_all, crlf, resave) in enumerate(sequence):
        project.write("items.csv", csv_text(HEADER, rows, quote_all=quote_all, crlf=crlf))
        if resave:
            before = project.plan_json()
            assert before["changes"] is False, f"step {step}: re-saving the file is not a change"
        project.apply_ok("--allow-deletes")
        applied.append([typed(r) for r in rows])
        want = expected_rows(mode, applied, KEY if keyed else None, delete_missing)
        got = project.table("items", COLUMNS)
        assert got == want, f"step {step} ({mode}): target differs from what the mode defines"
        after = project.plan_json()
        assert after["changes"] is False, f"step {step}: plan after apply is not empty: {after}"
        assert [d["inserts"] + d["updates"] + d["deletes"] for d in after["datasets"]] == [0]


def test_expected_contents_differ_between_modes() -> None:
    """Guard for the test above: the model of each mode is not trivially the same."""
    versions = [[typed(r) for r in V1], [typed(r) for r in V_FEW]]
    replace = expected_rows("replace", versions)
    append = expected_rows("append", versions)
    keep = expected_rows("upsert", versions, KEY, delete_missing=False)
    drop = expected_rows("upsert", versions, KEY, delete_missing=True)
    assert replace == drop
    assert sum(append.values()) == 6 and sum(keep.values()) == 5 and sum(drop.values()) == 2
    assert len({frozenset(c.items()) for c in (replace, append, keep)}) == 3


def test_append_never_updates_or_deletes(project: Project) -> None:
    project.manifest(manifest("append", keyed=True))
    project.write("items.csv", csv_text(HEADER, V1))
    project.apply_ok()
    project.write("items.csv", csv_text(HEADER, V2))  # A/eu changed, C/eu gone, D/eu new
    plan = project.plan_json()
    (item,) = plan["datasets"]
    assert (item["inserts"], item["updates"], item["deletes"]) == (1, 0, 0)
    assert any("append never updates" in w for w in item["warnings"])
    assert any("append keeps them" in w for w in item["warnings"])
    project.apply_ok()
    rows = project.table("items", COLUMNS)
    assert ("A", "eu", 3, 10.0, "first") in rows  # the first delivery stays
    assert ("C", "eu", 5, 1.0, 'quote " inside') in rows
    assert ("D", "eu", 9, 3.0, "two\nlines") in rows


def test_upsert_keep_missing_warns_and_keeps(project: Project) -> None:
    project.manifest(manifest("upsert", keyed=True, delete_missing=False))
    project.write("items.csv", csv_text(HEADER, V1))
    project.apply_ok()
    project.write("items.csv", csv_text(HEADER, V_FEW))
    plan = project.plan_json()
    (item,) = plan["datasets"]
    assert (item["inserts"], item["updates"], item["deletes"]) == (1, 1, 0)
    assert any("delete_missing: false" in w for w in item["warnings"])
    project.apply_ok()
    assert sum(project.table("items").values()) == 5


def test_plan_and_apply_in_a_real_subprocess(project: Project) -> None:
    """The installed entry point, end to end, in a separate process."""
    project.manifest(manifest("upsert", keyed=True))
    project.write("items.csv", csv_text(HEADER, V1))
    args = ("-m", "manifests", "--state", "state/syncer.db")
    planned = run_subprocess("plan", *args, "--detailed-exitcode", cwd=project.root)
    assert planned.code == 2, str(planned)
    assert "4 to insert" in planned.out
    applied = run_subprocess("apply", *args, "--auto-approve", cwd=project.root)
    assert applied.code == 0, str(applied)
    assert project.table("items", COLUMNS) == expected_rows("upsert", [[typed(r) for r in V1]], KEY)
    again = run_subprocess("plan", *args, "--detailed-exitcode", cwd=project.root)
    assert again.code == 0, str(again)
    assert "No changes" in again.out


def test_apply_without_confirmation_refuses_when_not_a_terminal(project: Project) -> None:
    project.manifest(manifest("replace", keyed=False))
    project.write("items.csv", csv_text(HEADER, V1))
    result = project.syncer("apply", "-m", project.manifests, "--state", project.state)
    assert result.code == 1
    assert "confirmation" in result.output and "Traceback" not in result.output
    assert not project.target_db.exists() or not project.table("items")
