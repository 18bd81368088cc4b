"""The state is bound to its target (issue 16), on Milvus Lite, through the CLI: the collection
dropped or emptied, the collection changed in the manifest, a second state (the marker in the
collection's properties tells the first one it is not that target's state), an append into a
collection that already holds entities, a server that cannot be reached at plan time."""

# ruff: noqa: F811  (the fixture is imported from the e2e module and used as an argument)

from __future__ import annotations

import json
import socket

from tests.targets.test_milvus_lite import V1, V2, Env, dataset, env, expected  # noqa: F401


def count(env: Env, collection: str = "docs") -> int:
    client = env.client()
    try:
        if not client.has_collection(collection):
            return 0
        client.load_collection(collection)
        found = client.query(collection, filter="", output_fields=["count(*)"],
                             consistency_level="Strong")
        return int(found[0]["count(*)"])
    finally:
        client.close()


def plan(env: Env, *args: object):  # type: ignore[no-untyped-def]
    return env.run("plan", "-m", env.manifests, "--state", env.state, *args)


def test_a_dropped_or_emptied_collection_is_drift(env: Env) -> None:
    env.manifest(dataset("upsert"))
    env.source(V1)
    env.apply_ok()
    client = env.client()
    try:
        client.delete("docs", filter="id >= 0")
    finally:
        client.close()
    result = plan(env)
    assert "No changes" not in result.out
    assert "holds 0 row(s), the state says 5" in result.out, str(result)
    assert env.apply().code == 1
    client = env.client()
    try:
        client.drop_collection("docs")
    finally:
        client.close()
    result = plan(env)
    assert "does not exist, but the state says 5 row(s)" in result.out, str(result)
    assert env.apply("--refresh").code == 0
    assert env.rows("docs") == expected(V1)
    assert "No changes." in plan(env).out


def test_a_changed_collection_is_a_move_and_a_full_load_there(env: Env) -> None:
    env.manifest(dataset("upsert"))
    env.source(V1)
    env.apply_ok()
    env.manifest(dataset("upsert").replace("table: docs", "table: docs2"))
    result = plan(env)
    assert "moved: was build/vectors.db:docs, now build/vectors.db:docs2" in result.out, str(result)
    env.apply_ok()
    assert env.rows("docs2") == expected(V1)
    assert count(env, "docs") == 5  # the old collection is left alone
    assert "No changes." in plan(env).out


def test_a_second_state_is_refused_then_the_first_one_is_not_that_targets(env: Env) -> None:
    env.manifest(dataset("replace"))
    env.source(V1)
    env.apply_ok()
    other = env.root / "state" / "other.db"
    env.source(V2)
    second = env.run("apply", "-m", env.manifests, "--state", other, "--auto-approve")
    assert second.code == 0, str(second)  # a replace into a collection it does not know: fine
    env.source(V1)
    result = plan(env)
    assert "No changes" not in result.out
    assert "this state is not that target's" in result.out, str(result)
    status = json.loads(plan(env, "--json").out)["datasets"][0]["target_check"]["status"]
    assert status == "foreign"
    assert env.apply("--refresh").code == 0
    assert env.rows("docs") == expected(V1)
    assert "No changes." in plan(env).out


def test_an_append_into_a_collection_holding_entities_is_blocked(env: Env) -> None:
    env.manifest(dataset("append"))
    env.source(V1)
    env.apply_ok()
    other = env.root / "state" / "other.db"
    blocked = env.run("apply", "-m", env.manifests, "--state", other, "--auto-approve")
    assert blocked.code == 1, str(blocked)
    assert "already holds 5 row(s)" in blocked.output and "syncer adopt" in blocked.output
    assert count(env) == 5
    adopted = env.run("adopt", "vec/docs", "-m", env.manifests, "--state", other)
    assert adopted.code == 0, str(adopted)
    assert "No changes." in env.run("plan", "-m", env.manifests, "--state", other).out


def test_a_server_that_cannot_be_reached_is_said_and_exits_1(env: Env) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env.manifest(dataset("upsert"))
    (env.manifests / "vec.yaml").write_text(
        (env.manifests / "vec.yaml").read_text().replace(
            "uri: ../build/vectors.db", f"uri: http://127.0.0.1:{port}\n  timeout: 2"))
    env.source(V1)
    result = plan(env)
    assert result.code == 1, str(result)
    assert "No changes" not in result.output and "Traceback" not in result.output
    assert "unreachable:" in result.out and "vec/docs" in result.err
