"""``syncer watch --notify``: POSTs to a real HTTP receiver on 127.0.0.1 (the standard library's
``http.server`` in a thread) that can answer 500 a few times or take its time."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from syncer.secrets import redact, register_url
from syncer.watch import Status, WatchConfig
from syncer.watch.notify import Notifier, body
from syncer.watch.status import Notice
from tests.test_watch import SHOP, csv, eventually, shop, target, watch, write  # noqa: F401

TOKEN = "hook-token-8c1f2a9e"


@dataclass
class Receiver:
    """Records every POST; answers 500 to the first ``fail`` ones, each after ``delay`` s."""

    fail: int = 0
    delay: float = 0.0
    posts: list[dict[str, Any]] = field(default_factory=list)  # every attempt, in order
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def accepted(self) -> list[dict[str, Any]]:
        with self.lock:
            return [p["body"] for p in self.posts if p["code"] == 200]

    def events(self) -> list[str]:
        return [b.get("event") for b in self.accepted()]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(rec.delay)
            with rec.lock:
                code = 500 if sum(1 for _ in rec.posts) < rec.fail else 200
                rec.posts.append({"path": self.path, "code": code, "body": json.loads(data),
                                  "type": self.headers.get("Content-Type"),
                                  "done": time.time()})
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hook?token={TOKEN}"
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


def test_failed_blocked_recovered_and_drift_are_posted_with_the_documented_body(
        shop: Path, watch, receiver: Receiver) -> None:
    receiver.fail = 2  # the first notification needs three posts: nothing is lost
    write(shop / "data" / "products.csv", csv({f"k{i}": float(i) for i in range(10)}))
    w = watch("--notify", receiver.url, "--interval", "1")
    w.ready()
    write(shop / "data" / "products.csv", csv({"k0": 0.0}))  # 9 of 10 deleted: blocked
    w.wait_event("blocked", dataset="products")
    w.wait(lambda: receiver.events() == ["blocked"], "the blocked notification, after two 500s")
    write(shop / "data" / "products.csv", "sku,price\nk0,zero\n")  # a bad source: failing
    w.wait(lambda: receiver.events() == ["blocked", "failed"], "the failed notification")
    write(shop / "data" / "products.csv", csv({f"k{i}": float(i) for i in range(10)}))
    w.wait(lambda: receiver.events() == ["blocked", "failed", "recovered"], "recovered")
    con = sqlite3.connect(shop / "build" / "target.db")  # someone edits the target behind syncer
    with con:
        con.execute("UPDATE products SET price = 99 WHERE sku = 'k3'")
    con.close()
    w.wait(lambda: "drift" in receiver.events(), "the drift notification")
    time.sleep(2.5)  # two more interval passes find the same drift: told once
    assert receiver.events() == ["blocked", "failed", "recovered", "drift"]
    assert [p["code"] for p in receiver.posts[:3]] == [500, 500, 200]

    blocked, failed, recovered, drift = receiver.accepted()
    for item in (blocked, failed, recovered, drift):
        assert item["format_version"] == 1 and item["target"] == "shop"
        assert item["dataset"] == "products" and item["message"]
        assert item["at"].endswith("Z") and item["page"] == w.url + "/"
        assert {"host", "pid", "details"} <= item.keys()
    assert "delete" in blocked["details"]["reason"] and "delete" in blocked["message"]
    assert "zero" in failed["details"]["error"] and failed["details"]["retry_in"] is None
    assert drift["details"]["changed"] == 1
    assert receiver.posts[0]["type"] == "application/json"
    # the token never shows: not in the log, the page's data, or anything posted
    log = w.text()
    assert TOKEN not in log and "token=***" in log
    status = httpx.get(w.url + "/api/status", timeout=5).text
    assert TOKEN not in status and "token=***" in status
    retried = w.events("notify", level="warning")
    assert retried and "HTTP 500" in retried[0]["error"] and "retrying" in retried[0]["message"]
    assert w.terminate() == 0


def test_a_slow_receiver_never_holds_up_the_loop(shop: Path, watch, receiver: Receiver) -> None:
    receiver.delay = 6.0
    write(shop / "data" / "extra.csv", csv({"e": 1.0}))
    write(shop / "data" / "products.csv", csv({f"k{i}": float(i) for i in range(10)}))
    write(shop / "manifests" / "shop.yaml", SHOP + """\
  - name: extra
    source: ../data/extra.csv
    columns: {sku: string, price: float}
