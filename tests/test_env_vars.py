"""``${VAR}`` as a shell reads it (an empty value is unset unless the manifest says otherwise),
and ``.env`` files that never override the environment."""

from __future__ import annotations

import pytest

from tests.conftest import Project, csv_text

MANIFEST = """\
version: 1
target:
  name: shop
  type: sqlite
  path: {path}
datasets:
  - name: items
    source: ../data/items.csv
"""


@pytest.fixture
def shop(project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    project.write("items.csv", csv_text(["a"], [["1"]]))
    monkeypatch.delenv("DB_DIR", raising=False)
    return project


def test_an_empty_variable_is_an_error_not_the_root(shop: Project,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    shop.manifest(MANIFEST.format(path="${DB_DIR}/shop.db"))
    monkeypatch.setenv("DB_DIR", "")
    result = shop.plan()
    assert result.code == 1, str(result)
    assert "shop.yaml:5" in result.err and "DB_DIR is set but empty" in result.err
    assert "${DB_DIR:-default}" in result.err


@pytest.mark.parametrize(("written", "value", "expected"), [
    ("${DB_DIR:-../build}", "", "../build"), ("${DB_DIR:-../build}", None, "../build"),
    ("${DB_DIR-../build}", None, "../build"), ("${DB_DIR-../build}", "../there", "../there"),
    ("../b${DB_DIR-}uild", "", "../build")])
def test_defaults_as_in_a_shell(shop: Project, monkeypatch: pytest.MonkeyPatch, written: str,
                                value: str | None, expected: str) -> None:
    shop.manifest(MANIFEST.format(path=f"{written}/shop.db"))
    if value is not None:
        monkeypatch.setenv("DB_DIR", value)
    shop.apply_ok()
    assert (shop.manifests / expected / "shop.db").resolve().exists()


def test_a_dot_env_file_fills_in_but_never_overrides(shop: Project,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    shop.manifest(MANIFEST.format(path="${DB_DIR}/shop.db"))
    (shop.manifests / ".env").write_text("DB_DIR=../from-dotenv\n")
    shop.apply_ok()
    assert (shop.root / "from-dotenv" / "shop.db").exists()
    monkeypatch.setenv("DB_DIR", str(shop.root / "from-env"))
    shop.write("items.csv", csv_text(["a"], [["1"], ["2"]]))  # a change, so the apply writes
    shop.apply_ok()
    assert (shop.root / "from-env" / "shop.db").exists()


def test_env_file_option(shop: Project) -> None:
    shop.manifest(MANIFEST.format(path="${DB_DIR}/shop.db"))
    env = shop.root / "ci.env"
    env.write_text("DB_DIR=../from-option\n")
    result = shop.syncer("--env-file", env, "apply", "-m", shop.manifests, "--state", shop.state,
                         "--auto-approve")
    assert result.code == 0, str(result)
    assert (shop.root / "from-option" / "shop.db").exists()
    missing = shop.syncer("--env-file", shop.root / "nope.env", "plan", "-m", shop.manifests)
    assert missing.code == 1 and "no such env file" in missing.err, str(missing)
