"""The state: the apply lock, choosing the database, its file mode, the unchanged-file fast path,
settling a batch a crash left open, and orphaned datasets."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from syncer.sync import plan as planning
from syncer.errors import LockError
from syncer.state.sqlite.lock import FileLock as StateLock
from syncer.state import ChunkStore, open_state
from tests.conftest import REPO, Project, crash_after_target_commit, csv_text, expected_rows
from tests.pg import BOTH_BACKENDS

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
  - name: log
    source: ../data/log.csv
    mode: append
"""
PRODUCTS = [["A", "cup"], ["B", "pot"]]
LOG_V1 = [["ping", "1"], ["ping", "1"], ["pong", "2"]]
LOG_V2 = [*LOG_V1, ["ping", "1"], ["pang", "3"]]


@pytest.fixture
def shop(project: Project) -> Project:
    project.manifest(MANIFEST)
    project.write("products.csv", csv_text(["sku", "name"], PRODUCTS))
    project.write("log.csv", csv_text(["event", "n"], LOG_V1))
    return project


# -- the lock --------------------------------------------------------------------------------------

class Holder:
    """Another process that holds the apply lock until told to let go."""

    def __init__(self, state: Path) -> None:
        code = ("import sys\nfrom pathlib import Path\nfrom syncer.state.sqlite.lock import FileLock as StateLock\n"
                f"lock = StateLock(Path({str(state)!r}))\nlock.acquire('apply')\n"
                "print('held', flush=True)\nsys.stdin.readline()\nlock.release()\n")
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "held"

    def release(self) -> None:
        assert self.proc.stdin is not None
        if not self.proc.stdin.closed:
            self.proc.stdin.write("go\n")
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture
def holder(shop: Project):  # type: ignore[no-untyped-def]
    shop.state.parent.mkdir(parents=True, exist_ok=True)
    held = Holder(shop.state)
    yield held
    held.release()


def test_a_second_apply_is_refused_naming_the_holder(shop: Project, holder: Holder) -> None:
    result = shop.apply()
    assert result.code == 1, str(result)
    assert f"the state is locked by pid {holder.proc.pid} on {socket.gethostname()}" in result.err
    assert "(apply, since" in result.err
    assert "Traceback" not in result.output
    assert not shop.target_db.exists()
    holder.release()
    shop.apply_ok()
    assert shop.table("products") == {("A", "cup"): 1, ("B", "pot"): 1}


def test_lock_timeout_waits_for_the_holder(shop: Project, holder: Holder) -> None:
    timer = threading.Timer(0.5, holder.release)
    timer.start()
    try:
        shop.apply_ok("--lock-timeout", "20")
    finally:
        timer.join()
    assert shop.table("products") == {("A", "cup"): 1, ("B", "pot"): 1}


def test_state_forget_waits_for_the_holder_as_its_hint_says(shop: Project) -> None:
    shop.apply_ok()
    holder = Holder(shop.state)
    refused = shop.syncer("state", "forget", "shop/products", "--state", shop.state)
    assert refused.code == 1 and "--lock-timeout" in refused.err, str(refused)
    timer = threading.Timer(0.5, holder.release)
    timer.start()
    try:
        waited = shop.syncer("state", "forget", "shop/products", "--state", shop.state,
                             "--lock-timeout", "20")
    finally:
        timer.join()
    assert waited.code == 0, str(waited)


