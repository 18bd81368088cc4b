"""The zilliz target's import files, end to end through the CLI against the emulator (moto S3 as
the stage): Parquet by default and JSON on request, files split at the per-file limit, the
dataset's partition, per-file progress details, an unknown cluster refused, and the staged files
deleted once their batch is folded (or swept by the next run after a crash).  What the target
holds is read from the emulator's REST API and store, what was staged from the bucket."""

from __future__ import annotations

import io
import json
from collections import Counter
from typing import Any

import pytest

import syncer.targets.zilliz.files as zilliz_files
from tests.fixtures.zilliz import ACCESS_KEY, CLUSTER_ID, SECRET_KEY, ZillizServer
from tests.targets.test_zilliz_e2e import (  # noqa: F401  (zc is a fixture)
    DIM,
    V1,
    V2,
    Project,
    _corrupt_second_vector_parquet,
    _crash_after_target_commit,
    _doc,
    _expected,
    _typed,
    zc,
)

pq = pytest.importorskip("pyarrow.parquet")

KEEP = "  keep_staged: true\n"


def staged(zc: Project) -> list[str]:
    """The keys under the target's staging folder, sorted."""
    s3 = zc.server.s3.client
    answer = s3.list_objects_v2(Bucket=zc.server.bucket, Prefix="syncer/")
    return sorted(o["Key"] for o in answer.get("Contents") or [])


def body(zc: Project, key: str) -> bytes:
    return bytes(zc.server.s3.client.get_object(Bucket=zc.server.bucket, Key=key)["Body"].read())


# -- 7. Parquet by default, JSON on request, split at the file limit ------------------------------

@pytest.mark.parametrize("dynamic", [False, True], ids=["fixed", "dynamic-fields"])
def test_parquet_is_the_default_import_file(zc: Project, dynamic: bool) -> None:
    zc.manifest(mode="upsert", target=KEEP,
                dataset="    dynamic_fields: true\n" if dynamic else "")
    zc.write(V1)
    zc.apply_ok()
    files = staged(zc)
    assert [k.rsplit(".", 1)[-1] for k in files] == ["parquet", "job"], files
    table = pq.read_table(io.BytesIO(body(zc, files[0])))
    types = {f.name: str(f.type) for f in table.schema}
    assert types["id"] == "int64" and types["title"] == "string" and types["meta"] == "string"
    assert types["embedding"] == f"fixed_size_list<element: float>[{DIM}]"
    assert ("$meta" in types) is dynamic
    assert table.num_rows == len(V1)
    # the rows landed as declared (the collection read back over REST)
    assert zc.rows() == Counter(_typed(V1))
    zc.write(V2)
    zc.apply_ok()
    assert zc.rows() == _expected("upsert", [V1, V2])
    zc.assert_unique_keys()
    zc.assert_no_changes()


def test_json_import_files_on_request(zc: Project) -> None:
    zc.manifest(mode="append", target=KEEP + "  import_format: json\n")
    zc.write(V1)
    zc.apply_ok()
    files = staged(zc)
    assert [k.rsplit("/", 1)[-1].split(".", 1)[-1] for k in files] == ["json", "json.job"]
    assert len(json.loads(body(zc, files[0]))["rows"]) == len(V1)
    assert zc.rows() == Counter(_typed(V1))


