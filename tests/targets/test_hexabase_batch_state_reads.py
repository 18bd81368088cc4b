"""A load sent in many batches does not read the state's snapshot before each batch: the rows it
held before a batch are needed only to settle a batch that failed (its replay costs time and
memory that grow with every batch folded: a 10M-row zilliz first load peaked past 1 GB), and
a failed batch is still settled with the right count (tests/targets/test_hexabase_slow_queue.py)."""

from __future__ import annotations

from typing import Any

import pytest

from syncer.state.store import ChunkStore
from tests.targets.test_hexabase_e2e import Project, _products, hx  # noqa: F401


def test_a_load_of_many_batches_reads_the_snapshot_once_for_the_plan_only(
        hx: Project, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    reads: list[tuple[str, str]] = []
    original = ChunkStore.snapshot_keys

    def counted(self: ChunkStore, target: str, dataset: str) -> Any:
        reads.append((target, dataset))
        return original(self, target, dataset)

    monkeypatch.setattr(ChunkStore, "snapshot_keys", counted)
    hx.manifest(target="  token: ${HEXABASE_TOKEN}\n  max_rows_per_import: 10")
    hx.write(_products(10))
    hx.apply_ok()
    reads.clear()
    hx.write(_products(60))  # 50 rows more: 5 batches
    hx.apply_ok()
    assert len(hx.items()) == 60
    assert reads == [("hx", "products")]  # the plan's diff; before each batch, it was 1 + 5
