"""Drift on the milvus target (Milvus Lite): entities changed, added and deleted directly in the
collection are reported by `syncer drift`, repaired by `apply --refresh`; `adopt` takes over a
collection that already holds entities."""

# ruff: noqa: F811  (the fixture is imported from the e2e module and used as an argument)

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.targets.test_milvus_lite import V1, Env, dataset, env, expected, pymilvus  # noqa: F401


def entity(i: int, title: str, vec: tuple[float, ...] = (1.0, 0.5, -0.25, 1.0)) -> dict[str, Any]:
    return {"id": i, "title": title, "score": 1.5, "flag": True, "day": "2024-01-05",
            "meta": {"n": i}, "embedding": list(vec)}


def tamper(env: Env) -> None:
    """Change 1 (title and vector), delete 2, add 99: behind syncer's back."""
    client = env.client()
    try:
        client.upsert("docs", [entity(1, "changed", (9.0, 0.5, -0.25, 1.0)), entity(99, "stranger")])
        client.delete("docs", filter="id in [2]")
    finally:
        client.close()


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
    assert (item["changed"], item["added"], item["removed"]) == (1, 1, 1)
    by_op = {s["op"]: s for s in item["samples"]}
    assert by_op["~"]["key"] == "1" and by_op["~"]["fields"]["title"] == ["alpha", "changed"]
    assert by_op["+"]["key"] == "99" and by_op["-"]["key"] == "2"
    result = env.apply("--refresh")
    assert result.code == 0, str(result)
    assert env.rows("docs") == expected(V1)
    assert drift(env).code == 0
    env.assert_no_changes()


def test_adopt_a_prefilled_collection(env: Env) -> None:
    env.manifest(dataset("upsert"))
    env.source(V1)
    env.apply_ok()
    tamper(env)
    for path in env.state.parent.glob("syncer.db*"):
        path.unlink()  # a collection syncer never saw: filled by someone else
    assert env.plan()["datasets"][0]["inserts"] == 5
    result = env.run("adopt", "docs", "-m", env.manifests, "--state", env.state)
    assert result.code == 0, str(result)
    data = env.plan()["datasets"][0]
    assert (data["inserts"], data["updates"], data["deletes"]) == (1, 1, 1)
    env.apply_ok()
    assert env.rows("docs") == expected(V1)
    assert drift(env).code == 0
