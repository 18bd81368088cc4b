"""The Zilliz Cloud target: rows go in through import jobs, as the service documents it.

A change is written as a JSON import file (``{"rows": [...]}``), uploaded to the stage bucket
under ``<prefix>/<target>/<dataset>/<batch id>.json``, imported with ``jobs/import/create`` and
followed with ``getProgress`` until it is ``Completed`` or ``Failed`` (its reason shown, with the
file and the batch row when the reason names one).  An import is insert-only and keeps duplicate
primary keys, so:

* ``upsert`` -> ``entities/delete`` of the removed keys and of the keys about to be written,
  then one import of the new and changed rows;
* ``append`` -> one import of the new rows;
* ``replace`` -> with ``alias:``, a fresh collection ``<table>__<batch id>`` is created and
  imported into, then the alias is created or moved to it and the collection it pointed to is
  dropped (readers never see half the data); without ``alias:``, drop + create + import.

The collection is created on first apply from the declared columns (through the cluster
endpoint); an existing one whose schema differs is refused before anything is sent.  Before each
job the job list is checked, so a collection never has 10,000 pending jobs; every request passes a
client-side limiter (20 requests/s by default).  Errors arrive as HTTP 200 with a non-zero
``code``: they become one TargetError with the server's message.

An import is never sent twice: when the outcome of ``jobs/import/create`` is unknown, or after a
crash, the job is looked up by the batch id its file name carries (a ``.job`` note next to the
staged file names it; else the job list is scanned) and followed; an append whose job cannot be
found any more is judged by whether its keys are in the collection.

boto3 is imported here only, when a zilliz target is applied: syncer runs without it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import polars as pl

from ...errors import TargetError
from ...model.manifest import DatasetSpec
from ...model.schema import Schema
from ...secrets import redact, register
from ..base import Batch, Capabilities, RowError
from ..frames import frame_of
from ..http import Http, OutcomeUnknown, message_of
from ..milvus.driver import (
    MAX_VARCHAR,
    Field,
    _in_filter,
    _key_of,
    _refusals,
    declared_fields,
    schema_differences,
)
from .config import ZillizDataset, ZillizStage, ZillizTarget

#: the service refuses a job when the collection has this many pending or running jobs
MAX_PENDING_JOBS = 10_000
#: keys per ``entities/delete`` or ``entities/query`` filter
KEYS_PER_FILTER = 1_000
#: largest ``offset + limit`` of one query
QUERY_WINDOW = 16_384
#: jobs per page when listing
LIST_PAGE = 100
INSTALL_HINT = "pip install 'syncer[zilliz]'"
_V2 = "/v2/vectordb"
_RUNNING = ("Pending", "Importing")
_REST_TYPES = {"INT64": "Int64", "DOUBLE": "Double", "BOOL": "Bool", "VARCHAR": "VarChar",
               "JSON": "JSON", "FLOAT_VECTOR": "FloatVector"}
_FROM_REST = {rest.lower(): name for name, rest in _REST_TYPES.items()} | {
    "int8": "INT8", "int16": "INT16", "int32": "INT32", "float": "FLOAT"}
_AUTH_CODES = {80001, 1800, 21119, 80000}
_TOO_MANY_JOBS = 80010
_RATE_CODES = {429, 90028, 8}


class ApiError(TargetError):
    """A request the service answered with a non-zero ``code``."""

    def __init__(self, message: str, *, code: Any, server_message: str,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.server_message = server_message

    @property
    def not_found(self) -> bool:
        text = self.server_message.lower()
        return "not found" in text or "not exist" in text or self.code in (100, 1602, 80016)

    @property
    def exists(self) -> bool:
        return "already exist" in self.server_message.lower()


# -- the limiter and the stage -----------------------------------------------------------------

class RateLimiter:
    """At most ``rate`` requests in any window of one second (for a rate below 1: one request
    per ``1/rate`` seconds).  A burst of ``rate`` goes at once; the next waits for the window."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.capacity = max(1, int(rate))
        self.window = self.capacity / rate
        self._clock, self._sleep = clock, sleep
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            while self._times and now - self._times[0] >= self.window:
                self._times.popleft()
            if len(self._times) >= self.capacity:
                self._sleep(self.window - (now - self._times[0]))
                now = self._clock()
                self._times.popleft()
            self._times.append(now)


