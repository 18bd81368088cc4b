"""The status page of ``syncer watch`` in a real Chromium, and ``/api/status`` behind it.

A real ``syncer watch`` runs in a subprocess on a project in ``tmp_path`` (the fixtures of
test_watch.py); the page is opened once and never reloaded: every change must reach it through
its own live updates.  Screenshots land in the test's tmp dir (and in docs/images when
``SYNCER_DOCS_SCREENSHOT=1``).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser import chromium, color_scheme, script_errors  # noqa: F401 - a fixture
from tests.conftest import REPO
from tests.test_watch import SHOP, Watch, csv, eventually, shop, target, watch, write  # noqa: F401

# every row is in the DOM when the page rendered; these read it the way a person would
ROW = 'tr[data-dataset="{}"]'
SEEN = """
window.__seen = window.__seen || {};
window.__loaded = window.__loaded || Date.now();
const record = () => document.querySelectorAll('tr[data-dataset]').forEach((tr) => {
  (window.__seen[tr.dataset.dataset] = window.__seen[tr.dataset.dataset] || []).push(tr.dataset.state);
});
new MutationObserver(record).observe(document.body, {subtree: true, childList: true});
record();
return window.__loaded;
"""


def open_page(driver: Any, w: Watch) -> int:
    """Open the page and start recording every state each row shows; the page's load mark."""
    driver.get(w.url + "/")
    script_errors(driver)  # drain: what an earlier test's page logged is not this page's
    eventually(lambda: driver.execute_script("return document.body.dataset.version"),
               "the page's first render", log=w.text)
    return int(driver.execute_script(SEEN))


# the page re-renders on every change: read it in one script call (an element found in one call
# may be gone by the next)
def state(driver: Any, dataset: str) -> str | None:
    return driver.execute_script("const e = document.querySelector(arguments[0]); "
                                 "return e ? e.dataset.state : null", ROW.format(dataset))


def text(driver: Any, css: str) -> str:
    return str(driver.execute_script("const e = document.querySelector(arguments[0]); "
                                     "return e ? e.innerText : ''", css))


def visible(driver: Any, css: str) -> bool:
    return bool(driver.execute_script("const e = document.querySelector(arguments[0]); "
                                      "return !!e && e.getClientRects().length > 0", css))


def click(driver: Any, css: str) -> None:
    """Click what ``css`` finds, as a person would (again if a re-render replaced it)."""
    from selenium.common.exceptions import StaleElementReferenceException

    for _ in range(20):
        try:
            driver.find_element("css selector", css).click()
            return
        except StaleElementReferenceException:
            time.sleep(0.05)
    raise AssertionError(f"{css} kept being replaced")


def wait_page(w: Watch, check: Callable[[], Any], what: str) -> Any:
    return eventually(check, what, log=w.text)


def screenshot(driver: Any, path: Path, docs: bool = False) -> None:
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if docs and os.environ.get("SYNCER_DOCS_SCREENSHOT") == "1":
        shutil.copy(path, REPO / "docs" / "images" / "watch-status.png")


def test_the_page_shows_every_dataset_in_sync_then_a_change_live(shop: Path, watch,
                                                                   chromium: Any) -> None:
    # enough rows that the apply takes a moment a person could see
    many = {f"k{i:06d}": float(i) for i in range(60_000)}
    write(shop / "data" / "products.csv", csv(many))
    write(shop / "data" / "extra.csv", csv({"e": 1.0}))
    write(shop / "manifests" / "shop.yaml", SHOP + """\
  - name: extra
    source: ../data/extra.csv
    columns: {sku: string, price: float}
""")
    w = watch()
    w.ready()
    loaded = open_page(chromium, w)
    wait_page(w, lambda: state(chromium, "shop/products") == "in_sync"
              and state(chromium, "shop/extra") == "in_sync", "every dataset in sync")
    row = text(chromium, ROW.format("shop/products"))
    assert "60,000" in row and "data/products.csv" in row and "+60000" in row, row
    assert "running" in text(chromium, "#watcher-facts") and "state/syncer.db" in text(
        chromium, "#watcher-facts")
    assert "ok" in text(chromium, "#runs tbody")  # the first run, from the history
    assert text(chromium, "#connection") == "live"

    write(shop / "data" / "products.csv", csv({k: v + 0.5 for k, v in many.items()}))
    wait_page(w, lambda: "applying" in chromium.execute_script(
        "return window.__seen['shop/products']"), "the row showing the apply under way")
    wait_page(w, lambda: state(chromium, "shop/products") == "in_sync", "back in sync")
    wait_page(w, lambda: "~60000" in text(chromium, ROW.format("shop/products")),
              "the last apply's counts")
    seen = chromium.execute_script("return window.__seen['shop/products']")
    assert seen.index("applying") < len(seen) - 1 - seen[::-1].index("in_sync")
    # the same page all along: no reload (the load mark survives), and no script error
    assert chromium.execute_script("return window.__loaded") == loaded
    assert not script_errors(chromium)
    screenshot(chromium, shop / "status-in-sync.png")


