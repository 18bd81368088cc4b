"""End to end: the real CLI (in-process) against the Zilliz Cloud emulator on 127.0.0.1, with a
moto S3 server as the stage bucket.

Every test writes a manifest and a JSON Lines source into ``tmp_path`` (``url``, ``endpoint`` and
``api_key`` from the environment), runs ``syncer apply`` / ``syncer plan`` through
``syncer.cli.main`` with ``sys.argv`` patched, and reads the collection back through
``entities/query``: what the target holds is judged by the emulator, never by syncer's state.
"""

from __future__ import annotations

import json
import random
import sqlite3
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import syncer.targets.zilliz.driver as zilliz_driver
import syncer.targets.zilliz.files as zilliz_files
import syncer.targets.zilliz.jobs as zilliz_jobs
from syncer.targets.alias_swap import AliasSwap
from syncer.emulators.base import FaultConfig, Request, Response
from syncer.emulators.zilliz import ZillizEmulator
from syncer.state import ChunkStore, open_state
from tests.fixtures.zilliz import CLUSTER_ID, S3Server, ZillizServer, zilliz_emulator
from tests.conftest import TargetProject, crash_after_target_commit

API_KEY = "e2e-zilliz-key-5d1c9a"
DIM = 4

Row = tuple[int, str, str, tuple[float, ...]]  # id, title, meta (canonical JSON), embedding


# -- the harness ---------------------------------------------------------------------------------

class Recorder:
    """Every request the emulator receives and what it answered (wraps its dispatch)."""

    def __init__(self, emulator: ZillizEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[Request, Response | None]] = []
        dispatch = emulator.dispatch

        def record(request: Request) -> Response | None:
            response = dispatch(request)
            self.calls.append((request, response))
            return response

        monkeypatch.setattr(emulator, "dispatch", record)

    def paths(self) -> list[str]:
        return [request.path.removeprefix("/v2/vectordb/") for request, _ in self.calls]

    def count(self, path: str) -> int:
        return self.paths().count(path)

    def codes(self) -> list[int]:
        out = []
        for _request, response in self.calls:
            if response is not None and response.body:
                out.append(json.loads(response.body).get("code", 0))
        return out

    def clear(self) -> None:
        self.calls.clear()


