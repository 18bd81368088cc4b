"""The first plan after an apply, with nothing to do, is made from the recipe an earlier plan
left (syncer/quick.py): the same output as the full plan, without loading the manifests; and
anything that is not "in sync" runs the full plan.  The proof that a run used the recipe: the
test rewrites the recipe's stderr note to a marker, which only a run from the recipe prints."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from syncer import memo
from tests.conftest import REPO, Result, crash_after_target_commit, csv_text, run_subprocess
from tests.test_memo import ROWS, _mutate_table, _project

MARKER = "state: FROM THE RECIPE"
NOTE = "state: state/syncer.db"
V2 = [*ROWS, (4, "fig")]


def _recipes(cache: Path) -> list[Path]:
    return sorted(cache.glob("recipe-*.json")) if cache.is_dir() else []


def _plan(root: Path, cache: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """``syncer plan ARGS``, or ``syncer ARGS`` when they name the command after global options."""
    argv = args if "plan" in args else ("plan", *args)
    return run_subprocess(*argv, cwd=root, env={"SYNCER_CACHE_DIR": str(cache), **(env or {})})


def _full(root: Path, *args: str) -> Result:
    return _plan(root, root / "unused", *args, env={"SYNCER_NO_CACHE": "1"})


def _mark(cache: Path) -> None:
    [entry] = _recipes(cache)
    data = json.loads(entry.read_text())
    assert data["recipe"]["note"] == NOTE
    data["recipe"]["note"] = MARKER
    entry.write_text(json.dumps(data))


def _apply_v2(root: Path) -> None:
    """A change applied: the state and the target are other files now (the memo cannot replay)."""
    (root / "data" / "items.csv").write_text(csv_text(["id", "name"], V2))
    done = run_subprocess("apply", "--auto-approve", cwd=root, env={"SYNCER_NO_CACHE": "1"})
    assert done.code == 0, done


def _deployed(root: Path) -> None:
    """The manifest names the target through a link in a folder of its own (a deploy's
    ``current``), pointing where it was applied: the same target, nothing changed."""
    (root / "deploy").mkdir()
    (root / "deploy" / "current").symlink_to("../out-v1")
    _edit(root, "../out/target.db", "../deploy/current/target.db")
    shutil.copytree(root / "out-v1", root / "out-v2")  # the copy: the same rows, the same marker


def _edit(root: Path, old: str, new: str) -> None:
    manifest = root / "manifests" / "shop.yaml"
    assert old in manifest.read_text()
    manifest.write_text(manifest.read_text().replace(old, new))


def _repoint_to_a_copy(root: Path) -> None:
    """The deploy's link -> the copy of the target's folder made beside it: the same target
    elsewhere (no folder the manifests were compiled from changes)."""
    (root / "deploy" / "current").unlink()
    (root / "deploy" / "current").symlink_to("../out-v2")


def _open_batch(root: Path) -> None:
    """A batch of a change journaled and never ended (a crash), the source put back."""
    source = root / "data" / "items.csv"
    before = source.read_text()
    source.write_text(csv_text(["id", "name"], V2))
    crash_after_target_commit(root / "manifests", root / "state" / "syncer.db", send=False)
    source.write_text(before)


CASES = ["plan --json", "plan", "plan --format markdown", "-q plan", "plan --dataset items"]
#: one change each; the plan after it is a full one (and says what changed)
CHANGES: dict[str, Callable[[Path], object]] = {
    "source rewritten": lambda r: (r / "data" / "items.csv").write_text(
        csv_text(["id", "name"], [*ROWS, (5, "kiwi")])),
    "source touched": lambda r: os.utime(r / "data" / "items.csv"),
    "source deleted": lambda r: (r / "data" / "items.csv").unlink(),
    "target row deleted": lambda r: _mutate_table(r, "DELETE FROM items WHERE id = 1"),
    "target table dropped": lambda r: _mutate_table(r, "DROP TABLE items"),
    "target not a database": lambda r: (r / "out" / "target.db").write_bytes(b"junk" * 1024),
    "target re-pointed to a copy": _repoint_to_a_copy,
    "state deleted": lambda r: (r / "state" / "syncer.db").unlink(),
    "a batch left open": _open_batch,
    "manifest edited": lambda r: (r / "manifests" / "shop.yaml").write_text(
        (r / "manifests" / "shop.yaml").read_text().replace("mode:", "table: goods\n    mode:")),
}


@pytest.fixture(scope="module")
def aged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Applied projects whose files are all older than memo.SETTLE_NS (one sleep for all)."""
    base = tmp_path_factory.mktemp("quick") / "base"
    _project(base)
    done = run_subprocess("apply", "--auto-approve", cwd=base, env={"SYNCER_NO_CACHE": "1"})
    assert done.code == 0, done
    copies = {}
    for name in [*CASES, *CHANGES, "modules", "not kept", "secret", "settle", "pipe --json",
                 "pipe plan"]:
        copies[name] = base.parent / name.replace(" ", "-").replace("/", "")
        shutil.copytree(base, copies[name], symlinks=True)
    _deployed(copies["target re-pointed to a copy"])
    _edit(copies["secret"], "../out/target.db", '"${TARGET_DB}"')
    time.sleep(memo.SETTLE_NS / 1e9 + 0.2)
    return copies


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def _recipe_of(root: Path, cache: Path, *args: str) -> None:
    """A full plan leaves the recipe; its note marked."""
    first = _plan(root, cache, *args)
    assert first.code == 0, first
    assert len(_recipes(cache)) == 1, "a plan of local files leaves its recipe"
    _mark(cache)