def test_a_broken_manifest_and_a_blocked_plan_are_shown_with_their_reasons(
        shop: Path, watch, chromium: Any) -> None:
    write(shop / "data" / "products.csv", csv({f"k{i}": float(i) for i in range(10)}))
    w = watch()
    w.ready()
    loaded = open_page(chromium, w)
    wait_page(w, lambda: state(chromium, "shop/products") == "in_sync", "in sync")
    assert not visible(chromium, "#banner")

    # a broken manifest: the banner says so, with the file and the problem
    write(shop / "manifests" / "shop.yaml", SHOP.replace("mode: upsert", "mode: upsert\n    nmae: x"))
    wait_page(w, lambda: "nmae" in text(chromium, "#banner"), "the manifest error on the page")
    assert "shop.yaml" in text(chromium, "#manifest-error")
    assert "last valid ones" in text(chromium, "#banner")
    write(shop / "manifests" / "shop.yaml", SHOP)
    wait_page(w, lambda: not visible(chromium, "#banner"),
              "the banner gone once the manifest is fixed")

    # a blocked plan: 9 of 10 rows deleted is over max_delete
    write(shop / "data" / "products.csv", csv({"k0": 0.0}))
    wait_page(w, lambda: state(chromium, "shop/products") == "blocked", "the row blocked")
    note = text(chromium, ROW.format("shop/products") + " td.note")
    assert "delete" in note, note
    assert "(1)" in chromium.title  # one dataset needs a person
    # its detail: the reason and the pending plan's deletes
    click(chromium, ROW.format("shop/products") + " a.dataset-link")
    wait_page(w, lambda: "Blocked by a safety guard" in text(chromium, "#detail"), "the detail")
    detail = text(chromium, "#detail")
    assert "Pending plan" in detail and "-9" in detail and "k1" in detail, detail
    assert len(chromium.find_elements("css selector", '#detail tr[data-op="-"]')) >= 1
    screenshot(chromium, shop / "status-blocked-detail.png")
    click(chromium, "#detail a.back")
    wait_page(w, lambda: visible(chromium, "#datasets"),
              "back to the overview")
    assert chromium.execute_script("return window.__loaded") == loaded
    assert not script_errors(chromium)


def test_what_users_and_servers_wrote_is_shown_as_text_never_run(shop: Path, watch,
                                                               chromium: Any) -> None:
    evil = "<img src=x onerror=window.__xss=1>"
    write(shop / "data" / "products.csv", "sku,price\n" + f'"{evil}",1\n' + "b,oops\n")
    w = watch()
    w.ready()
    open_page(chromium, w)
    wait_page(w, lambda: state(chromium, "shop/products") == "failing", "the bad source failing")
    click(chromium, ROW.format("shop/products") + " a.dataset-link")
    wait_page(w, lambda: "Last error" in text(chromium, "#detail"), "the error in full")
    assert "oops" in text(chromium, "#detail pre.error")
    # a good source with markup in a key: the plan's samples show it as text
    write(shop / "data" / "products.csv", "sku,price\n" + f'"{evil}",1\n')
    wait_page(w, lambda: evil in text(chromium, "#detail"), "the key shown literally")
    # a manifest error quoting markup
    write(shop / "manifests" / "shop.yaml", SHOP + f'"{evil}": 1\n')
    chromium.get(w.url + "/")
    wait_page(w, lambda: evil in text(chromium, "#manifest-error"), "the manifest error, literally")
    assert chromium.execute_script("return window.__xss") is None
    assert not chromium.find_elements("css selector", "#detail img, #banner img, #datasets img")


