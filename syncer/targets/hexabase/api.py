"""Hexabase's REST API as the hexabase driver calls it: authentication (a token, or a login with
email and password, again once on a 401), the import queue (GetQueueList followed until a task
finished, GetImportResults) and the datastore's item count."""

from __future__ import annotations

from typing import Any

import httpx

from ...errors import TargetError
from ...model.manifest import DatasetSpec
from ..base import Batch
from ..http import Http, Poll, message_of
from .config import HexabaseTarget


class Api:
    """The authenticated HTTP calls of one hexabase target."""

    def __init__(self, target: HexabaseTarget, *,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.target = target
        self.http = Http(target.url, name=f"hexabase target '{target.name}'",
                         timeout=target.timeout, retries=target.retries, transport=transport)
        self.poll = Poll(target.poll_interval)
        self._token = target.token.get_secret_value() if target.token else None

    def close(self) -> None:
        self.http.close()

    # -- auth -------------------------------------------------------------------------------
    def login(self) -> str:
        if not (self.target.email and self.target.password):
            raise TargetError(f"hexabase target '{self.target.name}': the token was refused (401)",
                              hint="check the token, or configure email/password to log in")
        response = self.http.request("POST", "/api/v0/login", idempotent=True, json={
            "email": self.target.email, "password": self.target.password.get_secret_value()})
        if response.status_code != 200:
            raise TargetError(f"hexabase target '{self.target.name}': login failed: "
                              f"{message_of(response)}", hint="check email and password")
        token = response.json().get("token")
        if not isinstance(token, str):
            raise TargetError(f"hexabase target '{self.target.name}': login answered no token")
        from ...secrets import register

        register(token)
        self._token = token
        return token

    def call(self, method: str, path: str, *, idempotent: bool = True, **kwargs: Any) -> httpx.Response:
        """An authenticated call; on 401 log in again once (when credentials allow) and retry."""
        token = self._token or self.login()
        response = self.http.request(method, path, idempotent=idempotent,
                                     headers={"Authorization": f"Bearer {token}"}, **kwargs)
        if response.status_code == 401 and self.target.email and self.target.password:
            token = self.login()
            response = self.http.request(method, path, idempotent=idempotent,
                                         headers={"Authorization": f"Bearer {token}"}, **kwargs)
        if response.status_code == 401:
            raise TargetError(f"hexabase target '{self.target.name}': unauthorized: "
                              f"{message_of(response)}", hint="check the token or credentials")
        return response

    def datastore_path(self, dataset: DatasetSpec) -> str:
        return f"/api/v0/applications/{self.target.application}/datastores/{dataset.table_name}"

    def follow(self, stream_id: str, batch: Batch) -> dict[str, Any]:
        """Poll GetQueueList until the import task finished (status 2 done, 3/4 failed)."""
        for _ in self.poll.until(self.poll.deadline(self.target.import_timeout)):
            response = self.call("GET", "/api/v0/tasks",
                                  params={"category": "ImportItems", "all": "true",
                                          "stream_id": stream_id})
            if response.status_code != 200:
                raise TargetError(f"hexabase queue status failed: {message_of(response)}")
            tasks = [t for t in response.json().values()
                     if (t.get("metadata") or {}).get("stream_id", stream_id) == stream_id]
            if tasks and tasks[0]["status"]["id"] >= 2:
                return dict(tasks[0])
        raise TargetError(f"hexabase import into '{batch.dataset.table_name}' still queued "
                          f"after {self.target.import_timeout:g}s", retryable=True)

    def import_results(self, batch: Batch, temp_id: str) -> list[dict[str, Any]]:
        ds = batch.dataset.table_name
        for _ in self.poll.until(None):  # the job is done: its results are on their way
            response = self.call("GET", f"/api/v0/datastores/{ds}/import/{temp_id}")
            if response.status_code == 202:
                continue
            if response.status_code != 200:
                raise TargetError(f"hexabase import results failed: {message_of(response)}")
            if not response.content.strip():
                return []
            return list(response.json().get("errors") or [])
        raise AssertionError("unreachable: polling without a deadline ends by returning")

    # -- queue and count -----------------------------------------------------------------
    def count(self, dataset: DatasetSpec) -> int:
        response = self.call("POST", f"{self.datastore_path(dataset)}/items/search",
                              json={"page": 1, "per_page": 1, "use_display_id": True})
        if response.status_code != 200:
            raise TargetError(f"hexabase item count failed: {message_of(response)}")
        return int(response.json().get("totalItems", 0))

    def wait_for_queue(self) -> None:
        """Wait until no import is queued or running: only then does the item count tell whether
        an append landed.  A queue still busy at ``import_timeout`` leaves the outcome unknown
        (an error, so the journal entry stays open): counting now would take an append that is
        still queued for one that never arrived, and send it a second time."""
        for _ in self.poll.until(self.poll.deadline(self.target.import_timeout)):
            response = self.call("GET", "/api/v0/tasks", params={"category": "ImportItems"})
            if response.status_code == 200 and not [
                    t for t in response.json().values() if t["status"]["id"] < 2]:
                return
        raise TargetError(f"hexabase target '{self.target.name}': imports still queued "
                          f"after {self.target.import_timeout:g}s, so whether an append "
                          "landed is not known yet; the next apply settles it",
                          retryable=True)
