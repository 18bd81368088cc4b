"""``syncer watch``: the real command in a subprocess on a project in ``tmp_path``.

Every test waits for an outcome (a row in the target, a log event) by polling with a generous
deadline, never with a fixed sleep, so a loaded machine makes the tests slower, not flaky.  The
watcher logs JSON lines (``--log-format json``) into a file the tests read back.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from syncer.emulators.base import running
from syncer.emulators.hexabase import HexabaseEmulator
from syncer.watch import EventFormatter, Status, WatchConfig, WatchSet
from syncer.watch.changes import glob_regex as _glob_regex
from tests.conftest import REPO, Result, crash_after_target_commit, run_subprocess
from tests.fixtures.hexabase import SAMPLE_SCHEMA

DEADLINE = 20.0  # seconds: how long any expected outcome may take on a slow machine
T = TypeVar("T")


def eventually(check: Callable[[], T], what: str, timeout: float = DEADLINE,
               log: Callable[[], str] | None = None) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` (and the log)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except (sqlite3.Error, httpx.HTTPError, OSError):
            value = None  # not there yet (a table not created, a server not up)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}"
                                 + (f"\n--- watcher log\n{log()}" if log else ""))
        time.sleep(0.05)


class Watch:
    """A running ``syncer watch`` process and its JSON-lines log."""

    def __init__(self, root: Path, *args: str, env: dict[str, str] | None = None,
                 state: str | None = "state/syncer.db") -> None:
        self.root = root
        self.log_path = root / f"watch-{time.monotonic_ns()}.log"
        environ = {**os.environ, "NO_COLOR": "1", "SYNCER_WATCH_BACKOFF_MAX": "1"}
        environ.pop("SYNCER_STATE", None)
        environ.update(env or {})
        environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), environ.get("PYTHONPATH")]))
        where = ["--state", state] if state is not None else []
        with self.log_path.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "syncer", "watch", "-m", "manifests", *where,
                 "--log-format", "json", "--health-port", "0", *args],
                cwd=root, env=environ, stdout=out, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def events(self, name: str | None = None, **fields: Any) -> list[dict[str, Any]]:
        found = []
        for line in self.text().splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if (name is None or item.get("event") == name) and all(
                    item.get(k) == v for k, v in fields.items()):
                found.append(item)
        return found

    def wait_event(self, name: str, count: int = 1, **fields: Any) -> dict[str, Any]:
        """The ``count``-th event called ``name`` with ``fields``, once it was logged."""
        def seen() -> dict[str, Any] | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"the watcher exited ({self.proc.returncode})\n{self.text()}")
            items = self.events(name, **fields)
            return items[count - 1] if len(items) >= count else None
        return eventually(seen, f"event {name} {fields} x{count}", log=self.text)

    def ready(self) -> None:
        self.wait_event("reconcile", reason="start")

    @property
    def url(self) -> str:
        return str(self.wait_event("health")["url"])

    def wait(self, check: Callable[[], T], what: str) -> T:
        return eventually(check, what, log=self.text)

    def terminate(self, timeout: float = 10.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def watch(tmp_path: Path) -> Iterator[Callable[..., Watch]]:
    """``watch(*args)`` starts ``syncer watch`` in ``tmp_path``; every one is killed at the end."""
    started: list[Watch] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Watch:
        started.append(Watch(tmp_path, *args, env=env))
        return started[-1]

    yield start
    for item in started:
        item.kill()


# -- a project -----------------------------------------------------------------------------------

SHOP = """\
version: 1
target:
  name: shop
  type: sqlite
  path: ../build/target.db
datasets:
  - name: products
    source: ../data/products.csv
    mode: upsert
    key: [sku]
    columns: {sku: string, price: float}
