"""The state on a PostgreSQL server (a real one: tests/pg.py): URLs and their errors, the
per-project advisory lock between processes, a connection lost mid-apply, ``state copy`` both
ways, the project file, several projects in one schema, and the password kept out of every
output."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from syncer.state import open_state
from tests import pg
from tests.conftest import REPO, Project, csv_text, pg_query, run_subprocess

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

both = pg.BOTH_BACKENDS
on_postgres = pytest.mark.parametrize("project", ["postgres"], indirect=True)


@pytest.fixture
def shop(project: Project) -> Project:
    project.manifest(MANIFEST)
    project.write("products.csv", csv_text(["sku", "name"], PRODUCTS))
    project.write("log.csv", csv_text(["event", "n"], LOG_V1))
    return project


def server_of(url: str) -> str:
    return url.split("?", 1)[0]


def no_secret(*texts: str) -> None:
    for text in texts:
        assert pg.PASSWORD not in text


# -- URLs and their errors ---------------------------------------------------------------------

@on_postgres
def test_a_malformed_url_is_a_clear_error(shop: Project) -> None:
    bad = shop.state.replace("127.0.0.1:", "127.0.0.1:port")
    result = shop.syncer("plan", "-m", shop.manifests, "--state", bad)
    assert result.code == 1, str(result)
    assert "malformed state URL" in result.err and "Traceback" not in result.output
    no_secret(result.output)
    unknown = shop.syncer("plan", "-m", shop.manifests, "--state", shop.state + "&sslmod=x")
    assert unknown.code == 1 and "malformed state URL" in unknown.err, str(unknown)
    no_secret(unknown.output)


@on_postgres
def test_an_unreachable_server_is_a_clear_error(shop: Project) -> None:
    url = f"postgresql://postgres:{pg.PASSWORD}@127.0.0.1:{pg.free_port()}/postgres"
    result = shop.syncer("apply", "-m", shop.manifests, "--state", url, "--auto-approve")
    assert result.code == 1, str(result)
    assert "cannot reach the state server postgresql://postgres@127.0.0.1:" in result.err
    no_secret(result.output)
    assert not shop.target_db.exists()


@on_postgres
def test_a_wrong_password_is_a_clear_error(shop: Project) -> None:
    url = shop.state.replace(pg.PASSWORD, "wrong-password-123")
    result = shop.syncer("apply", "-m", shop.manifests, "--state", url, "--auto-approve")
    assert result.code == 1, str(result)
    assert "cannot log in to the state server" in result.err
    assert "wrong-password-123" not in result.output
    no_secret(result.output)


@on_postgres
def test_the_password_may_come_from_pgpassword(shop: Project,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", pg.PASSWORD)
    url = shop.state.replace(f":{pg.PASSWORD}@", "@")
    result = shop.syncer("apply", "-m", shop.manifests, "--state", url, "--auto-approve")
    assert result.code == 0, str(result)
    assert shop.syncer("state", "list", "--state", url, "--json").json()


@on_postgres
def test_a_user_without_rights_to_create_the_schema_is_told_so(shop: Project,
                                                               pg_server: str) -> None:
    role, password = pg.fresh_name("limited"), "limited-pw-123"
    with psycopg.connect(pg_server, autocommit=True) as db:
        db.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        url = (shop.state.replace(f"postgres:{pg.PASSWORD}@", f"{role}:{password}@"))
        result = shop.syncer("apply", "-m", shop.manifests, "--state", url, "--auto-approve")
        assert result.code == 1, str(result)
        assert "cannot create the schema" in result.err and f"user {role}" in result.err
        assert "CREATE SCHEMA" in result.err  # the fix names what to ask for
        assert password not in result.output and "Traceback" not in result.output
    finally:
        with psycopg.connect(pg_server, autocommit=True) as db:
            db.execute(f"DROP ROLE {role}")


@on_postgres
def test_a_schema_from_a_newer_syncer_is_refused(shop: Project) -> None:
    shop.apply_ok()
    pg_query(shop.state, "INSERT INTO schema_version (version) VALUES (99) RETURNING version")
    result = shop.plan()
    assert result.code == 1, str(result)
    assert "was written by a newer syncer (schema 99" in result.err
    no_secret(result.output)


@on_postgres
def test_a_plan_before_the_first_apply_creates_nothing(shop: Project) -> None:
    plan = shop.plan_json()
    assert plan["changes"] is True
    assert pg_query(shop.state, "SELECT 1") == []  # no tables: the schema was not created
    listed = shop.syncer("state", "list", "--state", shop.state)
    assert listed.code == 1 and "no state at" in listed.err, str(listed)


# -- the lock ----------------------------------------------------------------------------------

class Holder:
    """Another process holding the project's lock through the API until told to let go."""

    def __init__(self, state: str, cwd: Path) -> None:
        code = ("import sys\nfrom syncer.state import open_state\n"
                f"store = open_state({state!r})\nlock = store.lock('apply')\n"
                "print('held', flush=True)\nsys.stdin.readline()\nlock.release()\n")
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env, cwd=cwd)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "held"

    def release(self) -> None:
        assert self.proc.stdin is not None
        if not self.proc.stdin.closed and self.proc.poll() is None:
            self.proc.stdin.write("go\n")
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture
def holder(shop: Project) -> Any:
    shop.apply_ok()  # the schema exists
    shop.write("log.csv", csv_text(["event", "n"], LOG_V2))
    held = Holder(shop.state, shop.root)
    yield held
    held.release()


