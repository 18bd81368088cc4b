"""The HTTP client every HTTP driver uses: one ``httpx.Client`` per target (the test seam),
timeouts, bounded retries with exponential backoff and jitter, and errors translated into
:class:`TargetError` with the server's own message.

Retrying is safe only when the request was not processed or is idempotent.  A 429 or a refused
connection means nothing happened; a 5xx, a timeout or a dropped connection after the request
was sent leaves the outcome unknown, so for a non-idempotent request it raises
:class:`OutcomeUnknown` and the driver settles it (asks the target) before anything is re-sent.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from ..errors import TargetError
from ..secrets import redact

_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_UNKNOWN = (httpx.ReadError, httpx.ReadTimeout, httpx.WriteError, httpx.WriteTimeout,
            httpx.RemoteProtocolError)


class OutcomeUnknown(TargetError):
    """The request may or may not have been processed."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


@dataclass(frozen=True)
class Failure:
    """Why an attempt failed, and whether the request may have been processed all the same."""

    message: str
    unknown: bool


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded attempts with exponential backoff and jitter: the one retry policy of every HTTP
    driver.  ``sleep`` and ``jitter`` are injectable (tests pass a recorder)."""

    retries: int = 5
    backoff: float = 0.2
    max_backoff: float = 10.0
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = random.random

    @property
    def attempts(self) -> int:
        return self.retries + 1

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (0-based); a ``Retry-After`` the
        server sent is honoured up to ``max_backoff``."""
        delay = min(self.max_backoff, self.backoff * 2.0 ** attempt)
        if retry_after is not None:
            try:
                delay = max(delay, min(float(retry_after), self.max_backoff))
            except ValueError:
                pass
        return delay * (0.5 + self.jitter() / 2)  # jitter: spread the herd

    def wait(self, attempt: int, retry_after: str | None = None) -> None:
        self.sleep(self.delay(attempt, retry_after))

    @staticmethod
    def failure(response: httpx.Response | None, error: httpx.HTTPError | None) -> Failure | None:
        """What an attempt's answer (or its transport error) means: None when the response is
        one the caller judges (below 500, not 429); else a failure, retryable when nothing
        happened (429, a refused connection) and of unknown outcome when the request may have
        been processed (5xx, a connection lost after sending).  Any other transport error is
        not retried: it raises TargetError."""
        if isinstance(error, _UNSENT):
            return Failure(f"cannot connect: {error}", unknown=False)
        if isinstance(error, _UNKNOWN):
            return Failure(f"connection failed after the request was sent "
                           f"({type(error).__name__})", unknown=True)
        if error is not None:
            raise error
        assert response is not None
        if response.status_code == 429:
            return Failure("rate limited (429)", unknown=False)
        if response.status_code >= 500:
            return Failure(f"server error {response.status_code}: {message_of(response)}",
                           unknown=True)
        return None


#: the first waits of a poll, as shares of its interval: a short job (a 1 % change's import)
#: is seen done soon after it is, and a long one costs three requests more (cloud SDKs'
#: waiters start small the same way)
RAMP = (0.125, 0.25, 0.5)


@dataclass(frozen=True)
class Poll:
    """Ask again every ``interval`` seconds (sooner at first: :data:`RAMP`) until a deadline:
    the one poll loop of every driver that follows a queued job.  ``clock`` and ``sleep`` are
    injectable."""

    interval: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def deadline(self, seconds: float) -> float:
        return self.clock() + seconds

    def until(self, deadline: float | None) -> Iterator[int]:
        """Yield 0, 1, ...: the caller asks once per step and returns (or breaks) when done.
        After a step, stop once ``deadline`` has passed (None: never), else sleep (the ramp,
        then ``interval``); the caller raises its own timeout message after the loop."""
        step = 0
        while True:
            yield step
            if deadline is not None and self.clock() > deadline:
                return
            self.sleep(self.interval * (RAMP[step] if step < len(RAMP) else 1.0))
            step += 1


class Http:
    """A retrying JSON-over-HTTP client bound to one base URL."""

    def __init__(self, base_url: str, *, name: str, timeout: float = 30.0, retries: int = 5,
                 backoff: float = 0.2, max_backoff: float = 10.0,
                 transport: httpx.BaseTransport | None = None,
                 policy: RetryPolicy | None = None) -> None:
        self.name = name
        self.policy = policy or RetryPolicy(retries, backoff, max_backoff)
        self.retries_made = 0
        self.client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout,
                                   transport=transport, follow_redirects=False)

    @property
    def retries(self) -> int:
        return self.policy.retries

    def close(self) -> None:
        self.client.close()

    def sleep(self, attempt: int, retry_after: str | None = None) -> None:
        """Back off after failed attempt ``attempt`` (every retry of a driver goes through here)."""
        self.policy.wait(attempt, retry_after)

    def attempts(self) -> Iterator[int]:
        """0, 1, ... ``retries``: the attempts of an operation a driver retries itself; backs off
        (:meth:`sleep`) before each one after the first.  The caller returns when one succeeds
        and raises its own message after the loop."""
        for attempt in range(self.policy.attempts):
            if attempt:
                self.sleep(attempt - 1)
            yield attempt

    def request(self, method: str, path: str, *, idempotent: bool, **kwargs: Any) -> httpx.Response:
        """Send with retries; return any response below 500 except 429 (callers judge it)."""
        for attempt in range(self.policy.attempts):
            response: httpx.Response | None = None
            error: httpx.HTTPError | None = None
            try:
                response = self.client.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                error = exc
            try:
                failure = self.policy.failure(response, error)
            except httpx.HTTPError as exc:
                raise TargetError(f"{self.name}: {redact(str(exc))}") from None
            if failure is None:
                assert response is not None
                return response
            if failure.unknown and not idempotent:
                raise OutcomeUnknown(f"{self.name}: {failure.message}")
            if attempt >= self.policy.retries:
                raise TargetError(f"{self.name}: {failure.message} (gave up after {attempt + 1} "
                                  "attempts)", retryable=True)
            self.retries_made += 1
            self.sleep(attempt, response.headers.get("Retry-After") if response is not None
                       else None)
        raise AssertionError("unreachable: the last attempt returns or raises")


def message_of(response: httpx.Response) -> str:
    """The server's own error text, whatever shape the body has."""
    try:
        body = response.json()
    except ValueError:
        return redact(response.text[:300]) or response.reason_phrase
    if isinstance(body, dict):
        for key in ("message", "error", "description", "detail"):
            if isinstance(body.get(key), str):
                code = body.get("error_code") or body.get("code")
                return redact(f"{body[key]}" + (f" ({code})" if code else ""))
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return redact("; ".join(str(e.get("description") or e.get("error")) for e in errors[:5]))
    return redact(str(body)[:300])
