"""The state is bound to its target (issue 16), on the Zilliz Cloud emulator, through the CLI:
the emulator restarted without its data, the collection changed in the manifest, a second
state (the marker in the collection's properties), an append into a collection holding
entities, a cluster endpoint that cannot be reached at plan time."""

# ruff: noqa: F811  (the fixture is imported from the e2e module and used as an argument)

from __future__ import annotations

import json
import socket
from collections import Counter
from typing import Any

import pytest

from tests.targets.test_zilliz_e2e import API_KEY, V1, V2, Project, _typed, zc  # noqa: F401


def plan(zc: Project, *args: object) -> Any:
    return zc.run("plan", "-m", zc.manifests, "--state", zc.state, *args)


def test_a_restarted_emulator_without_its_data_is_drift(zc: Project) -> None:
    zc.manifest(mode="upsert")
    zc.write(V1)
    zc.apply_ok()
    zc.server.emulator.store.clear()  # what a restart without --data leaves
    result = plan(zc)
    assert "No changes" not in result.out
    assert "does not exist, but the state says 10 row(s)" in result.out, str(result)
    assert zc.apply().code == 1
    assert zc.apply("--refresh").code == 0
    assert zc.rows() == Counter(_typed(V1))
    assert "No changes." in plan(zc).out


def test_a_changed_collection_is_a_move_and_a_full_load_there(zc: Project) -> None:
    zc.manifest(mode="upsert")
    zc.write(V1)
    zc.apply_ok()
    zc.manifest(mode="upsert", table="docs2")
    result = plan(zc)
    assert ":docs, now " in result.out and ":docs2" in result.out, str(result)
    zc.apply_ok()
    assert zc.rows("docs2") == Counter(_typed(V1))
    assert zc.rows("docs") == Counter(_typed(V1))  # the old collection is left alone
    zc.assert_unique_keys("docs2")
    assert "No changes." in plan(zc).out


def test_a_second_state_makes_the_first_one_foreign(zc: Project) -> None:
    zc.manifest(mode="replace")
    zc.write(V1)
    zc.apply_ok()
    other = zc.root / "state" / "other.db"
    zc.write(V2)
    second = zc.run("apply", "-m", zc.manifests, "--state", other, "--auto-approve")
    assert second.code == 0, str(second)
    zc.write(V1)
    result = plan(zc)
    assert "No changes" not in result.out
    assert "this state is not that target's" in result.out, str(result)
    status = json.loads(plan(zc, "--json").out)["datasets"][0]["target_check"]["status"]
    assert status == "foreign"
    assert zc.apply("--refresh").code == 0
    assert zc.rows() == Counter(_typed(V1))
    assert "No changes." in plan(zc).out


def test_an_append_into_a_collection_holding_entities_is_blocked(zc: Project) -> None:
    zc.manifest(mode="append")
    zc.write(V1)
    zc.apply_ok()
    other = zc.root / "state" / "other.db"
    blocked = zc.run("apply", "-m", zc.manifests, "--state", other, "--auto-approve")
    assert blocked.code == 1, str(blocked)
    assert "already holds 10 row(s)" in blocked.output and "syncer adopt" in blocked.output
    zc.assert_unique_keys()
    assert sum(zc.rows().values()) == 10
    adopted = zc.run("adopt", "zc/docs", "-m", zc.manifests, "--state", other)
    assert adopted.code == 0, str(adopted)
    assert "No changes." in zc.run("plan", "-m", zc.manifests, "--state", other).out


def test_an_endpoint_that_cannot_be_reached_is_said_and_exits_1(
        zc: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    zc.manifest(mode="upsert")
    zc.write(V1)
    zc.apply_ok()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("ZILLIZ_ENDPOINT", f"http://127.0.0.1:{port}")
    result = plan(zc)
    assert result.code == 1, str(result)
    assert "No changes" not in result.output and "Traceback" not in result.output
    assert "unreachable:" in result.out and "zc/docs" in result.err
    assert API_KEY not in result.output