class Project(TargetProject):
    """Manifest, source and state of one test, and the emulator they talk to."""

    converge_attempts = 6

    def __init__(self, root: Path, server: ZillizServer, capsys: pytest.CaptureFixture[str],
                 monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__(root, capsys, monkeypatch)
        self.server = server
        self.recorder = Recorder(server.emulator, monkeypatch)

    # -- files
    def manifest(self, *, mode: str = "upsert", target: str = "", dataset: str = "",
                 dim: int = DIM, table: str = "docs") -> None:
        (self.manifests / "zilliz.yaml").write_text(f"""\
version: 1
target:
  name: zc
  type: zilliz
  url: ${{ZILLIZ_URL}}
  endpoint: ${{ZILLIZ_ENDPOINT}}
  api_key: ${{ZILLIZ_API_KEY}}
  cluster_id: {CLUSTER_ID}
  stage: {{url: "s3://{self.server.bucket}/syncer", endpoint_url: "{self.server.s3.endpoint}"}}
  poll_interval: 0.02
  rate_limit: 500
{target}datasets:
  - name: docs
    source: ../data/docs.jsonl
    table: {table}
    mode: {mode}
    key: id
{dataset}    columns:
      id: integer
      title: string
      meta: json
      embedding: {{type: vector, dim: {dim}}}
""", encoding="utf-8")

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        (self.data / "docs.jsonl").write_text(text, encoding="utf-8")

    # -- reading the target and the state
    def rows(self, collection: str = "docs") -> Counter[Row]:
        return Counter(_row(e) for e in self.server.entities(collection))

    def assert_unique_keys(self, collection: str = "docs") -> None:
        counts = self.server.key_counts(collection)
        assert all(n == 1 for n in counts.values()), {k: n for k, n in counts.items() if n > 1}

    def state_dump(self) -> list[tuple[Any, ...]]:
        if not self.state.exists():
            return []
        con = sqlite3.connect(self.state)
        try:
            return [*con.execute("SELECT * FROM datasets ORDER BY target, dataset"),
                    *con.execute("SELECT * FROM snapshot_chunks ORDER BY target, dataset, chunk"),
                    *con.execute("SELECT batch_id, status FROM journal ORDER BY id")]
        finally:
            con.close()


def _row(entity: dict[str, Any]) -> Row:
    return (int(entity["id"]), entity["title"], json.dumps(entity["meta"], sort_keys=True),
            tuple(round(float(x), 6) for x in entity["embedding"]))


def _doc(i: int, title: str | None = None, shift: float = 0.0) -> dict[str, Any]:
    # multiples of 1/8: exact in float32, so what is read back equals what was written
    return {"id": i, "title": title or f"doc {i}", "meta": {"n": i, "tags": ["a", str(i % 3)]},
            "embedding": [i / 8, -i / 8, 0.5 + shift, 1.0]}


def _typed(rows: Sequence[dict[str, Any]]) -> list[Row]:
    return [_row(r) for r in rows]


def _expected(mode: str, versions: Sequence[Sequence[dict[str, Any]]]) -> Counter[Row]:
    if mode == "replace":
        return Counter(_typed(versions[-1]))
    if mode == "append":  # identity is the key: the first row delivered for a key stays
        first: dict[int, Row] = {}
        for version in versions:
            for row in _typed(version):
                first.setdefault(row[0], row)
        return Counter(first.values())
    return Counter({row[0]: row for row in _typed(versions[-1])}.values())


@contextmanager
def zilliz_project(tmp_path: Path, moto_s3: S3Server, capsys: pytest.CaptureFixture[str],
                   monkeypatch: pytest.MonkeyPatch, **emulator: Any) -> Iterator[Project]:
    """A project in ``tmp_path`` and the emulator it applies into (``emulator``: its options,
    e.g. ``job_delay``)."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("SYNCER_STATE", raising=False)
    monkeypatch.delenv("SYNCER_DEBUG", raising=False)
    with zilliz_emulator(moto_s3, tmp_path / "emulator", api_key=API_KEY, **emulator) as server:
        monkeypatch.setenv("ZILLIZ_URL", server.url)
        monkeypatch.setenv("ZILLIZ_ENDPOINT", server.url)
        monkeypatch.setenv("ZILLIZ_API_KEY", API_KEY)
        yield Project(tmp_path, server, capsys, monkeypatch)


@pytest.fixture
def zc(tmp_path: Path, moto_s3: S3Server, s3_keys: None, capsys: pytest.CaptureFixture[str],
       monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    with zilliz_project(tmp_path, moto_s3, capsys, monkeypatch) as project:
        yield project


V1 = [_doc(i) for i in range(1, 11)]
V2 = [r for r in V1 if r["id"] not in (3, 7)]          # two removed
V2[1] = _doc(2, title="two, retitled")                  # a changed title
V2[3] = _doc(5, shift=0.25)                             # a changed vector
V2 += [_doc(11), _doc(12)]                              # two new
V3 = [*V2[:4], _doc(3, title="three is back"), *V2[4:]]  # a key re-added
V3[0] = _doc(1, title="one, again")


# -- 1. the modes over several source versions ---------------------------------------------------

@pytest.mark.parametrize("mode", ["replace", "append", "upsert"])
def test_each_mode_holds_what_it_defines_over_versions(zc: Project, mode: str) -> None:
    zc.manifest(mode=mode, target="  max_rows_per_import: 4\n")  # several jobs per version
    versions = [V1, V2, V3]
    for number in range(1, len(versions) + 1):
        zc.write(versions[number - 1])
        zc.apply_ok()
        assert zc.rows() == _expected(mode, versions[:number]), f"after version {number}"
        zc.assert_unique_keys()
        zc.assert_no_changes()
        # the same file again: nothing is sent
        zc.recorder.clear()
        zc.apply_ok()
        assert zc.recorder.count("jobs/import/create") == 0
        assert zc.rows() == _expected(mode, versions[:number])


def test_upsert_deletes_before_it_imports_and_never_duplicates(zc: Project) -> None:
    zc.manifest(mode="upsert")
    zc.write(V1)
    zc.apply_ok()
    zc.write(V2)
    zc.recorder.clear()
    zc.apply_ok()
    paths = zc.recorder.paths()
    # the changed keys (and the removed ones) go before the one import of new + changed rows
    assert paths.count("jobs/import/create") == 1
    assert max(i for i, p in enumerate(paths) if p == "entities/delete") < \
        paths.index("jobs/import/create")
    zc.assert_unique_keys()
    assert zc.rows() == _expected("upsert", [V1, V2])


def test_an_upsert_into_a_collection_it_created_deletes_nothing_first(zc: Project) -> None:
    # several jobs: none of the plan's keys can be in the collection this run created
    zc.manifest(mode="upsert", target="  max_rows_per_import: 4\n")
    zc.write(V1)
    zc.apply_ok()
    assert zc.recorder.count("collections/create") == 1
    assert zc.recorder.count("jobs/import/create") == 3
    assert zc.recorder.count("entities/delete") == 0
    assert zc.rows() == _expected("upsert", [V1])
    # the next run did not create it: the keys it writes are deleted before they are imported
    zc.write(V2)
    zc.recorder.clear()
    zc.apply_ok()
    assert zc.recorder.count("entities/delete") > 0
    zc.assert_unique_keys()
    assert zc.rows() == _expected("upsert", [V1, V2])


def test_an_upsert_into_an_existing_empty_collection_still_deletes_first(zc: Project) -> None:
    # created by someone else (or an earlier run): what it holds is not known, keys go first
    zc.manifest(mode="upsert")
    zc.write(V1)
    zc.apply_ok()
    for path in zc.state.parent.glob(f"{zc.state.name}*"):
        path.unlink()  # a new state: a first load again
    zc.server.ok("entities/delete", {"collectionName": "docs", "filter": "id >= 0"})
    zc.recorder.clear()
    zc.apply_ok()
    assert zc.recorder.count("collections/create") == 0
    assert zc.recorder.count("entities/delete") > 0
    zc.assert_unique_keys()
    assert zc.rows() == _expected("upsert", [V1])


@pytest.mark.parametrize("seed", [3, 11])
def test_no_duplicate_keys_after_any_sequence_of_upserts(zc: Project, seed: int) -> None:
    zc.manifest(mode="upsert", target="  max_rows_per_import: 7\n",
                dataset="    max_delete: 100%\n")
    rng = random.Random(seed)
    current = {i: _doc(i) for i in range(1, 21)}
    for step in range(5):
        for key in rng.sample(sorted(current), k=min(4, len(current))):
            current[key] = _doc(key, title=f"edit {step}", shift=rng.choice([0.0, 0.25]))
        for key in rng.sample(sorted(current), k=2):
            del current[key]
        for key in rng.sample(range(1, 40), k=3):
            current.setdefault(key, _doc(key, title=f"new {step}"))
        rows = list(current.values())
        rng.shuffle(rows)
        zc.write(rows)
        zc.apply_ok()
        zc.assert_unique_keys()
        assert zc.rows() == Counter(_typed(rows)), f"after step {step}"
    zc.assert_no_changes()


# -- 2. alias swap on replace ----------------------------------------------------------------------

def test_replace_with_alias_swaps_a_fresh_collection(zc: Project) -> None:
    zc.manifest(mode="replace", dataset="    alias: docs_live\n")
    zc.write(V1)
    zc.apply_ok()
    first = zc.server.ok("aliases/describe", {"aliasName": "docs_live"})["collectionName"]
    assert first.startswith("docs__")
    assert zc.rows("docs_live") == Counter(_typed(V1))
    zc.assert_no_changes()

    zc.write(V2)
    zc.apply_ok()
    second = zc.server.ok("aliases/describe", {"aliasName": "docs_live"})["collectionName"]
    assert second != first and second.startswith("docs__")
    assert zc.rows("docs_live") == Counter(_typed(V2))
    # the collection the alias left was dropped; only the live one is there
    assert zc.server.ok("collections/list") == [second]
    zc.assert_unique_keys(second)
    zc.assert_no_changes()


def test_alias_that_names_a_collection_is_refused_before_anything_is_sent(zc: Project) -> None:
    zc.server.ok("collections/create", {"collectionName": "docs_live", "dimension": DIM})
    zc.manifest(mode="replace", dataset="    alias: docs_live\n")
    zc.write(V1)
    result = zc.apply()
    assert result.code == 1, str(result)
    assert "'docs_live' is a collection, not an alias" in result.err, str(result)
    assert zc.recorder.count("jobs/import/create") == 0
    assert zc.state_dump() == []


# -- 3. failed jobs ----------------------------------------------------------------------------------

def _corrupt_second_vector(monkeypatch: pytest.MonkeyPatch) -> None:
    """Write import files whose second row has a vector one value short (the job must fail)."""
    write = zilliz_jobs.import_file

    def corrupted(frame: Any, schema: Any) -> bytes:
        document = json.loads(write(frame, schema))
        if len(document["rows"]) > 1:
            document["rows"][1]["embedding"] = document["rows"][1]["embedding"][:-1]
        return json.dumps(document).encode()

    monkeypatch.setattr(zilliz_jobs, "import_file", corrupted)


def _corrupt_second_vector_parquet(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same in Parquet: the vector column as a list whose second row is one value short."""
    import pyarrow as pa

    table_of = zilliz_files.arrow_table

    def corrupted(frame: Any, schema: Any, dynamic: bool) -> Any:
        table = table_of(frame, schema, dynamic)
        vectors = table.column("embedding").to_pylist()
        if len(vectors) > 1:
            vectors[1] = vectors[1][:-1]
        return table.set_column(table.schema.get_field_index("embedding"), "embedding",
                                pa.array(vectors, pa.list_(pa.float32())))

    monkeypatch.setattr(zilliz_files, "arrow_table", corrupted)


# the import files of both formats: JSON as the option, Parquet as the default
FORMATS = {"json": ("  import_format: json\n", _corrupt_second_vector),
           "parquet": ("", _corrupt_second_vector_parquet)}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_failed_job_is_reported_with_its_reason_and_nothing_is_recorded(
        zc: Project, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    target, corrupt = FORMATS[fmt]
    zc.manifest(mode="upsert", target=target)
    zc.write(V1)
    with monkeypatch.context() as patch:
        corrupt(patch)
        result = zc.apply()
    assert result.code == 1, str(result)
    assert "Traceback" not in result.output
    assert "failed: failed to import file" in result.err, str(result)
    assert f"expected dim={DIM} for field 'embedding', got dim={DIM - 1}" in result.err
    assert "row 2 of the file is the source row with id = 2" in result.err, str(result)
    assert f"s3://{zc.server.bucket}/syncer/zc/docs/" in result.err
    assert API_KEY not in result.output
    (job,) = zc.server.jobs("docs")
    assert job["state"] == "Failed"
    assert zc.server.entities("docs") == []  # a job fails whole
    # nothing recorded: no snapshot, no open journal entry, every row still pending
    con = sqlite3.connect(zc.state)
    try:
        assert con.execute("SELECT count(*) FROM snapshot_chunks").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM journal WHERE status = 'open'").fetchone() == (0,)
    finally:
        con.close()
    (item,) = zc.plan()["datasets"]
    assert (item["inserts"], item["updates"], item["deletes"]) == (len(V1), 0, 0)

    zc.apply_ok()  # the import file is right again
    assert zc.rows() == Counter(_typed(V1))
    zc.assert_no_changes()


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_failed_upsert_job_leaves_the_change_pending_and_the_next_apply_restores_it(
        zc: Project, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    target, corrupt = FORMATS[fmt]
    zc.manifest(mode="upsert", target=target)
    zc.write(V1)
    zc.apply_ok()
    zc.write(V2)
    with monkeypatch.context() as patch:
        corrupt(patch)
        result = zc.apply()
    assert result.code == 1, str(result)
    assert "the keys it was to write were deleted first" in result.err, str(result)
    # the removed keys went in a batch of their own, which landed and was recorded; the new
    # and changed rows are still pending
    (item,) = zc.plan()["datasets"]
    assert (item["inserts"], item["updates"], item["deletes"]) == (2, 2, 0)
    zc.apply_ok()
    assert zc.rows() == _expected("upsert", [V1, V2])
    zc.assert_unique_keys()
    zc.assert_no_changes()


def test_emulator_fails_jobs_the_way_the_service_does(zilliz_server: ZillizServer) -> None:
    z = zilliz_server
    vector = [0.5] * DIM
    z.ok("collections/create", {"collectionName": "strict", "schema": {
        "autoId": False, "enableDynamicField": False, "fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "title", "dataType": "VarChar", "elementTypeParams": {"max_length": 64}},
            {"fieldName": "v", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}}]}})
    z.ok("collections/create", {"collectionName": "auto", "dimension": DIM, "autoID": True})
    cases = {
        "missing.json": ("strict", [{"id": 1, "v": vector}], "value of field 'title' is missed"),
        "dim.json": ("strict", {"rows": [{"id": 1, "title": "a", "v": vector},
                                         {"id": 2, "title": "b", "v": vector[:2]}]},
                     f"row 2: expected dim={DIM} for field 'v', got dim=2"),
        "unknown.json": ("strict", [{"id": 1, "title": "a", "v": vector, "colour": "red"}],
                         "the field 'colour' is not defined in the schema"),
        "autoid.json": ("auto", [{"id": 7, "vector": vector}],
                        "the primary key 'id' is auto-generated, no need to provide"),
        "absent.json": ("strict", None, "failed to read file"),
    }
    jobs = {}
    for name, (collection, content, _reason) in cases.items():
        if content is None:
            url = f"s3://{z.bucket}/nothing/{name}"
            jobs[name] = z.ok("jobs/import/create", {
                "clusterId": CLUSTER_ID, "collectionName": collection, "objectUrls": [[url]],
                "accessKey": "k", "secretKey": "s"})["jobId"]
        else:
            jobs[name] = z.import_file(collection, f"cases/{name}", content)
    for name, (_collection, _content, reason) in cases.items():
        job = z.wait_job(jobs[name])
        assert job["state"] == "Failed" and reason in job["reason"], (name, job)
        assert job["details"][0]["fileName"].endswith(name)
    assert z.entities("strict") == [] and z.entities("auto") == []

    # what lands: duplicate keys are kept (an import never de-duplicates), nothing else is touched
    job = z.import_file("strict", "ok.json", [{"id": 1, "title": "a", "v": vector},
                                              {"id": 1, "title": "b", "v": vector}])
    done = z.wait_job(job)
    assert (done["state"], done["progress"], done["importedRows"]) == ("Completed", 100, 2)
    assert z.key_counts("strict") == {1: 2}
    z.wait_job(z.import_file("strict", "again.json", [{"id": 1, "title": "c", "v": vector}]))
    assert z.key_counts("strict") == {1: 3}
    # an autoId collection generates the keys; dynamic fields (quick setup) keep unknown keys
    z.wait_job(z.import_file("auto", "auto.json", [{"vector": vector, "colour": "red"}]))
    (entity,) = z.entities("auto")
    assert entity["colour"] == "red" and isinstance(entity["id"], int)


def test_emulator_speaks_errors_in_http_200_bodies(zilliz_server: ZillizServer) -> None:
    z = zilliz_server
    bad = z.http.post("/v2/vectordb/collections/list", json={},
                      headers={"Authorization": "Bearer wrong-key"})
    assert bad.status_code == 200 and bad.json()["code"] == 80001
    missing = z.call("collections/describe", {"collectionName": "nope"})
    assert missing["code"] == 100 and "collection not found" in missing["message"]
    # getProgress also answers a GET with a body, as the seed shows it
    z.ok("collections/create", {"collectionName": "c", "dimension": 2})
    job = z.import_file("c", "c.json", [{"id": 1, "vector": [0.0, 1.0]}])
    answer = z.http.request("GET", "/v2/vectordb/jobs/import/getProgress",
                            json={"clusterId": CLUSTER_ID, "jobId": job}).json()
    assert answer["code"] == 0 and answer["data"]["state"] in ("Pending", "Importing", "Completed")
    z.wait_job(job)
    # filters: in, comparisons, or/and, not in; limit and offset
    rows = [{"id": i, "vector": [0.0, 1.0], "g": i % 2} for i in range(2, 12)]
    z.ok("entities/insert", {"collectionName": "c", "data": rows})
    def ids(text: str, **extra: Any) -> list[int]:
        return [e["id"] for e in z.ok("entities/query", {
            "collectionName": "c", "filter": text, "outputFields": ["id"], **extra})]

    assert ids("id in [3, 5, 99]") == [3, 5]
    assert ids("id >= 9 or id < 2") == [1, 9, 10, 11]
    assert ids("id > 2 and g == 0 and id not in [4]") == [6, 8, 10]
    assert ids("", limit=3, offset=2) == [3, 4, 5]
    assert z.ok("entities/query", {"collectionName": "c", "filter": "id >= 0",
                                   "outputFields": ["count(*)"]}) == [{"count(*)": 11}]
    z.ok("entities/delete", {"collectionName": "c", "filter": "id in [2, 3]"})
    assert ids("id < 5") == [1, 4]
    # an aliased collection cannot be dropped until the alias leaves it
    z.ok("aliases/create", {"collectionName": "c", "aliasName": "live"})
    assert "aliases" in z.call("collections/drop", {"collectionName": "c"})["message"]
    assert ids("id < 5", collectionName="live") == [1, 4]


# -- 4. settling: a crash between the import and the state commit -------------------------------

def _crash_after_target_commit(zc: Project, *, send: bool = True) -> str:
    """Apply up to and including the import, then stop as a crash would (the batch id has the
    run-id prefix the driver's job notes use)."""
    return crash_after_target_commit(zc.manifests, zc.state, send=send,
                                     batch_id="0123456789ab-cdef0123", run_id="0123456789ab")[1]


@pytest.mark.parametrize("mode", ["append", "upsert"])
def test_a_crash_after_the_import_landed_is_settled_without_importing_again(
        zc: Project, mode: str) -> None:
    zc.manifest(mode=mode)
    zc.write(V1)
    zc.apply_ok()
    zc.write(V2)
    batch_id = _crash_after_target_commit(zc)
    assert zc.rows() == _expected(mode, [V1, V2])  # the target has it; the state does not know
    jobs = len(zc.server.jobs())
    zc.recorder.clear()
    result = zc.apply_ok()
    assert f"settled batch {batch_id} of zc/docs: it had landed" in result.err, str(result)
    assert zc.recorder.count("jobs/import/create") == 0
    assert len(zc.server.jobs()) == jobs
    assert zc.rows() == _expected(mode, [V1, V2])
    zc.assert_unique_keys()
    zc.assert_no_changes()
    with open_state(zc.state) as store:
        assert store.open_batches() == []


def test_a_crash_before_the_import_was_created_is_sent_again(zc: Project) -> None:
    zc.manifest(mode="append")
    zc.write(V1)
    zc.apply_ok()
    zc.write(V3)
    batch_id = _crash_after_target_commit(zc, send=False)
    result = zc.apply_ok()
    assert f"settled batch {batch_id} of zc/docs: it had not landed" in result.err, str(result)
    assert zc.rows() == _expected("append", [V1, V3])
    zc.assert_unique_keys()
    zc.assert_no_changes()


@pytest.mark.parametrize("note", [True, False], ids=["job-note", "job-list-scan"])
def test_an_apply_killed_while_its_job_runs_is_settled_by_the_next(
        zc: Project, monkeypatch: pytest.MonkeyPatch, note: bool) -> None:
    """Killed right after jobs/import/create: the next run finds the job by the batch id in its
    file name (the .job note, or the job list when the note is gone), follows it, folds it.
    (``keep_staged``: the first apply's files stay, so there is a note per apply to delete.)"""
    zc.manifest(mode="append", target="  keep_staged: true\n")
    zc.write(V1)
    zc.apply_ok()
    zc.write(V2 + [_doc(20)])

    def killed(self: Any, job_id: str, collection: str, batch: Any) -> Any:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(zilliz_jobs.Jobs, "follow", killed)
        crashed = zc.apply()
    assert crashed.code == 130, str(crashed)
    if not note:
        s3 = zc.server.s3.client
        notes = [o["Key"] for o in s3.list_objects_v2(Bucket=zc.server.bucket)["Contents"]
                 if o["Key"].endswith(".job")]
        assert len(notes) == 2  # one per apply
        for key in notes:
            s3.delete_object(Bucket=zc.server.bucket, Key=key)
    zc.recorder.clear()
    result = zc.apply_ok()
    assert "it had landed" in result.err, str(result)
    assert zc.recorder.count("jobs/import/create") == 0
    assert (zc.recorder.count("jobs/import/list") > 0) is not note
    assert zc.rows() == _expected("append", [V1, V2 + [_doc(20)]])
    zc.assert_unique_keys()
    zc.assert_no_changes()


def test_a_crash_during_an_alias_replace_finishes_the_swap(zc: Project) -> None:
    zc.manifest(mode="replace", dataset="    alias: docs_live\n")
    zc.write(V1)
    zc.apply_ok()
    first = zc.server.ok("aliases/describe", {"aliasName": "docs_live"})["collectionName"]
    zc.write(V2)
    original = AliasSwap.move

    def killed(self: Any, name: str) -> None:
        raise KeyboardInterrupt

    AliasSwap.move = killed  # type: ignore[method-assign]
    try:
        crashed = zc.apply()
    finally:
        AliasSwap.move = original  # type: ignore[method-assign]
    assert crashed.code == 130, str(crashed)
    assert zc.server.ok("aliases/describe", {"aliasName": "docs_live"})["collectionName"] == first
    result = zc.apply_ok()
    assert "it had landed" in result.err, str(result)
    live = zc.server.ok("aliases/describe", {"aliasName": "docs_live"})["collectionName"]
    assert live != first and zc.server.ok("collections/list") == [live]
    assert zc.rows("docs_live") == Counter(_typed(V2))
    zc.assert_no_changes()


# -- 5. faults, limits, credentials, schemas ---------------------------------------------------------

def test_dropped_connections_never_import_a_batch_twice(zc: Project) -> None:
    zc.manifest(mode="append", target="  retries: 8\n  max_rows_per_import: 3\n")
    zc.server.emulator.faults.configure(FaultConfig(rate_500=0.1, rate_drop=0.25,
                                                    drop_after_apply=0.7, seed=3))
    versions = [V1, V1 + [_doc(i) for i in range(20, 27)]]
    for version in versions:
        zc.write(version)
        zc.apply_until_ok()
    stats = zc.server.emulator.stats()
    zc.server.emulator.faults.configure(FaultConfig())
    assert stats["faults"]["drop_after"] > 0, stats
    files = [row["file_name"] for row in zc.server.emulator.store.query(
        "SELECT file_name FROM jobs")]
    assert len(files) == len(set(files))  # never two jobs of one import file
    zc.assert_unique_keys()
    assert zc.rows() == _expected("append", versions)
    zc.assert_no_changes()


@pytest.mark.parametrize("landed", [True, False], ids=["drop-after", "drop-before"])
def test_a_lost_job_creation_is_looked_up_before_it_is_sent_again(
        zc: Project, monkeypatch: pytest.MonkeyPatch, landed: bool) -> None:
    zc.manifest(mode="append")
    zc.write(V1)
    emulator = zc.server.emulator
    dispatch = emulator.dispatch
    lost: list[Request] = []

    def lose_the_first_create(request: Request) -> Response | None:
        if request.path.endswith("jobs/import/create") and not lost:
            lost.append(request)
            if landed:
                dispatch(request)  # the job is made, the answer never arrives
            return None
        return dispatch(request)

    monkeypatch.setattr(emulator, "dispatch", lose_the_first_create)
    zc.apply_ok()
    assert lost
    # drop-after: the lost create made the job, the lookup found it, nothing was sent again;
    # drop-before: the lookup found nothing, so the create was sent again (and got through)
    assert zc.recorder.count("jobs/import/create") == 1
    assert zc.recorder.count("jobs/import/list") >= 1
    (job,) = zc.server.jobs()
    assert job["state"] == "Completed"
    assert zc.rows() == Counter(_typed(V1))
    zc.assert_unique_keys()
    zc.assert_no_changes()


def test_the_pending_job_limit_is_checked_before_a_job_is_created(
        tmp_path: Path, moto_s3: S3Server, s3_keys: None, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zilliz_jobs, "MAX_PENDING_JOBS", 1)
    with zilliz_emulator(moto_s3, tmp_path / "emulator", api_key=API_KEY, job_delay=0.3,
                         max_pending_jobs=1) as server:
        for name, value in (("ZILLIZ_URL", server.url), ("ZILLIZ_ENDPOINT", server.url),
                            ("ZILLIZ_API_KEY", API_KEY)):
            monkeypatch.setenv(name, value)
        zc = Project(tmp_path, server, capsys, monkeypatch)
        zc.manifest(mode="upsert")
        zc.write(V1[:2])
        zc.apply_ok()
        # someone else's job is pending on the collection: the driver waits for it to finish
        other = server.import_file("docs", "other/x.json", [_doc(30)])
        zc.write(V1[:2] + [_doc(31)])
        zc.recorder.clear()
        zc.apply_ok()
        assert 80010 not in zc.recorder.codes()  # never refused: it looked first
        assert server.wait_job(other)["state"] == "Completed"
        assert zc.recorder.count("jobs/import/list") >= 2  # it checked, waited, checked again
        assert {r[0] for r in zc.rows()} == {1, 2, 30, 31}


def test_a_wrong_api_key_fails_cleanly_and_records_nothing(
        zc: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    zc.manifest(mode="upsert")
    zc.write(V1)
    monkeypatch.setenv("ZILLIZ_API_KEY", "not-the-key-4c2d")
    result = zc.apply()
    assert result.code == 1, str(result)
    assert "Traceback" not in result.output
    assert "Invalid token" in result.err and "code 80001" in result.err, str(result)
    assert "api_key" in result.err  # the hint
    assert "not-the-key-4c2d" not in result.output
    assert zc.state_dump() == []
    assert zc.server.ok("collections/list") == []


def test_a_collection_with_another_schema_is_refused_before_anything_is_sent(zc: Project) -> None:
    zc.manifest(mode="upsert", dim=DIM)
    zc.write(V1)
    zc.apply_ok()
    zc.manifest(mode="upsert", dim=DIM + 4)
    zc.write([{**r, "embedding": r["embedding"] * 2} for r in V1])
    zc.recorder.clear()
    result = zc.apply()
    assert result.code == 1, str(result)
    assert "field 'embedding' is FLOAT_VECTOR(dim 4), declared FLOAT_VECTOR(dim 8)" in result.err
    assert "nothing was sent" in result.err
    assert zc.recorder.count("jobs/import/create") == 0
    assert zc.recorder.count("entities/delete") == 0
    assert zc.rows() == Counter(_typed(V1))


def test_rows_the_service_would_refuse_are_row_errors_with_their_line(zc: Project) -> None:
    zc.manifest(mode="upsert")
    rows = [dict(r) for r in V1[:4]]
    rows[2]["meta"] = 42  # a JSON scalar: a JSON field takes an object or an array
    zc.write(rows)
    result = zc.apply()
    assert result.code == 1, str(result)
    assert "docs.jsonl:3:" in result.err and "JSON scalar" in result.err, str(result)
    assert {r[0] for r in zc.rows()} == {1, 2, 4}
    (item,) = zc.plan()["datasets"]
    assert item["inserts"] == 1


def test_zilliz_manifests_are_validated_with_lines(zc: Project) -> None:
    (zc.manifests / "zilliz.yaml").write_text("""\
version: 1
target:
  name: zc
  type: zilliz
  api_key: ${ZILLIZ_API_KEY}
  cluster_id: in01-x
  endpoint: https://in01-x.example.com
  stage: {url: "https://not-s3/bucket"}
datasets:
  - name: docs
    source: ../data/docs.jsonl
    key: id
    columns: {id: integer, title: string}
""", encoding="utf-8")
    zc.write(V1)
    result = zc.run("validate", "-m", zc.manifests)
    assert result.code == 1, str(result)
    assert "stage url must look like s3://bucket/prefix" in result.output, str(result)
    assert "a zilliz dataset needs exactly one vector column" in result.output, str(result)
    assert "zilliz.yaml:" in result.output


# -- 6. the rate limiter ---------------------------------------------------------------------------

def test_the_rate_limiter_allows_rate_requests_in_any_second() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = zilliz_driver.RateLimiter(20, clock=lambda: now[0], sleep=sleep)
    stamps = []
    for _ in range(65):
        limiter.acquire()
        stamps.append(now[0])
        now[0] += 0.001
    assert slept, "65 requests went out without waiting"
    for index in range(len(stamps) - 20):  # never 21 requests within one second
        assert stamps[index + 20] - stamps[index] >= 1.0 - 1e-9
    assert stamps[-1] < 3.2  # and no slower than needed


# -- 7. the emulator as a process, and across restarts ----------------------------------------------

def test_emulate_zilliz_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`syncer emulate zilliz` is a real server process: it answers with its API key (and
    refuses another in an HTTP 200 body), and SIGTERM stops it."""
    import signal
    import socket
    import subprocess
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "syncer", "emulate", "zilliz", "--port",
                             str(port), "--s3-endpoint", "http://127.0.0.1:9", "--data",
                             str(tmp_path), "--api-key", "k3y-for-test"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/v2/vectordb/collections/list"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                reply = httpx.post(url, json={}, headers={"Authorization": "Bearer k3y-for-test"})
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "no server"
                time.sleep(0.1)
        assert reply.json() == {"code": 0, "data": []}
        refused = httpx.post(url, json={}, headers={"Authorization": "Bearer nope"})
        assert refused.status_code == 200 and refused.json()["code"] == 80001
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_emulator_keeps_its_data_across_restarts(tmp_path: Path, moto_s3: S3Server,
                                                 s3_keys: None) -> None:
    bucket = moto_s3.new_bucket()
    with zilliz_emulator(moto_s3, tmp_path / "data", bucket=bucket) as server:
        server.ok("collections/create", {"collectionName": "kept", "dimension": 2})
        server.wait_job(server.import_file("kept", "a.json", [{"id": 1, "vector": [0.0, 1.0]}]))
        server.ok("aliases/create", {"collectionName": "kept", "aliasName": "kept_live"})
    with zilliz_emulator(moto_s3, tmp_path / "data", bucket=bucket) as server:
        assert server.entities("kept_live") == [{"id": 1, "vector": [0.0, 1.0]}]
        assert [j["state"] for j in server.jobs()] == ["Completed"]
