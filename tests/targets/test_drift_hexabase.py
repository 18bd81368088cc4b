"""Drift on the hexabase target, against the emulator: items changed, added and deleted
directly in the datastore are reported by `syncer drift`, repaired by `apply --refresh`; `adopt`
takes over a datastore that already holds items."""

# ruff: noqa: F811  (the fixture is imported from the e2e module and used as an argument)

from __future__ import annotations

import json
from typing import Any

from tests.targets.test_hexabase_e2e import APP, DS, Project, _products, _typed, hx  # noqa: F401

SEARCH = f"/api/v0/applications/{APP}/datastores/{DS}"


def put(hx: Project, csv: str, **flags: Any) -> None:
    response = hx.server.import_csv(APP, DS, csv, no_queue=True, **flags)
    assert response.status_code == 200, response.text


def tamper(hx: Project) -> None:
    """Change s00001, delete s00002, add zz: behind syncer's back."""
    put(hx, "sku,name,price\ns00001,changed,1.25\n", key_field_displayid="sku")
    response = hx.server.http.request("DELETE", f"{SEARCH}/items/delete",
                                      json={"conditions": [{"id": "sku",
                                                            "search_value": ["s00002"]}]})
    assert response.status_code == 200 and response.json()["deleted"] == 1
    put(hx, "sku,name,price\nzz,stranger,9\n", append=True)


def drift(hx: Project, *args: object) -> Any:
    return hx.run("drift", "-m", hx.manifests, "--state", hx.state, *args)


def test_drift_reports_and_refresh_repairs(hx: Project) -> None:
    rows = _products(5)
    hx.manifest(mode="upsert")
    hx.write(rows)
    hx.apply_ok()
    assert drift(hx).code == 0
    tamper(hx)
    result = drift(hx, "--json")
    assert result.code == 2, str(result)
    item = json.loads(result.out)["datasets"][0]
    assert (item["changed"], item["added"], item["removed"]) == (1, 1, 1)
    by_op = {s["op"]: s for s in item["samples"]}
    assert by_op["~"]["key"] == "s00001" and by_op["~"]["fields"]["name"] == ["name 1", "changed"]
    assert by_op["+"]["key"] == "zz" and by_op["-"]["key"] == "s00002"
    plan = hx.run("plan", "-m", hx.manifests, "--state", hx.state, "--refresh", "--json")
    data = json.loads(plan.out)["datasets"][0]
    assert (data["inserts"], data["updates"], data["deletes"]) == (1, 1, 1)
    result = hx.run("apply", "-m", hx.manifests, "--state", hx.state, "--auto-approve",
                    "--refresh")
    assert result.code == 0, str(result)
    assert sorted(hx.rows().elements()) == sorted(_typed(rows))
    assert drift(hx).code == 0
    hx.assert_no_changes()


def test_replace_refresh_restores(hx: Project) -> None:
    rows = _products(4)
    hx.manifest(mode="replace")
    hx.write(rows)
    hx.apply_ok()
    tamper(hx)
    assert drift(hx).code == 2
    result = hx.run("apply", "-m", hx.manifests, "--state", hx.state, "--auto-approve",
                    "--refresh")
    assert result.code == 0, str(result)
    assert sorted(hx.rows().elements()) == sorted(_typed(rows))
    assert drift(hx).code == 0


def test_adopt_a_prefilled_datastore(hx: Project) -> None:
    rows = _products(6)
    hx.manifest(mode="upsert")
    hx.write(rows)
    # the datastore already holds s1..s5 (s3 with another price) and a stranger
    held = [list(r) for r in rows[:5]]
    held[2][2] = "99"
    body = "sku,name,price\n" + "".join(f"{s},{n},{p}\n" for s, n, p in held) + "old,gone,1\n"
    put(hx, body, append=True)
    assert hx.plan()["datasets"][0]["inserts"] == 6
    result = hx.run("adopt", "products", "-m", hx.manifests, "--state", hx.state)
    assert result.code == 0, str(result)
    data = hx.plan()["datasets"][0]
    assert (data["inserts"], data["updates"], data["deletes"]) == (1, 1, 1)
    assert drift(hx).code == 0
    hx.apply_ok()
    assert sorted(hx.rows().elements()) == sorted(_typed(rows))


def test_adopt_refuses_duplicate_keys(hx: Project) -> None:
    hx.manifest(mode="upsert")
    hx.write(_products(2))
    put(hx, "sku,name,price\ns00001,a,1\ns00001,b,2\n", append=True)
    result = hx.run("adopt", "products", "-m", hx.manifests, "--state", hx.state)
    assert result.code == 1, str(result)
    assert "not unique" in result.err and "s00001" in result.err