"""


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def csv(rows: dict[str, float]) -> str:
    return "sku,price\n" + "".join(f"{k},{v}\n" for k, v in rows.items())


def rows(db: Path, table: str) -> dict[str, float]:
    con = sqlite3.connect(db)
    try:
        return dict(con.execute(f'SELECT * FROM "{table}"').fetchall())
    finally:
        con.close()


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    write(tmp_path / "manifests" / "shop.yaml", SHOP)
    write(tmp_path / "data" / "products.csv", csv({"a": 1.0, "b": 2.0}))
    return tmp_path


def target(root: Path, table: str = "products") -> dict[str, float]:
    return rows(root / "build" / "target.db", table)


# -- the tests -----------------------------------------------------------------------------------

def test_a_csv_edit_reaches_the_target_and_health_and_metrics_answer(shop: Path, watch) -> None:
    w = watch()
    w.ready()
    assert target(shop) == {"a": 1.0, "b": 2.0}
    write(shop / "data" / "products.csv", csv({"a": 1.0, "b": 2.5, "c": 3.0}))
    w.wait(lambda: target(shop) == {"a": 1.0, "b": 2.5, "c": 3.0}, "the edit in the target")
    applied = w.wait_event("apply", count=2, dataset="products")
    assert (applied["inserts"], applied["updates"], applied["deletes"]) == (1, 1, 0)
    assert {"ts", "level", "event", "target", "dataset", "seconds"} <= applied.keys()
    assert w.events("change") and w.events("plan", dataset="products")

    health = httpx.get(w.url + "/healthz", timeout=5)
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok" and body["last_reconcile"]
    assert body["datasets"]["shop/products"]["status"] == "ok"
    assert body["datasets"]["shop/products"]["last_success"]

    metrics = httpx.get(w.url + "/metrics", timeout=5)
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    labels = '{target="shop",dataset="products"}'
    text = metrics.text
    for line in (f"syncer_applies_total{labels} 2", f"syncer_rows_inserted_total{labels} 3",
                 f"syncer_rows_updated_total{labels} 1", f"syncer_rows_deleted_total{labels} 0",
                 f"syncer_errors_total{labels} 0", "syncer_watch_up 1"):
        assert line in text.splitlines(), line
    assert f"syncer_last_success_time_seconds{labels} " in text
    assert "# TYPE syncer_apply_duration_seconds histogram" in text
    assert f'syncer_plan_duration_seconds_count{labels} ' in text
    assert httpx.get(w.url + "/nope", timeout=5).status_code == 404
    assert w.terminate() == 0


def test_new_datasets_new_directories_and_new_glob_files_are_applied(shop: Path, watch) -> None:
    w = watch()
    w.ready()
    # a second dataset whose source lives in a directory nobody watched yet, and a glob
    write(shop / "more" / "prices.csv", csv({"x": 9.0}))
    write(shop / "logs" / "day1.csv", csv({"d1": 1.0}))
    write(shop / "manifests" / "shop.yaml", SHOP + """\
  - name: prices
    source: ../more/prices.csv
    mode: upsert
    key: sku
    columns: {sku: string, price: float}
  - name: days
    source: ../logs/*.csv
    mode: append
    columns: {sku: string, price: float}
""")
    w.wait(lambda: target(shop, "prices") == {"x": 9.0}, "the new dataset in the target")
    w.wait(lambda: target(shop, "days") == {"d1": 1.0}, "the glob dataset in the target")
    # its directory is now watched: an edit there is seen
    write(shop / "more" / "prices.csv", csv({"x": 10.0}))
    w.wait(lambda: target(shop, "prices") == {"x": 10.0}, "the edit in the new directory")
    # a file that appears later and matches the glob is picked up; one that does not is ignored
    write(shop / "logs" / "notes.txt", "not a source")
    write(shop / "logs" / "day2.csv", csv({"d2": 2.0}))
    w.wait(lambda: target(shop, "days") == {"d1": 1.0, "d2": 2.0}, "the new glob file")
    assert not any("notes.txt" in str(e.get("paths")) for e in w.events("change"))
    assert w.terminate() == 0


def test_a_broken_manifest_is_logged_and_the_watcher_recovers(shop: Path, watch) -> None:
    w = watch()
    w.ready()
    write(shop / "manifests" / "shop.yaml", SHOP.replace("mode: upsert", "mode: upsert\n    nmae: x"))
    error = w.wait_event("manifests", level="error")
    assert "nmae" in error["error"] and "shop.yaml" in error["error"]
    # still running on the last valid manifests: a source edit is applied meanwhile
    write(shop / "data" / "products.csv", csv({"a": 1.0, "b": 2.0, "c": 3.0}))
    w.wait(lambda: target(shop).get("c") == 3.0, "an edit applied on the last valid manifests")
    assert httpx.get(w.url + "/healthz", timeout=5).json()["manifests"]["valid"] is False
    # fixed, with something only the new manifest declares
    write(shop / "data" / "extra.csv", csv({"e": 5.0}))
    write(shop / "manifests" / "shop.yaml", SHOP + """\
  - name: extra
    source: ../data/extra.csv
    columns: {sku: string, price: float}
""")
    w.wait_event("manifests", message="the manifests are valid again")
    w.wait(lambda: target(shop, "extra") == {"e": 5.0}, "the dataset the fixed manifest adds")
    assert httpx.get(w.url + "/healthz", timeout=5).json()["manifests"]["valid"] is True
    assert w.proc.poll() is None


def test_a_blocked_plan_is_logged_and_not_applied(shop: Path, watch) -> None:
    write(shop / "data" / "products.csv", csv({f"k{i}": float(i) for i in range(10)}))
    w = watch()
    w.ready()
    assert len(target(shop)) == 10
    write(shop / "data" / "products.csv", csv({"k0": 0.0}))  # deletes 9 of 10: over max_delete
    blocked = w.wait_event("blocked", dataset="products")
    assert blocked["level"] == "warning" and "delete" in blocked["reason"]
    assert len(target(shop)) == 10  # nothing applied
    health = httpx.get(w.url + "/healthz", timeout=5).json()
    assert health["datasets"]["shop/products"]["status"] == "blocked"
    # the guard lifted in the manifest: the same change goes through
    write(shop / "manifests" / "shop.yaml", SHOP.replace("key: [sku]", "key: [sku]\n    allow_deletes: true"))
    w.wait(lambda: target(shop) == {"k0": 0.0}, "the change once deletes are allowed")


def test_sigterm_exits_0_and_releases_the_lock(shop: Path, watch) -> None:
    w = watch()
    w.ready()
    # the lock is held for the whole run: apply and a second watcher are refused, naming it
    refused = run_subprocess("apply", "-m", "manifests", "--state", "state/syncer.db",
                             "--auto-approve", cwd=shop)
    assert refused.code == 1 and f"pid {w.proc.pid}" in refused.err and "watch" in refused.err
    second = run_subprocess("watch", "-m", "manifests", "--state", "state/syncer.db", cwd=shop)
    assert second.code == 1 and f"pid {w.proc.pid}" in second.output, str(second)
    started = time.monotonic()
    assert w.terminate() == 0
    assert time.monotonic() - started < 10
    assert w.events("stopped")
    write(shop / "data" / "products.csv", csv({"a": 1.0, "b": 2.0, "z": 26.0}))
    after = run_subprocess("apply", "-m", "manifests", "--state", "state/syncer.db",
                           "--auto-approve", cwd=shop)
    assert after.code == 0, str(after)
    assert target(shop)["z"] == 26.0


def test_a_target_outage_is_retried_and_caught_up(shop: Path, watch) -> None:
    data_dir = shop / "hexabase"
    token = "watch-test-token-5d1c"

    @contextmanager
    def emulator(port: int = 0) -> Iterator[str]:
        app = HexabaseEmulator(data_dir, token, SAMPLE_SCHEMA, queue_delay=0.05)
        try:
            with running(app, port=port) as url:
                yield url
        finally:
            app.close()

    def items(url: str) -> dict[str, float]:
        response = httpx.post(f"{url}/api/v0/applications/shop/datastores/products/items/search",
                              json={"per_page": 100, "page": 1, "use_display_id": True,
                                    "return_number_value": True},
                              headers={"Authorization": f"Bearer {token}"}, timeout=5)
        return {i["sku"]: i["price"] for i in response.json()["items"]}

    write(shop / "data" / "hx.csv", "sku,name,price\np1,one,1\n")
    outage = emulator()
    url = outage.__enter__()
    port = int(url.rsplit(":", 1)[1])
    write(shop / "manifests" / "crm.yaml", f"""\
version: 1
target:
  name: crm
  type: hexabase
  url: {url}
  application: shop
  token: ${{HX_TOKEN}}
  retries: 0
  timeout: 2
  poll_interval: 0.05
datasets:
  - name: products
    source: ../data/hx.csv
    datastore: products
    mode: upsert
    key: [sku]
    columns: {{sku: string, name: string, price: float}}
""")
    try:
        w = watch(env={"HX_TOKEN": token})
        w.ready()
        assert items(url) == {"p1": 1.0}
        outage.__exit__(None, None, None)  # the target goes down
    except BaseException:
        outage.__exit__(None, None, None)
        raise
    write(shop / "data" / "hx.csv", "sku,name,price\np1,one,1.5\np2,two,2\n")
    first = w.wait_event("error", target="crm")
    assert first["retry_in"] is not None and first["dataset"] == "products"
    # the other target is not held up by the outage
    write(shop / "data" / "products.csv", csv({"a": 1.0, "b": 2.0, "during": 1.0}))
    w.wait(lambda: target(shop).get("during") == 1.0, "the sqlite target during the outage")
    w.wait_event("error", count=2, target="crm")  # retried with backoff, still down
    assert w.proc.poll() is None
    with emulator(port) as again:  # back on the same port and data directory
        w.wait(lambda: items(again) == {"p1": 1.5, "p2": 2.0}, "the change caught up")
        w.wait_event("recovered", target="crm")
        health = httpx.get(w.url + "/healthz", timeout=5).json()
        assert health["datasets"]["crm/products"]["status"] == "ok"
        metrics = httpx.get(w.url + "/metrics", timeout=5).text
        assert 'syncer_errors_total{target="crm",dataset="products"} 0' not in metrics
        assert w.terminate() == 0


# -- the parts, in-process -----------------------------------------------------------------------

@pytest.mark.parametrize("pattern", ["data/*.csv", "data/**/*.csv", "data/d?y[0-9].csv",
                                     "data/**", "data/[!x]*.csv", "data/*/x.csv"])
