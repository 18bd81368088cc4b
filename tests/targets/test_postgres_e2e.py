"""End to end: the real CLI (in-process) against a real PostgreSQL server (tests/pg.py).

Every test loads into a schema of its own (the ``pg_target`` fixture), with the password given
through ``${PG_TEST_PASSWORD}`` as a user would; what the target holds is read with psycopg,
never taken from syncer's own state.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import pytest

psycopg = pytest.importorskip("psycopg")
pytest.importorskip("adbc_driver_postgresql")

from tests import pg  # noqa: E402
from tests.conftest import TargetProject, crash_after_target_commit, csv_text  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
HEADER = ["region", "id", "name", "price", "day", "ok", "meta"]
Row = tuple[Any, ...]


def row(i: int, name: str, price: float | None = 1.5, region: str = "eu",
        day: str | None = "2024-01-05", ok: bool | None = True, meta: Any = None) -> Row:
    return (region, i, name, price, day, ok, {"n": i} if meta is None else meta)


V1 = [row(1, "alpha"), row(2, "beta", 2.25), row(3, "gamma", None, ok=False),
      row(4, 'quote " and \\ back, comma', 0.0, day=None, ok=None, meta=[1, "x"]),
      row(5, "epsilon", -3.5), row(1, "alpha in us", 9.0, region="us")]
V2 = [row(1, "alpha"), row(2, "beta two", 2.25), row(4, 'quote " and \\ back, comma', 0.0,
      day=None, ok=None, meta={"k": [1, 2]}), row(5, "epsilon", -3.5),
      row(6, "zeta", 6.0, day="2023-12-31", ok=False), row(7, "eta", None, day=None, ok=None),
      row(1, "alpha in us", 9.5, region="us")]
V3 = [V2[3], V2[1], V2[0], V2[6], V2[5], V2[4], V2[2]]  # V2 re-ordered: not a change
V4 = [row(1, "alpha", None, day=None, ok=None, meta={"n": 1, "more": True}), row(8, "theta", 8.0)]
VERSIONS = [V1, V2, V3, V4]


@dataclass(frozen=True)
class PgTarget:
    server: str   # the superuser URL, with its password (for the test's own looks)
    url: str      # what the manifest says: the password as ${PG_TEST_PASSWORD}
    password: str
    schema: str

    def connect(self, **kwargs: Any) -> Any:
        return psycopg.connect(self.server, autocommit=True, **kwargs)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.connect() as db:
            cursor = db.execute(sql.replace("{s}", f'"{self.schema}"').encode(), params)
            return list(cursor) if cursor.description else []


def with_password_variable(url: str) -> tuple[str, str]:
    """The URL with its password replaced by ``${PG_TEST_PASSWORD}``, and the password."""
    parts = urlsplit(url)
    if not parts.password:
        return url, ""
    netloc = f"{parts.username}:${{PG_TEST_PASSWORD}}@{parts.netloc.rsplit('@', 1)[1]}"
    return urlunsplit(parts._replace(netloc=netloc)), unquote(parts.password)


@pytest.fixture
def pg_target(pg_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[PgTarget]:
    """A schema of its own on the test server (dropped afterwards), and the URL to reach it."""
    url, password = with_password_variable(pg_server)
    monkeypatch.setenv("PG_TEST_PASSWORD", password)
    target = PgTarget(pg_server, url, password, pg.fresh_name("tgt"))
    yield target
    target.query('DROP SCHEMA IF EXISTS {s} CASCADE')


class Env(TargetProject):
    def __init__(self, root: Path, capsys: pytest.CaptureFixture[str],
                 monkeypatch: pytest.MonkeyPatch, target: PgTarget) -> None:
        super().__init__(root, capsys, monkeypatch)
        self.pg = target

    def manifest(self, datasets: str, url: str | None = None) -> None:
        text = ("version: 1\ntarget:\n  name: db\n  type: postgres\n"
                f"  url: {url or self.pg.url}\n  schema: {self.pg.schema}\ndatasets:\n" + datasets)
        (self.manifests / "db.yaml").write_text(text, encoding="utf-8")

    def source(self, rows: Sequence[Row], name: str = "items.csv") -> Path:
        out = [(r[0], r[1], r[2], r[3], r[4], "" if r[5] is None else str(r[5]).lower(),
                json.dumps(r[6])) for r in rows]
        path = self.data / name
        path.write_text(csv_text(HEADER, out), encoding="utf-8")
        return path

    def rows(self, table: str = "items") -> Counter[Row]:
        found = self.pg.query(f'SELECT region, id, name, price, day, ok, meta FROM {{s}}."{table}"')
        return Counter((*r[:4], None if r[4] is None else r[4].isoformat(), r[5],
                        json.dumps(r[6], sort_keys=True)) for r in found)


def expected(rows: Sequence[Row] | Counter[Row]) -> Counter[Row]:
    return Counter((*r[:4], r[4], r[5], json.dumps(r[6], sort_keys=True)) for r in rows)


DATASET = """\
  - name: items
    source: ../data/items.csv
    table: items
    mode: {mode}
{key}    allow_deletes: true
{extra}    columns:
      region: string
      id: integer
      name: string
      price: float
      day: date
      ok: boolean
      meta: json
