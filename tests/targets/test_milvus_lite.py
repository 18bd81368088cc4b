"""End to end: the real CLI (in-process) against Milvus Lite (embedded, a ``.db`` in ``tmp_path``).

Every test writes a manifest and JSON Lines sources into ``tmp_path``, runs ``syncer apply`` /
``syncer plan`` through ``syncer.cli.main`` with ``sys.argv`` patched, and reads the collection back
with pymilvus: what the target holds is judged by Milvus, never by syncer's own state.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

pymilvus = pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

import syncer.targets.milvus.client as milvus_client  # noqa: E402
import syncer.targets.milvus.driver as milvus_module  # noqa: E402
import syncer.targets.milvus.rows as milvus_rows  # noqa: E402
from syncer.errors import TargetError  # noqa: E402
from tests.conftest import TargetProject

REPO = Path(__file__).resolve().parents[2]
DIM = 4
FIELDS = ["id", "title", "score", "flag", "day", "meta", "embedding"]

# rows: (id, title, score, flag, day, meta, embedding); vector values are exact in float32
Row = tuple[Any, ...]


def row(i: int, title: str, score: float | None = 1.5, flag: bool | None = True,
        day: str | None = "2024-01-05", meta: dict[str, Any] | list[Any] | None = None,
        vec: Sequence[float] | None = None) -> Row:
    return (i, title, score, flag, day, {"n": i} if meta is None else meta,
            tuple(vec) if vec is not None else (float(i), 0.5, -0.25, 1.0))


V1 = [row(1, "alpha"), row(2, "beta", 2.25), row(3, "gamma", None, False),
      row(4, 'quote " and \\ back', 0.0, None, None, [1, "x"]), row(5, "epsilon", -3.5)]
V2 = [  # edit 2 (title, vector), remove 3, add 6 and 7, edit 4's json
    row(1, "alpha"), row(2, "beta two", 2.25, vec=(0.0, 0.0, 1.0, 0.5)),
    row(4, 'quote " and \\ back', 0.0, None, None, {"k": [1, 2]}), row(5, "epsilon", -3.5),
    row(6, "zeta", 6.0, False, "2023-12-31"), row(7, "eta", None, None, None)]
V3 = [  # V2 re-ordered: not a change
    V2[3], V2[1], V2[0], V2[5], V2[4], V2[2]]
V4 = [  # remove most rows, edit 1 (nulls), add 8
    row(1, "alpha", None, None, None, {"n": 1, "more": True}), row(8, "theta", 8.0)]
VERSIONS = [V1, V2, V3, V4]


# -- the harness ---------------------------------------------------------------------------------

class Env(TargetProject):
    """A project in ``tmp_path``: ``manifests/``, ``data/``, the state and a Milvus Lite file."""

    def __init__(self, root: Path, capsys: pytest.CaptureFixture[str],
                 monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__(root, capsys, monkeypatch)
        self.uri = root / "build" / "vectors.db"

    def manifest(self, datasets: str) -> None:
        text = ("version: 1\n"
                "target:\n  name: vec\n  type: milvus\n  uri: ../build/vectors.db\n"
                "datasets:\n" + datasets)
        (self.manifests / "vec.yaml").write_text(text, encoding="utf-8")

    def source(self, rows: Sequence[Row], name: str = "docs.jsonl", key_type: str = "integer") -> Path:
        lines = []
        for r in rows:
            record = dict(zip(FIELDS, r))
            record["embedding"] = list(r[6]) if r[6] is not None else None
            if key_type == "string":
                record["id"] = key_of(r[0], key_type)
            lines.append(json.dumps(record, ensure_ascii=False))
        path = self.data / name
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return path

    # reading the target with pymilvus
    def client(self) -> Any:
        return pymilvus.MilvusClient(str(self.uri))

    def rows(self, collection: str, fields: Sequence[str] = FIELDS) -> Counter[Row]:
        client = self.client()
        try:
            client.load_collection(collection)
            found = client.query(collection, filter="", output_fields=list(fields), limit=10_000,
                                 consistency_level="Strong")
            return Counter(_as_row(r, fields) for r in found)
        finally:
            client.close()


def key_of(i: Any, key_type: str) -> Any:
    return f'k"{i}\\' if key_type == "string" else i


def _as_row(found: dict[str, Any], fields: Sequence[str]) -> Row:
    out = []
    for name in fields:
        value = found.get(name)
        if name == "embedding":
            value = tuple(float(x) for x in value)
        elif name == "meta" and value is not None:
            value = json.dumps(value, sort_keys=True)
        out.append(value)
    return tuple(out)


def expected(rows: Sequence[Row] | Counter[Row], key_type: str = "integer") -> Counter[Row]:
    return Counter((key_of(r[0], key_type), *r[1:5],
                    None if r[5] is None else json.dumps(r[5], sort_keys=True), r[6])
                   for r in rows)


def mode_result(mode: str, versions: Sequence[Sequence[Row]]) -> list[Row]:
    """What the collection holds after ``versions`` were applied in turn (key = the id)."""
    if mode == "replace":
        return list(versions[-1])
    if mode == "append":
        first: dict[Any, Row] = {}
        for version in versions:
            for r in version:
                first.setdefault(r[0], r)
        return list(first.values())
    return list(versions[-1])  # upsert with delete_missing


DATASET = """\
  - name: docs
    source: ../data/docs.jsonl
    table: docs
    mode: {mode}
    key: id
    allow_deletes: true
{extra}    columns:
      id: {key_type}
      title: string
      score: float
      flag: boolean
      day: date
      meta: json
      embedding: {{type: vector, dim: {dim}}}
