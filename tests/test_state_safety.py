"""State safety: the integrity check on open, `syncer state backup`, owner-only files (database,
lock, WAL, SHM), a state that survives SIGKILL in the middle of its commits, a real dead lock
holder, and secrets that appear in no file and no message, on success and on failure.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from syncer.sync.session import session
from syncer.state import ChunkStore, open_state
from tests.conftest import REPO, Project, api_apply, csv_text, run_subprocess
from tests.pg import BOTH_BACKENDS
from tests.targets.test_hexabase_e2e import TOKEN, _products, hx  # noqa: F401  (fixture)
from tests.targets.test_hexabase_e2e import Project as HxProject

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
    max_delete: 100%
"""


@pytest.fixture
def shop(project: Project) -> Project:
    project.manifest(MANIFEST)
    project.write("products.csv", csv_text(["sku", "name"], [["A", "cup"], ["B", "pot"]]))
    project.apply_ok()
    return project


# -- integrity ------------------------------------------------------------------------------------

def test_a_damaged_state_is_refused_with_a_clear_message(shop: Project) -> None:
    size = shop.state.stat().st_size
    assert size > 3 * 4096
    with shop.state.open("r+b") as handle:  # overwrite the middle pages (not the header)
        handle.seek(4096)
        handle.write(os.urandom(size - 2 * 4096))
    for result in (shop.plan(), shop.apply(), shop.syncer("state", "list", "--state", shop.state)):
        assert result.code == 1, str(result)
        assert "is damaged or not a SQLite file" in result.err, str(result)
        assert "syncer state backup" in result.err
        assert "Traceback" not in result.output and "Internal error" not in result.output


