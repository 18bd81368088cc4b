"""`syncer init`: the scaffold plans and applies as it is, never clobbers what a user wrote, and
points editors at a schema file that is exactly `syncer schema`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_subprocess, table_rows

MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")


@pytest.fixture
def empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_init_then_plan_then_apply_in_an_empty_directory(cli, empty: Path) -> None:  # type: ignore[no-untyped-def]
    created = cli("init")
    assert created.code == 0, str(created)
    for name in ("manifests/example.yaml", "data/products.csv", ".syncer/manifest.schema.json",
                 ".gitignore"):
        assert (empty / name).is_file(), name
        assert name in created.out

    plan = cli("plan", "--json")
    assert plan.code == 0, str(plan)
    [dataset] = plan.json()["datasets"]
    assert (dataset["target"], dataset["dataset"], dataset["mode"]) == ("example", "products", "upsert")
    assert dataset["inserts"] == 3 and plan.json()["changes"] is True

    applied = cli("apply", "--auto-approve")
    assert applied.code == 0, str(applied)
    assert "Apply complete." in applied.out
    assert len(table_rows(empty / "build" / "example.db", "products")) == 3
    again = cli("plan", "--detailed-exitcode")
    assert again.code == 0, str(again)
    assert "No changes." in again.out


def test_init_into_a_new_directory_names_the_next_step(cli, empty: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("init", "new/project")
    assert result.code == 0, str(result)
    assert (empty / "new/project/manifests/example.yaml").is_file()
    assert "cd new/project && syncer plan" in result.out
    planned = cli("plan", "-m", "new/project/manifests", "--state", "new/project/state/syncer.db")
    assert planned.code == 0, str(planned)


def test_the_modeline_points_at_the_schema_syncer_prints(cli, empty: Path) -> None:  # type: ignore[no-untyped-def]
    cli("init")
    manifest = empty / "manifests" / "example.yaml"
    first = manifest.read_text().splitlines()[0]
    match = MODELINE.match(first)
    assert match, f"no yaml-language-server modeline on the first line: {first!r}"
    schema_file = (manifest.parent / match.group(1)).resolve()
    assert schema_file == (empty / ".syncer" / "manifest.schema.json").resolve()
    printed = cli("schema")
    assert json.loads(schema_file.read_text()) == printed.json()


def test_init_keeps_what_the_user_wrote(cli, empty: Path) -> None:  # type: ignore[no-untyped-def]
    (empty / ".gitignore").write_text("node_modules/\nbuild/")  # no final newline
    cli("init")
    gitignore = (empty / ".gitignore").read_text()
    assert gitignore.startswith("node_modules/\nbuild/\n")
    assert gitignore.count("build/") == 1
    assert "state/*.db" in gitignore and "state/*.lock" in gitignore

    manifest = empty / "manifests" / "example.yaml"
    manifest.write_text(manifest.read_text().replace("name: example", "name: mine"))
    (empty / "manifests" / "example.yaml").rename(empty / "manifests" / "mine.yaml")
    stale = empty / ".syncer" / "manifest.schema.json"
    stale.write_text("{}")
    second = cli("init")
    assert second.code == 0, str(second)
    assert "no example added" in second.out
    assert not (empty / "manifests" / "example.yaml").exists()
    assert json.loads(stale.read_text()) != {}, "init refreshes the generated schema"
    assert (empty / ".gitignore").read_text() == gitignore, "nothing to add the second time"


def test_existing_example_files_are_kept_unless_forced(cli, empty: Path) -> None:  # type: ignore[no-untyped-def]
    (empty / "data").mkdir()
    (empty / "data" / "products.csv").write_text("sku,name\nmine,1\n")
    result = cli("init")
    assert "kept" in result.out and "--force" in result.out
    assert (empty / "data" / "products.csv").read_text() == "sku,name\nmine,1\n"
    forced = cli("init", "--force")
    assert forced.code == 0, str(forced)
    assert (empty / "data" / "products.csv").read_text().startswith("sku,name,price")


def test_init_on_a_file_is_an_error(cli, empty: Path) -> None:  # type: ignore[no-untyped-def]
    (empty / "taken").write_text("x")
    result = cli("init", "taken")
    assert result.code == 1
    assert "is not a directory" in result.err and "Traceback" not in result.output


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_gitignore_ignores_the_state_and_nothing_else(cli, empty: Path) -> None:  # type: ignore[no-untyped-def]
    cli("init")
    assert cli("apply", "--auto-approve").code == 0
    subprocess.run(["git", "init", "-q"], cwd=empty, check=True)
    ignored = subprocess.run(["git", "check-ignore", "state/syncer.db", "state/syncer.db.lock",
                              "build/example.db", "manifests/example.yaml", "data/products.csv",
                              ".syncer/manifest.schema.json"],
                             cwd=empty, capture_output=True, text=True)
    assert ignored.stdout.split() == ["state/syncer.db", "state/syncer.db.lock", "build/example.db"]


def test_init_from_an_installed_syncer(tmp_path: Path) -> None:
    """A real process: the templates are found next to the installed modules."""
    result = run_subprocess("init", "p", cwd=tmp_path)
    assert result.code == 0, str(result)
    planned = run_subprocess("plan", cwd=tmp_path / "p")
    assert planned.code == 0, str(planned)
    assert "3 to insert" in planned.out


def test_the_templates_are_package_data() -> None:
    import tomllib

    from tests.conftest import REPO

    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["syncer"]
    templates = REPO / "syncer" / "templates"
    for path in templates.iterdir():
        relative = path.relative_to(REPO / "syncer")
        assert any(relative.match(p) for p in patterns), f"{relative} is not package data"


def test_the_template_names_every_target_type() -> None:
    from syncer.commands.init import template
    from syncer.targets.registry import TARGET_TYPES

    line = next(l for l in template("example.yaml").splitlines() if l.strip().startswith("type:"))
    listed = line.split("#", 1)[1].split("(")[0]
    assert {name.strip() for name in listed.split("|")} == set(TARGET_TYPES), line
