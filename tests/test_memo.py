"""A plan with nothing to do is remembered and replayed (syncer/memo.py) only while every input
is unchanged.  The proof that a run was a replay: the test rewrites the remembered stdout to a
marker; a replayed run prints the marker, a full run prints a real plan."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from syncer import memo
from tests.conftest import Result, csv_text, run_subprocess

MARKER = "REPLAYED FROM THE CACHE\n"
MANIFEST = """\
version: 1
target: {name: local, type: sqlite, path: ../out/target.db}
datasets:
  - name: items
    source: ../data/items.csv
    mode: upsert
    key: [id]
"""
ROWS = [(1, "apple"), (2, "pear"), (3, "plum")]


def _project(root: Path) -> None:
    """A project whose data and target folders are symlinks (a deploy's ``current``)."""
    (root / "manifests").mkdir(parents=True)
    (root / "data-v1").mkdir()
    (root / "data").symlink_to("data-v1")
    (root / "out-v1").mkdir()
    (root / "out").symlink_to("out-v1")
    (root / "syncer.yaml").write_text("project: memo\n")
    (root / "manifests" / "shop.yaml").write_text(MANIFEST)
    (root / "data" / "items.csv").write_text(csv_text(["id", "name"], ROWS))


def _mutate_table(root: Path, sql: str) -> None:
    with sqlite3.connect(root / "out" / "target.db") as db:
        db.execute(sql)


def _add_env(root: Path) -> None:
    (root / ".env").write_text("UNUSED=1\n")


def _repoint(root: Path, link: str) -> None:
    """``link`` -> a copy of what it points to, but for the target's file (a new, empty one)."""
    shutil.copytree(root / f"{link}-v1", root / f"{link}-v2")
    if link == "out":
        (root / "out-v2" / "target.db").unlink()
    (root / link).unlink()
    (root / link).symlink_to(f"{link}-v2")


#: one change to an input each; the plan after it must be a full one
CHANGES: dict[str, Callable[[Path], object]] = {
    "manifest edited": lambda r: (r / "manifests" / "shop.yaml").write_text(MANIFEST + "# n\n"),
    "manifest added": lambda r: (r / "manifests" / "more.yaml").write_text("version: 1\n"),
    "source rewritten": lambda r: (r / "data" / "items.csv").write_text(
        csv_text(["id", "name"], [*ROWS, (4, "fig")])),
    "source touched": lambda r: os.utime(r / "data" / "items.csv"),
    "target table dropped": lambda r: _mutate_table(r, "DROP TABLE items"),
    "target row deleted": lambda r: _mutate_table(r, "DELETE FROM items WHERE id = 1"),
    "target deleted": lambda r: (r / "out" / "target.db").unlink(),
    "state touched": lambda r: os.utime(r / "state" / "syncer.db"),
    "project file edited": lambda r: (r / "syncer.yaml").write_text("project: memo2\n"),
    ".env created": _add_env,
    "source folder re-pointed": lambda r: _repoint(r, "data"),
    "target folder re-pointed": lambda r: _repoint(r, "out"),
}
OTHERS = ("replay", "corrupt", "unwritable", "changes", "profile", "args", "secret")


@pytest.fixture(scope="module")
def aged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Applied projects whose files are all older than memo.SETTLE_NS (one sleep for all)."""
    base = tmp_path_factory.mktemp("memo") / "base"
    _project(base)
    done = run_subprocess("apply", "--auto-approve", cwd=base)
    assert done.code == 0, done
    copies = {}
    for name in [*CHANGES, *OTHERS]:
        copies[name] = base.parent / name.replace(" ", "-")
        shutil.copytree(base, copies[name], symlinks=True)
    time.sleep(memo.SETTLE_NS / 1e9 + 0.2)
    return copies


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def _plan(root: Path, cache: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return run_subprocess("plan", *args, cwd=root, env={"SYNCER_CACHE_DIR": str(cache),
                                                        **(env or {})})


def _entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("plan-*.json")) if cache.is_dir() else []


def _mark(cache: Path) -> None:
    """Replace the remembered stdout with MARKER (a replay prints it, a full run cannot)."""
    [entry] = _entries(cache)
    data = json.loads(entry.read_text())
    data["stdout"] = MARKER
    entry.write_text(json.dumps(data))


@pytest.fixture
def remembered(aged: dict[str, Path], cache: Path) -> Iterator[Callable[[str], Path]]:
    def make(name: str) -> Path:
        root = aged[name]
        first = _plan(root, cache, "--json")
        assert first.code == 0 and first.json()["changes"] is False, first
        assert len(_entries(cache)) == 1, "a plan with nothing to do is remembered"
        _mark(cache)
        return root
    yield make


def test_a_replay_prints_what_the_plan_printed(aged: dict[str, Path], cache: Path) -> None:
    root = aged["replay"]
    full = _plan(root, cache, "--json", env={"SYNCER_NO_CACHE": "1"})
    assert not _entries(cache), "SYNCER_NO_CACHE=1 turns it off"
    first = _plan(root, cache, "--json")
    second = _plan(root, cache, "--json")
    assert (first.code, first.out, first.err) == (full.code, full.out, full.err)
    assert (second.code, second.out, second.err) == (full.code, full.out, full.err)
    _mark(cache)
    assert _plan(root, cache, "--json").out == MARKER
    assert oct(_entries(cache)[0].stat().st_mode & 0o777) == "0o600"


def test_the_environment_is_kept_as_a_digest(aged: dict[str, Path], cache: Path) -> None:
    secret = "hunter2-not-in-any-file"
    assert _plan(aged["secret"], cache, "--json", env={"SOME_TOKEN": secret}).code == 0
    [entry] = _entries(cache)
    assert secret not in entry.read_text()


def test_the_oldest_entries_go(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(memo, "MAX_ENTRIES", 3)
    for number in range(5):
        (tmp_path / f"plan-{number}.json").write_text("{}")
        os.utime(tmp_path / f"plan-{number}.json", ns=(number * 10**9, number * 10**9))
    memo._prune(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan-2.json", "plan-3.json",
                                                          "plan-4.json"]


@pytest.mark.parametrize("change", list(CHANGES))
def test_any_changed_input_means_a_full_plan(change: str, remembered: Callable[[str], Path],
                                             cache: Path) -> None:
    root = remembered(change)
    assert _plan(root, cache, "--json").out == MARKER, "the entry replays before the change"
    CHANGES[change](root)
    after = _plan(root, cache, "--json")
    assert MARKER not in after.out, f"{change}: a stale plan was replayed"
    if change in ("source touched", "state touched", "project file edited", ".env created",
                  "manifest edited", "source folder re-pointed"):
        assert after.code == 0 and after.json()["changes"] is False, after
    elif change == "source rewritten":
        assert after.json()["datasets"][0]["inserts"] == 1, after
    else:  # the target or the manifests are not what the state says: never "no changes"
        assert after.code != 0 or after.json()["changes"] or \
            after.json()["datasets"][0]["target_check"]["status"] != "ok", after


def test_other_arguments_or_environment_are_another_entry(remembered: Callable[[str], Path],
                                                          cache: Path) -> None:
    root = remembered("args")
    text = _plan(root, cache)
    assert MARKER not in text.out and "No changes" in text.out
    other = _plan(root, cache, "--json", env={"SOME_SETTING": "x"})
    assert MARKER not in other.out and other.json()["changes"] is False


def test_what_is_not_remembered(aged: dict[str, Path], cache: Path, tmp_path: Path) -> None:
    root = aged["profile"]
    assert _plan(root, cache, "--json", "--profile").code == 0
    assert not _entries(cache), "--profile prints timings: never replayed"
    root = aged["changes"]
    (root / "data" / "items.csv").write_text(csv_text(["id", "name"], ROWS[:2]))
    changed = _plan(root, cache, "--json", "--allow-deletes")
    assert changed.json()["changes"] is True
    assert not _entries(cache), "only a plan with nothing to do is remembered"
    fresh = tmp_path / "fresh"
    _project(fresh)
    assert run_subprocess("apply", "--auto-approve", cwd=fresh).code == 0
    assert _plan(fresh, cache, "--json").code == 0
    assert not _entries(cache), "files written in the last seconds are not trusted yet"


def test_a_broken_cache_is_no_error(aged: dict[str, Path], cache: Path, tmp_path: Path) -> None:
    root = aged["corrupt"]
    assert _plan(root, cache, "--json").code == 0
    [entry] = _entries(cache)
    entry.write_text("{not json")
    again = _plan(root, cache, "--json")
    assert again.code == 0 and again.json()["changes"] is False
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    root = aged["unwritable"]
    result = _plan(root, blocked / "cache", "--json")  # a file where the folder should be
    assert result.code == 0 and result.json()["changes"] is False, result
