"""Drift on the zilliz target, against the emulator: entities changed, added and deleted directly
in the collection are reported by `syncer drift`, repaired by `apply --refresh`; `adopt` takes
over a collection that already holds entities."""

# ruff: noqa: F811  (the fixture is imported from the e2e module and used as an argument)

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.targets.test_zilliz_e2e import V1, Project, _doc, _typed, zc  # noqa: F401


def tamper(zc: Project) -> None:
    """Change 1 (title and vector), delete 2, add 99: behind syncer's back."""
    zc.server.ok("entities/upsert", {"collectionName": "docs",
                                     "data": [_doc(1, title="changed", shift=0.5), _doc(99)]})
    zc.server.ok("entities/delete", {"collectionName": "docs", "filter": "id in [2]"})


def drift(zc: Project, *args: object) -> Any:
    return zc.run("drift", "-m", zc.manifests, "--state", zc.state, *args)


@pytest.mark.parametrize("mode", ["upsert", "replace"])
def test_drift_reports_and_refresh_repairs(zc: Project, mode: str) -> None:
    zc.manifest(mode=mode)
    zc.write(V1)
    zc.apply_ok()
    assert drift(zc).code == 0, str(drift(zc))
    tamper(zc)
    result = drift(zc, "--json")
    assert result.code == 2, str(result)
    item = json.loads(result.out)["datasets"][0]
    assert (item["changed"], item["added"], item["removed"]) == (1, 1, 1)
    by_op = {s["op"]: s for s in item["samples"]}
    assert by_op["~"]["key"] == "1" and by_op["~"]["fields"]["title"] == ["doc 1", "changed"]
    assert by_op["+"]["key"] == "99" and by_op["-"]["key"] == "2"
    result = zc.run("apply", "-m", zc.manifests, "--state", zc.state, "--auto-approve",
                    "--refresh")
    assert result.code == 0, str(result)
    assert sorted(zc.rows().elements()) == sorted(_typed(V1))
    assert drift(zc).code == 0
    zc.assert_no_changes()


def test_adopt_a_prefilled_collection(zc: Project) -> None:
    zc.manifest(mode="upsert")
    zc.write(V1)
    zc.apply_ok()
    tamper(zc)
    for path in zc.state.parent.glob("syncer.db*"):
        path.unlink()  # a collection syncer never saw: filled by someone else
    assert zc.plan()["datasets"][0]["inserts"] == len(V1)
    result = zc.run("adopt", "docs", "-m", zc.manifests, "--state", zc.state)
    assert result.code == 0, str(result)
    data = zc.plan()["datasets"][0]
    assert (data["inserts"], data["updates"], data["deletes"]) == (1, 1, 1)
    zc.apply_ok()
    assert sorted(zc.rows().elements()) == sorted(_typed(V1))
    assert drift(zc).code == 0