@pytest.mark.parametrize("case", CASES)
def test_the_first_plan_after_an_apply_is_made_from_the_recipe(case: str, aged: dict[str, Path],
                                                               cache: Path) -> None:
    root = aged[case]
    args = case.split()
    _recipe_of(root, cache, *args)
    _apply_v2(root)
    full = _full(root, *args)
    quick = _plan(root, cache, *args)
    assert quick.code == full.code == 0
    assert quick.out == full.out, "the same plan, printed by the same renderer"
    if case != "-q plan":
        assert NOTE in full.err and quick.err == full.err.replace(NOTE, MARKER)
    if case == "plan --json":
        made = quick.json()
        assert made["changes"] is False
        assert made["datasets"][0]["target_check"] == {
            "checked": True, "status": "ok", "rows": 4, "expected": 4, "message": None}
        # the plan it made offered itself to the memo: the next run replays it, once settled
        time.sleep(memo.SETTLE_NS / 1e9 + 0.2)
        assert _plan(root, cache, *args).out == full.out
        assert len(list(cache.glob("plan-*.json"))) == 1


def test_a_plan_from_the_recipe_loads_neither_the_manifests_nor_the_cli(
        aged: dict[str, Path], cache: Path) -> None:
    root = aged["modules"]
    _recipe_of(root, cache, "--json")
    _apply_v2(root)
    # what launch does before the command line is built, in a process of its own
    code = ("import os, sys; from syncer import launch, memo, quick; "
            "os.environ.setdefault(*launch.ALLOCATOR); "
            "code = quick.replay(memo.key(['plan', '--json'])); sys.stdout.flush(); "
            "print(code, sorted(m for m in ('pydantic', 'yaml', 'typer', 'click', 'rich', "
            "'polars', 'pyarrow') if m in sys.modules))")
    environ = {**os.environ, "NO_COLOR": "1", "SYNCER_CACHE_DIR": str(cache),
               "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], cwd=root, env=environ,
                          capture_output=True, text=True, timeout=60, check=True)
    plan_line, outcome = done.stdout.strip().splitlines()
    assert json.loads(plan_line)["changes"] is False
    assert outcome == "0 []", done.stdout
    assert MARKER in done.stderr


@pytest.mark.parametrize("args", [["plan", "--json"], ["plan"]])
def test_a_closed_pipe_is_not_an_error(args: list[str], aged: dict[str, Path],
                                       cache: Path) -> None:
    root = aged[f"pipe {args[-1]}"]
    _recipe_of(root, cache, *args)
    _apply_v2(root)
    read, write = os.pipe()
    os.close(read)  # `syncer plan | head` whose reader is gone
    try:
        done = subprocess.run([sys.executable, "-m", "syncer", *args], cwd=root, stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=60,
                              env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1",
                                   "SYNCER_CACHE_DIR": str(cache)})
    finally:
        os.close(write)
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"{MARKER}\n", "made from the recipe, and nothing but the note said"


@pytest.mark.parametrize("change", list(CHANGES))
def test_anything_not_in_sync_runs_the_full_plan(change: str, aged: dict[str, Path],
                                                 cache: Path) -> None:
    root = aged[change]
    _recipe_of(root, cache, "--json")
    CHANGES[change](root)
    after = _plan(root, cache, "--json")
    assert MARKER not in after.err, f"{change}: the recipe made a plan it may not make"
    full = _full(root, "--json")
    assert (after.code, after.out) == (full.code, full.out)
    if change == "source touched":
        assert after.json()["changes"] is False  # recorded anew by the full plan: no change
    elif change == "source rewritten":
        assert after.json()["datasets"][0]["inserts"] == 1
    elif change == "target re-pointed to a copy":
        assert after.json()["datasets"][0]["moved"] == {"from": "out-v1/target.db:items",
                                                         "to": "out-v2/target.db:items"}
    elif change == "manifest edited":
        assert after.json()["datasets"][0]["moved"]["to"] == "out-v1/target.db:goods"
    elif change != "a batch left open":
        assert after.code != 0 or after.json()["changes"] or \
            after.json()["datasets"][0]["target_check"]["status"] != "ok", after


def test_what_leaves_no_recipe(aged: dict[str, Path], cache: Path, tmp_path: Path) -> None:
    root = aged["not kept"]
    assert _plan(root, cache, "--json", env={"SYNCER_NO_CACHE": "1"}).code == 0
    assert not cache.exists(), "SYNCER_NO_CACHE=1 turns it off"
    for args in (["--json", "--profile"], ["--json", "--no-target-check"],
                 ["--json", "--refresh"], ["-v", "plan", "--json"]):
        assert _plan(root, cache, *args).code == 0, args
    assert not _recipes(cache), "timings, a plan against the state alone or the targets' rows"
    # a target named by ${VAR}: an interpolated value is a secret, never written to the cache
    root = aged["secret"]
    secret = str(root / "out" / "target.db")
    assert _plan(root, cache, "--json", env={"TARGET_DB": secret}).json()["changes"] is False
    assert not _recipes(cache)
    fresh = aged["settle"]
    _edit(fresh, "mode: upsert", "mode: upsert  # edited")
    assert _plan(fresh, cache, "--json").json()["changes"] is False
    assert not _recipes(cache), "a manifest written in the last seconds is not trusted yet"