"""


def dataset(mode: str, key: str | None = "[region, id]", extra: str = "") -> str:
    return DATASET.format(mode=mode, key=f"    key: {key}\n" if key else "", extra=extra)


@pytest.fixture
def env(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        pg_target: PgTarget) -> Iterator[Env]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("SYNCER_STATE", raising=False)
    monkeypatch.delenv("SYNCER_DEBUG", raising=False)
    yield Env(tmp_path, capsys, monkeypatch, pg_target)


def mode_result(mode: str, versions: Sequence[Sequence[Row]], keyed: bool) -> Counter[Row]:
    if mode == "append":
        if not keyed:  # every distinct row once (no row repeats within a version here)
            most: Counter[Row] = Counter()
            for version in versions:
                most |= Counter(map(_frozen, version))
            return most
        first: dict[Any, Row] = {}
        for version in versions:
            for r in version:
                first.setdefault((r[0], r[1]), r)
        return expected(list(first.values()))
    return expected(versions[-1])


def _frozen(r: Row) -> Row:
    return (*r[:6], json.dumps(r[6], sort_keys=True))


# -- every mode over several source versions ---------------------------------------------------

@pytest.mark.parametrize(("mode", "key"), [("replace", None), ("replace", "[region, id]"),
                                           ("append", None), ("append", "[region, id]"),
                                           ("upsert", "[region, id]"), ("upsert", "id")])
def test_mode_over_versions(env: Env, mode: str, key: str | None) -> None:
    versions = VERSIONS if key != "id" else [[r for r in v if r[0] == "eu"] for v in VERSIONS]
    env.manifest(dataset(mode, key))
    applied: list[Sequence[Row]] = []
    for version in versions:
        env.source(version)
        env.apply_ok()
        applied.append(version)
        assert env.rows() == mode_result(mode, applied, key is not None), \
            f"after version {len(applied)}"
        env.assert_no_changes()
    # the table's types are the declared ones, the key its primary key
    types = dict(env.pg.query("SELECT column_name, data_type FROM information_schema.columns "
                              "WHERE table_schema = %s AND table_name = 'items'", (env.pg.schema,)))
    assert types == {"region": "text", "id": "bigint", "name": "text", "price": "double precision",
                     "day": "date", "ok": "boolean", "meta": "jsonb"}
    pkey = env.pg.query("SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_index i JOIN "
                        "pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                        "WHERE i.indisprimary AND i.indrelid = %s::regclass",
                        (f'"{env.pg.schema}".items',))[0][0]
    assert pkey == (None if key is None else ["id"] if key == "id" else ["region", "id"])
    # every batch left its marker, in the target schema
    markers = env.pg.query("SELECT count(*) FROM {s}._syncer_batches")[0][0]
    assert markers == 3  # V3 is no change: no batch


def test_a_plan_over_the_delete_guard_is_refused_and_writes_nothing(env: Env) -> None:
    env.manifest(dataset("upsert").replace("    allow_deletes: true\n", "    max_delete: 1\n"))
    env.source(V1)
    env.apply_ok()
    env.source(V1[:2])  # deletes 4 rows: over max_delete
    result = env.apply()
    assert result.code == 1, str(result)
    assert "max_delete" in result.output or "delete" in result.output, str(result)
    assert env.rows() == expected(V1)
    result = env.apply("--allow-deletes")
    assert result.code == 0, str(result)
    assert env.rows() == expected(V1[:2])


# -- replace: readers never see an empty or half-loaded table ----------------------------------

def test_a_reader_never_sees_the_table_empty_or_half_loaded_during_replace(env: Env) -> None:
    big = [row(i, f"name {i}", float(i)) for i in range(1, 40_001)]
    env.manifest(dataset("replace", "[region, id]"))
    env.source(big)
    env.apply_ok()
    counts: list[int] = []
    errors: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        with env.pg.connect() as db:
            while not stop.is_set():
                try:
                    counts.append(db.execute(f'SELECT count(*) FROM "{env.pg.schema}".items')
                                  .fetchone()[0])
                except psycopg.Error as exc:  # pragma: no cover - a failure is reported below
                    errors.append(str(exc))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for size in (30_000, 45_000):
            env.source([row(i, f"v{size} {i}", float(i)) for i in range(1, size + 1)])
            time.sleep(0.2)
            env.apply_ok()
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join()
    assert not errors, errors[:3]
    assert len(counts) > 10 and set(counts) <= {40_000, 30_000, 45_000}, sorted(set(counts))
    assert counts[-1] == 45_000
    env.assert_no_changes()
    tables = env.pg.query("SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1",
                          (env.pg.schema,))
    # no leftover of the swap
    assert tables == [("_syncer_batches",), ("_syncer_datasets",), ("items",)]


# -- drift, repair, adopt ------------------------------------------------------------------------

def tamper(env: Env) -> None:
    """Change one row, delete one, add one: behind syncer's back."""
    env.pg.query("UPDATE {s}.items SET name = 'changed', meta = '{\"z\": 1}' WHERE id = 2")
    env.pg.query("DELETE FROM {s}.items WHERE id = 3")
    env.pg.query("INSERT INTO {s}.items VALUES ('eu', 99, 'stranger', 1, '2024-01-01', true, "
                 "'[]')")


