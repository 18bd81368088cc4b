"""A synced Milvus Lite collection is loaded and searchable when apply returns, and stays so when
the file is opened again by another process: read back there with plain pymilvus, which neither
loads nor knows anything of syncer.

Milvus Lite keeps no load state in the file: a collection *with an index* comes back released
whenever the file is opened (so does one made by ``create_collection(..., dimension=N)``), one
without an index comes back loaded.  A COSINE collection is therefore made without an index on
Milvus Lite; an L2 one keeps its index (a search without it would use COSINE) and says so.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

import syncer.targets.milvus.client as milvus_client  # noqa: E402
import syncer.targets.milvus.driver as milvus_module  # noqa: E402
import syncer.targets.milvus.rows as milvus_rows  # noqa: E402
from tests.targets.test_milvus_lite import V1, V2, Env, dataset, expected  # noqa: E402

# a plain pymilvus reader: no load_collection, no syncer
READER = """
import json, sys
from pymilvus import MilvusClient
client = MilvusClient(sys.argv[1])
name = sys.argv[2]
out = {"state": str(client.get_load_state(name)["state"])}
try:
    out["ids"] = sorted(r["id"] for r in client.query(name, filter="id >= 0",
                                                       output_fields=["id"]))
    hits = client.search(name, data=[json.loads(sys.argv[3])], limit=1,
                         output_fields=["title"])
    out["nearest"] = hits[0][0]["entity"]["title"]
except Exception as exc:
    out["error"] = str(exc)
client.close()
print(json.dumps(out))
"""


@pytest.fixture
def env(tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("SYNCER_STATE", raising=False)
    yield Env(tmp_path, capsys, monkeypatch)


def read_elsewhere(env: Env, collection: str, query: list[float]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", READER, str(env.uri), collection,
                           json.dumps(query)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


@pytest.mark.parametrize("extra", ["", "    alias: docs_live\n"], ids=["table", "alias"])
def test_a_synced_collection_is_loaded_and_searchable_from_another_process(
        env: Env, extra: str) -> None:
    mode = "replace" if extra else "upsert"
    env.manifest(dataset(mode, extra=extra))
    env.source(V1)
    env.apply_ok()
    name = "docs_live" if extra else "docs"
    for _ in range(2):  # and again: each open finds it loaded
        found = read_elsewhere(env, name, [2.0, 0.5, -0.25, 1.0])
        assert found.get("error") is None, found
        assert found["state"] == "Loaded", found
        assert found["ids"] == [1, 2, 3, 4, 5]
        assert found["nearest"] == "beta"  # row 2's vector is the query
    env.source(V1[:3])  # a later apply keeps it so
    env.apply_ok()
    found = read_elsewhere(env, name, [2.0, 0.5, -0.25, 1.0])
    assert (found["state"], found["ids"]) == ("Loaded", [1, 2, 3]), found


def test_an_l2_collection_keeps_its_index(env: Env) -> None:
    """L2 needs the index (Milvus Lite searches an unindexed collection with COSINE): it is
    loaded when apply returns, and a reader of the reopened file loads it first."""
    env.manifest(dataset("upsert", extra="    metric: L2\n"))
    env.source(V1)
    env.apply_ok()
    client = env.client()
    try:
        assert client.list_indexes("docs") == ["embedding"]
        assert client.describe_index("docs", "embedding")["metric_type"] == "L2"
    finally:
        client.close()
    env.assert_no_changes()


@pytest.mark.parametrize("extra", ["", "    alias: docs_live\n"], ids=["table", "alias"])
def test_a_lite_load_is_flushed_every_few_rows_and_lands_whole(
        env: Env, monkeypatch: pytest.MonkeyPatch, extra: str) -> None:
    """Milvus Lite runs in syncer's process and turns every buffered row into Python objects
    when it flushes: the driver flushes it every LITE_FLUSH_ROWS rows written (here 3, one row a
    request), and the collection still holds every row, read by another process."""
    monkeypatch.setattr(milvus_module, "MAX_BATCH_ROWS", 2)
    monkeypatch.setattr(milvus_rows, "MAX_REQUEST_BYTES", 1)  # one row per request
    monkeypatch.setattr(milvus_module, "LITE_FLUSH_ROWS", 3)
    real = milvus_client.Client.call
    flushed: list[str] = []

    def spy(self: Any, what: str, name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "flush":
            flushed.append(args[0])
        return real(self, what, name, *args, **kwargs)

    monkeypatch.setattr(milvus_client.Client, "call", spy)
    env.manifest(dataset("replace" if extra else "upsert", extra=extra))
    env.source(V1)
    env.apply_ok()
    assert len(flushed) == 1, flushed  # after the 3rd row of 5; the rest at close
    name = "docs_live" if extra else "docs"
    found = read_elsewhere(env, name, [2.0, 0.5, -0.25, 1.0])  # before this process opens it
    assert (found["state"], found["ids"]) == ("Loaded", [1, 2, 3, 4, 5]), found
    assert env.rows(name) == expected(V1)
    env.source(V2)  # a new driver: upsert writes the 4 changed rows, replace all 6
    env.apply_ok()
    assert len(flushed) == (3 if extra else 2), flushed
    assert env.rows(name) == expected(V2)
    env.assert_no_changes()
