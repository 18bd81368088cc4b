"""Zilliz Cloud's REST API as the zilliz driver calls it: the control plane (import jobs) and
the cluster endpoint (collections, aliases, entities), every request through a client-side rate
limiter, and errors, which arrive as HTTP 200 with a non-zero ``code``, turned into one
:class:`ApiError` with the server's message."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx

from ...errors import TargetError
from ...secrets import redact, register
from ..http import Http, message_of
from .config import ZillizTarget

_V2 = "/v2/vectordb"
_AUTH_CODES = {80001, 1800, 21119, 80000}
_RATE_CODES = {429, 90028, 8}
#: the code of a refused job: the collection has too many pending or running jobs
TOO_MANY_JOBS = 80010
AUTH_HINT = ("check `api_key:` (e.g. ${ZILLIZ_API_KEY}: an API key of the project that holds "
             "the cluster), `cluster_id:` and `endpoint:`")


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


class Rest:
    """The two HTTP clients of one zilliz target (one when the endpoint is the control URL)."""

    def __init__(self, target: ZillizTarget, name: str, *,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.target = target
        self.name = name
        self.control = Http(target.url, name=name, timeout=target.timeout,
                            retries=target.retries, transport=transport)
        self.cluster = self.control if target.endpoint == target.url else Http(
            target.endpoint, name=name, timeout=target.timeout, retries=target.retries,
            transport=transport)
        self.limiter = RateLimiter(target.rate_limit)
        key = target.api_key.get_secret_value()
        register(key)
        self._headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}

    def close(self) -> None:
        self.control.close()
        if self.cluster is not self.control:
            self.cluster.close()

    def post(self, plane: str, path: str, body: dict[str, Any], *, what: str,
             idempotent: bool = True) -> Any:
        """POST to the control plane or the cluster; the ``data`` of a ``code: 0`` answer.  A
        request refused by the rate limit (not processed) is sent again, with backoff."""
        http = self.control if plane == "control" else self.cluster
        if plane == "cluster" and self.target.db_name:
            body = {"dbName": self.target.db_name, **body}
        for attempt in http.attempts():
            self.limiter.acquire()
            response = http.request("POST", f"{_V2}/{path}", idempotent=idempotent, json=body,
                                    headers=self._headers)
            if response.status_code != 200:
                hint = AUTH_HINT if response.status_code in (401, 403) else None
                raise TargetError(f"{self.name}: {what}: HTTP {response.status_code}: "
                                  f"{message_of(response)}", hint=hint)
            try:
                payload = response.json()
            except ValueError:
                raise TargetError(f"{self.name}: {what}: the answer is not JSON: "
                                  f"{redact(response.text[:200])}") from None
            code = payload.get("code", 0) if isinstance(payload, dict) else None
            if code in (0, 200):
                return payload.get("data")
            message = redact(str(payload.get("message") or payload)[:500]) \
                if isinstance(payload, dict) else redact(str(payload)[:200])
            if (code in _RATE_CODES or "rate limit" in message.lower()) and \
                    attempt < http.retries:
                continue  # refused, not processed: safe to send again
            auth = code in _AUTH_CODES or any(w in message.lower() for w in
                                              ("apikey", "api key", "token", "authenticat",
                                               "cluster not found"))
            raise ApiError(f"{self.name}: {what}: {message} (code {code})", code=code,
                           server_message=message, hint=AUTH_HINT if auth else None)
        raise TargetError(f"{self.name}: {what}: still rate limited after "
                          f"{self.target.retries + 1} attempts", retryable=True)