def drift(env: Env, *args: object) -> Any:
    return env.run("drift", "-m", env.manifests, "--state", env.state, *args)


@pytest.mark.parametrize("mode", ["upsert", "replace"])
def test_drift_reports_and_refresh_repairs(env: Env, mode: str) -> None:
    env.manifest(dataset(mode))
    env.source(V1)
    env.apply_ok()
    assert drift(env).code == 0, str(drift(env))
    tamper(env)
    result = drift(env, "--json")
    assert result.code == 2, str(result)
    item = json.loads(result.out)["datasets"][0]
    assert (item["changed"], item["added"], item["removed"]) == (1, 1, 1), item
    by_op = {s["op"]: s for s in item["samples"]}
    assert by_op["~"]["fields"]["name"] == ["beta", "changed"], by_op
    plan = env.run("plan", "-m", env.manifests, "--state", env.state, "--refresh", "--json")
    data = json.loads(plan.out)["datasets"][0]
    assert (data["inserts"], data["updates"], data["deletes"]) in ((1, 1, 1), (5, 0, 0)), data
    result = env.apply("--refresh")
    assert result.code == 0, str(result)
    assert env.rows() == expected(V1)
    assert drift(env).code == 0
    env.assert_no_changes()


def test_adopt_takes_over_a_table_that_already_holds_the_rows(env: Env) -> None:
    env.manifest(dataset("upsert"))
    env.source(V1)
    env.apply_ok()
    tamper(env)
    for path in env.state.parent.glob("syncer.db*"):
        path.unlink()  # a table syncer never saw: filled by someone else
    assert env.plan()["datasets"][0]["inserts"] == len(V1)
    result = env.run("adopt", "items", "-m", env.manifests, "--state", env.state)
    assert result.code == 0, str(result)
    data = env.plan()["datasets"][0]
    assert (data["inserts"], data["updates"], data["deletes"]) == (1, 1, 1), data
    env.apply_ok()
    assert env.rows() == expected(V1)
    assert drift(env).code == 0


# -- refusals ------------------------------------------------------------------------------------

