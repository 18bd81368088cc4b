"""pymilvus's own bulk import client, unmodified, against ``syncer emulate zilliz``: a Parquet file
written by ``RemoteBulkWriter`` to the local S3 server (moto), imported with ``bulk_import``,
followed with ``get_import_progress`` and found with ``list_import_jobs``; the rows land.

Needs ``pymilvus[bulk_writer]`` (minio, azure-storage-blob, ml-dtypes: the dev extra has it)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pymilvus")
# not skipped when its packages are missing: the dev extras install them (pyproject.toml), and
# a skip here once hid that pymilvus 3 had dropped the `bulk_writer` extra that brought them
import pymilvus.bulk_writer as bulk_writer  # noqa: E402

from tests.fixtures.zilliz import ACCESS_KEY, SECRET_KEY, S3Server  # noqa: E402

API_KEY = "pymilvus-bulk-key-0c1d"
CLUSTER = "in01-pymilvus000000000"
DIM = 8


@pytest.fixture
def emulator(tmp_path: Path, moto_s3: S3Server) -> Iterator[str]:
    """``syncer emulate zilliz`` as its own process, reading from the moto server."""
    import socket

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "syncer", "emulate", "zilliz", "--port",
                             str(port), "--s3-endpoint", moto_s3.endpoint, "--data",
                             str(tmp_path / "emulator"), "--api-key", API_KEY, "--cluster-id",
                             CLUSTER, "--job-delay", "0.2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.post(f"{url}/v2/vectordb/collections/list", json={},
                           headers={"Authorization": f"Bearer {API_KEY}"})
                break
            except httpx.ConnectError:
                assert proc.poll() is None, proc.communicate()[1][-2000:]
                assert time.monotonic() < deadline, "the emulator did not start"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_pymilvus_bulk_import_of_a_remote_bulk_writer_parquet_file(
        emulator: str, moto_s3: S3Server, tmp_path: Path) -> None:
    from pymilvus import DataType, MilvusClient
    from pymilvus.bulk_writer import (
        BulkFileType,
        RemoteBulkWriter,
        bulk_import,
        get_import_progress,
        list_import_jobs,
    )

    bucket = moto_s3.new_bucket()
    # the collection, as a client would make it over REST
    import httpx

    headers = {"Authorization": f"Bearer {API_KEY}"}
    created = httpx.post(f"{emulator}/v2/vectordb/collections/create", headers=headers, json={
        "collectionName": "books", "schema": {"autoId": False, "enableDynamicField": True,
                                              "fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "title", "dataType": "VarChar", "elementTypeParams": {"max_length": 256}},
            {"fieldName": "info", "dataType": "JSON"},
            {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}}]},
        "indexParams": [{"fieldName": "vector", "metricType": "L2", "indexType": "AUTOINDEX"}]})
    assert created.json()["code"] == 0, created.text

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("title", DataType.VARCHAR, max_length=256)
    schema.add_field("info", DataType.JSON)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    endpoint = moto_s3.endpoint.removeprefix("http://")
    connect = RemoteBulkWriter.S3ConnectParam(endpoint=endpoint, access_key=ACCESS_KEY,
                                              secret_key=SECRET_KEY, bucket_name=bucket,
                                              secure=False)
    rows: list[dict[str, Any]] = [
        {"id": i, "title": f"book {i}", "info": {"pages": i * 10},
         "vector": [i / 8] * DIM, **({"shelf": f"s{i % 3}"} if i % 2 else {})}
        for i in range(1, 26)]
    with RemoteBulkWriter(schema=schema, remote_path="bulk", connect_param=connect,
                          file_type=BulkFileType.PARQUET,
                          local_path=str(tmp_path / "local")) as writer:
        for row in rows:
            writer.append_row(row)
        writer.commit()
        batch_files = writer.batch_files
    assert batch_files and all(f.endswith(".parquet") for group in batch_files for f in group)
    urls = [[f"s3://{bucket}/{f.lstrip('/')}" for f in group] for group in batch_files]

    answer = bulk_import(url=emulator, api_key=API_KEY, cluster_id=CLUSTER,
                         collection_name="books", object_urls=urls, access_key=ACCESS_KEY,
                         secret_key=SECRET_KEY)
    job_id = answer.json()["data"]["jobId"]
    deadline = time.monotonic() + 30
    while True:
        progress = get_import_progress(url=emulator, api_key=API_KEY, cluster_id=CLUSTER,
                                       job_id=job_id).json()["data"]
        if progress["state"] in ("Completed", "Failed"):
            break
        assert time.monotonic() < deadline, progress
        time.sleep(0.1)
    assert progress["state"] == "Completed", progress
    assert progress["totalRows"] == len(rows)
    assert [d["importedRows"] for d in progress["details"]] == [len(rows)]
    listed = list_import_jobs(url=emulator, api_key=API_KEY, cluster_id=CLUSTER,
                              collection_name="books").json()["data"]
    assert [r["jobId"] for r in listed["records"]] == [job_id]

    # the rows landed: read back over REST, dynamic fields from $meta included
    found = httpx.post(f"{emulator}/v2/vectordb/entities/query", headers=headers, json={
        "collectionName": "books", "filter": "", "outputFields": ["*"], "limit": 100}).json()
    entities = {e["id"]: e for e in found["data"]}
    assert sorted(entities) == [r["id"] for r in rows]
    for row in rows:
        entity = entities[row["id"]]
        assert entity["title"] == row["title"] and entity["info"] == row["info"]
        assert entity["vector"] == pytest.approx(row["vector"])
        assert entity.get("shelf") == row.get("shelf")
    # and an unknown cluster is refused, as pymilvus reports it
    from pymilvus.exceptions import MilvusException

    with pytest.raises(MilvusException, match="cluster not found"):
        bulk_import(url=emulator, api_key=API_KEY, cluster_id="in01-other",
                    collection_name="books", object_urls=urls, access_key=ACCESS_KEY,
                    secret_key=SECRET_KEY)