@on_postgres
def test_a_second_apply_from_another_process_is_refused_naming_the_holder(
        shop: Project, holder: Holder) -> None:
    result = run_subprocess("apply", "-m", shop.manifests, "--state", shop.state,
                            "--auto-approve", cwd=shop.root)
    assert result.code == 1, str(result)
    assert f"the state is locked by pid {holder.proc.pid} on {socket.gethostname()}" in result.err
    assert "(apply by " in result.err and ", since " in result.err
    no_secret(result.output)
    holder.release()
    shop.apply_ok()
    assert shop.table("log")[("ping", "1")] == 3


@on_postgres
def test_lock_timeout_waits_for_the_holder(shop: Project, holder: Holder) -> None:
    timer = threading.Timer(0.7, holder.release)
    timer.start()
    try:
        result = run_subprocess("apply", "-m", shop.manifests, "--state", shop.state,
                                "--auto-approve", "--lock-timeout", "30", cwd=shop.root)
    finally:
        timer.join()
    assert result.code == 0, str(result)
    assert shop.table("log")[("ping", "1")] == 3


@on_postgres
def test_a_killed_holders_lock_dies_with_its_connection(shop: Project, holder: Holder) -> None:
    holder.proc.send_signal(signal.SIGKILL)
    holder.proc.wait(timeout=30)
    result = shop.apply_ok("--lock-timeout", "10")  # the server notices the dead connection
    assert f"a lock left by a dead process was released: pid {holder.proc.pid}" in result.err
    assert shop.table("log")[("ping", "1")] == 3


@on_postgres
def test_each_project_in_a_schema_has_its_own_lock_and_state(shop: Project,
                                                             holder: Holder) -> None:
    other = shop.state + "&project=other"
    # the same target as the first project: its rows are already there, so the second state is
    # told so (issue 16) unless it writes anyway
    result = shop.syncer("apply", "-m", shop.manifests, "--state", other, "--auto-approve",
                         "--allow-existing")
    assert result.code == 0, str(result)  # not locked: another project
    theirs = shop.syncer("state", "list", "--state", other, "--json").json()
    assert {d["dataset"] for d in theirs} == {"products", "log"}
    projects = pg_query(shop.state, "SELECT DISTINCT project FROM datasets")
    assert {p["project"] for p in projects} == {shop.root.name, "other"}


# -- a connection lost mid-apply -----------------------------------------------------------------

def terminate_state_connections(url: str) -> int:
    with psycopg.connect(server_of(url), autocommit=True) as db:
        rows = db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                          "application_name LIKE 'syncer %%' AND pid <> pg_backend_pid()"
                          ).fetchall()
    return len(rows)


