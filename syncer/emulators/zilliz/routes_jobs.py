"""The import-job routes (:class:`JobRoutes`): ``jobs/import/create``, ``getProgress`` (and its
aliases) and ``list``."""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable
from typing import Any

from ..base import Handler, Request, Response
from .errors import (
    CLUSTER_NOT_FOUND,
    INVALID_PARAMETER,
    JOB_NOT_FOUND,
    PARTITION_NOT_FOUND,
    TOO_MANY_JOBS,
    api_error,
)
from .objects import parse_object_url
from .store import DEFAULT_PARTITION, ZillizStore
from .wire import db_name, now, object_url_groups, ok, positive, read_body, requested_collection


class JobRoutes:
    """Creates import jobs (at most ``max_pending_jobs`` pending or running per collection) and
    reports their progress, for the cluster ``cluster_id`` only; ``notify`` wakes the job
    worker."""

    def __init__(self, store: ZillizStore, notify: Callable[[], None],
                 max_pending_jobs: int, cluster_id: str | None = None) -> None:
        self.store = store
        self.max_pending_jobs = max_pending_jobs
        self.cluster_id = cluster_id
        self._notify = notify

    def routes(self) -> dict[str, Handler]:
        """Handlers by path under ``/v2/vectordb/``."""
        return {
            "jobs/import/create": self.job_create,
            "jobs/import/getProgress": self.job_progress,
            "jobs/import/get_progress": self.job_progress,
            "jobs/import/describe": self.job_progress,
            "jobs/import/list": self.job_list,
        }

    def _cluster(self, body: dict[str, Any], *, required: bool = False) -> str | None:
        """The request's ``clusterId``: an unknown one is refused, as the service does."""
        cluster = body.get("clusterId")
        if not isinstance(cluster, str) or not cluster:
            if required:
                raise api_error(INVALID_PARAMETER, "invalid parameter: clusterId is required")
            return None
        if self.cluster_id is not None and cluster != self.cluster_id:
            raise api_error(CLUSTER_NOT_FOUND, f"cluster not found: {cluster} does not exist in "
                                               "this project, or the API key cannot reach it")
        return cluster

    def job_create(self, request: Request) -> Response:
        body = read_body(request)
        cluster = self._cluster(body, required=True)
        collection = requested_collection(self.store, body)
        groups = object_url_groups(body)
        for group in groups:
            for url in group:
                parse_object_url(url if not url.endswith("/") else url + "x")
        partition = body.get("partitionName") or DEFAULT_PARTITION
        if partition not in self.store.partitions(collection.id):
            raise api_error(PARTITION_NOT_FOUND, f"partition not found[partition={partition}]")
        db = db_name(body)
        names = ",".join(_key(url) for group in groups for url in group)
        with self.store.transaction() as conn:
            pending = conn.execute(
                "SELECT count(*) FROM jobs WHERE collection_id = ? AND state IN ('Pending', "
                "'Importing')", (collection.id,)).fetchone()[0]
            if pending >= self.max_pending_jobs:
                raise api_error(TOO_MANY_JOBS, f"the collection '{collection.name}' has {pending} "
                                               "running or pending import jobs; the limit is "
                                               f"{self.max_pending_jobs}")
            job_id = "job-" + secrets.token_hex(10)
            conn.execute(
                "INSERT INTO jobs (job_id, cluster_id, db, collection_name, collection_id, urls, "
                "access_key, secret_key, session_token, state, progress, file_name, created_at, "
                "partition) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'Pending', 0, ?, ?, ?)",
                (job_id, cluster, db, collection.name, collection.id, json.dumps(groups),
                 body.get("accessKey") or None, body.get("secretKey") or None,
                 body.get("token") or None, names, now(), partition))
        self._notify()
        return ok({"jobId": job_id})

    def job_progress(self, request: Request) -> Response:
        body = read_body(request)
        cluster = self._cluster(body)
        job_id = body.get("jobId") or request.query_value("jobId")
        job = self.store.job(str(job_id)) if job_id else None
        if job is None or job["cluster_id"] != (cluster or job["cluster_id"]):
            raise api_error(JOB_NOT_FOUND, f"import job not found: {job_id}")
        return ok({"jobId": job["job_id"], "collectionName": job["collection_name"],
                   "partitionName": job["partition"],
                   "fileName": job["file_name"], "fileSize": job["file_size"],
                   "state": job["state"], "progress": job["progress"],
                   "completeTime": job["complete_time"], "reason": job["reason"],
                   "importedRows": job["imported_rows"], "totalRows": job["total_rows"],
                   "details": details_of(job)})

    def job_list(self, request: Request) -> Response:
        body = read_body(request)
        cluster = self._cluster(body)
        page_size = positive(body, "pageSize", 10, maximum=100)
        page = positive(body, "currentPage", 1)
        sql, args = "FROM jobs WHERE 1 = 1", []
        if cluster:
            sql += " AND cluster_id = ?"
            args.append(cluster)
        if body.get("collectionName"):
            sql += " AND collection_name = ? AND db = ?"
            args += [body["collectionName"], db_name(body)]
        total = self.store.query(f"SELECT count(*) AS n {sql}", args)[0]["n"]
        rows = self.store.query(f"SELECT * {sql} ORDER BY seq DESC LIMIT ? OFFSET ?",
                                [*args, page_size, (page - 1) * page_size])
        records = [{"collectionName": r["collection_name"], "jobId": r["job_id"],
                    "state": r["state"], "progress": r["progress"], "reason": r["reason"]}
                   for r in rows]
        return ok({"count": total, "currentPage": page, "pageSize": page_size,
                   "records": records})


def details_of(job: sqlite3.Row) -> list[dict[str, Any]]:
    """One entry per import file: its own name, size and rows (known once the worker read it),
    with the job's state; a file the worker has not read yet shows size 0."""
    read = {d["fileName"]: d for d in json.loads(job["details"] or "[]")}
    names = list(read) if read else job["file_name"].split(",")
    completed = job["state"] == "Completed"
    out = []
    for name in names:
        known = read.get(name, {})
        rows = int(known.get("totalRows", 0))
        out.append({"fileName": name, "fileSize": int(known.get("fileSize", 0)),
                    "state": job["state"], "progress": job["progress"],
                    "completeTime": job["complete_time"], "reason": job["reason"],
                    "importedRows": rows if completed else 0, "totalRows": rows})
    return out


def _key(url: str) -> str:
    """The object key (or folder prefix) a URL names."""
    if url.endswith("/"):
        return parse_object_url(url + "x")[1][:-1]
    return parse_object_url(url)[1]