def test_glob_regex_matches_what_glob_finds(tmp_path: Path, pattern: str) -> None:
    for name in ("a.csv", "b.tsv", ".hidden.csv", "day1.csv", "x.csv", "sub/x.csv",
                 "sub/deep/y.csv", ".git/z.csv", "sub/.h/x.csv"):
        write(tmp_path / "data" / name, "x\n")
    full = str(tmp_path / pattern)
    found = {p for p in glob.glob(full, recursive=True) if Path(p).is_file()}
    regex = _glob_regex(full)
    every = {str(p) for p in (tmp_path / "data").rglob("*") if p.is_file()}
    assert {p for p in every if regex.match(p)} == found


def test_watch_set_lists_directories_and_maps_paths_to_datasets(shop: Path) -> None:
    from syncer.model.project import load_project

    write(shop / "logs" / "a" / "1.csv", csv({"x": 1.0}))
    write(shop / "manifests" / "logs.yaml", SHOP.replace("name: shop", "name: logs").replace(
        "../data/products.csv", "../logs/**/*.csv"))
    ws = WatchSet.of(shop / "manifests", load_project(shop / "manifests"))
    root = shop.resolve()
    assert ws.dirs == {root / "manifests", root / "data", root / "logs", root / "logs" / "a"}
    assert ws.recursive
    assert ws.is_manifest(str(root / "manifests" / "new.yml"))
    assert not ws.is_manifest(str(root / "manifests" / "notes.txt"))
    assert ws.datasets({str(root / "data" / "products.csv")}) == {"shop/products"}
    assert ws.datasets({str(root / "logs" / "b" / "c" / "later.csv")}) == {"logs/products"}
    assert not ws.relevant(str(root / "data" / "other.csv"))


