"""The Zilliz Cloud emulator (:class:`ZillizEmulator`): the store, the job worker and the route
groups put together behind one API key, under ``/v2/vectordb/``."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from ..base import EmulatorApp, FaultConfig, Handler, Request, Response
from .errors import BAD_KEY, GENERIC, api_error
from .jobs import JobWorker
from .objects import ObjectReader
from .routes_aliases import AliasRoutes
from .routes_collections import CollectionRoutes
from .routes_entities import EntityRoutes
from .routes_jobs import JobRoutes
from .routes_partitions import PartitionRoutes
from .store import ZillizStore

DEFAULT_API_KEY = "zilliz-emulator-key"
#: the cluster id the emulator answers to (``in01-`` + 16 hex digits is the service's shape; any
#: other id is refused as an unknown cluster)
DEFAULT_CLUSTER_ID = "in01-emulator"
MAX_PENDING_JOBS = 10_000
_V2 = "/v2/vectordb"


class ZillizEmulator(EmulatorApp):
    """Zilliz Cloud's import jobs and a cluster's collections over a SQLite store.

    ``s3_endpoint`` is where import files are read from; ``data_dir`` holds ``zilliz.sqlite3``
    (a temporary directory, removed on :meth:`close`, when None); ``job_delay`` is how long each
    import job takes; ``max_pending_jobs`` the per-collection limit of pending or running jobs;
    ``cluster_id`` the one cluster its control plane knows (None: any).
    """

    def __init__(self, s3_endpoint: str, data_dir: Path | None = None,
                 api_key: str = DEFAULT_API_KEY, faults: FaultConfig | None = None,
                 job_delay: float = 0.5, max_pending_jobs: int = MAX_PENDING_JOBS,
                 s3_region: str = "us-east-1",
                 cluster_id: str | None = DEFAULT_CLUSTER_ID) -> None:
        super().__init__(faults)
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="zilliz-emulator-")
            data_dir = Path(self._tempdir.name)
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.api_key = api_key
        self.objects = ObjectReader(s3_endpoint, s3_region)
        self.store = ZillizStore(self.data_dir / "zilliz.sqlite3")
        with self.store.transaction() as db:  # jobs cut short by a stop run again
            db.execute("UPDATE jobs SET state = 'Pending', progress = 0 WHERE state = 'Importing'")
        self._worker = JobWorker(self.store, self.objects, self.faults, job_delay)
        self._jobs = JobRoutes(self.store, self._worker.notify, max_pending_jobs, cluster_id)
        routes: dict[str, Handler] = {
            **self._jobs.routes(),
            **CollectionRoutes(self.store).routes(),
            **EntityRoutes(self.store).routes(),
            **AliasRoutes(self.store).routes(),
            **PartitionRoutes(self.store).routes(),
        }
        for path, handler in routes.items():
            self.add_route("POST", f"{_V2}/{path}", self._authorized(handler))
        self.add_route("GET", f"{_V2}/jobs/import/getProgress",
                       self._authorized(self._jobs.job_progress))

    @property
    def max_pending_jobs(self) -> int:
        """The per-collection limit of pending or running import jobs."""
        return self._jobs.max_pending_jobs

    @max_pending_jobs.setter
    def max_pending_jobs(self, value: int) -> None:
        self._jobs.max_pending_jobs = value

    # -- overrides

    def error_body(self, status: int, message: str, code: str) -> Any:
        number = int(code) if code.isdigit() else (status if status != 200 else GENERIC)
        return {"code": number, "message": message}

    def reset(self) -> None:
        """Delete every collection, alias, entity and job."""
        super().reset()
        self.store.clear()

    def close(self) -> None:
        """Stop the job worker, close the database, remove a temporary data directory."""
        self._worker.stop()
        self.store.close()
        if self._tempdir is not None:
            self._tempdir.cleanup()

    # -- plumbing

    def _authorized(self, handler: Handler) -> Handler:
        def guarded(request: Request) -> Response:
            if request.bearer_token() != self.api_key:
                raise api_error(BAD_KEY, "Invalid token: the API key is illegal or has expired")
            return handler(request)

        return guarded
