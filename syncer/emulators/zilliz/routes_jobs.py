"""The import-job routes (:class:`JobRoutes`): ``jobs/import/create``, ``getProgress`` (and its
aliases) and ``list``."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable

from ..base import Handler, Request, Response
from .errors import INVALID_PARAMETER, JOB_NOT_FOUND, TOO_MANY_JOBS, api_error
from .objects import parse_object_url
from .store import ZillizStore
from .wire import db_name, now, object_urls, ok, positive, read_body, requested_collection


class JobRoutes:
    """Creates import jobs (at most ``max_pending_jobs`` pending or running per collection) and
    reports their progress; ``notify`` wakes the job worker."""

    def __init__(self, store: ZillizStore, notify: Callable[[], None],
                 max_pending_jobs: int) -> None:
        self.store = store
        self.max_pending_jobs = max_pending_jobs
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

    def job_create(self, request: Request) -> Response:
        body = read_body(request)
        cluster = body.get("clusterId")
        if not isinstance(cluster, str) or not cluster:
            raise api_error(INVALID_PARAMETER, "invalid parameter: clusterId is required")
        collection = requested_collection(self.store, body)
        urls = object_urls(body)
        for url in urls:
            parse_object_url(url)
        db = db_name(body)
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
                "access_key, secret_key, session_token, state, progress, file_name, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'Pending', 0, ?, ?)",
                (job_id, cluster, db, collection.name, collection.id, json.dumps(urls),
                 body.get("accessKey") or None, body.get("secretKey") or None,
                 body.get("token") or None, ",".join(parse_object_url(u)[1] for u in urls),
                 now()))
        self._notify()
        return ok({"jobId": job_id})

    def job_progress(self, request: Request) -> Response:
        body = read_body(request)
        job_id = body.get("jobId") or request.query_value("jobId")
        job = self.store.job(str(job_id)) if job_id else None
        if job is None or job["cluster_id"] != body.get("clusterId", job["cluster_id"]):
            raise api_error(JOB_NOT_FOUND, f"import job not found: {job_id}")
        details = [{"fileName": name, "fileSize": job["file_size"], "state": job["state"],
                    "progress": job["progress"], "completeTime": job["complete_time"],
                    "reason": job["reason"], "importedRows": job["imported_rows"],
                    "totalRows": job["total_rows"]} for name in job["file_name"].split(",")]
        return ok({"jobId": job["job_id"], "collectionName": job["collection_name"],
                   "fileName": job["file_name"], "fileSize": job["file_size"],
                   "state": job["state"], "progress": job["progress"],
                   "completeTime": job["complete_time"], "reason": job["reason"],
                   "importedRows": job["imported_rows"], "totalRows": job["total_rows"],
                   "details": details})

    def job_list(self, request: Request) -> Response:
        body = read_body(request)
        page_size = positive(body, "pageSize", 10, maximum=100)
        page = positive(body, "currentPage", 1)
        sql, args = "FROM jobs WHERE 1 = 1", []
        if body.get("clusterId"):
            sql += " AND cluster_id = ?"
            args.append(body["clusterId"])
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