def test_the_page_reads_well_in_light_dark_and_on_a_phone(tmp_path: Path, watch,
                                                         chromium: Any) -> None:
    """Several targets and every kind of state: the screenshot in docs/watch.md."""
    write(tmp_path / "manifests" / "shop.yaml", SHOP + """\
  - name: prices
    source: ../data/prices.csv
    key: [sku]
    max_delete: 1
    columns: {sku: string, price: float}
""")
    write(tmp_path / "manifests" / "crm.yaml", """\
version: 1
target:
  name: crm
  type: sqlite
  path: ../build/crm.db
datasets:
  - name: customers
    source: ../data/customers.csv
    key: [sku]
    columns: {sku: string, price: float}
""")
    write(tmp_path / "data" / "products.csv", csv({"a": 1.0, "b": 2.0}))
    write(tmp_path / "data" / "prices.csv", csv({f"p{i}": float(i) for i in range(8)}))
    write(tmp_path / "data" / "customers.csv", csv({"c1": 1.0, "c2": 2.0}))
    w = watch()
    w.ready()
    write(tmp_path / "data" / "products.csv", csv({"a": 1.25, "b": 2.0, "c": 3.0}))
    write(tmp_path / "data" / "prices.csv", csv({"p0": 0.0}))            # blocked
    write(tmp_path / "data" / "customers.csv", "sku,price\nc1,1\nc2,two\n")  # failing
    open_page(chromium, w)
    wait_page(w, lambda: (state(chromium, "shop/prices"), state(chromium, "crm/customers"))
              == ("blocked", "failing"), "blocked and failing rows")
    wait_page(w, lambda: "+1" in text(chromium, ROW.format("shop/products")), "the last apply")
    for scheme in ("light", "dark"):
        color_scheme(chromium, scheme)
        time.sleep(0.3)
        background = chromium.execute_script(
            "return getComputedStyle(document.body).backgroundColor")
        dark = sum(int(c) for c in background[background.index("(") + 1:-1].split(",")[:3]) < 200
        assert dark == (scheme == "dark"), (scheme, background)
        screenshot(chromium, tmp_path / f"status-{scheme}.png", docs=scheme == "light")
    color_scheme(chromium, "light")
    try:  # a phone: no sideways scrolling, every cell labelled
        chromium.set_window_size(390, 844)
        time.sleep(0.3)
        width = chromium.execute_script("return [document.documentElement.scrollWidth, "
                                        "document.documentElement.clientWidth]")
        assert width[0] <= width[1] + 1, width
        assert not visible(chromium, "#datasets thead")
        screenshot(chromium, tmp_path / "status-phone.png")
    finally:
        chromium.set_window_size(1280, 900)
    assert not script_errors(chromium)


# -- /api/status, without a browser --------------------------------------------------------------

def test_api_status_is_versioned_json_and_answers_a_long_poll_on_change(shop: Path,
                                                                        watch) -> None:
    w = watch()
    w.ready()
    first = httpx.get(w.url + "/api/status", timeout=5)
    assert first.headers["content-type"].startswith("application/json")
    doc = first.json()
    assert doc["format_version"] == 1 and doc["watcher"]["state"] == "running"
    assert doc["watcher"]["state_store"] == "state/syncer.db" and doc["watcher"]["interval"] == 300
    [products] = doc["datasets"]
    assert (products["target"], products["dataset"], products["state"]) == ("shop", "products",
                                                                           "in_sync")
    assert products["rows"] == 2 and products["files"] == ["../data/products.csv"]
    assert products["last_apply"]["inserts"] == 2 and doc["runs"][0]["outcome"] == "ok"
    # nothing changes: the long poll waits; a change answers it at once
    started = time.monotonic()
    with httpx.Client(timeout=30) as client:
        import threading

        answer: list[dict[str, Any]] = []
        poll = threading.Thread(target=lambda: answer.append(client.get(
            w.url + f"/api/status?since={doc['version']}").json()))
        poll.start()
        time.sleep(1.0)
        assert not answer  # still waiting
        write(shop / "data" / "products.csv", csv({"a": 1.0, "b": 2.0, "c": 3.0}))
        poll.join(timeout=20)
    assert answer and answer[0]["version"] > doc["version"]
    assert time.monotonic() - started < 9  # answered by the change, not the poll's timeout
    page = httpx.get(w.url + "/", timeout=5)
    assert page.status_code == 200 and "default-src 'none'" in page.headers[
        "content-security-policy"]
    assert "/static/status.js" in page.text and "http" not in page.text.split("<body>")[0]
    for asset in ("status.js", "status.css"):
        assert httpx.get(w.url + "/static/" + asset, timeout=5).status_code == 200
    assert httpx.get(w.url + "/static/../health.py", timeout=5).status_code == 404
    assert httpx.get(w.url + "/nope", timeout=5).status_code == 404