def _boto3() -> Any:
    try:
        import boto3  # type: ignore[import-untyped]
    except ImportError:
        raise TargetError("the zilliz target stages import files with boto3, which is not "
                          "installed", hint=INSTALL_HINT) from None
    return boto3


class Stage:
    """The bucket import files are staged in, and the keys the import job reads them with."""

    def __init__(self, stage: ZillizStage, name: str) -> None:
        self.stage, self.name = stage, name
        session = _boto3().session.Session()
        credentials = session.get_credentials()
        frozen = credentials.get_frozen_credentials() if credentials is not None else None
        if frozen is None or not frozen.access_key or not frozen.secret_key:
            raise TargetError(f"{name}: no S3 credentials for the stage bucket",
                              hint="export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the "
                                   "import job reads the staged files with them too)")
        self.access_key, self.secret_key = frozen.access_key, frozen.secret_key
        self.token: str | None = frozen.token
        for secret in (self.secret_key, self.token):
            if secret:
                register(secret)
        options: dict[str, Any] = {"aws_access_key_id": self.access_key,
                                   "aws_secret_access_key": self.secret_key,
                                   "aws_session_token": self.token}
        if stage.endpoint_url:
            options["endpoint_url"] = stage.endpoint_url
        if stage.region:
            options["region_name"] = stage.region
        elif stage.endpoint_url:
            options["region_name"] = "us-east-1"  # S3-compatible stores need some region
        self.client = session.client("s3", **options)

    def key(self, batch: Batch) -> str:
        """The object key of a batch's import file: the file name carries the batch id."""
        parts = [self.stage.prefix, batch.target, batch.dataset.name, f"{batch.id}.json"]
        return "/".join(p for p in parts if p)

    def url(self, key: str) -> str:
        return f"s3://{self.stage.bucket}/{key}"

    def check(self) -> None:
        self._call("checking the stage bucket", "head_bucket", Bucket=self.stage.bucket)

    def put(self, key: str, data: bytes) -> None:
        self._call(f"uploading {self.url(key)}", "put_object", Bucket=self.stage.bucket, Key=key,
                   Body=data, ContentType="application/json")

    def get_text(self, key: str) -> str | None:
        """The object's text, or None when it does not exist."""
        try:
            answer = self._call(f"reading {self.url(key)}", "get_object", Bucket=self.stage.bucket,
                                Key=key, missing_ok=True)
        except _Missing:
            return None
        return bytes(answer["Body"].read()).decode("utf-8", errors="replace").strip()

    def _call(self, what: str, method: str, *, missing_ok: bool = False, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

        try:
            return getattr(self.client, method)(**kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if missing_ok and code in ("NoSuchKey", "404", "NotFound"):
                raise _Missing from None
            text = redact(f"{code}: {error.get('Message', '')}".strip(": "))
            raise TargetError(f"{self.name}: {what} failed: {text}",
                              hint="check `stage:` (url, endpoint_url, region) and the AWS keys",
                              retryable=code in ("SlowDown", "InternalError", "503")) from None
        except BotoCoreError as exc:
            raise TargetError(f"{self.name}: {what} failed: {redact(str(exc))}",
                              hint="check `stage: endpoint_url` and the network",
                              retryable=True) from None


class _Missing(Exception):
    pass


# -- the driver ----------------------------------------------------------------------------------

class ZillizDriver:
    """Driver for ``type: zilliz``."""

    streams = False  # a batch's rows are sent as one frame

    def __init__(self, target: ZillizTarget, *,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.target = target
        self._name = f"zilliz target '{target.name}'"
        self.control = Http(target.url, name=self._name, timeout=target.timeout,
                            retries=target.retries, transport=transport)
        self.cluster = self.control if target.endpoint == target.url else Http(
            target.endpoint, name=self._name, timeout=target.timeout, retries=target.retries,
            transport=transport)
        self.limiter = RateLimiter(target.rate_limit)
        key = target.api_key.get_secret_value()
        register(key)
        self._headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
        self._stage: Stage | None = None
        self._stage_checked = False
        self._fields: dict[str, list[Field]] = {}
        #: outcomes this process knows for sure (a job it followed to its end)
        self._outcomes: dict[str, bool] = {}
        #: batches whose job this process followed for its whole import_timeout
        self._timed_out: set[str] = set()

    def close(self) -> None:
        self.control.close()
        if self.cluster is not self.control:
            self.cluster.close()

    # -- requests ---------------------------------------------------------------------------
    def _post(self, plane: str, path: str, body: dict[str, Any], *, what: str,
              idempotent: bool = True) -> Any:
        """POST to the control plane or the cluster; the ``data`` of a ``code: 0`` answer."""
        http = self.control if plane == "control" else self.cluster
        if plane == "cluster" and self.target.db_name:
            body = {"dbName": self.target.db_name, **body}
        for attempt in range(self.target.retries + 1):
            self.limiter.acquire()
            response = http.request("POST", f"{_V2}/{path}", idempotent=idempotent, json=body,
                                    headers=self._headers)
            if response.status_code != 200:
                hint = _AUTH_HINT if response.status_code in (401, 403) else None
                raise TargetError(f"{self._name}: {what}: HTTP {response.status_code}: "
                                  f"{message_of(response)}", hint=hint)
            try:
                payload = response.json()
            except ValueError:
                raise TargetError(f"{self._name}: {what}: the answer is not JSON: "
                                  f"{redact(response.text[:200])}") from None
            code = payload.get("code", 0) if isinstance(payload, dict) else None
            if code in (0, 200):
                return payload.get("data")
            message = redact(str(payload.get("message") or payload)[:500]) \
                if isinstance(payload, dict) else redact(str(payload)[:200])
            if (code in _RATE_CODES or "rate limit" in message.lower()) and \
                    attempt < self.target.retries:
                http.sleep(attempt)  # refused, not processed: safe to send again
                continue
            auth = code in _AUTH_CODES or any(w in message.lower() for w in
                                              ("apikey", "api key", "token", "authenticat"))
            raise ApiError(f"{self._name}: {what}: {message} (code {code})", code=code,
                           server_message=message, hint=_AUTH_HINT if auth else None)
        raise TargetError(f"{self._name}: {what}: still rate limited after "
                          f"{self.target.retries + 1} attempts", retryable=True)

    # -- protocol ---------------------------------------------------------------------------
    def prepare(self, dataset: DatasetSpec, schema: Schema) -> Capabilities:
        spec = _spec(dataset)
        self._stage_ready()
        if spec.alias:
            # the alias may move only once the new collection holds every row: one batch
            # (one import job), never several
            self._check_alias(spec)
            return Capabilities(max_batch_rows=None)
        self._prepare_collection(spec, schema)
        return Capabilities(max_batch_rows=self.target.max_rows_per_import)

    def _prepare_collection(self, spec: ZillizDataset, schema: Schema) -> None:
        name = spec.table_name
        info = self._describe(name)
        if info is None:
            self._create(name, spec, schema)
            return
        problems = self._differences(info, spec, schema)
        if problems:
            raise TargetError(
                f"{self._name}: collection '{name}' exists with a schema that does not match the "
                f"declared columns; nothing was sent:\n" + "\n".join(f"  - {p}" for p in problems),
                hint="fix `columns:`/`metric:`/`dynamic_fields:` to match it, set another "
                     "`table:`, drop the collection, or use `alias:` (mode replace) so each "
                     "replace builds a fresh collection")
        self._fields[name] = _fields(info)

    def apply(self, batch: Batch) -> list[RowError]:
        spec = _spec(batch.dataset)
        if batch.reset and spec.alias:
            return self._replace_into_alias(batch, spec)
        name = spec.table_name
        if batch.reset:
            self._drop(name)
            self._create(name, spec, batch.schema)
        fields = self._fields_of(name)
        frame, errors, positions = _import_rows(batch, fields)
        if spec.mode == "upsert":
            # an import keeps duplicate keys: the rows it replaces must go first
            keys = [*batch.deletes.get_column(batch.schema.key[0]).to_list(),
                    *frame.get_column(batch.schema.key[0]).to_list()]
            self._delete_keys(name, batch.schema, keys)
        if frame.height:
            self._import(batch, spec, name, frame, positions)
        self._outcomes[batch.id] = True
        return errors

    def settle(self, batch: Batch, known_rows: int) -> bool:
        if batch.id in self._outcomes:
            return self._outcomes[batch.id]
        spec = _spec(batch.dataset)
        if batch.reset and spec.alias:
            return self._settle_alias(batch, spec)
        name = spec.table_name
        if self._describe(name) is None:
            return False
        pk = batch.schema.key[0]
        if batch.upserts.height == 0:
            # deletes only (idempotent): landed when none of the keys is left.  Judged before the
            # rows are looked at: rebuilt from the journal, such a batch has no value columns
            return not self._present(name, batch.schema, batch.deletes.get_column(pk).to_list())
        frame, _errors, _positions = _import_rows(batch, self._fields_of(name))
        if frame.height == 0:
            # every row would be refused: nothing was imported, only the deletes were sent
            return not self._present(name, batch.schema, batch.deletes.get_column(pk).to_list())
        job = self._find_job(batch, name)
        if job is not None and job.get("state") in _RUNNING:
            job = self._follow_again(batch, job, name)
        if job is not None and job.get("state") == "Completed":
            return True
        if spec.mode == "upsert" or batch.reset:
            # deletes and a reload are safe to send again: "not landed" makes the next plan do so
            return False
        # an insert-only batch (append, or a later part of a replace): never import it twice.
        # Its keys are new ones; a job the service no longer lists is judged by them
        keys = frame.get_column(pk).to_list()
        present = self._present(name, batch.schema, keys, count=True)
        if present == len(keys):
            return True
        if present == 0:
            return False
        raise TargetError(f"{self._name}: cannot tell whether batch {batch.id} landed in "
                          f"'{name}': {present} of its {len(keys)} keys are there and its import "
                          "job is not listed", hint="check the collection, then `syncer state "
                                                    "forget` the dataset or re-run apply")

    # -- collections ------------------------------------------------------------------------
    def _describe(self, name: str) -> dict[str, Any] | None:
        try:
            info = self._post("cluster", "collections/describe", {"collectionName": name},
                              what=f"describing collection '{name}'")
        except ApiError as exc:
            if exc.not_found:
                return None
            raise
        return dict(info or {})

    def _create(self, name: str, spec: ZillizDataset, schema: Schema) -> None:
        fields = declared_fields(schema)
        body = {
            "collectionName": name,
            "schema": {"autoId": False, "enableDynamicField": spec.dynamic_fields,
                       "fields": [_rest_field(f) for f in fields]},
            "indexParams": [{"fieldName": spec.vector_column, "indexName": spec.vector_column,
                             "metricType": spec.metric, "indexType": "AUTOINDEX"}],
        }
        try:
            self._post("cluster", "collections/create", body, what=f"creating collection '{name}'")
        except ApiError as exc:
            if not exc.exists:
                raise
            # a retried create whose first attempt had landed: it must be what we asked for
            info = self._describe(name)
            if info is None or self._differences(info, spec, schema):
                raise
        self._fields[name] = fields

    def _drop(self, name: str) -> None:
        try:
            self._post("cluster", "collections/drop", {"collectionName": name},
                       what=f"dropping collection '{name}'")
        except ApiError as exc:
            if not exc.not_found:
                raise
        self._fields.pop(name, None)

    def _differences(self, info: dict[str, Any], spec: ZillizDataset, schema: Schema) -> list[str]:
        problems = schema_differences(declared_fields(schema), _fields(info),
                                      dynamic=spec.dynamic_fields,
                                      existing_dynamic=bool(info.get("enableDynamicField")),
                                      auto_id=bool(info.get("autoId")))
        for index in info.get("indexes") or []:
            if index.get("fieldName") == spec.vector_column:
                metric = str(index.get("metricType") or "").upper()
                if metric and metric != spec.metric:
                    problems.append(f"the index on '{spec.vector_column}' uses metric {metric}, "
                                    f"declared {spec.metric} (metric: {spec.metric})")
        return problems

    def _fields_of(self, name: str) -> list[Field]:
        if name not in self._fields:
            info = self._describe(name)
            if info is None:
                raise TargetError(f"{self._name}: collection '{name}' does not exist")
            self._fields[name] = _fields(info)
        return self._fields[name]

    # -- entities ---------------------------------------------------------------------------
    def read_back(self, dataset: DatasetSpec, schema: Schema, page: int = 1000
                  ) -> Iterator[pl.DataFrame]:
        """The collection's entities through the cluster's ``entities/query``, ``page`` at a
        time by offset; nothing when the collection does not exist.  Offset paging reaches the
        service's query window (16 384 entities) and no further: a larger collection is refused
        with a clear message rather than read in part."""
        spec = _spec(dataset)
        name = spec.alias if spec.alias else spec.table_name
        if self._describe(name) is None:
            return
        counted = self._post("cluster", "entities/query",
                             {"collectionName": name, "filter": "",
                              "outputFields": ["count(*)"]}, what=f"counting '{name}'") or []
        total = int(counted[0]["count(*)"]) if counted else 0
        if total > QUERY_WINDOW:
            raise TargetError(f"{self._name}: '{name}' holds {total} entities; reading back more "
                              f"than {QUERY_WINDOW} (the query window) is not supported yet")
        names = schema.names
        for offset in range(0, total, page):
            rows = self._post("cluster", "entities/query",
                              {"collectionName": name, "filter": "", "outputFields": names,
                               "offset": offset, "limit": min(page, QUERY_WINDOW - offset)},
                              what=f"reading '{name}'") or []
            if not rows:
                return
            yield frame_of([_plain_row(r, schema) for r in rows], names)

    def _delete_keys(self, name: str, schema: Schema, keys: list[Any]) -> None:
        pk = schema.key[0]
        for start in range(0, len(keys), KEYS_PER_FILTER):
            part = keys[start:start + KEYS_PER_FILTER]
            self._post("cluster", "entities/delete",
                       {"collectionName": name, "filter": _in_filter(pk, part)},
                       what=f"deleting {len(part)} keys from '{name}'")

    def _present(self, name: str, schema: Schema, keys: list[Any], *, count: bool = False) -> int:
        """How many of ``keys`` the collection holds (with ``count``: all of them; else stop at
        the first chunk that holds any)."""
        pk = schema.key[0]
        found: set[Any] = set()
        for start in range(0, len(keys), KEYS_PER_FILTER):
            part = keys[start:start + KEYS_PER_FILTER]
            rows = self._post("cluster", "entities/query",
                              {"collectionName": name, "filter": _in_filter(pk, part),
                               "outputFields": [pk], "limit": QUERY_WINDOW},
                              what=f"querying '{name}'") or []
            found.update(_key_of(row[pk]) for row in rows if pk in row)
            if found and not count:
                break
        return len(found)

    # -- import jobs ------------------------------------------------------------------------
    def _stage_ready(self) -> Stage:
        if self._stage is None:
            self._stage = Stage(self.target.stage, self._name)
        if not self._stage_checked:
            self._stage.check()
            self._stage_checked = True
        return self._stage

    def _import(self, batch: Batch, spec: ZillizDataset, collection: str, frame: pl.DataFrame,
                positions: list[int]) -> None:
        stage = self._stage_ready()
        key = stage.key(batch)
        stage.put(key, _import_file(frame, batch.schema))
        job_id = self._create_job(batch, collection, key)
        try:
            stage.put(f"{key}.job", job_id.encode())  # lets a settle find the job in one call
        except TargetError:
            pass  # the job list is scanned instead
        job = self._follow(job_id, collection, batch)
        if job.get("state") == "Completed":
            return
        self._outcomes[batch.id] = False
        raise TargetError(self._failure(job, batch, spec, collection, frame, positions,
                                        stage.url(key)))

    def _create_job(self, batch: Batch, collection: str, key: str) -> str:
        stage = self._stage_ready()
        body: dict[str, Any] = {"clusterId": self.target.cluster_id, "collectionName": collection,
                                "objectUrls": [[stage.url(key)]], "accessKey": stage.access_key,
                                "secretKey": stage.secret_key}
        if stage.token:
            body["token"] = stage.token
        if self.target.db_name:
            body["dbName"] = self.target.db_name
        deadline = time.monotonic() + self.target.import_timeout
        attempt = 0
        while True:
            self._wait_for_room(collection, deadline)
            try:
                data = self._post("control", "jobs/import/create", body, idempotent=False,
                                  what=f"creating an import job into '{collection}'")
            except OutcomeUnknown:
                # the job may exist: look before creating another (an import is insert-only)
                job = self._find_job(batch, collection)
                if job is not None:
                    return str(job["jobId"])
                if attempt >= self.target.retries:
                    raise
            except ApiError as exc:
                if not (exc.code == _TOO_MANY_JOBS or "pending" in exc.server_message.lower()):
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(self.target.poll_interval)  # another writer filled the queue
                continue
            else:
                job_id = (data or {}).get("jobId") or (data or {}).get("jobID")
                if not job_id:
                    raise TargetError(f"{self._name}: the import job into '{collection}' was "
                                      f"created without a job id: {redact(str(data))[:200]}")
                return str(job_id)
            self.control.sleep(attempt)
            attempt += 1

    def _wait_for_room(self, collection: str, deadline: float) -> None:
        """Wait while the collection has MAX_PENDING_JOBS pending or running jobs."""
        while True:
            first = self._list_page(collection, 1)
            total = first.get("count")
            if isinstance(total, int) and total < MAX_PENDING_JOBS:
                return  # fewer jobs than the limit at all: no need to count the running ones
            if total is None and len(first.get("records") or []) < min(LIST_PAGE,
                                                                       MAX_PENDING_JOBS):
                return
            running = sum(1 for r in self._jobs(collection) if r.get("state") in _RUNNING)
            if running < MAX_PENDING_JOBS:
                return
            if time.monotonic() > deadline:
                raise TargetError(f"{self._name}: '{collection}' still has {running} pending or "
                                  f"running import jobs (the limit is {MAX_PENDING_JOBS})",
                                  retryable=True)
            time.sleep(self.target.poll_interval)

    def _list_page(self, collection: str, page: int) -> dict[str, Any]:
        body = {"clusterId": self.target.cluster_id, "collectionName": collection,
                "pageSize": LIST_PAGE, "currentPage": page}
        if self.target.db_name:
            body["dbName"] = self.target.db_name
        return dict(self._post("control", "jobs/import/list", body,
                               what="listing import jobs") or {})

    def _jobs(self, collection: str) -> Iterator[dict[str, Any]]:
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

    def _progress(self, job_id: str) -> dict[str, Any]:
        return dict(self._post("control", "jobs/import/getProgress",
                               {"clusterId": self.target.cluster_id, "jobId": job_id},
                               what=f"reading the progress of import job {job_id}") or {})

    def _follow(self, job_id: str, collection: str, batch: Batch) -> dict[str, Any]:
        """Poll getProgress until the job is Completed or Failed."""
        deadline = time.monotonic() + self.target.import_timeout
        while True:
            job = self._progress(job_id)
            if job.get("state") not in _RUNNING:
                job.setdefault("jobId", job_id)
                return job
            if time.monotonic() > deadline:
                self._timed_out.add(batch.id)
                raise TargetError(f"{self._name}: import job {job_id} into '{collection}' is "
                                  f"still {job.get('state')} ({job.get('progress', 0)}%) after "
                                  f"{self.target.import_timeout:g}s; the next apply settles it",
                                  retryable=True)
            time.sleep(self.target.poll_interval)

    def _follow_again(self, batch: Batch, job: dict[str, Any], collection: str) -> dict[str, Any]:
        """Follow a job found while settling, unless this process already waited its whole
        ``import_timeout`` for it: then the outcome stays unknown until the next run."""
        if batch.id in self._timed_out:
            raise TargetError(f"{self._name}: import job {job['jobId']} into '{collection}' is "
                              f"still {job.get('state')}; the next apply settles it",
                              retryable=True)
        return self._follow(str(job["jobId"]), collection, batch)

    def _find_job(self, batch: Batch, collection: str) -> dict[str, Any] | None:
        """The import job of ``batch`` (its file name carries the batch id), or None."""
        stage = self._stage_ready()
        key = stage.key(batch)
        noted = stage.get_text(f"{key}.job")
        if noted:
            try:
                job = self._progress(noted)
            except ApiError as exc:
                if not exc.not_found:
                    raise
            else:
                if _carries(job, batch.id):
                    job.setdefault("jobId", noted)
                    return job
        for record in self._jobs(collection):
            job_id = str(record.get("jobId") or record.get("jobID") or "")
            if not job_id:
                continue
            job = self._progress(job_id)
            if _carries(job, batch.id):
                job.setdefault("jobId", job_id)
                return job
        return None

    def _failure(self, job: dict[str, Any], batch: Batch, spec: ZillizDataset, collection: str,
                 frame: pl.DataFrame, positions: list[int], url: str) -> str:
        reason = redact(str(job.get("reason") or "no reason given"))
        for detail in job.get("details") or []:
            if detail.get("reason") and str(detail["reason"]) not in reason:
                reason += f"; {detail.get('fileName', '')}: {redact(str(detail['reason']))}"
        text = (f"{self._name}: import job {job.get('jobId')} into '{collection}' failed: "
                f"{reason}\n  file: {url}")
        match = re.search(r"\brow[\s:=#]*(\d+)", reason, re.IGNORECASE)
        if match and 1 <= int(match.group(1)) <= frame.height:
            index = int(match.group(1)) - 1
            pk = batch.schema.key[0]
            text += (f"\n  row {index + 1} of the file is the source row with {pk} = "
                     f"{frame.get_column(pk)[index]!r} (batch row {positions[index]})")
        text += "\n  nothing of this batch was recorded"
        if spec.mode == "upsert":
            text += "; the keys it was to write were deleted first, the next apply sends them again"
        elif batch.reset:
            text += f"; '{collection}' was recreated empty, the next apply loads it again"
        return text

    # -- alias replace ----------------------------------------------------------------------
    def _alias_target(self, alias: str) -> str | None:
        try:
            info = self._post("cluster", "aliases/describe", {"aliasName": alias},
                              what=f"describing alias '{alias}'")
        except ApiError as exc:
            if exc.not_found:
                return None
            raise
        name = (info or {}).get("collectionName")
        return str(name) if name else None

    def _check_alias(self, spec: ZillizDataset) -> None:
        alias = spec.alias
        assert alias is not None
        if self._alias_target(alias) is None and self._describe(alias) is not None:
            raise TargetError(f"{self._name}: '{alias}' is a collection, not an alias; an alias "
                              "replace cannot take its name; nothing was sent",
                              hint="choose another `alias:`, or rename or drop that collection")

    def _staging_name(self, batch: Batch, spec: ZillizDataset) -> str:
        return f"{spec.table_name}__{re.sub(r'[^A-Za-z0-9]', '_', batch.id)}"[:255]

    def _replace_into_alias(self, batch: Batch, spec: ZillizDataset) -> list[RowError]:
        alias = spec.alias
        assert alias is not None
        name = self._staging_name(batch, spec)
        self._drop(name)
        self._create(name, spec, batch.schema)
        frame, errors, positions = _import_rows(batch, self._fields[name])
        if frame.height:
            try:
                self._import(batch, spec, name, frame, positions)
            except TargetError:
                if self._outcomes.get(batch.id) is False:  # the job failed: nobody reads it
                    self._drop(name)
                raise
        self._move_alias(alias, name, spec)
        self._outcomes[batch.id] = True
        return errors

    def _move_alias(self, alias: str, name: str, spec: ZillizDataset) -> None:
        previous = self._alias_target(alias)
        if previous == name:
            pass
        elif previous is None:
            try:
                self._post("cluster", "aliases/create", {"aliasName": alias, "collectionName": name},
                           what=f"creating alias '{alias}' -> '{name}'")
            except ApiError as exc:
                if not exc.exists:
                    raise
                self._post("cluster", "aliases/alter", {"aliasName": alias, "collectionName": name},
                           what=f"moving alias '{alias}' to '{name}'")
        else:
            self._post("cluster", "aliases/alter", {"aliasName": alias, "collectionName": name},
                       what=f"moving alias '{alias}' to '{name}'")
            if previous.startswith(f"{spec.table_name}__"):
                self._drop(previous)  # an earlier replace built it; nobody reads it any more
        self._drop_replaced(spec, keep=name)

    def _drop_replaced(self, spec: ZillizDataset, *, keep: str) -> None:
        """Drop the collections earlier alias replaces of this dataset built: named
        ``<table>__<batch id>`` and no longer behind an alias."""
        pattern = re.compile(rf"^{re.escape(spec.table_name)}__[0-9a-f]{{12}}_[0-9a-f]{{8}}$")
        names = self._post("cluster", "collections/list", {}, what="listing collections") or []
        for name in names:
            if name == keep or not pattern.match(str(name)):
                continue
            try:
                self._drop(str(name))
            except ApiError as exc:
                if "alias" not in exc.server_message.lower():
                    raise  # an alias still points at it: someone else reads it; keep it

    def _settle_alias(self, batch: Batch, spec: ZillizDataset) -> bool:
        alias = spec.alias
        assert alias is not None
        name = self._staging_name(batch, spec)
        if self._alias_target(alias) == name:
            self._drop_replaced(spec, keep=name)
            return True
        if self._describe(name) is None:
            return False
        job = self._find_job(batch, name) if batch.upserts.height else None
        if job is not None and job.get("state") in _RUNNING:
            job = self._follow_again(batch, job, name)
        if job is not None and job.get("state") == "Completed":
            # the new collection holds every row; the crash came before the alias moved
            self._move_alias(alias, name, spec)
            return True
        self._drop(name)  # half built: readers still see the previous collection
        return False


_AUTH_HINT = ("check `api_key:` (e.g. ${ZILLIZ_API_KEY}: an API key of the project that holds "
              "the cluster), `cluster_id:` and `endpoint:`")


# -- rows and files ------------------------------------------------------------------------------

def _import_rows(batch: Batch, fields: list[Field]) -> tuple[pl.DataFrame, list[RowError], list[int]]:
    """The batch's upserts the service would take (value columns only), the rows it would
    refuse (as row errors: no vector, NaN, a JSON scalar, text over max_length, ...), and for
    each kept row its index in the batch."""
    frame = batch.upserts
    by_name = {f.name: f for f in fields}
    problems: dict[int, str] = {}
    for column in batch.schema.columns:
        for index, message in _refusals(frame.get_column(column.name), column,
                                        by_name.get(column.name)):
            problems.setdefault(index, message)
    out = frame.select(batch.schema.names)
    keep = list(range(frame.height))
    if problems:
        keep = [i for i in keep if i not in problems]
        out = out[keep] if keep else out.clear()
    errors = [RowError("upsert", index, message) for index, message in sorted(problems.items())]
    return out, errors, keep


def _plain_row(row: dict[str, Any], schema: Schema) -> dict[str, Any]:
    """An entity as the dataset's columns: vectors as floats, JSON fields as their text."""
    out: dict[str, Any] = {}
    for column in schema.columns:
        value = row.get(column.name)
        if column.type == "vector" and value is not None:
            value = [float(x) for x in value]
        elif column.type == "json" and value is not None and not isinstance(value, str):
            value = json.dumps(value, sort_keys=True)
        out[column.name] = value
    return out


def _import_file(frame: pl.DataFrame, schema: Schema) -> bytes:
    """``{"rows": [...]}``: one object per row; dates as ISO text, JSON columns as JSON text
    (the service parses a string given for a JSON field), vectors as lists of floats."""
    json_columns = [c.name for c in schema.columns if c.type == "json"]
    if json_columns:
        frame = frame.with_columns([pl.when(pl.col(c) == "null").then(None).otherwise(pl.col(c))
                                    .alias(c) for c in json_columns])
    return b'{"rows": ' + frame.write_json().encode("utf-8") + b"}\n"


def _carries(job: dict[str, Any], batch_id: str) -> bool:
    names = [str(job.get("fileName") or "")]
    names += [str(d.get("fileName") or "") for d in job.get("details") or []]
    return any(f"{batch_id}.json" in name for name in names)


def _rest_field(field: Field) -> dict[str, Any]:
    out: dict[str, Any] = {"fieldName": field.name, "dataType": _REST_TYPES[field.type]}
    if field.primary:
        out["isPrimary"] = True
    if field.nullable:
        out["nullable"] = True
    params: dict[str, Any] = {}
    if field.dim is not None:
        params["dim"] = field.dim
    if field.type == "VARCHAR":
        params["max_length"] = field.max_length or MAX_VARCHAR
    if params:
        out["elementTypeParams"] = params
    return out


def _fields(info: dict[str, Any]) -> list[Field]:
    """The fields of a ``collections/describe`` answer."""
    out = []
    for raw in info.get("fields") or []:
        params = {str(p.get("key")): p.get("value") for p in raw.get("params") or []
                  if isinstance(p, dict)}
        kind = str(raw.get("type", ""))
        dim, max_length = params.get("dim"), params.get("max_length")
        out.append(Field(str(raw.get("name")), _FROM_REST.get(kind.lower(), kind.upper()),
                         primary=bool(raw.get("primaryKey")), nullable=bool(raw.get("nullable")),
                         dim=int(dim) if dim is not None else None,
                         max_length=int(max_length) if max_length is not None else None))
    return out


def _spec(dataset: DatasetSpec) -> ZillizDataset:
    if not isinstance(dataset, ZillizDataset):  # pragma: no cover - the registry pairs them
        raise TargetError(f"dataset '{dataset.name}' is not a zilliz dataset")
    return dataset


__all__ = ["MAX_PENDING_JOBS", "RateLimiter", "Stage", "ZillizDriver"]
