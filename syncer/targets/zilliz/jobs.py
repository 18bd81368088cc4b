"""Zilliz import jobs: a batch's rows written as import files (Parquet, or JSON: :mod:`.files`),
staged in the bucket, imported with ``jobs/import/create`` and followed with ``getProgress`` until
``Completed`` or ``Failed``; the staged files are deleted once their batch is settled.

An import is never sent twice: when the outcome of ``jobs/import/create`` is unknown, or after a
crash, the job is looked up by the batch id its file name carries (a ``.job`` note next to the
staged file names it; else the job list is scanned).  Before each job the job list is checked,
so a collection never has 10,000 pending jobs.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl

from ...errors import TargetError
from ...secrets import redact
from ..base import Batch
from ..http import OutcomeUnknown, Poll
from .cleanup import Cleanup
from .config import ZillizDataset, ZillizTarget
from .files import (
    EXTENSIONS,
    MAX_FILES_PER_JOB,
    ImportPart,
    import_file,
    json_parts,
    parquet_parts,
)
from .rest import TOO_MANY_JOBS, ApiError, Rest
from .stage import Stage

#: the service refuses a job when the collection has this many pending or running jobs
MAX_PENDING_JOBS = 10_000
#: jobs per page when listing
LIST_PAGE = 100
#: the states of a job that has not finished
RUNNING = ("Pending", "Importing")


class ImportFailed(TargetError):
    """The import job ran and failed: nothing of the batch landed."""


class Jobs:
    """The import jobs of one zilliz target, and the stage their files go through."""

    def __init__(self, rest: Rest, target: ZillizTarget) -> None:
        self.rest = rest
        self.target = target
        self.name = rest.name
        self.poll = Poll(target.poll_interval)
        self._stage: Stage | None = None
        self._stage_checked = False
        self._cluster_checked = False
        #: batches whose job this process followed for its whole import_timeout
        self.timed_out: set[str] = set()
        #: what becomes of the staged files
        self.cleanup = Cleanup(self.stage, target.keep_staged)

    def check_cluster(self) -> None:
        """Ask the control plane for one job of the cluster, once: a wrong ``cluster_id`` (or
        a key that cannot reach it) is refused before anything is recorded or sent."""
        if not self._cluster_checked:
            self.rest.post("control", "jobs/import/list",
                           {"clusterId": self.target.cluster_id, "pageSize": 1,
                            "currentPage": 1}, what="checking the cluster's import jobs")
            self._cluster_checked = True

    def stage(self) -> Stage:
        """The stage bucket, checked once."""
        if self._stage is None:
            self._stage = Stage(self.target.stage, self.name)
        if not self._stage_checked:
            self._stage.check()
            self._stage_checked = True
        return self._stage

    def start(self, batch: Batch, spec: ZillizDataset, collection: str, frame: pl.DataFrame,
              positions: list[int]) -> Callable[[], None]:
        """Stage ``frame`` (the batch's rows, ``positions`` their indexes in the batch) and
        create its import job into ``collection``; what follows the job to its end (raising
        ImportFailed when the job failed)."""
        stage = self.stage()
        extension = EXTENSIONS[self.target.import_format]
        with tempfile.TemporaryDirectory(prefix="syncer-zilliz-") as folder:
            parts = self.parts(batch, spec, frame, Path(folder))
            keys = [stage.key(batch, extension, n) for n in range(1, len(parts) + 1)]
            for key, part in zip(keys, parts, strict=True):
                if part.path is not None:
                    stage.put_file(key, part.path)
                else:
                    stage.put(key, part.data or b"")
        job_id = self.create(batch, collection, keys, spec.partition)
        note = f"{keys[0]}.job"
        try:
            stage.put(note, job_id.encode())  # lets a settle find the job in one call
        except TargetError:
            pass  # the job list is scanned instead

        def follow() -> None:
            job = self.follow(job_id, collection, batch)
            if job.get("state") == "Completed":
                self.cleanup.completed(batch.id, [*keys, note])
                return
            files = [(stage.url(k), p.first_row) for k, p in zip(keys, parts, strict=True)]
            raise ImportFailed(failure(self.name, job, batch, spec, collection, frame,
                                       positions, files))

        return follow

    def parts(self, batch: Batch, spec: ZillizDataset, frame: pl.DataFrame,
              folder: Path) -> list[ImportPart]:
        """The import files of ``frame``, in the target's format, each under the file limit."""
        limit = self.target.max_file_bytes
        if self.target.import_format == "json":
            parts = json_parts(frame, batch.schema, limit, import_file)
        else:
            parts = parquet_parts(frame, batch.schema, spec.dynamic_fields, folder,
                                  max_bytes=limit)
        if len(parts) > MAX_FILES_PER_JOB:
            raise TargetError(f"{self.name}: batch {batch.id} needs {len(parts)} import files, "
                              f"more than the {MAX_FILES_PER_JOB} one job may take",
                              hint="lower `max_rows_per_import:` or raise `max_file_bytes:`")
        return parts

    def create(self, batch: Batch, collection: str, keys: list[str],
               partition: str | None = None) -> str:
        """Create the import job of the staged files ``keys``; its id.  An unknown outcome is
        settled by looking for the job before another is created (an import is insert-only)."""
        stage = self.stage()
        body: dict[str, Any] = {"clusterId": self.target.cluster_id, "collectionName": collection,
                                "objectUrls": [[stage.url(k)] for k in keys],
                                "accessKey": stage.access_key, "secretKey": stage.secret_key}
        if partition:
            body["partitionName"] = partition
        if stage.token:
            body["token"] = stage.token
        if self.target.db_name:
            body["dbName"] = self.target.db_name
        deadline = self.poll.deadline(self.target.import_timeout)
        for attempt in self.rest.control.attempts():
            try:
                data = self._create_when_room(collection, body, deadline)
            except OutcomeUnknown:
                # the job may exist: look before creating another (an import is insert-only)
                job = self.find(batch, collection)
                if job is not None:
                    return str(job["jobId"])
                if attempt >= self.target.retries:
                    raise
                continue
            job_id = (data or {}).get("jobId") or (data or {}).get("jobID")
            if not job_id:
                raise TargetError(f"{self.name}: the import job into '{collection}' was "
                                  f"created without a job id: {redact(str(data))[:200]}")
            return str(job_id)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _create_when_room(self, collection: str, body: dict[str, Any], deadline: float) -> Any:
        """``jobs/import/create``, sent again while another writer keeps the queue full."""
        refused: ApiError | None = None
        for _ in self.poll.until(deadline):
            self._wait_for_room(collection, deadline)
            try:
                return self.rest.post("control", "jobs/import/create", body, idempotent=False,
                                      what=f"creating an import job into '{collection}'")
            except ApiError as exc:
                if not (exc.code == TOO_MANY_JOBS or "pending" in exc.server_message.lower()):
                    raise
                refused = exc  # another writer filled the queue
        assert refused is not None
        raise refused

    def _wait_for_room(self, collection: str, deadline: float) -> None:
        """Wait while the collection has MAX_PENDING_JOBS pending or running jobs."""
        running = 0
        for _ in self.poll.until(deadline):
            first = self._list_page(collection, 1)
            total = first.get("count")
            if isinstance(total, int) and total < MAX_PENDING_JOBS:
                return  # fewer jobs than the limit at all: no need to count the running ones
            if total is None and len(first.get("records") or []) < min(LIST_PAGE,
                                                                       MAX_PENDING_JOBS):
                return
            running = sum(1 for r in self.listed(collection) if r.get("state") in RUNNING)
            if running < MAX_PENDING_JOBS:
                return
        raise TargetError(f"{self.name}: '{collection}' still has {running} pending or "
                          f"running import jobs (the limit is {MAX_PENDING_JOBS})",
                          retryable=True)

    def _list_page(self, collection: str, page: int) -> dict[str, Any]:
        body = {"clusterId": self.target.cluster_id, "collectionName": collection,
                "pageSize": LIST_PAGE, "currentPage": page}
        if self.target.db_name:
            body["dbName"] = self.target.db_name
        return dict(self.rest.post("control", "jobs/import/list", body,
                                   what="listing import jobs") or {})

    def listed(self, collection: str) -> Iterator[dict[str, Any]]:
        """Every listed job of the collection (the list may answer any order)."""
        seen = 0
        for page in range(1, 1_000_000):
            data = self._list_page(collection, page)
            records = list(data.get("records") or [])
            for record in records:
                if record.get("collectionName", collection) == collection:
                    yield dict(record)
            seen += len(records)
            if not records or len(records) < LIST_PAGE or seen >= int(data.get("count") or seen):
                return

    def progress(self, job_id: str) -> dict[str, Any]:
        return dict(self.rest.post("control", "jobs/import/getProgress",
                                   {"clusterId": self.target.cluster_id, "jobId": job_id},
                                   what=f"reading the progress of import job {job_id}") or {})

    def follow(self, job_id: str, collection: str, batch: Batch) -> dict[str, Any]:
        """Poll getProgress until the job is Completed or Failed."""
        job: dict[str, Any] = {}
        for _ in self.poll.until(self.poll.deadline(self.target.import_timeout)):
            job = self.progress(job_id)
            if job.get("state") not in RUNNING:
                job.setdefault("jobId", job_id)
                return job
        self.timed_out.add(batch.id)
        raise TargetError(f"{self.name}: import job {job_id} into '{collection}' is "
                          f"still {job.get('state')} ({job.get('progress', 0)}%) after "
                          f"{self.target.import_timeout:g}s; the next apply settles it",
                          retryable=True)

    def follow_again(self, batch: Batch, job: dict[str, Any], collection: str) -> dict[str, Any]:
        """Follow a job found while settling, unless this process already waited its whole
        ``import_timeout`` for it: then the outcome stays unknown until the next run."""
        if batch.id in self.timed_out:
            raise TargetError(f"{self.name}: import job {job['jobId']} into '{collection}' is "
                              f"still {job.get('state')}; the next apply settles it",
                              retryable=True)
        return self.follow(str(job["jobId"]), collection, batch)

    def find(self, batch: Batch, collection: str) -> dict[str, Any] | None:
        """The import job of ``batch`` (its file names carry the batch id), or None."""
        stage = self.stage()
        for extension in dict.fromkeys([EXTENSIONS[self.target.import_format], "parquet", "json"]):
            noted = stage.get_text(f"{stage.key(batch, extension)}.job")
            if not noted:
                continue
            try:
                job = self.progress(noted)
            except ApiError as exc:
                if not exc.not_found:
                    raise
            else:
                if carries(job, batch.id):
                    job.setdefault("jobId", noted)
                    return job
        for record in self.listed(collection):
            job_id = str(record.get("jobId") or record.get("jobID") or "")
            if not job_id:
                continue
            job = self.progress(job_id)
            if carries(job, batch.id):
                job.setdefault("jobId", job_id)
                return job
        return None

    def find_finished(self, batch: Batch, collection: str) -> dict[str, Any] | None:
        """The job of ``batch``, followed to its end when it is still running (or None)."""
        job = self.find(batch, collection)
        if job is not None and job.get("state") in RUNNING:
            job = self.follow_again(batch, job, collection)
        return job


def failure(where: str, job: dict[str, Any], batch: Batch, spec: ZillizDataset, collection: str,
            frame: pl.DataFrame, positions: list[int], files: list[tuple[str, int]]) -> str:
    """Why a job failed, with its files and the source row its reason names (``files``: each
    file's URL and the frame index of its first row)."""
    reason = redact(str(job.get("reason") or "no reason given"))
    for detail in job.get("details") or []:
        if detail.get("reason") and str(detail["reason"]) not in reason:
            reason += f"; {detail.get('fileName', '')}: {redact(str(detail['reason']))}"
    shown = "\n  ".join(f"file: {url}" for url, _ in files[:5])
    if len(files) > 5:
        shown += f"\n  ... and {len(files) - 5} more files"
    text = (f"{where}: import job {job.get('jobId')} into '{collection}' failed: "
            f"{reason}\n  {shown}")
    named = [(url, first) for url, first in files if url.rsplit("/", 1)[-1] in reason]
    first_row = named[0][1] if named else files[0][1] if files else 0
    match = re.search(r"\brow[\s:=#]*(\d+)", reason, re.IGNORECASE)
    if match and 1 <= first_row + int(match.group(1)) <= frame.height:
        index = first_row + int(match.group(1)) - 1
        pk = batch.schema.key[0]
        text += (f"\n  row {int(match.group(1))} of the file is the source row with {pk} = "
                 f"{frame.get_column(pk)[index]!r} (batch row {positions[index]})")
    text += "\n  nothing of this batch was recorded"
    if spec.mode == "upsert":
        text += "; the keys it was to write were deleted first, the next apply sends them again"
    elif batch.reset:
        text += f"; '{collection}' was recreated empty, the next apply loads it again"
    return text


def carries(job: dict[str, Any], batch_id: str) -> bool:
    """Whether the job imports the files of ``batch_id``."""
    names = [str(job.get("fileName") or "")]
    names += [str(d.get("fileName") or "") for d in job.get("details") or []]
    pattern = re.compile(rf"(^|[/,]){re.escape(batch_id)}\.")
    return any(pattern.search(name) for name in names)
