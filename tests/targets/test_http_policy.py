"""The retry policy and the poll helper of the HTTP drivers, through ``httpx.MockTransport``:
no sockets, no threads, no real sleeping (sleep and clock are injected)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import polars as pl
import pytest

from syncer.errors import TargetError
from syncer.model.schema import Column, Schema
from syncer.targets.base import Batch
from syncer.targets.hexabase.config import HexabaseDataset, HexabaseTarget
from syncer.targets.hexabase.driver import HexabaseDriver
from syncer.targets.http import Http, OutcomeUnknown, Poll, RetryPolicy
from syncer.targets.registry import open_driver

Handler = Callable[[httpx.Request], httpx.Response]


class Clock:
    """A fake monotonic clock that advances only when slept on."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def answers(*steps: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A transport handler giving ``steps`` in order (an exception is raised), and the
    requests it saw."""
    seen: list[httpx.Request] = []
    queue = list(steps)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        step = queue.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    return handle, seen


def client(handler: Handler, clock: Clock, retries: int = 3) -> Http:
    return Http("http://target.test", name="test target", retries=retries,
                transport=httpx.MockTransport(handler),
                policy=RetryPolicy(retries, sleep=clock.sleep, jitter=lambda: 1.0))


# -- the retry policy ---------------------------------------------------------------------------

def test_429_then_success_backs_off_honouring_retry_after() -> None:
    clock = Clock()
    handler, seen = answers(httpx.Response(429, headers={"Retry-After": "2"}),
                            httpx.Response(200, json={"ok": True}))
    http = client(handler, clock)
    response = http.request("POST", "/x", idempotent=False, json={})
    assert response.json() == {"ok": True}
    assert len(seen) == 2 and http.retries_made == 1
    assert clock.slept == [2.0]  # Retry-After beats the first backoff (0.2 s)


def test_5xx_exhausted_raises_target_error_with_the_server_message() -> None:
    clock = Clock()
    handler, seen = answers(*[httpx.Response(503, json={"message": "cluster is busy",
                                                         "code": 9})] * 4)
    http = client(handler, clock, retries=3)
    with pytest.raises(TargetError) as raised:
        http.request("GET", "/x", idempotent=True)
    assert not isinstance(raised.value, OutcomeUnknown)
    text = str(raised.value)
    assert "server error 503: cluster is busy (9)" in text, text
    assert "gave up after 4 attempts" in text, text
    assert raised.value.retryable
    assert len(seen) == 4
    assert clock.slept == [0.2, 0.4, 0.8]  # exponential backoff (jitter pinned to its top)


def test_connection_error_is_retried_even_when_not_idempotent() -> None:
    clock = Clock()
    handler, seen = answers(httpx.ConnectError("refused"), httpx.Response(200, json={}))
    http = client(handler, clock)
    assert http.request("POST", "/x", idempotent=False).status_code == 200
    assert len(seen) == 2 and len(clock.slept) == 1


@pytest.mark.parametrize("failure", [httpx.ReadError("connection reset"),
                                     httpx.Response(502, text="bad gateway")],
                         ids=["dropped-answer", "5xx"])
def test_a_dropped_answer_leaves_a_non_idempotent_request_unknown(
        failure: httpx.Response | Exception) -> None:
    clock = Clock()
    handler, seen = answers(failure, httpx.Response(200))
    http = client(handler, clock)
    with pytest.raises(OutcomeUnknown):
        http.request("POST", "/x", idempotent=False)
    assert len(seen) == 1 and clock.slept == []  # never sent twice


def test_a_dropped_answer_of_an_idempotent_request_is_retried() -> None:
    clock = Clock()
    handler, seen = answers(httpx.ReadError("connection reset"), httpx.Response(200))
    http = client(handler, clock)
    assert http.request("GET", "/x", idempotent=True).status_code == 200
    assert len(seen) == 2


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(10, backoff=1.0, max_backoff=5.0, jitter=lambda: 1.0)
    assert [policy.delay(n) for n in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert policy.delay(0, "60") == 5.0 and policy.delay(0, "soon") == 1.0


# -- the poll helper ----------------------------------------------------------------------------

def test_a_poll_stops_at_its_deadline() -> None:
    clock = Clock()
    poll = Poll(2.0, clock=clock, sleep=clock.sleep)
    steps = list(poll.until(poll.deadline(5.0)))
    # asked at 0, 0.25, 0.75, 1.75, 3.75 and 5.75 s (sooner at first); 5.75 s is past the deadline
    assert steps == [0, 1, 2, 3, 4, 5]
    assert clock.slept == [0.25, 0.5, 1.0, 2.0, 2.0]


# -- the hexabase driver through the transport --------------------------------------------------

SCHEMA = Schema((Column("id", "integer", "id"), Column("title", "string", "title")), ("id",))
FIELDS = {"fields": {"f1": {"display_id": "id"}, "f2": {"display_id": "title"}}}


def hexabase(handler: Handler, clock: Clock, **settings: Any) -> HexabaseDriver:
    target = HexabaseTarget.model_validate({
        "name": "hx", "type": "hexabase", "url": "http://hexabase.test", "application": "app",
        "token": "tok", "retries": 2, "poll_interval": 1.0, "import_timeout": 5.0, **settings})
    driver = open_driver(target, transport=httpx.MockTransport(handler))
    assert isinstance(driver, HexabaseDriver)
    driver.api.poll = Poll(target.poll_interval, clock=clock, sleep=clock.sleep)
    return driver


def batch(rows: int) -> Batch:
    dataset = HexabaseDataset.model_validate({"name": "items", "source": "items.csv",
                                              "mode": "upsert", "key": ["id"]})
    frame = pl.DataFrame({"id": list(range(rows)), "title": [f"t{i}" for i in range(rows)]})
    return Batch("run-batch1", "hx", dataset, SCHEMA, False, frame,
                 pl.DataFrame({"id": []}, schema={"id": pl.Int64}))


def test_a_queued_hexabase_import_is_followed_to_done() -> None:
    clock = Clock()
    tasks = iter([{"t1": {"status": {"id": 1, "name": "queued"},
                          "metadata": {"stream_id": "s1"}}},
                  {"t1": {"status": {"id": 1, "name": "running"},
                          "metadata": {"stream_id": "s1"}}},
                  {"t1": {"status": {"id": 2, "name": "done"},
                          "metadata": {"stream_id": "s1", "errors": []}}}])
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.url.path.endswith("/fields"):
            return httpx.Response(200, json=FIELDS)
        if request.url.path.endswith("/import"):
            assert b'name="no_queue"' not in request.content  # 150 rows: queued
            return httpx.Response(200, json={"stream_id": "s1"})
        if request.url.path == "/api/v0/tasks":
            assert request.url.params["stream_id"] == "s1"
            return httpx.Response(200, json=next(tasks))
        if request.url.path.startswith("/api/v0/datastores/items/import/"):
            return httpx.Response(200, content=b"")
        raise AssertionError(f"unexpected {request.method} {request.url}")

    driver = hexabase(handle, clock)
    try:
        assert driver.prepare(batch(1).dataset, SCHEMA).max_batch_rows == 10_000
        assert driver.apply(batch(150)) == []
    finally:
        driver.close()
    assert seen.count("GET /api/v0/tasks") == 3
    assert clock.slept == [0.125, 0.25]  # the ramp of poll_interval, without real sleeping


def test_a_hexabase_import_still_queued_at_import_timeout_is_retryable() -> None:
    clock = Clock()

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/import"):
            return httpx.Response(200, json={"stream_id": "s1"})
        if request.url.path == "/api/v0/tasks":
            return httpx.Response(200, json={"t1": {"status": {"id": 1},
                                                    "metadata": {"stream_id": "s1"}}})
        raise AssertionError(f"unexpected {request.method} {request.url}")

    driver = hexabase(handle, clock)
    try:
        with pytest.raises(TargetError) as raised:
            driver.apply(batch(150))
    finally:
        driver.close()
    assert "hexabase import into 'items' still queued after 5s" in str(raised.value)
    assert raised.value.retryable
    assert clock.now - 100.0 <= 5.0 + 1.0  # gave up one poll_interval past the deadline at most


def test_sqlite_and_milvus_drivers_take_no_transport(tmp_path: Any) -> None:
    from syncer.targets.sqlite.config import SqliteTarget

    driver = open_driver(SqliteTarget.model_validate(
        {"name": "db", "type": "sqlite", "path": str(tmp_path / "t.db")}),
        transport=httpx.MockTransport(lambda request: httpx.Response(500)))
    driver.close()


# -- the zilliz REST client through the transport -----------------------------------------------

def zilliz(handler: Handler, clock: Clock) -> Any:
    from syncer.targets.zilliz.config import ZillizTarget
    from syncer.targets.zilliz.driver import ZillizDriver

    target = ZillizTarget.model_validate({
        "name": "zc", "type": "zilliz", "url": "http://zilliz.test", "api_key": "key",
        "cluster_id": "in01-x", "endpoint": "http://zilliz.test", "retries": 2,
        "poll_interval": 1.0, "import_timeout": 5.0, "stage": {"url": "s3://bucket/prefix"}})
    driver = open_driver(target, transport=httpx.MockTransport(handler))
    assert isinstance(driver, ZillizDriver)
    driver.rest.control.policy = RetryPolicy(2, sleep=clock.sleep, jitter=lambda: 1.0)
    driver.jobs.poll = Poll(target.poll_interval, clock=clock, sleep=clock.sleep)
    return driver


def test_a_zilliz_request_refused_by_its_rate_limit_code_is_sent_again() -> None:
    clock = Clock()
    handler, seen = answers(httpx.Response(200, json={"code": 90028, "message": "rate limit"}),
                            httpx.Response(200, json={"code": 0, "data": ["docs"]}))
    driver = zilliz(handler, clock)
    try:
        assert driver.rest.post("cluster", "collections/list", {}, what="listing") == ["docs"]
    finally:
        driver.close()
    assert len(seen) == 2 and clock.slept == [0.2]


def test_a_zilliz_job_still_running_at_import_timeout_is_retryable() -> None:
    clock = Clock()
    handler, seen = answers(*[httpx.Response(200, json={"code": 0, "data": {
        "state": "Importing", "progress": 40}})] * 10)
    driver = zilliz(handler, clock)
    try:
        with pytest.raises(TargetError) as raised:
            driver.jobs.follow("job-1", "docs", batch(1))
    finally:
        driver.close()
    assert ("import job job-1 into 'docs' is still Importing (40%) after 5s; the next apply "
            "settles it") in str(raised.value)
    assert raised.value.retryable and "run-batch1" in driver.jobs.timed_out
    assert len(seen) == 9 and clock.slept == [0.125, 0.25, 0.5] + [1.0] * 5  # the ramp, then 1 s
