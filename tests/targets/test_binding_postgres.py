"""The state is bound to its target (issue 16), on the PostgreSQL target, through the CLI: the
table dropped or emptied, the schema or table changed in the manifest, a second state (the
marker in ``_syncer_datasets`` tells the first one it is not that target's state), an append
into a table that already holds rows, a server that cannot be reached at plan time.  What the
target holds is read with psycopg."""

# ruff: noqa: F811  (the fixtures are imported from the e2e module and used as arguments)

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.targets.test_postgres_e2e import (V1, V2, Env, dataset, env, expected,  # noqa: F401
                                             pg_target)


def plan(env: Env, *args: object) -> Any:
    return env.run("plan", "-m", env.manifests, "--state", env.state, *args)


def count(env: Env, table: str = "items") -> int:
    return int(env.pg.query(f'SELECT count(*) FROM {{s}}."{table}"')[0][0])


def test_a_dropped_or_emptied_table_is_drift_and_refresh_repairs_it(env: Env) -> None:
    env.manifest(dataset("upsert"))
    env.source(V1)
    env.apply_ok()
    env.pg.query("DELETE FROM {s}.items")
    result = plan(env)
    assert "No changes" not in result.out
    assert f"holds 0 row(s), the state says {len(V1)}" in result.out, str(result)
    assert env.apply().code == 1 and count(env) == 0
    env.pg.query("DROP TABLE {s}.items")
    result = plan(env)
    assert f"does not exist, but the state says {len(V1)} row(s)" in result.out, str(result)
    assert json.loads(plan(env, "--json").out)["datasets"][0]["target_check"]["status"] == "drift"
    assert env.apply("--refresh").code == 0
    assert env.rows() == expected(V1)
    assert "No changes." in plan(env).out


def test_a_changed_table_is_a_move_and_a_full_load_there(env: Env) -> None:
    env.manifest(dataset("upsert"))
    env.source(V1)
    env.apply_ok()
    env.manifest(dataset("upsert").replace("table: items", "table: items2"))
    result = plan(env)
    server = urlsplit(env.pg.server)  # the location: server, database, schema; no user
    where = f"{server.hostname}:{server.port}{server.path}/{env.pg.schema}"
    assert f"moved: was postgresql://{where}:items, now postgresql://" in result.out, str(result)
    assert f"{where}:items2: a full load there" in result.out
    assert env.pg.password not in result.output
    env.apply_ok()
    assert env.rows("items2") == expected(V1)
    assert count(env, "items") == len(V1)  # the old table is left alone
    assert "No changes." in plan(env).out


def test_a_second_state_is_refused_then_the_first_one_is_not_that_targets(env: Env) -> None:
    env.manifest(dataset("replace"))
    env.source(V1)
    env.apply_ok()
    other = env.root / "state" / "other.db"
    env.source(V2)
    second = env.run("apply", "-m", env.manifests, "--state", other, "--auto-approve")
    assert second.code == 0, str(second)  # a replace into a table it does not know: fine
    env.source(V1)
    result = plan(env)
    assert "No changes" not in result.out
    assert "this state is not that target's" in result.out, str(result)
    status = json.loads(plan(env, "--json").out)["datasets"][0]["target_check"]["status"]
    assert status == "foreign"
    assert env.apply("--refresh").code == 0
    assert env.rows() == expected(V1)
    assert "No changes." in plan(env).out


def test_an_append_into_a_table_holding_rows_is_blocked_until_adopted(env: Env) -> None:
    env.manifest(dataset("append"))
    env.source(V1)
    env.apply_ok()
    other = env.root / "state" / "other.db"
    blocked = env.run("apply", "-m", env.manifests, "--state", other, "--auto-approve")
    assert blocked.code == 1, str(blocked)
    assert f"already holds {len(V1)} row(s)" in blocked.output
    assert "syncer adopt" in blocked.output
    assert count(env) == len(V1)  # no row sent twice
    adopted = env.run("adopt", "db/items", "-m", env.manifests, "--state", other)
    assert adopted.code == 0, str(adopted)
    assert "No changes." in env.run("plan", "-m", env.manifests, "--state", other).out


def test_a_server_that_cannot_be_reached_is_said_and_exits_1(env: Env) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env.manifest(dataset("upsert"),
                 url=f"postgresql://syncer:${{PG_TEST_PASSWORD}}@127.0.0.1:{port}/postgres")
    env.source(V1)
    result = plan(env)
    assert result.code == 1, str(result)
    assert "No changes" not in result.output and "Traceback" not in result.output
    assert "unreachable:" in result.out and "db/items" in result.err
    offline = plan(env, "--no-target-check")
    assert offline.code == 0, str(offline)
    assert "not checked" in offline.output or "did not look" in offline.output, str(offline)


def test_a_url_from_the_environment_shows_where_it_points_never_its_password(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """`url: ${DATABASE_URL}`, the whole URL from a secret (as in docs/ci.md): its password
    stays hidden, the server, database and schema are named, not masked as a whole."""
    monkeypatch.setenv("DATABASE_URL", env.pg.server)  # with the password in it
    env.manifest(dataset("upsert"), url="${DATABASE_URL}")
    env.source(V1)
    env.apply_ok()
    env.manifest(dataset("upsert").replace("table: items", "table: items2"),
                 url="${DATABASE_URL}")
    result = plan(env)
    server = urlsplit(env.pg.server)
    where = f"postgresql://{server.hostname}:{server.port}{server.path}/{env.pg.schema}"
    assert f"moved: was {where}:items, now {where}:items2" in result.out, str(result)
    assert env.pg.password not in result.output and "***:items" not in result.output