@pytest.mark.parametrize("fmt", ["parquet", "json"])
def test_a_batch_past_the_file_limit_goes_as_several_files_of_one_job(
        zc: Project, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    monkeypatch.setattr(zilliz_files, "ROW_GROUP_ROWS", 4)  # a row group of 4 rows
    rows = [_doc(i, title="t" * 300) for i in range(1, 31)]
    zc.manifest(mode="append", target=KEEP + f"  import_format: {fmt}\n  max_file_bytes: 8192\n")
    zc.write(rows)
    zc.recorder.clear()
    zc.apply_ok()
    assert zc.recorder.count("jobs/import/create") == 1  # one job, several files
    files = [k for k in staged(zc) if not k.endswith(".job")]
    assert len(files) >= 2, files
    sizes = {k: len(body(zc, k)) for k in files}
    assert max(sizes.values()) <= 8192, sizes
    (job,) = zc.server.jobs("docs")
    progress = zc.server.ok("jobs/import/getProgress", {"clusterId": CLUSTER_ID,
                                                         "jobId": job["jobId"]})
    details = {d["fileName"]: d for d in progress["details"]}
    assert set(details) == set(files)
    for key, detail in details.items():  # each file's own size and rows, not the job's
        assert detail["fileSize"] == sizes[key]
        assert 0 < detail["importedRows"] == detail["totalRows"] < len(rows)
    assert sum(d["importedRows"] for d in details.values()) == progress["totalRows"] == len(rows)
    assert zc.rows() == Counter(_typed(rows))
    zc.assert_unique_keys()


# -- 9. staged files: deleted once folded, a crash's swept by the next run ------------------------

def test_staged_files_are_deleted_once_their_batch_is_folded(zc: Project) -> None:
    zc.manifest(mode="upsert", target="  max_rows_per_import: 4\n")  # several batches
    zc.write(V1)
    zc.apply_ok()
    assert len(zc.server.jobs("docs")) == 3
    assert all(j["state"] == "Completed" for j in zc.server.jobs("docs"))
    assert staged(zc) == []
    zc.write(V2)
    zc.apply_ok()
    assert staged(zc) == []
    assert zc.rows() == _expected("upsert", [V1, V2])


def test_keep_staged_keeps_them(zc: Project) -> None:
    zc.manifest(mode="upsert", target=KEEP + "  max_rows_per_import: 4\n")
    zc.write(V1)
    zc.apply_ok()
    assert len([k for k in staged(zc) if k.endswith(".parquet")]) == 3


def test_what_a_crash_or_a_failed_job_leaves_is_removed_by_the_next_run(
        zc: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    zc.manifest(mode="upsert")
    zc.write(V1)
    zc.apply_ok()
    zc.write(V2)
    batch_id = _crash_after_target_commit(zc)  # imported, never folded
    left = staged(zc)
    assert left and all(batch_id in k for k in left), left
    result = zc.apply_ok()
    assert "it had landed" in result.err, str(result)
    assert staged(zc) == []
    # a failed job keeps its file (the error names it) until the next run
    zc.write(V1)
    with monkeypatch.context() as patch:
        _corrupt_second_vector_parquet(patch)
        failed = zc.apply()
    assert failed.code == 1, str(failed)
    (left,) = [k for k in staged(zc) if k.endswith(".parquet")]
    assert f"s3://{zc.server.bucket}/{left}" in failed.err
    zc.apply_ok()
    assert staged(zc) == []
    assert zc.rows() == Counter(_typed(V1))
    zc.assert_no_changes()


# -- 8. partitions, clusters ----------------------------------------------------------------------

TWO_PARTITIONS = """\
  - name: {name}
    source: ../data/{name}.jsonl
    table: docs
    mode: {mode}
    key: id
    partition: {partition}
    max_delete: 100%
    columns:
      id: integer
      title: string
      meta: json
      embedding: {{type: vector, dim: {dim}}}
"""


def test_each_dataset_fills_its_own_partition(zc: Project) -> None:
    zc.manifest(mode="upsert")
    text = (zc.manifests / "zilliz.yaml").read_text(encoding="utf-8")
    head = text[:text.index("datasets:")]
    zc.write([])
    (zc.manifests / "zilliz.yaml").write_text(head + "datasets:\n" + "".join(
        TWO_PARTITIONS.format(name=n, mode=m, partition=p, dim=DIM)
        for n, m, p in (("a", "upsert", "part_a"), ("b", "replace", "part_b"))), encoding="utf-8")

    def write(name: str, rows: list[dict[str, Any]]) -> None:
        (zc.data / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows),
                                               encoding="utf-8")

    def held(partition: str) -> Counter[Any]:
        found = zc.server.ok("entities/query", {
            "collectionName": "docs", "filter": "", "outputFields": ["*"], "limit": 1000,
            "partitionNames": [partition]})
        return Counter((int(e["id"]), e["title"]) for e in found)

    a1, b1 = V1[:5], [_doc(i) for i in range(100, 104)]
    write("a", a1)
    write("b", b1)
    zc.apply_ok()
    assert zc.server.ok("partitions/list", {"collectionName": "docs"}) == [
        "_default", "part_a", "part_b"]
    assert held("part_a") == Counter((r["id"], r["title"]) for r in a1)
    assert held("part_b") == Counter((r["id"], r["title"]) for r in b1)
    assert held("_default") == Counter()
    # an upsert in one partition, a replace of the other: each touches its own partition only
    a2 = [_doc(1, title="one, again"), *a1[2:], _doc(6)]
    b2 = [_doc(200)]
    write("a", a2)
    write("b", b2)
    zc.apply_ok()
    assert held("part_a") == Counter((r["id"], r["title"]) for r in a2)
    assert held("part_b") == Counter((r["id"], r["title"]) for r in b2)
    zc.assert_unique_keys()
    zc.assert_no_changes()
    (job, *_) = zc.server.jobs("docs")
    answer = zc.server.ok("jobs/import/getProgress", {"clusterId": CLUSTER_ID,
                                                       "jobId": job["jobId"]})
    assert answer["partitionName"] in ("part_a", "part_b")


def test_an_unknown_cluster_is_refused(zc: Project) -> None:
    z = zc.server
    z.ok("collections/create", {"collectionName": "c", "dimension": 2})
    url = z.upload("c/a.json", [{"id": 1, "vector": [0.0, 1.0]}])
    for path, request in (("jobs/import/create", {"collectionName": "c", "objectUrls": [[url]]}),
                          ("jobs/import/list", {}),
                          ("jobs/import/getProgress", {"jobId": "job-0"})):
        answer = z.call(path, {"clusterId": "in01-someoneelse", **request})
        assert answer["code"] == 80020 and "cluster not found" in answer["message"], answer
    zc.manifest(mode="upsert")
    manifest = zc.manifests / "zilliz.yaml"
    manifest.write_text(manifest.read_text().replace(CLUSTER_ID, "in01-someoneelse"))
    zc.write(V1)
    zc.recorder.clear()
    result = zc.apply()
    assert result.code == 1, str(result)
    assert "Traceback" not in result.output
    assert "cluster not found" in result.err and "cluster_id" in result.err, str(result)
    assert zc.state_dump() == []  # refused before anything was recorded
    assert zc.recorder.count("jobs/import/create") == 0


# -- the emulator reads what the service reads ----------------------------------------------------

def _job(z: ZillizServer, collection: str, groups: list[list[str]],
         **extra: Any) -> dict[str, Any]:
    job = z.ok("jobs/import/create", {"clusterId": CLUSTER_ID, "collectionName": collection,
                                      "objectUrls": groups, "accessKey": ACCESS_KEY,
                                      "secretKey": SECRET_KEY, **extra})["jobId"]
    return z.wait_job(job)


def test_the_emulator_imports_folders_json_lines_parquet_and_numpy(
        zilliz_server: ZillizServer) -> None:
    import numpy as np
    import pyarrow as pa

    z = zilliz_server
    z.ok("collections/create", {"collectionName": "c", "dimension": 2})
    table = pa.table({"id": pa.array([1, 2], pa.int64()),
                      "vector": pa.array([[0.0, 1.0], [1.0, 0.0]], pa.list_(pa.float32(), 2)),
                      "$meta": pa.array(['{"colour": "red"}', "{}"])})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    z.upload("dir/a.parquet", sink.getvalue())
    z.upload("dir/b.jsonl", b'{"id": 3, "vector": [0.5, 0.5]}\n\n{"id": 4, "vector": [0, 1]}\n')
    z.upload("dir/c.json", {"rows": [{"id": 5, "vector": [1, 1]}]})
    done = _job(z, "c", [[f"s3://{z.bucket}/dir/"]])
    assert done["state"] == "Completed", done
    assert [(d["fileName"], d["totalRows"]) for d in done["details"]] == [
        ("dir/a.parquet", 2), ("dir/b.jsonl", 2), ("dir/c.json", 1)]
    assert sorted(e["id"] for e in z.entities("c")) == [1, 2, 3, 4, 5]
    assert z.ok("entities/query", {"collectionName": "c", "filter": "id == 1",
                                   "outputFields": ["colour"]}) == [{"id": 1, "colour": "red"}]
    # a prefix with no slash is a folder too
    assert _job(z, "c", [[f"s3://{z.bucket}/dir"]])["totalRows"] == 5
    # a NumPy row group: one .npy per field, as a folder or as one group of files
    for name, array in (("id", np.array([10, 11], dtype=np.int64)),
                        ("vector", np.array([[0.25, 0.75], [0.5, 0.5]], dtype=np.float32))):
        out = io.BytesIO()
        np.save(out, array)
        z.upload(f"np/{name}.npy", out.getvalue())
    assert _job(z, "c", [[f"s3://{z.bucket}/np/"]])["state"] == "Completed"
    group = [f"s3://{z.bucket}/np/id.npy", f"s3://{z.bucket}/np/vector.npy"]
    assert _job(z, "c", [group])["importedRows"] == 2
    assert z.key_counts("c")[10] == 2 and z.key_counts("c")[11] == 2
    # a partition that does not exist is refused
    answer = z.call("jobs/import/create", {"clusterId": CLUSTER_ID, "collectionName": "c",
                                           "partitionName": "nope", "objectUrls": [group]})
    assert "partition not found" in answer["message"], answer
