"""An append whose outcome is unknown while the import queue is slower than ``import_timeout``:
the driver must not take "the count did not move yet" for "it did not land" and send it again
(the queued import would land later, and every row would be held twice)."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from syncer.emulators.base import FaultConfig, Request, Response
from tests.targets.test_hexabase_e2e import Project, _expected, _products, _row, hx  # noqa: F401


def _drop_first_import_after_it_took_effect(hx: Project,  # noqa: F811
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = hx.server.emulator
    dispatch = emulator.dispatch
    dropped: list[Request] = []

    def once(request: Request) -> Response | None:
        response = dispatch(request)
        if not dropped and request.method == "POST" and request.path.endswith("/import"):
            dropped.append(request)
            return None  # queued all right, but the client never hears of it
        return response

    monkeypatch.setattr(emulator, "dispatch", once)


def _wait_until_the_queue_is_empty(hx: Project) -> None:  # noqa: F811
    deadline = time.monotonic() + 10
    while any(t["status"]["id"] < 2 for t in hx.tasks()):
        assert time.monotonic() < deadline, hx.tasks()
        time.sleep(0.05)


def test_an_unknown_append_is_not_resent_while_its_import_is_still_queued(
        hx: Project, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    hx.manifest(mode="append", target="  token: ${HEXABASE_TOKEN}\n  import_timeout: 0.2")
    rows = _products(150)  # over 100 rows: a queued import
    hx.write(rows)
    _drop_first_import_after_it_took_effect(hx, monkeypatch)
    # every queued import waits 0.25-1 s more: longer than the driver's import_timeout
    hx.server.emulator.faults.configure(FaultConfig(rate_slow_queue=1, slow_queue_ms=1000,
                                                    seed=2))
    results = hx.apply_until_ok(attempts=30)
    assert any(r.code == 1 for r in results), "the first run should have left the batch unsettled"
    _wait_until_the_queue_is_empty(hx)
    items = hx.items()
    assert len(items) == 150
    assert Counter(_row(i) for i in items) == _expected("append", [rows])
    hx.server.emulator.faults.configure(FaultConfig())
    hx.assert_no_changes()
