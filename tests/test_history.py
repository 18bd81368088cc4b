"""`syncer history`: every apply is recorded with who, where, when, the Git commit of the
manifests, the outcome and per-dataset counts; `--dataset` narrows it, `--json` is the record."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from syncer.state import ChunkStore, open_state
from tests.conftest import Project, csv_text
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

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def shop(project: Project) -> Project:
    project.manifest(MANIFEST)
    project.write("products.csv", csv_text(["sku", "name"], [["A", "a"], ["B", "b"]]))
    project.write("tags.csv", csv_text(["tag"], [["red"]]))
    return project


@pytest.fixture
def repo(shop: Project) -> Project:
    """``shop`` as a real Git repository with the manifests and data committed."""
    (shop.root / ".gitignore").write_text("state/\nbuild/\n")
    git(shop.root, "init", "-q")
    git(shop.root, "config", "user.name", "Test")
    git(shop.root, "config", "user.email", "test@example.com")
    git(shop.root, "config", "commit.gpgsign", "false")
    git(shop.root, "add", ".")
    git(shop.root, "commit", "-q", "-m", "manifests and data")
    return shop


def history(project: Project, *args: object) -> list[dict[str, Any]]:
    result = project.syncer("history", "--state", project.state, "--json", *args)
    assert result.code == 0, str(result)
    runs: list[dict[str, Any]] = result.json()
    return runs


@needs_git
def test_the_commit_of_the_manifests_is_in_the_history(repo: Project) -> None:
    first = git(repo.root, "rev-parse", "HEAD")
    assert repo.plan().code == 0
    repo.apply_ok()

    repo.write("products.csv", csv_text(["sku", "name"], [["A", "a2"], ["C", "c"]]))
    git(repo.root, "commit", "-q", "-am", "change products")
    second = git(repo.root, "rev-parse", "HEAD")
    assert second != first
    repo.apply_ok()

    runs = history(repo)
    assert [r["git_commit"] for r in runs] == [second, first]  # newest first
    newest = runs[0]
    assert newest["outcome"] == "ok" and newest["command"] == "apply"
    assert newest["started_at"] <= newest["finished_at"] and newest["seconds"] >= 0
    assert newest["user"] and newest["host"] and isinstance(newest["pid"], int)
    counts = {d["dataset"]: (d["inserts"], d["updates"], d["deletes"]) for d in newest["datasets"]}
    assert counts == {"products": (1, 1, 1), "tags": (0, 0, 0)}
    assert all(d["target"] == "shop" and d["error"] is None for d in newest["datasets"])

    text = repo.syncer("history", "--state", repo.state)
    assert text.code == 0, str(text)
    assert second[:12] in text.out and first[:12] in text.out
    assert "shop/products  +1 ~1 -1" in text.out
    assert "(1 dataset(s) without changes)" in text.out  # tags, in the newest run


def test_outside_a_repository_there_is_no_commit(shop: Project) -> None:
    shop.apply_ok()
    [run] = history(shop)
    assert run["git_commit"] is None and run["outcome"] == "ok"
    assert "no commit" in shop.syncer("history", "--state", shop.state).out


def test_dataset_and_target_filters(shop: Project) -> None:
    shop.apply_ok()
    shop.write("tags.csv", csv_text(["tag"], [["red"], ["blue"]]))
    shop.apply_ok("--dataset", "tags")

    assert len(history(shop)) == 2
    only_products = history(shop, "--dataset", "products")
    assert len(only_products) == 1  # the second run did not include products
    assert [d["dataset"] for d in only_products[0]["datasets"]] == ["products"]
    assert len(history(shop, "--dataset", "shop/tags")) == 2
    assert history(shop, "--target", "elsewhere") == []
    assert len(history(shop, "--limit", "1")) == 1

    none = shop.syncer("history", "--state", shop.state, "--dataset", "nothing")
    assert none.code == 0 and "No applies recorded for that selection." in none.out


def test_an_unfinished_run_is_shown_as_such(shop: Project) -> None:
    shop.apply_ok()
    with open_state(shop.state) as store:  # what a killed apply leaves behind
        store.begin_run("deadbeef0001", "apply", {"user": "u", "host": "h", "pid": 1,
                                                  "git_commit": None})
    runs = history(shop)
    assert runs[0]["run_id"] == "deadbeef0001"
    assert runs[0]["outcome"] == "unfinished" and runs[0]["finished_at"] is None
    assert runs[0]["seconds"] is None and runs[0]["datasets"] == []
    assert "unfinished" in shop.syncer("history", "--state", shop.state).out


@pytest.mark.parametrize(("raised", "code", "outcome"),
                         [(KeyboardInterrupt, 130, "interrupted"), (RuntimeError, 3, "error")])
def test_an_interrupted_or_crashed_run_is_recorded_as_such(
        shop: Project, monkeypatch: pytest.MonkeyPatch, raised: type[BaseException], code: int,
        outcome: str) -> None:
    from syncer.targets.sqlite.driver import SqliteDriver

    def explode(self: Any, batch: Any) -> Any:
        raise raised("stop")

    monkeypatch.setattr(SqliteDriver, "apply", explode)
    result = shop.apply()
    assert result.code == code, str(result)
    runs = history(shop)
    assert runs[0]["outcome"] == outcome and runs[0]["finished_at"] is not None


def test_quiet_and_verbose(shop: Project) -> None:
    shop.apply_ok()
    quiet = shop.syncer("-q", "history", "--state", shop.state)
    assert quiet.code == 0 and "ok" in quiet.out and "shop/products" not in quiet.out
    loud = shop.syncer("-v", "history", "--state", shop.state)
    assert "shop/tags  +1 ~0 -0" in loud.out and "shop/products  +2 ~0 -0" in loud.out
    assert "syncer history:" in loud.err  # the command's duration


def test_history_without_a_state_is_an_error(shop: Project) -> None:
    result = shop.syncer("history", "--state", shop.root / "nowhere.db")
    assert result.code == 1
    assert "no state database" in result.err and "Traceback" not in result.output


@needs_git
def test_the_history_says_when_the_working_tree_was_dirty(repo: Project) -> None:
    repo.apply_ok()
    assert history(repo)[0]["git_dirty"] is False
    repo.write("products.csv", csv_text(["sku", "name"], [["A", "edited"], ["B", "b"]]))
    repo.apply_ok()  # applied from an uncommitted edit: the commit alone does not say what
    newest = history(repo)[0]
    assert newest["git_dirty"] is True and newest["git_commit"]
    text = repo.syncer("history", "--state", repo.state)
    assert f"{newest['git_commit'][:12]}+dirty" in text.out, str(text)