def test_an_existing_table_of_other_types_is_refused_with_the_differences(env: Env) -> None:
    env.pg.query("CREATE SCHEMA {s}")
    env.pg.query("CREATE TABLE {s}.items (region text, id text, name text, price text, "
                 "note text NOT NULL)")
    env.manifest(dataset("upsert"))
    env.source(V1)
    result = env.apply()
    assert result.code == 1, str(result)
    assert "Traceback" not in result.output
    for part in ("table exists and does not match", "column 'id' is text, declared bigint",
                 "column 'price' is text, declared double precision",
                 "no primary key or unique index on (region, id)",
                 "column 'note' is NOT NULL but not declared"):
        assert part in result.output, str(result)
    assert env.pg.query("SELECT count(*) FROM {s}.items")[0][0] == 0
    assert env.plan()["changes"] is True  # nothing recorded: the next apply tries again


def test_a_row_the_server_rejects_is_named_by_file_and_line_and_nothing_lands(env: Env) -> None:
    env.pg.query("CREATE SCHEMA {s}")
    env.pg.query("CREATE TABLE {s}.items (region text, id bigint, name text, price double "
                 "precision CHECK (price >= -5), day date, ok boolean, meta jsonb, "
                 "PRIMARY KEY (region, id))")
    # without the json column, rows go straight into the table by COPY, whose error says the
    # line of the COPY that failed (through a staging table, the server's detail names the row)
    env.manifest(dataset("append").replace("      meta: json\n", ""))
    env.source([*V1[:2], row(9, "too cheap", -10.0), *V1[2:]])
    result = env.apply()
    assert result.code == 1, str(result)
    assert "Traceback" not in result.output
    for part in ("db/items", 'violates check constraint "items_price_check"', "items.csv:4",
                 "nothing of the batch was written"):
        assert part in result.output, str(result)
    assert env.rows() == Counter()
    assert env.pg.query("SELECT count(*) FROM {s}._syncer_batches")[0][0] == 0
    assert env.plan()["datasets"][0]["inserts"] == len(V1) + 1  # nothing recorded


def test_an_upsert_the_server_refuses_names_the_dataset_and_the_constraint(env: Env) -> None:
    env.manifest(dataset("upsert"))
    env.source(V1)
    env.apply_ok()
    env.pg.query("ALTER TABLE {s}.items ADD CONSTRAINT cheap CHECK (price < 100)")
    env.source([*V1, row(10, "dear", 500.0)])
    result = env.apply()
    assert result.code == 1, str(result)
    assert 'db/items' in result.output and 'violates check constraint "cheap"' in result.output
    assert "Failing row contains" in result.output, str(result)
    assert env.rows() == expected(V1)
    assert env.plan()["datasets"][0]["inserts"] == 1


def test_permission_denied_is_the_servers_message(env: Env) -> None:
    role = pg.fresh_name("reader")
    env.pg.query(f"CREATE ROLE {role} LOGIN PASSWORD 'reader-pw-1234'")
    try:
        env.pg.query("CREATE SCHEMA {s}")
        env.pg.query("CREATE TABLE {s}.items (region text, id bigint, name text, price double "
                     "precision, day date, ok boolean, meta jsonb, PRIMARY KEY (region, id))")
        env.pg.query(f'GRANT USAGE ON SCHEMA {{s}} TO {role}')
        env.pg.query(f"GRANT SELECT ON ALL TABLES IN SCHEMA {{s}} TO {role}")
        parts = urlsplit(env.pg.server)
        url = urlunsplit(parts._replace(netloc=f"{role}:reader-pw-1234@{parts.hostname}:"
                                               f"{parts.port}"))
        env.manifest(dataset("upsert"), url=url)
        env.source(V1)
        result = env.apply()
        assert result.code == 1, str(result)
        assert "permission denied" in result.output, str(result)
        assert "reader-pw-1234" not in result.output
    finally:
        env.pg.query(f"DROP OWNED BY {role}")
        env.pg.query(f"DROP ROLE {role}")