""")
    w = watch("--notify", receiver.url)
    w.ready()
    write(shop / "data" / "products.csv", csv({"k0": 0.0}))  # blocked: a notification goes out
    w.wait_event("blocked", dataset="products")
    for n in range(3):  # meanwhile, changes keep being applied at once
        write(shop / "data" / "extra.csv", csv({"e": 1.0, f"n{n}": float(n)}))
        w.wait(lambda n=n: target(shop, "extra").get(f"n{n}") == float(n), f"change {n}")
    applied = time.time()
    w.wait(lambda: receiver.events() == ["blocked"], "the slow receiver's notification")
    assert applied < receiver.posts[0]["done"]  # all applied before the receiver answered
    assert w.terminate(timeout=20) == 0


def test_notifications_are_queued_in_order_retried_and_never_block_the_caller(
        receiver: Receiver) -> None:
    receiver.fail, receiver.delay = 3, 0.2
    register_url(receiver.url)
    status = Status()
    status.declare([("t", "d")])
    with Notifier([receiver.url], page="http://127.0.0.1:1/", grace=10, backoff=0.05) as notifier:
        status.listen(notifier.send)
        started = time.monotonic()
        status.failed("t/d", "boom", 1, 1.0)
        status.failed("t/d", "boom again", 2, 2.0)     # still failing: not told again
        status.applied("t/d", 1, 0, 0, 0.1, True)
        status.blocked("t/d", "too many deletes")
        status.drift("t/d", 3, {"changed": 3, "added": 0, "removed": 0, "samples": []})
        status.standby("pid 42 on host-a (watch)")
        status.standby(None)                            # a standby watcher took over
        assert time.monotonic() - started < 0.1         # the loop never waits for a receiver
    # leaving the block gave the queue its grace: everything arrived, in order
    assert receiver.events() == ["failed", "recovered", "blocked", "drift", "takeover"]
    assert len(receiver.posts) == 5 + 3
    takeover = receiver.accepted()[-1]
    assert takeover["target"] is None and "took over" in takeover["message"]


def test_slack_webhooks_get_slack_text_and_their_secret_path_is_redacted() -> None:
    url = "https://hooks.slack.com/services/T0A1B2C3D/B0Z9Y8X7W/abcdefGHIJKL012345mnopQR"
    register_url(url)
    assert redact(url) == "https://hooks.slack.com/services/***/***/***"
    notice = Notice("failed", "shop/products: <bad> & worse", "shop", "products")
    posted = body(notice, url, page="http://127.0.0.1:9464/")
    assert set(posted) == {"text"}
    assert "&lt;bad&gt; &amp; worse" in posted["text"] and "*failed*" in posted["text"]
    assert posted["text"].endswith("(<http://127.0.0.1:9464/|status page>)")
    plain = body(notice, "http://127.0.0.1:1/hook")
    assert plain["format_version"] == 1 and plain["message"] == "shop/products: <bad> & worse"


def test_notify_urls_come_from_the_option_the_environment_or_the_project_file() -> None:
    env = {"SYNCER_WATCH_NOTIFY": "http://a.example/x, http://b.example/y http://c.example/z"}
    assert WatchConfig.resolve(Path("m"), Path("s"), env).notify == (
        "http://a.example/x", "http://b.example/y", "http://c.example/z")
    assert WatchConfig.resolve(Path("m"), Path("s"), env, notify=["http://o.example/"]).notify \
        == ("http://o.example/",)
    assert WatchConfig.resolve(Path("m"), Path("s"), {}, project={
        "notify": ["http://p.example/"]}).notify == ("http://p.example/",)
    assert WatchConfig.resolve(Path("m"), Path("s"), {}).notify == ()
    from syncer.errors import SyncError

    with pytest.raises(SyncError, match=r"not an http:// or https:// URL") as caught:
        WatchConfig.resolve(Path("m"), Path("s"), {}, notify=["ftp://h/secret0token0abc"])
    assert "secret0token0abc" not in str(caught.value)