def test_settings_come_from_the_argument_then_the_environment_then_the_default() -> None:
    env = {"SYNCER_WATCH_INTERVAL": "60", "SYNCER_WATCH_DEBOUNCE": "5",
           "SYNCER_LOG_FORMAT": "json"}
    config = WatchConfig.resolve(Path("m"), Path("s"), env, interval=10.0, debounce_ms=None)
    assert (config.interval, config.debounce_ms, config.log_format) == (10.0, 5, "json")
    assert WatchConfig.resolve(Path("m"), Path("s"), {}).interval == 300.0
    assert WatchConfig.resolve(Path("m"), Path("s"), {}).debounce_ms == 50
    from syncer.errors import SyncError

    with pytest.raises(SyncError, match="SYNCER_WATCH_INTERVAL"):
        WatchConfig.resolve(Path("m"), Path("s"), {"SYNCER_WATCH_INTERVAL": "soon"})
    with pytest.raises(SyncError, match="log-format"):
        WatchConfig.resolve(Path("m"), Path("s"), {}, log_format="xml")


def test_metrics_are_prometheus_text_and_label_values_are_escaped() -> None:
    status = Status()
    status.declare([("t", 'd"1\\x')])
    status.applied('t/d"1\\x', 2, 1, 0, 0.02, changed=True)
    text = status.metrics()
    assert 'syncer_applies_total{target="t",dataset="d\\"1\\\\x"} 1' in text
    assert 'syncer_apply_duration_seconds_bucket{target="t",dataset="d\\"1\\\\x",le="0.025"} 1' in text
    for line in text.splitlines():  # every sample: name{labels} value
        if not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])