def test_an_unreachable_server_and_a_wrong_password_exit_1_without_the_password(env: Env) -> None:
    env.source(V1)
    parts = urlsplit(env.pg.server)
    closed = urlunsplit(parts._replace(
        netloc=f"{parts.username}:${{PG_TEST_PASSWORD}}@127.0.0.1:{pg.free_port()}"))
    env.manifest(dataset("upsert"), url=closed + "?connect_timeout=3")
    result = env.apply()
    assert result.code == 1, str(result)
    assert "cannot connect to PostgreSQL target 'db'" in result.output, str(result)
    assert env.pg.password not in result.output and "Traceback" not in result.output
    wrong = "wrong-" + env.pg.password
    bad = urlunsplit(parts._replace(netloc=f"{parts.username}:{quote(wrong)}@{parts.hostname}:"
                                           f"{parts.port}"))
    env.manifest(dataset("upsert"), url=bad)
    result = env.apply()
    assert result.code == 1, str(result)
    assert "password authentication failed" in result.output, str(result)
    assert wrong not in result.output and env.pg.password not in result.output
    assert f"postgresql://{parts.username}@{parts.hostname}:{parts.port}" in result.output


# -- exactly once --------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["append", "upsert", "replace"])
def test_a_crash_after_the_target_commit_is_settled_exactly_once(env: Env, mode: str) -> None:
    env.manifest(dataset(mode, None if mode == "append" else "[region, id]"))
    env.source(V1)
    env.apply_ok()
    env.source(V2)
    item, batch = crash_after_target_commit(env.manifests, env.state)
    assert item == "db/items"
    assert env.pg.query("SELECT count(*) FROM {s}._syncer_batches WHERE batch_id = %s",
                        (batch,))[0][0] == 1
    result = env.apply()
    assert result.code == 0, str(result)
    assert f"settled batch {batch} of db/items: it had landed" in result.output, str(result)
    assert env.rows() == mode_result(mode, [V1, V2], mode != "append")
    env.assert_no_changes()


def test_a_batch_that_never_reached_the_target_is_settled_as_not_landed(env: Env) -> None:
    env.manifest(dataset("append", None))
    env.source(V1)
    item, batch = crash_after_target_commit(env.manifests, env.state, send=False)
    result = env.apply()
    assert result.code == 0 and "it had not landed" in result.output, str(result)
    assert env.rows() == expected(V1)


def test_ctrl_c_during_the_copy_stays_an_interrupt_and_rolls_back(env: Env,
                                                                  monkeypatch: pytest.MonkeyPatch
                                                                  ) -> None:
    from syncer.targets.base import Batch

    env.manifest(dataset("append", None))
    env.source(V1)

    def interrupt(self: Batch, rows: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Batch, "wrote", interrupt)
    result = env.apply()
    assert result.code == 130, str(result)
    monkeypatch.undo()
    assert env.pg.query("SELECT count(*) FROM {s}.items")[0][0] == 0
    assert env.pg.query("SELECT count(*) FROM {s}._syncer_batches")[0][0] == 0


# -- vectors (pgvector) --------------------------------------------------------------------------

VECTORS = """\
  - name: docs
    source: ../data/docs.jsonl
    mode: upsert
    key: id
    columns:
      id: integer
      title: string
      embedding: {type: vector, dim: 3}
"""


@pytest.fixture
def database(pg_target: PgTarget) -> Iterator[str]:
    """A fresh database on the test server (a pgvector extension is per database)."""
    name = pg.fresh_name("db")
    pg_target.query(f"CREATE DATABASE {name}")
    yield name
    pg_target.query(f"DROP DATABASE {name} WITH (FORCE)")


def test_vector_columns_with_pgvector_and_a_clear_error_without(env: Env, database: str) -> None:
    url = env.pg.url.rsplit("/", 1)[0] + f"/{database}"
    (env.data / "docs.jsonl").write_text(
        '{"id": 1, "title": "a", "embedding": [0.5, 1, -2]}\n'
        '{"id": 2, "title": "b", "embedding": [0, 0.25, 3]}\n', encoding="utf-8")
    env.manifest(VECTORS, url=url)
    result = env.apply()
    assert result.code == 1, str(result)
    assert "pgvector extension is not installed in database" in result.output, str(result)
    assert "CREATE EXTENSION vector" in result.output
    server = env.pg.server.rsplit("/", 1)[0] + f"/{database}"
    with psycopg.connect(server, autocommit=True) as db:
        db.execute("CREATE EXTENSION vector")
    env.apply_ok()
    with psycopg.connect(server, autocommit=True) as db:
        found = db.execute(f'SELECT id, embedding::text, format_type(atttypid, atttypmod) FROM '
                           f'"{env.pg.schema}".docs JOIN pg_attribute ON attrelid = '
                           f"'\"{env.pg.schema}\".docs'::regclass AND attname = 'embedding' "
                           "ORDER BY id").fetchall()
    assert found == [(1, "[0.5,1,-2]", "vector(3)"), (2, "[0,0.25,3]", "vector(3)")]
    env.assert_no_changes()
    assert env.run("drift", "-m", env.manifests, "--state", env.state).code == 0