@on_postgres
def test_a_connection_lost_mid_apply_stops_it_and_the_next_run_settles(
        shop: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    from syncer.targets.sqlite.driver import SqliteDriver

    shop.apply_ok()
    shop.write("log.csv", csv_text(["event", "n"], LOG_V2))
    real = SqliteDriver.apply

    def cut_after_sending(self: SqliteDriver, batch: Any) -> Any:
        rejected = real(self, batch)  # the target commits the batch ...
        assert terminate_state_connections(shop.state) >= 1  # ... then the state server is lost
        return rejected

    monkeypatch.setattr(SqliteDriver, "apply", cut_after_sending)
    result = shop.apply()
    assert result.code == 1, str(result)
    assert "lost the connection to the state server" in result.err or \
        "lost the lock on the state" in result.err, str(result)
    assert "Traceback" not in result.output
    no_secret(result.output)
    monkeypatch.setattr(SqliteDriver, "apply", real)
    with open_state(shop.state) as store:
        assert [b.dataset for b in store.open_batches()] == ["log"]  # not folded: not confirmed
    settled = shop.apply_ok()
    assert "Traceback" not in settled.output
    assert shop.table("log") == {("ping", "1"): 3, ("pong", "2"): 1, ("pang", "3"): 1}
    assert shop.plan_json()["changes"] is False


# -- state copy --------------------------------------------------------------------------------

@on_postgres
def test_state_copy_sqlite_to_postgres_and_back(shop: Project, tmp_path: Path) -> None:
    sqlite_state = tmp_path / "state" / "syncer.db"
    result = shop.syncer("apply", "-m", shop.manifests, "--state", sqlite_state, "--auto-approve")
    assert result.code == 0, str(result)
    shop.write("log.csv", csv_text(["event", "n"], LOG_V2))
    assert shop.syncer("apply", "-m", shop.manifests, "--state", sqlite_state,
                       "--auto-approve").code == 0
    copied = shop.syncer("state", "copy", sqlite_state, shop.state)
    assert copied.code == 0, str(copied)
    assert "2 dataset(s)" in copied.out and "verified" in copied.out
    no_secret(copied.output)
    listed = [shop.syncer("state", "list", "--state", s, "--json").json()
              for s in (sqlite_state, shop.state)]
    assert listed[0] == listed[1]
    assert shop.plan_json()["changes"] is False  # the PostgreSQL copy knows everything
    history = shop.syncer("history", "--state", shop.state, "--json").json()
    assert len(history) == 2
    # refused when the destination holds the project already
    again = shop.syncer("state", "copy", sqlite_state, shop.state)
    assert again.code == 1 and "already holds a state for this project" in again.err, str(again)
    # and back, to a new SQLite file
    back = tmp_path / "back.db"
    returned = shop.syncer("state", "copy", shop.state, back)
    assert returned.code == 0, str(returned)
    assert shop.syncer("state", "list", "--state", back, "--json").json() == listed[0]
    plan = shop.syncer("plan", "-m", shop.manifests, "--state", back, "--json")
    assert plan.json()["changes"] is False


@on_postgres
def test_state_copy_carries_an_open_batch_and_backup_writes_sqlite(shop: Project,
                                                                  tmp_path: Path) -> None:
    from tests.conftest import crash_after_target_commit

    shop.apply_ok()
    shop.write("log.csv", csv_text(["event", "n"], LOG_V2))
    crash_after_target_commit(shop.manifests, shop.state)
    copy = tmp_path / "copy.db"
    assert shop.syncer("state", "copy", shop.state, copy).code == 0
    with open_state(copy) as store:
        assert [b.batch_id for b in store.open_batches()] == ["crashed-batch"]
    backup = tmp_path / "backup.db"
    assert shop.syncer("state", "backup", backup, "--state", shop.state).code == 0
    settled = shop.syncer("apply", "-m", shop.manifests, "--state", backup, "--auto-approve")
    assert settled.code == 0, str(settled)
    assert shop.table("log") == {("ping", "1"): 3, ("pong", "2"): 1, ("pang", "3"): 1}


# -- the project file and the password ---------------------------------------------------------

@on_postgres
def test_the_project_file_names_the_state(shop: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    (shop.root / "syncer.yaml").write_text("state: ${SYNCER_STATE_URL}\nproject: shop-prod\n")
    monkeypatch.setenv("SYNCER_STATE_URL", shop.state)
    result = shop.syncer("apply", "-m", shop.manifests, "--auto-approve")
    assert result.code == 0, str(result)
    assert not (shop.root / "state").exists()
    named = shop.syncer("state", "list", "--state", shop.state + "&project=shop-prod", "--json")
    assert {d["dataset"] for d in named.json()} == {"products", "log"}
    assert shop.syncer("plan", "-m", shop.manifests, "--detailed-exitcode").code == 0
    monkeypatch.delenv("SYNCER_STATE_URL")
    missing = shop.syncer("plan", "-m", shop.manifests)
    assert missing.code == 1 and "SYNCER_STATE_URL" in missing.err, str(missing)


@on_postgres
def test_the_password_is_in_no_output_and_no_history(shop: Project, tmp_path: Path) -> None:
    outputs = [shop.apply(), shop.plan("--out", tmp_path / "plan.json")]
    shop.write("log.csv", csv_text(["event", "n"], LOG_V2))
    outputs += [shop.plan(), shop.syncer("-v", "apply", "-m", shop.manifests, "--state", shop.state,
                                     "--auto-approve"),
                shop.syncer("history", "--state", shop.state,
                                                           "--json"),
                shop.syncer("state", "list", "--state", shop.state),
                shop.syncer("state", "show", "shop/log", "--state", shop.state)]
    assert all(r.code == 0 for r in outputs), [str(r) for r in outputs if r.code]
    no_secret(*(r.output for r in outputs), (tmp_path / "plan.json").read_text())
    rows = pg_query(shop.state, "SELECT * FROM runs") + pg_query(shop.state,
                                                                  "SELECT * FROM lock_holders")
    no_secret(json.dumps(rows, default=str))
    with open_state(shop.state) as store:
        assert pg.PASSWORD not in store.location
