"""The import-job worker (:class:`JobWorker`): a thread that runs import jobs one at a time,
reading their files from S3 and loading the rows into the store."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

from ..base import FaultInjector
from .objects import (
    ImportFailure,
    ObjectReader,
    numpy_rows,
    parse_import_file,
    parse_object_url,
)
from .rows import RowProblem, check_row
from .store import ZillizStore
from .wire import now

logger = logging.getLogger(__name__)


class JobWorker:
    """Runs import jobs one at a time, in order, each over ``delay`` seconds."""

    def __init__(self, store: ZillizStore, objects: ObjectReader, faults: FaultInjector,
                 delay: float) -> None:
        self._store, self._objects, self._faults, self._delay = store, objects, faults, delay
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="zilliz-import-jobs", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """A job was created."""
        self._wake.set()

    def stop(self) -> None:
        """Stop after the step in hand (a job cut short runs again on restart)."""
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def _loop(self) -> None:
        store = self._store
        while not self._stop.is_set():
            self._wake.clear()
            job = store.next_pending_job()
            if job is None:
                self._wake.wait()
                continue
            try:
                self._run(job)
            except Exception as exc:  # an emulator bug: fail the job, keep serving
                logger.exception("import job %s failed", job["job_id"])
                store.update_job(job["job_id"], state="Failed", progress=0,
                                 reason=f"internal emulator error: {exc}", complete_time=now())

    def _pause(self, fraction: float, extra: float = 0.0) -> bool:
        """Wait part of the delay (and ``extra`` seconds); False when the emulator is stopping."""
        return not self._stop.wait(self._delay * fraction + extra)

    def _run(self, job: sqlite3.Row) -> None:
        store, job_id = self._store, job["job_id"]
        # a slow queue (injected): the job stays Pending longer, and so do those behind it
        if not self._pause(0.25, self._faults.queue_delay()):
            return
        store.update_job(job_id, state="Importing", progress=10)
        details: list[dict[str, Any]] = []
        try:
            collection = store.collection_by_id(job["collection_id"])
            if collection is None:
                raise ImportFailure(f"collection not found[collection={job['collection_name']}]")
            entities: list[dict[str, Any]] = []
            for name, size, rows in self._files(job):
                count = 0
                for index, row in enumerate(rows, start=1):
                    try:
                        entities.append(check_row(collection.schema, row, next_id=store.next_id))
                    except RowProblem as problem:
                        raise ImportFailure(f"failed to import file '{name}': row {index}: "
                                            f"{problem}") from None
                    count += 1
                details.append({"fileName": name, "fileSize": size, "totalRows": count})
            store.update_job(job_id, progress=40, total_rows=len(entities),
                             file_size=sum(d["fileSize"] for d in details),
                             details=json.dumps(details))
            if not self._pause(0.25):
                return
            store.update_job(job_id, progress=80)  # the service sits at 80 while it indexes
            if not self._pause(0.5):
                return
            partition = job["partition"]
            with store.transaction() as db:
                if db.execute("SELECT 1 FROM collections WHERE id = ?",
                              (collection.id,)).fetchone() is None:
                    raise ImportFailure(f"collection not found[collection={collection.name}]")
                if partition not in store.partitions(collection.id):
                    raise ImportFailure(f"partition not found[partition={partition}]")
                store.insert(db, collection, entities, partition)
                db.execute("UPDATE jobs SET state = 'Completed', progress = 100, imported_rows = ?,"
                           " complete_time = ? WHERE job_id = ?", (len(entities), now(), job_id))
        except ImportFailure as failure:
            store.update_job(job_id, state="Failed", progress=0, reason=str(failure),
                             complete_time=now(), details=json.dumps(details))

    def _files(self, job: sqlite3.Row) -> Iterator[tuple[str, int, list[Any]]]:
        """Each import file of the job (a NumPy row group counts as one): its name, size and
        rows.  A folder URL stands for every file in it."""
        credentials = (job["access_key"], job["secret_key"], job["session_token"])
        for group in url_groups(job["urls"]):
            if len(group) == 1:
                expanded = self._objects.expand(group[0], *credentials)
                if expanded is not None and not all(u.endswith(".npy") for u in expanded):
                    for url in expanded:
                        yield self._file(url, credentials)
                    continue
                group = expanded or group
            if len(group) > 1 or group[0].endswith(".npy"):
                if not all(u.endswith(".npy") for u in group):
                    raise ImportFailure("a group of several files must be the .npy files of one "
                                        f"NumPy row group: {', '.join(group)}")
                files = [(parse_object_url(u)[1], self._objects.read(u, *credentials))
                         for u in group]
                name = files[0][0].rsplit("/", 1)[0] + "/"
                yield name, sum(len(d) for _, d in files), numpy_rows(files)
            else:
                yield self._file(group[0], credentials)

    def _file(self, url: str, credentials: tuple[str | None, str | None, str | None]
              ) -> tuple[str, int, list[Any]]:
        data = self._objects.read(url, *credentials)
        name = parse_object_url(url)[1]
        return name, len(data), parse_import_file(name, data)


def url_groups(stored: str) -> list[list[str]]:
    """The job's object URLs as groups (a flat list, as older data directories hold it, is one
    file per group)."""
    raw = json.loads(stored)
    return [list(g) if isinstance(g, list) else [str(g)] for g in raw]