def test_damage_in_a_large_state_is_reported_by_the_query_that_finds_it(
        shop: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large state closed cleanly is opened without reading every page (a no-change plan
    costs the same whatever the size); damage is then reported by whichever query meets it,
    with the same message, and nothing is written."""
    from syncer.state.sqlite import storage as state

    monkeypatch.setattr(state, "FULL_CHECK_BYTES", 0)
    assert not Path(f"{shop.state}-wal").exists()
    shop.write("products.csv", csv_text(["sku", "name"], [["A", "mug"], ["B", "pot"]]))
    size = shop.state.stat().st_size
    with shop.state.open("r+b") as handle:
        handle.seek(4096)
        handle.write(os.urandom(size - 2 * 4096))
    damaged = shop.state.read_bytes()
    for result in (shop.plan(), shop.apply()):
        assert result.code == 1, str(result)
        assert "is damaged or not a SQLite file" in result.err, str(result)
        assert "Traceback" not in result.output and "Internal error" not in result.output
    assert shop.state.read_bytes() == damaged


def test_a_file_that_is_not_sqlite_is_refused(shop: Project) -> None:
    shop.state.write_bytes(b"this is not a database\n" * 200)
    for name in ("syncer.db-wal", "syncer.db-shm"):
        (shop.state.parent / name).unlink(missing_ok=True)
    result = shop.plan()
    assert result.code == 1, str(result)
    assert "is damaged or not a SQLite file" in result.err


# -- backup ---------------------------------------------------------------------------------------

def test_state_backup_is_a_consistent_owner_only_copy(shop: Project) -> None:
    copy = shop.root / "backups" / "state.db"
    result = shop.syncer("state", "backup", copy, "--state", shop.state)
    assert result.code == 0, str(result)
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    listed = shop.syncer("state", "list", "--state", copy, "--json").json()
    assert listed == shop.syncer("state", "list", "--state", shop.state, "--json").json()
    assert listed[0]["rows"] == 2
    again = shop.syncer("state", "backup", copy, "--state", shop.state)
    assert again.code == 1 and "already exists" in again.err


def test_backup_while_another_process_holds_the_lock(shop: Project) -> None:
    """A backup does not need the apply lock: it reads one consistent snapshot."""
    with session(shop.state, "apply", write=True):
        copy = shop.root / "copy.db"
        result = run_subprocess("state", "backup", copy, "--state", shop.state, cwd=shop.root)
        assert result.code == 0, str(result)
    assert open_state(copy, create=False).dataset("shop", "products") is not None


# -- file modes -----------------------------------------------------------------------------------

def test_wal_shm_and_lock_files_are_owner_only(shop: Project) -> None:
    old = os.umask(0o022)
    try:
        (shop.root / "state").joinpath("syncer.db").unlink()
        with session(shop.state, "apply", write=True) as held:
            held.store.ensure_dataset("shop", "x", "sqlite", "x", "replace")  # a write: WAL + SHM
            for suffix in ("", "-wal", "-shm", ".lock"):
                path = shop.state.with_name(shop.state.name + suffix)
                assert path.exists(), path
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    finally:
        os.umask(old)


# -- kill -9 during commits -------------------------------------------------------------------------

CHILD = """
import sys
from pathlib import Path
from tests.conftest import api_apply
root = Path(sys.argv[1])
print("ready", flush=True)
i = 0
while True:
    i += 1
    rows = "".join(f"k{j},{i}\\n" for j in range(i % 7 * 300, 2000 + i % 5 * 100))
    (root / "data" / "products.csv").write_text("sku,name\\n" + rows)
    api_apply(root / "manifests", root / "state" / "syncer.db", allow_deletes=True)
"""


def test_sigkill_during_state_commits_never_leaves_it_unreadable(shop: Project) -> None:
    """A child applies changing versions in a loop and is killed with SIGKILL at a random
    moment; each time the state opens cleanly (quick_check) and the next apply converges."""
    rng = random.Random(7)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    deadline = time.monotonic() + 6
    trials = 0
    while time.monotonic() < deadline or trials < 3:
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(shop.root)], cwd=shop.root,
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.05, 0.6))
        child.send_signal(signal.SIGKILL)
        child.wait()
        trials += 1
        with open_state(shop.state, create=False) as store:  # quick_check passes
            assert store.dataset("shop", "products") is not None
        if not (shop.data / "products.csv").read_text().count("\n"):
            shop.write("products.csv", "sku,name\nA,cup\n")  # killed mid-write of the source
        api_apply(shop.manifests, shop.state, allow_deletes=True)
        lines = (shop.data / "products.csv").read_text().splitlines()[1:]
        wanted = {tuple(line.split(",")) for line in lines}
        held = shop.table("products", ["sku", "name"])
        assert set(held) == wanted and sum(held.values()) == len(wanted)
        assert shop.plan_json()["changes"] is False
    assert trials >= 3


# -- a real dead holder ---------------------------------------------------------------------------

def test_a_lock_held_by_a_killed_process_is_taken_over_and_reported(shop: Project) -> None:
    code = ("import os, signal, sys\nfrom pathlib import Path\nfrom syncer.state.sqlite.lock import FileLock as StateLock\n"
            f"StateLock(Path({str(shop.state)!r})).acquire('apply')\n"
            "print(os.getpid(), flush=True)\nos.kill(os.getpid(), signal.SIGKILL)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == -signal.SIGKILL
    pid = int(done.stdout)
    result = shop.apply_ok()
    assert f"a lock left by a dead process was released: pid {pid}" in result.err
    assert socket.gethostname() in result.err


# -- secrets ------------------------------------------------------------------------------------------

def _leaks(paths: list[Path], secret: str) -> list[str]:
    found = []
    for path in paths:
        for file in [path, *(path.rglob("*") if path.is_dir() else [])]:
            if file.is_file() and secret.encode() in file.read_bytes():
                found.append(str(file))
    return found


def test_the_token_appears_in_no_file_and_no_message(hx: HxProject,  # noqa: F811
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    hx.manifest()
    hx.write(_products(5))
    outputs = [hx.apply()]
    assert outputs[-1].code == 0, str(outputs[-1])
    hx.write(_products(6))
    outputs += [hx.run("plan", "-m", hx.manifests, "--state", hx.state, "--out",
                       hx.root / "plan.json"),
                hx.run("-v", "apply", "-m", hx.manifests, "--state", hx.state, "--auto-approve")]
    assert outputs[-1].code == 0, str(outputs[-1])
    hx.write(_products(7))
    outputs.append(hx.run("plan", "-m", hx.manifests, "--state", hx.state, "--json"))
    # a failing run: the server is gone
    monkeypatch.setenv("HEXABASE_URL", "http://127.0.0.1:9")
    hx.manifest(target=f"  token: ${{HEXABASE_TOKEN}}\n  retries: 0")
    outputs.append(hx.apply())
    assert outputs[-1].code == 1
    monkeypatch.setenv("HEXABASE_URL", hx.server.url)
    # an unexpected exception that carries the token, with the traceback shown
    from syncer.targets import http

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError(f"boom Bearer {TOKEN}")

    monkeypatch.setattr(http.Http, "request", broken)
    monkeypatch.setenv("SYNCER_DEBUG", "1")
    outputs.append(hx.apply())
    assert outputs[-1].code == 3, str(outputs[-1])
    assert "Traceback" in outputs[-1].err and "boom Bearer ***" in outputs[-1].err
    for result in outputs:
        assert TOKEN not in result.output, str(result)
    assert not _leaks([hx.state.parent, hx.root / "plan.json", hx.manifests], TOKEN)
    with sqlite3.connect(hx.state) as con:  # and not in any value, compressed or not
        dump = "\n".join(con.iterdump())
    assert TOKEN not in dump


# -- one failing dataset ----------------------------------------------------------------------------

TWO_TARGETS = """\
version: 1
target: {name: shop, type: sqlite, path: ../build/target.db}
datasets:
  - name: products
    source: ../data/products.csv
    mode: upsert
    key: [sku]
"""
STRICT_TARGET = """\
version: 1
target: {name: strict, type: sqlite, path: ../build/strict.db}
datasets:
  - name: labels
    source: ../data/labels.csv
    mode: upsert
    key: [sku]
"""


@BOTH_BACKENDS
def test_a_target_error_in_one_dataset_leaves_the_others_applied(project: Project) -> None:
    """The strict target refuses its rows (a CHECK constraint the data breaks): that dataset
    fails and records nothing, the other is applied and recorded; the exit code is 1 and the
    summary names the failed dataset.  Once the target accepts the rows, the next apply
    catches up with exactly what was missing."""
    project.manifest(TWO_TARGETS, "shop.yaml")
    project.manifest(STRICT_TARGET, "strict.yaml")
    project.write("products.csv", csv_text(["sku", "name"], [["A", "cup"], ["B", "pot"]]))
    project.write("labels.csv", csv_text(["sku", "label"], [["A", "a very long label"]]))
    strict = project.root / "build" / "strict.db"
    strict.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(strict) as db:
        db.execute("CREATE TABLE labels (sku TEXT PRIMARY KEY, label TEXT CHECK (length(label) < 5))")
    result = project.apply()
    assert result.code == 1, str(result)
    assert "1 dataset(s) failed (1 applied)" in result.err, str(result)
    assert "strict/labels" in result.err and "CHECK constraint failed" in result.err
    assert "Traceback" not in result.output
    assert project.table("products") == {("A", "cup"): 1, ("B", "pot"): 1}
    assert project.record("products") is not None
    failed = project.record("labels", target="strict")
    assert failed is None or (failed["fingerprint_json"] is None and not failed["rows"]), failed
    with sqlite3.connect(strict) as db:
        assert db.execute("SELECT COUNT(*) FROM labels").fetchone() == (0,)
        db.execute("DROP TABLE labels")
    plan = project.plan_json()
    assert [(d["target"], d["inserts"]) for d in plan["datasets"] if d["inserts"]] == [("strict", 1)]
    project.apply_ok()
    assert project.plan_json()["changes"] is False
