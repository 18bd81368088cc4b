"""examples/grafana/syncer-dashboard.json asks only for metrics a real ``/metrics`` exports, and
shows every metric family there is."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx

from syncer.watch import HealthServer, Status
from tests.conftest import REPO

DASHBOARD = REPO / "examples" / "grafana" / "syncer-dashboard.json"
NAME = re.compile(r"\bsyncer_[a-z_]+\b")


def queries(dashboard: dict[str, Any]) -> Iterator[str]:
    for panel in dashboard["panels"]:
        for target in panel.get("targets") or []:
            yield target["expr"]
    for variable in dashboard["templating"]["list"]:
        yield variable["definition"]


def exported() -> set[str]:
    """The sample names of a real /metrics answer, from a watcher's status with every kind of
    value (applies, a failure, a block, drift, histograms)."""
    status = Status()
    status.set_running(True)
    status.declare([("shop", "products"), ("shop", "prices"), ("crm", "customers")])
    status.planned("shop/products", 0.02)
    status.applied("shop/products", 3, 1, 0, 0.2, changed=True)
    status.failed("crm/customers", "down", 1, 2.0)
    status.blocked("shop/prices", "too many deletes")
    status.drift("shop/products", 2)
    status.reconciled()
    with HealthServer(status, 0) as server:
        text = httpx.get(server.url + "/metrics", timeout=5).text
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines()
            if line and not line.startswith("#")}


def test_every_metric_the_dashboard_asks_for_is_exported() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    asked = {name for query in queries(dashboard) for name in NAME.findall(query)}
    names = exported()
    assert asked and not asked - names, f"not exported by /metrics: {sorted(asked - names)}"
    families = {re.sub(r"_(bucket|sum|count)$", "", n) for n in names}
    shown = {re.sub(r"_(bucket|sum|count)$", "", n) for n in asked}
    assert not families - shown, f"exported but on no panel: {sorted(families - shown)}"


def test_the_dashboard_is_importable() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert {"x", "y", "w", "h"} <= panel["gridPos"].keys()
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        for target in panel["targets"]:
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]