def test_json_log_lines_carry_the_fields() -> None:
    import logging

    record = logging.LogRecord("syncer.watch", logging.INFO, __file__, 1, "shop/p: applied", None,
                               None)
    record.event, record.fields = "apply", {"target": "shop", "dataset": "p", "inserts": 1,
                                            "seconds": 0.123456}
    line = json.loads(EventFormatter(json_lines=True).format(record))
    assert line["event"] == "apply" and line["level"] == "info" and line["seconds"] == 0.1235
    assert line["ts"].endswith("Z") and line["message"] == "shop/p: applied"
    text = EventFormatter().format(record)
    assert "INFO" in text and "apply" in text and "\n" not in text


def test_a_source_still_being_written_is_waited_for(tmp_path: Path) -> None:
    """Repeated writes to one file are one event: planning waits until the file was quiet for a
    step, so a file copied in place is not read half-way (its missing tail planned as deletes)."""
    from syncer.model.project import load_project
    from syncer.watch import Watcher

    write(tmp_path / "manifests" / "shop.yaml", SHOP)
    write(tmp_path / "data" / "products.csv", csv({"a": 1.0}))
    config = WatchConfig.resolve(tmp_path / "manifests", tmp_path / "state.db", {}, step_ms=200)
    watcher = Watcher(config)
    datasets = list(load_project(tmp_path / "manifests").datasets)
    source = tmp_path / "data" / "products.csv"

    old = time.time() - 10
    os.utime(source, (old, old))
    started = time.monotonic()
    watcher._wait_until_written(datasets)
    assert time.monotonic() - started < 0.15  # written long ago: no wait

    os.utime(source)  # written just now
    started = time.monotonic()
    watcher._wait_until_written(datasets)
    assert time.monotonic() - started >= 0.15


# -- a bug stops the watcher ----------------------------------------------------------------------