# -- packaging -----------------------------------------------------------------------------------

def test_the_registry_does_not_import_psycopg_or_adbc() -> None:
    import subprocess
    import sys

    check = ("import sys, syncer.cli, syncer.targets.registry, syncer.targets.postgres.config; "
             "loaded = [m for m in sys.modules if m.split('.')[0] in ('psycopg', "
             "'adbc_driver_postgresql')]; assert not loaded, loaded")
    done = subprocess.run([sys.executable, "-c", check], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_the_bundled_example_applies(env: Env) -> None:
    example = REPO / "manifests" / "postgres"
    manifests = env.root / "example" / "manifests" / "postgres"
    manifests.mkdir(parents=True)
    for path in example.glob("*.yaml"):
        (manifests / path.name).write_text(path.read_text().replace(
            "schema: shop ", f"schema: {env.pg.schema} "))
    data = env.root / "example" / "data"
    data.mkdir()
    for name in ("products.csv", "prices.jsonl", "categories.tsv"):
        (data / name).write_text((REPO / "data" / name).read_text())
    env._monkeypatch.setenv("DATABASE_URL", env.pg.server)
    state = env.root / "example" / "state.db"
    result = env.run("apply", "-m", manifests, "--state", state, "--auto-approve")
    assert result.code == 0, str(result)
    assert env.pg.query("SELECT count(*) FROM {s}.products")[0][0] > 0
    plan = env.run("plan", "-m", manifests, "--state", state, "--json")
    assert json.loads(plan.out)["changes"] is False


def test_watch_self_heal_repairs_drift_on_postgres(env: Env) -> None:
    import io

    from syncer.model.project import load_project
    from syncer.watch import Status, WatchConfig, Watcher, configure_logging

    env.manifest(dataset("upsert"))
    env.source(V1)
    env.apply_ok()
    tamper(env)
    log = io.StringIO()
    configure_logging("json", log)
    status = Status()
    watcher = Watcher(WatchConfig.resolve(env.manifests, env.state, {}, self_heal=True),
                      status=status)
    watcher._use(load_project(env.manifests))
    watcher._reconcile({"db/items"}, "interval")
    assert "repairing it" in log.getvalue(), log.getvalue()
    assert env.rows() == expected(V1)
    assert 'syncer_drift_rows{target="db",dataset="items"} 0' in status.metrics()
    assert drift(env).code == 0


@pytest.mark.parametrize(("table", "message"), [
    ("items__syncer_new", "is reserved"),
    ("x" * 50, "not a usable PostgreSQL table name"),
])
def test_table_names_the_target_cannot_hold_are_refused_by_validate(env: Env, table: str,
                                                                    message: str) -> None:
    env.manifest(dataset("upsert", extra=f"    table: {table}\n").replace("    table: items\n",
                                                                          ""))
    env.source(V1)
    result = env.run("validate", "-m", env.manifests)
    assert result.code == 1, str(result)
    assert message in result.output and "db.yaml:" in result.output, str(result)


def test_a_literal_password_in_the_url_is_never_shown(env: Env) -> None:
    parts = urlsplit(env.pg.server)
    secret = "Literal-Pw-0987"
    url = urlunsplit(parts._replace(netloc=f"{parts.username}:{secret}@{parts.hostname}:"
                                           f"{parts.port}"))
    env.manifest(dataset("upsert"), url=url)
    env.source(V1)
    result = env.apply()
    assert result.code == 1 and "password authentication failed" in result.output, str(result)
    assert secret not in result.output