def test_state_lock_refuses_a_second_holder_in_process(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    first, second = StateLock(state), StateLock(state)
    first.acquire("apply")
    try:
        with pytest.raises(LockError) as refused:
            second.acquire("watch")
        assert f"pid {os.getpid()} on {socket.gethostname()}" in str(refused.value)
    finally:
        first.release()
    second.acquire("watch")
    second.release()


def test_a_dead_holders_lock_is_released_and_reported(shop: Project) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    shop.state.parent.mkdir(parents=True, exist_ok=True)
    lock = shop.state.with_name(shop.state.name + ".lock")
    lock.write_text(json.dumps({"pid": pid, "host": socket.gethostname(),
                                "started_at": "2024-01-01T00:00:00+00:00", "command": "apply"}))
    result = shop.apply_ok()
    assert f"a lock left by a dead process was released: pid {pid}" in result.err


# -- where the state is ----------------------------------------------------------------------------

def test_state_option_chooses_the_database(shop: Project) -> None:
    custom = shop.root / "elsewhere" / "custom.db"
    result = shop.syncer("apply", "-m", "manifests", "--state", custom, "--auto-approve")
    assert result.code == 0, str(result)
    assert custom.exists()
    assert not (shop.root / "state" / "syncer.db").exists()
    listed = shop.syncer("state", "list", "--state", custom, "--json")
    assert {d["dataset"] for d in listed.json()} == {"products", "log"}


def test_syncer_state_env_chooses_the_database(shop: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    from_env = shop.root / "env" / "state.db"
    monkeypatch.setenv("SYNCER_STATE", str(from_env))
    result = shop.syncer("apply", "-m", "manifests", "--auto-approve")
    assert result.code == 0, str(result)
    assert from_env.exists()
    assert not (shop.root / "state" / "syncer.db").exists()
    assert shop.syncer("plan", "-m", "manifests", "--json").json()["changes"] is False
    # --state wins over the environment
    other = shop.root / "other.db"
    plan = shop.syncer("plan", "-m", "manifests", "--state", other, "--json").json()
    assert plan["changes"] is True
    assert not other.exists()  # plan never creates a state database


def test_default_state_location(shop: Project) -> None:
    result = shop.syncer("apply", "-m", "manifests", "--auto-approve")
    assert result.code == 0, str(result)
    assert (shop.root / "state" / "syncer.db").exists()


def test_state_file_is_owner_only(shop: Project) -> None:
    old = os.umask(0)
    try:
        shop.apply_ok()
    finally:
        os.umask(old)
    assert stat.S_IMODE(shop.state.stat().st_mode) == 0o600
    lock = shop.state.with_name(shop.state.name + ".lock")
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    for side in (shop.state.with_name(shop.state.name + s) for s in ("-wal", "-shm")):
        if side.exists():
            assert stat.S_IMODE(side.stat().st_mode) & 0o077 == 0


@BOTH_BACKENDS
def test_state_show_reports_rows_and_generation(shop: Project) -> None:
    shop.apply_ok()
    shown = shop.syncer("state", "show", "shop/products", "--state", shop.state, "--json")
    assert shown.code == 0, str(shown)
    info = shown.json()
    assert (info["rows"], info["mode"], info["key"]) == (2, "upsert", ["sku"])
    assert info["generation"] >= 1
    assert {tuple(r.values()) for r in info["sample"]} == {("A", "cup"), ("B", "pot")}
    missing = shop.syncer("state", "show", "nope", "--state", shop.state)
    assert missing.code == 1 and "no dataset 'nope'" in missing.err


# -- the unchanged-file fast path ---------------------------------------------------------------------

@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The datasets whose rows the planner reads (it calls planning.stream_rows for each)."""
    seen: list[str] = []
    real = planning.stream_rows

    def counting(dataset: Any) -> Any:
        seen.append(dataset.id)
        return real(dataset)

    monkeypatch.setattr(planning, "stream_rows", counting)
    return seen


@BOTH_BACKENDS
def test_touched_but_unchanged_file_is_not_read(shop: Project, reads: list[str]) -> None:
    shop.apply_ok()
    reads.clear()
    source = shop.data / "products.csv"
    later = source.stat().st_mtime_ns + 5_000_000_000
    os.utime(source, ns=(later, later))
    result = shop.plan()
    assert result.code == 0, str(result)
    assert "shop/products (upsert -> products): source unchanged" in result.out
    assert "No changes." in result.out
    assert reads == []
    # the new mtime is recorded by the next apply, which reads nothing either
    shop.apply_ok()
    assert reads == []
    assert json.loads(shop.record("products")["fingerprint_json"])[0]["mtime_ns"] == later
    # changed bytes are read
    shop.write("products.csv", csv_text(["sku", "name"], [*PRODUCTS, ["C", "mug"]]))
    assert shop.plan_json()["changes"] is True
    assert reads == ["shop/products"]


def test_a_no_change_plan_loads_no_row_machinery(shop: Project) -> None:
    """With every source unchanged, a plan reads stat() results and state rows only: polars,
    pyarrow and the readers are never imported, so the command starts and ends quickly."""
    shop.apply_ok()
    script = ("import sys; from syncer.cli import main\n"
              "sys.argv = ['syncer', 'plan', '-m', 'manifests', '--state', sys.argv[1], '--json']\n"
              "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
              "heavy = [m for m in ('polars', 'pyarrow', 'syncer.sources.rows', 'syncer.sync.execute')"
              " if m in sys.modules]\n"
              "print('HEAVY', heavy, code, file=sys.stderr)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", script, str(shop.state)], cwd=shop.root,
                          env=env, capture_output=True, text=True, timeout=60)
    assert json.loads(done.stdout)["changes"] is False, done.stderr
    assert "HEAVY [] 0" in done.stderr, done.stderr


def test_a_no_change_plan_loads_only_what_it_prints_with(shop: Project) -> None:
    """The start of a no-change ``plan --json`` stays short: rich (nothing goes through it),
    the other commands, and the models of target types the manifests do not name are never
    imported; so a slow start cannot come back unnoticed."""
    shop.apply_ok()
    script = ("import sys; from syncer.cli import main\n"
              "sys.argv = ['syncer', 'plan', '-m', 'manifests', '--state', sys.argv[1], '--json']\n"
              "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
              "unwanted = ('rich', 'syncer.bars', 'syncer.commands.apply', 'syncer.commands.watch',"
              " 'syncer.commands.emulate', 'syncer.commands.state', 'syncer.targets.hexabase.config',"
              " 'syncer.targets.milvus.config', 'syncer.targets.zilliz.config')\n"
              "print('LOADED', [m for m in unwanted if m in sys.modules], code, file=sys.stderr)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("FORCE_COLOR", None)
    done = subprocess.run([sys.executable, "-c", script, str(shop.state)], cwd=shop.root,
                          env=env, capture_output=True, text=True, timeout=60)
    assert json.loads(done.stdout)["changes"] is False, done.stderr
    assert "LOADED [] 0" in done.stderr, done.stderr
    assert done.stderr.startswith("state: "), done.stderr  # the note, printed without rich


def test_a_checkout_moved_elsewhere_is_not_read_again(shop: Project, reads: list[str],
                                                      tmp_path: Path, cli: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """CI clones into a new directory each run: fingerprints and spec hashes name files relative
    to the manifest, so the stat-only path still holds after the move."""
    import shutil

    shop.apply_ok()
    moved = Project(shutil.copytree(shop.root, tmp_path.parent / f"{tmp_path.name}-moved"), cli)
    monkeypatch.chdir(moved.root)
    reads.clear()
    assert moved.plan_json()["changes"] is False
    assert reads == []
    stamp = json.loads(moved.record("products")["fingerprint_json"])[0]
    assert stamp["path"] == os.path.join("..", "data", "products.csv")


def test_absolute_stamps_of_older_states_still_match(tmp_path: Path) -> None:
    from syncer.sources.fingerprint import fingerprint

    source = tmp_path / "data" / "rows.csv"
    source.parent.mkdir()
    source.write_text("id\n1\n")
    old = fingerprint((source,))
    assert old[0].path == str(source)
    again = fingerprint((source,), old, tmp_path / "manifests")
    assert again[0].path == os.path.join("..", "data", "rows.csv")
    assert (again[0].size, again[0].mtime_ns, again[0].digest) == (
        old[0].size, old[0].mtime_ns, old[0].digest)


@BOTH_BACKENDS
def test_a_same_size_edit_is_a_change(shop: Project) -> None:
    """The content hash decides; size alone never makes a file look unchanged."""
    shop.apply_ok()
    source = shop.data / "products.csv"
    shop.write("products.csv", source.read_text().replace("cup", "mug"))
    plan = shop.plan_json()
    assert [d["updates"] for d in plan["datasets"]] == [1, 0]


# -- settling a crash ------------------------------------------------------------------------------

def log_rows(versions: list[list[list[str]]]) -> Any:
    return expected_rows("append", [[tuple(r) for r in v] for v in versions])


@BOTH_BACKENDS
def test_a_batch_that_landed_before_the_crash_is_folded_exactly_once(shop: Project) -> None:
    shop.manifest(MANIFEST.split("  - name: log")[0].replace("products", "log")
                  .replace("    key: [sku]\n", "").replace("mode: upsert", "mode: append"))
    shop.apply_ok()
    shop.write("log.csv", csv_text(["event", "n"], LOG_V2))
    assert crash_after_target_commit(shop.manifests, shop.state)[0] == "shop/log"
    # the target already holds the new rows; the state does not know yet
    assert shop.table("log") == log_rows([LOG_V1, LOG_V2])
    result = shop.apply_ok()
    assert "settled batch crashed-batch of shop/log: it had landed" in result.err
    assert shop.table("log") == log_rows([LOG_V1, LOG_V2])  # nothing delivered twice
    assert sum(shop.table("log").values()) == 5
    assert shop.plan_json()["changes"] is False
    with open_state(shop.state) as store:
        assert store.open_batches() == []


@BOTH_BACKENDS
def test_settling_a_batch_with_the_sqlite_target_reads_none_of_its_rows(
        shop: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sqlite target tells a landed batch by its marker: a crashed first load of millions
    of rows is settled without loading them."""
    from syncer.state import JournalRows

    shop.manifest(MANIFEST.split("  - name: log")[0])
    crash_after_target_commit(shop.manifests, shop.state)
    read: list[str] = []
    monkeypatch.setattr(JournalRows, "slices",
                        lambda self, rows: iter(read.append(self.batch_id) or ()))
    result = shop.apply_ok()
    assert "settled batch crashed-batch of shop/products: it had landed" in result.err
    assert read == []
    monkeypatch.undo()
    assert shop.table("products") == {("A", "cup"): 1, ("B", "pot"): 1}
    assert shop.plan_json()["changes"] is False


@BOTH_BACKENDS
def test_a_batch_that_never_landed_is_abandoned_and_sent_again(shop: Project) -> None:
    shop.manifest(MANIFEST.split("  - name: log")[0].replace("products", "log")
                  .replace("    key: [sku]\n", "").replace("mode: upsert", "mode: append"))
    shop.apply_ok()
    shop.write("log.csv", csv_text(["event", "n"], LOG_V2))
    crash_after_target_commit(shop.manifests, shop.state, send=False)
    assert shop.table("log") == log_rows([LOG_V1])
    result = shop.apply_ok()
    assert "settled batch crashed-batch of shop/log: it had not landed" in result.err
    assert shop.table("log") == log_rows([LOG_V1, LOG_V2])
    assert shop.plan_json()["changes"] is False


@BOTH_BACKENDS
def test_an_apply_killed_after_the_target_commit_is_settled_by_the_next(
        shop: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real apply, interrupted between the target commit and the state commit."""
    shop.apply_ok()
    shop.write("log.csv", csv_text(["event", "n"], LOG_V2))
    shop.write("products.csv", csv_text(["sku", "name"], [["A", "big cup"], ["B", "pot"]]))

    def killed(self: ChunkStore, batch_id: str, **_: Any) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(ChunkStore, "fold_batch", killed)
        crashed = shop.apply()
    assert crashed.code == 130, str(crashed)
    with open_state(shop.state) as store:
        assert len(store.open_batches()) == 1
    result = shop.apply_ok()
    assert "it had landed" in result.err
    assert shop.table("log") == log_rows([LOG_V1, LOG_V2])
    assert shop.table("products") == {("A", "big cup"): 1, ("B", "pot"): 1}
    assert shop.plan_json()["changes"] is False


# -- orphans ------------------------------------------------------------------------------------------

@BOTH_BACKENDS
def test_an_orphaned_dataset_is_reported_and_its_table_left_alone(shop: Project) -> None:
    shop.apply_ok()
    log_before = shop.table("log")
    record_before = shop.record("log")
    shop.manifest(MANIFEST.split("  - name: log")[0])
    plan = shop.plan_json()
    assert plan["orphans"] == ["shop/log"]
    assert plan["changes"] is False
    text = shop.plan()
    assert "shop/log: orphaned (in the state, not in the manifests)" in text.out
    assert "Orphaned" in shop.plan("--format", "markdown").out
    shop.apply_ok()
    assert shop.table("log") == log_before
    assert shop.record("log") == record_before
    forgot = shop.syncer("state", "forget", "shop/log", "--state", shop.state)
    assert forgot.code == 0, str(forgot)
    assert shop.record("log") is None
    assert shop.table("log") == log_before
    assert shop.plan_json()["orphans"] == []


@BOTH_BACKENDS
def test_spooled_rows_are_removed_after_plan_and_apply(shop: Project, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The declared rows wait in a temporary spool from plan to apply; nothing is left behind,
    whether the run applies, only plans, or fails."""
    import tempfile

    spools = tmp_path / "tmp"
    spools.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spools))
    assert shop.plan().code == 0
    shop.apply_ok()
    shop.write("products.csv", csv_text(["sku", "name"], [*PRODUCTS, ["C", "mug"]]))
    shop.apply_ok()
    shop.write("products.csv", "sku,name\nA,cup\nA,again\n")  # duplicate key: the plan fails
    assert shop.apply().code == 1
    assert list(spools.iterdir()) == []


def test_an_older_state_is_migrated_with_its_blobs_last(shop: Project) -> None:
    """States written before schema 4 kept the key ranges after the rows blob, so listing the
    chunks read every row; opening one moves the blobs last and keeps every applied row."""
    import sqlite3

    shop.apply_ok()
    old_order = "target, dataset, chunk, rows, data, keys, min_key, max_key, batch_id"
    with sqlite3.connect(shop.state) as db:  # the layout schema 3 left behind
        db.execute("CREATE TABLE old (target TEXT NOT NULL, dataset TEXT NOT NULL, chunk INTEGER "
                   "NOT NULL, rows INTEGER NOT NULL, data BLOB NOT NULL, keys BLOB, min_key TEXT, "
                   "max_key TEXT, batch_id TEXT, PRIMARY KEY (target, dataset, chunk))")
        db.execute(f"INSERT INTO old ({old_order}) SELECT {old_order} FROM snapshot_chunks")
        db.execute("DROP TABLE snapshot_chunks")
        db.execute("ALTER TABLE old RENAME TO snapshot_chunks")
        db.execute("PRAGMA user_version = 3")
    shop.write("products.csv", csv_text(["sku", "name"], [["A", "cup"], ["B", "pan"]]))
    data = shop.plan_json()
    products = next(d for d in data["datasets"] if d["dataset"] == "products")
    assert (products["inserts"], products["updates"], products["deletes"]) == (0, 1, 0)
    from syncer.state.sqlite.migrations import MIGRATIONS

    with open_state(shop.state) as store:
        assert store.schema_version == len(MIGRATIONS)  # the newest
        columns = [row[1] for row in store.storage.db.execute("PRAGMA table_info(snapshot_chunks)")]
        assert columns[-2:] == ["keys", "data"]
        assert sorted(store.snapshot("shop", "products").get_column("sku").to_list()) == ["A", "B"]


def test_the_command_exits_quickly_with_its_code_its_output_and_no_leftovers(
        shop: Project, tmp_path: Path) -> None:
    """The ``syncer`` command skips the interpreter's teardown: the exit code, every line of
    output and the removal of temporary files survive it."""
    spools = tmp_path / "tmp"
    spools.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(spools)}
    base = [sys.executable, "-m", "syncer"]
    state = ["--state", str(shop.state)]
    done = subprocess.run([*base, "plan", *state, "--detailed-exitcode", "--json"],
                          cwd=shop.root, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert json.loads(done.stdout)["changes"] is True  # the whole document arrived
    done = subprocess.run([*base, "apply", *state, "--auto-approve"], cwd=shop.root, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Apply complete." in done.stdout, done.stdout
    assert list(spools.iterdir()) == []
    wal = Path(f"{shop.state}-wal")  # the state was closed: its last connection removed the WAL
    assert not wal.exists() or wal.stat().st_size == 0
    with open_state(shop.state) as store:
        assert store.dataset("shop", "products") is not None
    done = subprocess.run([*base, "validate", "-m", "nowhere"], cwd=shop.root, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Error" in done.stderr


def test_a_lookup_reads_the_rows_of_only_the_chunks_that_hold_the_keys(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch written in slices leaves chunks whose key ranges overlap; looking rows up by
    identity reads the small identity blobs to find the one chunk that holds them."""
    import polars as pl

    from syncer.state import chunks as snap
    from syncer.model.manifest import DatasetSpec
    from syncer.model.schema import Schema

    monkeypatch.setattr(snap, "CHUNK_ROWS", 4)
    spec = DatasetSpec.model_validate({"name": "items", "source": "x.csv", "mode": "upsert",
                                       "key": ["id"], "columns": {"id": "string"}})
    schema = Schema.declared(spec, ["id"])
    rows = schema.digest(pl.DataFrame({"id": [f"k{i:02d}" for i in range(24)]}))
    slices = [rows.gather(list(range(start, 24, 3))) for start in range(3)]  # interleaved keys
    decoded: list[list[str] | None] = []
    rows_read: list[list[int]] = []
    decode, decode_rows = snap.decode, snap.decode_rows
    monkeypatch.setattr(snap, "decode", lambda blob, columns=None: decoded.append(columns) or
                        decode(blob, columns))
    monkeypatch.setattr(snap, "decode_rows", lambda blob, at: rows_read.append(at) or
                        decode_rows(blob, at))
    with open_state(tmp_path / "state.db") as store:
        assert store.storage.db.execute("PRAGMA page_size").fetchone()[0] == 65_536
        store.ensure_dataset("t", "items", "sqlite", "items", "upsert")
        store.open_batch("run", "b1", "t", "items", schema, False, iter(slices), rows.clear())
        store.fold_batch("b1")
        ranges = store.storage.db.execute("SELECT min_key, max_key FROM snapshot_chunks").fetchall()
        assert len(ranges) == 6 and sum(low <= "k13" <= high for low, high in ranges) > 1
        decoded.clear()
        found = store.snapshot_rows("t", "items", ["k13"])
        assert found is not None and found.get_column("id").to_list() == ["k13"]
        # the rows of one chunk, however many ranges matched: of that chunk, the one row
        assert decoded.count(None) == 0 and len(rows_read) == 1 and len(rows_read[0]) == 1


def test_state_show_prints_a_table_not_python_reprs(shop: Project) -> None:
    shop.apply_ok()
    shown = shop.syncer("state", "show", "shop/products", "--state", shop.state)
    assert shown.code == 0, str(shown)
    assert "shop/products (upsert -> products)" in shown.out
    assert "columns: sku (string), name (string)" in shown.out and "key: sku" in shown.out
    assert '"cup"' in shown.out and "2 of 2 row(s)" in shown.out
    for python in ("[['", "{'", "datetime.", "True", "FileStamp("):
        assert python not in shown.out, shown.out


@pytest.mark.parametrize("marker", [".git", "syncer.yaml"])
def test_the_default_state_is_found_from_the_project_root(shop: Project, marker: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """`-m .` from inside manifests/ uses the project's state, not a second one in
    manifests/state/; plan says which state it uses."""
    if marker == ".git":
        (shop.root / ".git").mkdir()
    else:
        (shop.root / "syncer.yaml").write_text("# the project file marks the project root\n")
    monkeypatch.delenv("SYNCER_STATE", raising=False)
    applied = shop.syncer("apply", "-m", "manifests", "--auto-approve")
    assert applied.code == 0, str(applied)
    assert (shop.root / "state" / "syncer.db").exists()
    monkeypatch.chdir(shop.manifests)
    planned = shop.syncer("plan", "-m", ".", "--json")
    assert planned.code == 0, str(planned)
    assert planned.json()["changes"] is False  # the same state: nothing to do
    assert not (shop.manifests / "state").exists()
    assert f"state: {shop.root / 'state' / 'syncer.db'}" in planned.err