def watch_in_process(cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch,
                     *args: str) -> tuple[Result, list[dict[str, Any]]]:
    """``syncer watch`` run by the real CLI in this process, so a bug can be injected with
    monkeypatch; its exit code and JSON log lines (tracebacks shown: SYNCER_DEBUG=1)."""
    import logging

    watch_log = logging.getLogger("syncer.watch")
    monkeypatch.setattr(watch_log, "handlers", list(watch_log.handlers))  # restored afterwards
    monkeypatch.setenv("SYNCER_DEBUG", "1")
    monkeypatch.setenv("SYNCER_WATCH_BACKOFF", "0.2")
    monkeypatch.setenv("SYNCER_WATCH_BACKOFF_MAX", "0.5")
    result = cli("watch", "-m", "manifests", "--state", "state/syncer.db", "--log-format", "json",
                 *args)
    lines = []
    for line in result.err.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return result, lines


def injected_bug(real: Callable[..., T] | None, calls: list[object],
                 message: str) -> Callable[..., T]:
    """A stand-in that calls ``real`` the first time (when given), then raises a TypeError (a
    bug); if it is called again after that (the bug was retried, not fatal) it interrupts the
    watcher, so a regression fails the test instead of hanging it."""
    def stand_in(*args: Any, **kwargs: Any) -> T:
        calls.append(args)
        if real is not None and len(calls) == 1:
            return real(*args, **kwargs)
        if len(calls) > (3 if real is not None else 2):
            raise KeyboardInterrupt
        raise TypeError(message)
    return stand_in


def test_a_bug_while_reloading_the_manifests_stops_the_watcher_with_exit_3(
        shop: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> None:
    from syncer.watch import loop

    monkeypatch.chdir(shop)
    calls: list[object] = []
    monkeypatch.setattr(loop, "load_project",
                        injected_bug(loop.load_project, calls, "injected bug in loading"))
    result, lines = watch_in_process(cli, monkeypatch, "--interval", "0.2")
    assert result.code == 3, str(result)
    assert len(calls) == 2  # loaded at start; the reload that hit the bug was the last
    bugs = [line for line in lines if line["event"] == "bug"]
    assert len(bugs) == 1, str(result)
    assert "TypeError: injected bug in loading" in bugs[0]["message"]
    assert "Traceback (most recent call last)" in bugs[0]["message"]
    assert not [line for line in lines if line["event"] == "manifests"]  # not "invalid manifests"
    assert "Internal error (a bug in syncer)" in result.err


def test_a_bug_while_settling_an_open_batch_stops_the_watcher_with_exit_3(
        shop: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> None:
    from syncer.sync.execute import Executor

    monkeypatch.chdir(shop)
    applied = cli("apply", "-m", "manifests", "--state", "state/syncer.db", "--auto-approve")
    assert applied.code == 0, str(applied)
    write(shop / "data" / "products.csv", csv({"a": 1.0, "b": 2.5}))
    crash_after_target_commit(shop / "manifests", shop / "state" / "syncer.db", send=False)
    calls: list[object] = []
    monkeypatch.setattr(Executor, "settle_open_batches",
                        injected_bug(None, calls, "injected bug in settling"))
    result, lines = watch_in_process(cli, monkeypatch)
    assert result.code == 3, str(result)
    assert len(calls) == 1  # not retried
    bugs = [line for line in lines if line["event"] == "bug"]
    assert len(bugs) == 1, str(result)
    assert "TypeError: injected bug in settling" in bugs[0]["message"]
    assert "Traceback (most recent call last)" in bugs[0]["message"]
    assert not [line for line in lines if line["event"] == "error"]  # not a dataset's failure


def test_a_bug_while_planning_a_dataset_stops_the_watcher_with_exit_3(
        shop: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> None:
    from syncer.watch import reconcile

    monkeypatch.chdir(shop)
    calls: list[object] = []
    monkeypatch.setattr(reconcile, "build_plan",
                        injected_bug(None, calls, "injected bug in planning"))
    result, lines = watch_in_process(cli, monkeypatch)
    assert result.code == 3, str(result)
    assert len(calls) == 1  # not retried
    bugs = [line for line in lines if line["event"] == "bug"]
    assert len(bugs) == 1 and "TypeError: injected bug in planning" in bugs[0]["message"]
    assert not [line for line in lines if line["event"] == "error"]  # not a dataset's failure
