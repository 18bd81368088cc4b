"""The bad-input corpus (``tests/bad_inputs/``): every broken manifest and source file is run
through ``syncer plan`` and ``syncer apply --auto-approve`` on a project that was applied once.
Each must exit 1 with a message naming the file and line, show no traceback, and leave the state
and the target exactly as they were.  Two inputs cannot be files on disk and are built here: a
field of several megabytes and a file that vanishes while it is read.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Project, api_apply, db_dump

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
CASES: dict[str, dict[str, str]] = yaml.safe_load((CORPUS / "cases.yaml").read_text("utf-8"))
BASE = (CORPUS / "base.yaml").read_text("utf-8")
VECTORS = BASE.replace("      name: string\n      qty: integer\n      price: float\n",
                       "      vec: {type: vector, dim: 3}\n")
UNTYPED = BASE.split("    columns:")[0]
GOOD = "sku,name,qty,price\nA-1,cup,3,10.00\nA-2,glass,1,12.50\n"


def test_the_corpus_is_complete() -> None:
    files = {p.name for d in ("manifests", "sources") for p in (CORPUS / d).iterdir()}
    assert files == set(CASES)
    assert len(files) >= 40


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project (under ``proj/``) applied once, plus a file outside it for the escape cases."""
    base = tmp_path_factory.mktemp("corpus")
    root = base / "proj"
    (root / "manifests").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "manifests" / "shop.yaml").write_text(BASE)
    (root / "data" / "products.csv").write_text(GOOD)
    api_apply(root / "manifests", root / "state" / "syncer.db")
    return root


@pytest.fixture
def applied(template: Path, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch) -> Project:
    root = tmp_path / "proj"
    shutil.copytree(template, root, symlinks=True)
    outside = tmp_path / "outside.csv"
    outside.write_text(GOOD)
    os.symlink(outside, root / "data" / "outside.csv")
    monkeypatch.chdir(root)
    project = Project(root, cli)
    return project


def install(project: Project, name: str) -> None:
    if (CORPUS / "manifests" / name).exists():
        shutil.copy(CORPUS / "manifests" / name, project.manifests / "shop.yaml")
        return
    shutil.copy(CORPUS / "sources" / name, project.data / name)
    # untyped_*: no `columns:`, so the file's own column names become the table's
    text = (VECTORS if name.startswith("vector") else
            UNTYPED if name.startswith("untyped") else BASE)
    project.manifest(text.replace("../data/products.csv", f"../data/{name}"))


def check_refused(project: Project, where: str, message: str) -> None:
    before = project.snapshot()
    for result in (project.plan(), project.apply()):
        assert result.code == 1, str(result)
        assert f"{where}:" in result.err, str(result)
        assert message in result.err, str(result)
        assert "Traceback" not in result.output and "Internal error" not in result.output
    assert project.snapshot() == before


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(applied: Project, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCER_BAD_INPUT_UNSET", raising=False)
    before = applied.snapshot()
    assert before[1], "the template holds the applied rows"
    install(applied, name)
    check_refused(applied, CASES[name]["where"], CASES[name]["message"])
    assert applied.snapshot() == before


def test_a_huge_field_is_read_or_refused_cleanly(applied: Project) -> None:
    """A 5 MB field spans several parser blocks: either it is read whole, or refused with a
    line; never a traceback, never a truncated value."""
    huge = "x" * (5 << 20)
    applied.write("products.csv", GOOD + f"B-1,{huge},1,1\n")
    result = applied.plan("--json")
    assert "Traceback" not in result.output and "Internal error" not in result.output
    if result.code == 1:
        assert "data/products.csv:4:" in result.err, str(result)[:2000]
        return
    assert result.code == 0
    applied.apply_ok()
    (name,) = [n for (sku, n) in applied.table("products", ["sku", "name"]) if sku == "B-1"]
    assert name == huge


def test_a_file_that_vanishes_mid_read(applied: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file is deleted after its header was read and before its rows are."""
    from syncer.sources import readers

    applied.write("products.csv", GOOD + "B-1,pot,7,1\n")
    header = readers._header

    def header_then_vanish(path: Path, *args: Any) -> list[str]:
        names = header(path, *args)
        path.unlink()
        return names

    monkeypatch.setattr(readers, "_header", header_then_vanish)
    before = applied.snapshot()
    result = applied.apply()
    assert result.code == 1, str(result)
    assert "data/products.csv" in result.err
    assert "disappeared while it was being read" in result.err
    assert "Traceback" not in result.output
    assert applied.snapshot() == before
    assert db_dump(applied.state) == before[0]