"""


def dataset(mode: str, key_type: str = "integer", extra: str = "", dim: int = DIM) -> str:
    return DATASET.format(mode=mode, key_type=key_type, extra=extra, dim=dim)


@pytest.fixture
def env(tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("SYNCER_STATE", raising=False)
    monkeypatch.delenv("SYNCER_DEBUG", raising=False)
    yield Env(tmp_path, capsys, monkeypatch)


# -- every mode over several source versions ---------------------------------------------------

@pytest.mark.parametrize(("mode", "key_type"), [("replace", "integer"), ("append", "integer"),
                                                ("upsert", "integer"), ("upsert", "string")])
def test_mode_over_versions(env: Env, monkeypatch: pytest.MonkeyPatch, mode: str,
                            key_type: str) -> None:
    # small batches and requests, so a version goes as several batches and several requests
    monkeypatch.setattr(milvus_module, "MAX_BATCH_ROWS", 2)
    monkeypatch.setattr(milvus_rows, "MAX_REQUEST_BYTES", 150)
    env.manifest(dataset(mode, key_type))
    applied: list[Sequence[Row]] = []
    for version in VERSIONS:
        env.source(version, key_type=key_type)
        env.apply_ok()
        applied.append(version)
        assert env.rows("docs") == expected(mode_result(mode, applied), key_type), \
            f"after version {len(applied)}"
        env.assert_no_changes()


def test_replace_with_alias_moves_it_and_drops_the_old_collection(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(milvus_module, "MAX_BATCH_ROWS", 2)  # an alias replace is one batch
    real = milvus_client.Client.call
    held_when_moved: list[int] = []

    def spy(self: Any, what: str, name: str, *args: Any, **kwargs: Any) -> Any:
        if name in ("create_alias", "alter_alias"):  # what readers would see once it moves
            held_when_moved.append(self.count(args[0]))
        return real(self, what, name, *args, **kwargs)

    monkeypatch.setattr(milvus_client.Client, "call", spy)
    env.manifest(dataset("replace", extra="    alias: docs_live\n"))
    seen: list[str] = []
    for version in (V1, V2, V4):
        env.source(version)
        held_when_moved.clear()
        env.apply_ok()
        assert held_when_moved == [len(version)]
        client = env.client()
        try:
            current = client.describe_alias("docs_live")["collection_name"]
            collections = client.list_collections()
        finally:
            client.close()
        assert current.startswith("docs__") and current not in seen
        assert [c for c in collections if c.startswith("docs")] == [current], collections
        assert env.rows("docs_live") == expected(version)
        env.assert_no_changes()
        seen.append(current)


# -- refusals ----------------------------------------------------------------------------------

def test_wrong_vector_dim_names_the_row_and_writes_nothing(env: Env) -> None:
    env.manifest(dataset("upsert"))
    env.source(V1)
    env.apply_ok()
    bad = [*V2[:2], row(9, "bad", vec=(1.0, 2.0, 3.0)), *V2[2:]]
    env.source(bad)
    result = env.apply()
    assert result.code == 1, str(result)
    assert "Traceback" not in result.output
    assert "docs.jsonl:3" in result.output and "expected dim 4" in result.output, str(result)
    assert env.rows("docs") == expected(V1)
    env.source(V1)
    env.assert_no_changes()


def test_existing_collection_with_another_schema_is_refused(env: Env) -> None:
    env.uri.parent.mkdir()
    client = env.client()
    try:
        schema = pymilvus.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", pymilvus.DataType.INT64, is_primary=True)
        schema.add_field("title", pymilvus.DataType.INT64)
        schema.add_field("embedding", pymilvus.DataType.FLOAT_VECTOR, dim=16)
        index = client.prepare_index_params()
        index.add_index("embedding", index_type="AUTOINDEX", metric_type="COSINE")
        client.create_collection("docs", schema=schema, index_params=index)
    finally:
        client.close()
    env.manifest(dataset("upsert"))
    env.source(V1)
    result = env.apply()
    assert result.code == 1, str(result)
    assert "Traceback" not in result.output
    for part in ("collection 'docs' exists with a schema that does not match",
                 "field 'title' is INT64, declared VARCHAR",
                 "field 'embedding' is FLOAT_VECTOR(dim 16), declared FLOAT_VECTOR(dim 4)",
                 "field 'score' (DOUBLE) is missing"):
        assert part in result.output, str(result)
    assert env.rows("docs", ["id"]) == Counter()
    plan = env.plan()
    assert plan["changes"] is True  # nothing recorded: the next apply tries again


def test_row_without_vector_is_rejected_with_its_line_others_land(env: Env) -> None:
    env.manifest(dataset("upsert"))
    rows = [*V1[:2], (9, "no vector", 1.0, True, None, None, None), *V1[2:]]
    env.source(rows)
    result = env.apply()
    assert result.code == 1, str(result)
    assert "docs.jsonl:3" in result.output and "has no vector" in result.output, str(result)
    assert env.rows("docs") == expected(V1)
    plan = env.plan()  # the rejected row was not recorded: it is planned again
    assert (plan["datasets"][0]["inserts"], plan["changes"]) == (1, True)


# -- outcomes that are not known: settle -------------------------------------------------------

def _fail_once(monkeypatch: pytest.MonkeyPatch, method: str, at_call: int) -> None:
    """Make the ``at_call``-th ``method`` request of the driver fail after the earlier landed."""
    real = milvus_client.Client.call
    calls = {"n": 0}

    def flaky(self: Any, what: str, name: str, *args: Any, **kwargs: Any) -> Any:
        if name == method:
            calls["n"] += 1
            if calls["n"] == at_call:
                raise TargetError(f"milvus target: {what}: connection reset (injected)",
                                  retryable=True)
        return real(self, what, name, *args, **kwargs)

    monkeypatch.setattr(milvus_client.Client, "call", flaky)


def test_half_landed_append_is_completed_never_duplicated(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(milvus_rows, "MAX_REQUEST_BYTES", 1)  # one row per insert request
    env.manifest(dataset("append"))
    env.source(V1)
    _fail_once(monkeypatch, "insert", 3)
    result = env.apply()
    assert result.code == 1 and "injected" in result.output, str(result)
    assert env.rows("docs") == expected(V1)  # rows 1-2 landed, settle inserted 3-5, once
    env.assert_no_changes()


def test_half_landed_upsert_is_sent_again(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(milvus_rows, "MAX_REQUEST_BYTES", 1)
    env.manifest(dataset("upsert"))
    env.source(V1)
    env.apply_ok()
    env.source(V2)
    _fail_once(monkeypatch, "upsert", 2)
    result = env.apply()
    assert result.code == 1 and "injected" in result.output, str(result)
    assert env.plan()["changes"] is True  # settled as "not landed"
    env.apply_ok()
    assert env.rows("docs") == expected(V2)
    env.assert_no_changes()


def test_half_emptied_replace_is_reloaded_by_settle(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(milvus_rows, "MAX_REQUEST_BYTES", 1)
    env.manifest(dataset("replace"))
    env.source(V1)
    env.apply_ok()
    env.source(V2)
    _fail_once(monkeypatch, "insert", 2)
    result = env.apply()
    assert result.code == 1 and "injected" in result.output, str(result)
    assert env.rows("docs") == expected(V2)
    env.assert_no_changes()


def test_alias_that_did_not_move_keeps_the_old_collection(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.manifest(dataset("replace", extra="    alias: docs_live\n"))
    env.source(V1)
    env.apply_ok()
    env.source(V2)
    _fail_once(monkeypatch, "alter_alias", 1)
    result = env.apply()
    assert result.code == 1 and "injected" in result.output, str(result)
    client = env.client()
    try:
        live = client.describe_alias("docs_live")["collection_name"]
        collections = [c for c in client.list_collections() if c.startswith("docs")]
    finally:
        client.close()
    assert collections == [live]  # the half-built collection was dropped by settle
    assert env.rows("docs_live") == expected(V1)
    assert env.plan()["changes"] is True
    env.apply_ok()
    assert env.rows("docs_live") == expected(V2)
    env.assert_no_changes()


def test_lite_file_held_by_another_process_is_a_clear_error(env: Env) -> None:
    env.manifest(dataset("upsert"))
    env.source(V1)
    env.uri.parent.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, pymilvus; c = pymilvus.MilvusClient(sys.argv[1]); "
         "print('holding', flush=True); sys.stdin.read()", str(env.uri)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        result = env.apply()
    finally:
        holder.communicate("", timeout=30)
    assert result.code == 1, str(result)
    assert "another process holds the lock" in result.output, str(result)
    assert "Traceback" not in result.output
    env.apply_ok()  # once the other process is gone
    assert env.rows("docs") == expected(V1)


# -- manifests and packaging -------------------------------------------------------------------

@pytest.mark.parametrize(("columns", "extra", "mode", "message"), [
    ("      id: integer\n      title: string\n", "", "upsert", "exactly one vector column"),
    ("      id: float\n      v: {type: vector, dim: 2}\n", "", "upsert",
     "must be an integer or string column"),
    ("      id: integer\n      v: {type: vector, dim: 2}\n", "    alias: live\n", "upsert",
     "works with mode replace only"),
    ("      id: integer\n      bad-name: string\n      v: {type: vector, dim: 2}\n", "",
     "upsert", "not a valid Milvus field name"),
])
def test_manifest_checks(env: Env, columns: str, extra: str, mode: str, message: str) -> None:
    env.source(V1)
    (env.manifests / "vec.yaml").write_text(
        "version: 1\ntarget:\n  name: vec\n  type: milvus\n  uri: ../build/vectors.db\n"
        f"datasets:\n  - name: docs\n    source: ../data/docs.jsonl\n    mode: {mode}\n"
        f"    key: id\n{extra}    columns:\n{columns}", encoding="utf-8")
    result = env.run("validate", "-m", env.manifests)
    assert result.code == 1, str(result)
    assert message in result.output and "vec.yaml:" in result.output, str(result)


def test_syncer_runs_without_pymilvus_until_a_milvus_target_is_applied(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    check = ("import sys; sys.modules['pymilvus'] = None; "
             "import syncer.cli, syncer.targets.registry, syncer.targets.milvus.config; "
             "assert 'pymilvus' not in [m for m, v in sys.modules.items() if v is not None]")
    done = subprocess.run([sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    monkeypatch.setitem(sys.modules, "pymilvus", None)  # importing it now raises ImportError
    env.manifest(dataset("upsert"))
    env.source(V1)
    result = env.apply()
    assert result.code == 1, str(result)
    assert "pip install 'syncer-data[milvus]'" in result.output, str(result)
    assert "Traceback" not in result.output


def test_bundled_example_applies_on_milvus_lite(env: Env) -> None:
    manifests = env.root / "example" / "manifests" / "milvus"
    manifests.mkdir(parents=True)
    (env.root / "example" / "data").mkdir()
    (manifests / "docs.yaml").write_text((REPO / "manifests/milvus/docs.yaml").read_text())
    (env.root / "example/data/docs.jsonl").write_text((REPO / "data/docs.jsonl").read_text())
    state = env.root / "example" / "state.db"
    result = env.run("apply", "-m", manifests, "--state", state, "--auto-approve")
    assert result.code == 0, str(result)
    client = pymilvus.MilvusClient(str(env.root / "example" / "build" / "vectors.db"))
    try:
        client.load_collection("docs")
        count = client.query("docs", filter="", output_fields=["count(*)"])[0]["count(*)"]
        hits = client.search("docs", data=[[0.1] * 8], limit=3, output_fields=["title"])
    finally:
        client.close()
    assert count == 12 and len(hits[0]) == 3
    plan = env.run("plan", "-m", manifests, "--state", state, "--json")
    assert json.loads(plan.out)["changes"] is False
