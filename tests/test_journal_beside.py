"""A streamed batch's journal entry is written beside its load (syncer/sync/beside.py), on the
SQLite target through the CLI: in a thread of its own, finished before the target commits; a
journal that fails leaves the target as it was; a load that fails leaves no journal entry open
and nothing recorded.  (The streamed path is taken above ``SLICE_ROWS`` rows: lowered here.)"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest

from syncer.errors import StateError, TargetError
from syncer.state import ChunkStore as StateStore
from syncer.state import open_state
from syncer.targets import base
from syncer.targets.base import Batch
from syncer.targets.sqlite import driver as sqlite_driver
from tests.conftest import Project, csv_text, table_exists

ROWS = [[str(i), f"name {i}"] for i in range(5000)]


@pytest.fixture
def shop(project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setattr(base, "SLICE_ROWS", 1000)
    project.manifest("""\
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
""")
    project.write("products.csv", csv_text(["sku", "name"], ROWS))
    return project


def held(shop: Project) -> Counter[tuple[str, str]]:
    if not table_exists(shop.target_db, "products"):
        return Counter()
    return shop.table("products", ["sku", "name"])


def test_the_journal_is_written_in_its_own_thread_and_before_the_commit(
        shop: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[tuple[str, str]] = []
    open_batch, before_commit = StateStore.open_batch, Batch.before_commit

    def journal(self: StateStore, *args: Any, **kwargs: Any) -> None:
        open_batch(self, *args, **kwargs)
        events.append(("journal written", threading.current_thread().name))

    def commit(self: Batch) -> None:
        before_commit(self)
        events.append(("target may commit", threading.current_thread().name))

    monkeypatch.setattr(StateStore, "open_batch", journal)
    monkeypatch.setattr(Batch, "before_commit", commit)
    shop.apply_ok()
    assert events == [("journal written", "syncer-journal"),
                      ("target may commit", threading.main_thread().name)]
    assert held(shop) == Counter(map(tuple, ROWS))
    assert "No changes." in shop.plan().out


def test_a_journal_that_fails_leaves_the_target_as_it_was(
        shop: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    open_batch = StateStore.open_batch

    def failing(self: StateStore, *args: Any, **kwargs: Any) -> None:
        raise StateError("the state refused the journal entry (test)")

    monkeypatch.setattr(StateStore, "open_batch", failing)
    result = shop.apply()
    assert result.code == 1, str(result)
    assert "the state refused the journal entry (test)" in result.output
    assert sum(held(shop).values()) == 0  # the load was rolled back, never committed
    record = shop.record("products")
    assert record is None or record["rows"] == 0
    monkeypatch.setattr(StateStore, "open_batch", open_batch)
    shop.apply_ok()
    assert held(shop) == Counter(map(tuple, ROWS))
    assert "No changes." in shop.plan().out


def test_a_load_that_fails_leaves_no_open_journal_entry(
        shop: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    apply = sqlite_driver.SqliteDriver.apply

    def failing(self: sqlite_driver.SqliteDriver, batch: Batch) -> Any:
        next(iter(batch.upsert_slices()))  # part way into the rows
        raise TargetError("the target went away (test)")

    monkeypatch.setattr(sqlite_driver.SqliteDriver, "apply", failing)
    result = shop.apply()
    assert result.code == 1, str(result)
    assert "the target went away (test)" in result.output
    assert sum(held(shop).values()) == 0
    monkeypatch.setattr(sqlite_driver.SqliteDriver, "apply", apply)
    store = open_state(shop.state)
    try:
        assert store.open_batches() == []  # stopped, or written and then settled as not landed
    finally:
        store.close()
    shop.apply_ok()
    assert held(shop) == Counter(map(tuple, ROWS))
    assert "No changes." in shop.plan().out
