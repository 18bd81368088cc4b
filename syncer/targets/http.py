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


class Http:
    """A retrying JSON-over-HTTP client bound to one base URL."""

    def __init__(self, base_url: str, *, name: str, timeout: float = 30.0, retries: int = 5,
                 backoff: float = 0.2, max_backoff: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.name = name
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.retries_made = 0
        self.client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout,
                                   transport=transport, follow_redirects=False)

    def close(self) -> None:
        self.client.close()

    def sleep(self, attempt: int, retry_after: str | None = None) -> None:
        delay = min(self.max_backoff, self.backoff * (2 ** attempt))
        if retry_after is not None:
            try:
                delay = max(delay, min(float(retry_after), self.max_backoff))
            except ValueError:
                pass
        time.sleep(delay * (0.5 + random.random() / 2))  # jitter: spread the herd

    def request(self, method: str, path: str, *, idempotent: bool, **kwargs: Any) -> httpx.Response:
        """Send with retries; return any response below 500 except 429 (callers judge it)."""
        attempt = 0
        while True:
            response: httpx.Response | None = None
            try:
                response = self.client.request(method, path, **kwargs)
            except _UNSENT as exc:
                failure = f"cannot connect: {exc}"
                unknown = False
            except _UNKNOWN as exc:
                failure = f"connection failed after the request was sent ({type(exc).__name__})"
                unknown = True
            except httpx.HTTPError as exc:
                raise TargetError(f"{self.name}: {redact(str(exc))}") from None
            else:
                if response.status_code == 429:
                    failure, unknown = "rate limited (429)", False
                elif response.status_code >= 500:
                    failure = f"server error {response.status_code}: {message_of(response)}"
                    unknown = True
                else:
                    return response
            if unknown and not idempotent:
                raise OutcomeUnknown(f"{self.name}: {failure}")
            if attempt >= self.retries:
                raise TargetError(f"{self.name}: {failure} (gave up after {attempt + 1} attempts)",
                                  retryable=True)
            self.retries_made += 1
            retry_after = response.headers.get("Retry-After") if response is not None else None
            self.sleep(attempt, retry_after)
            attempt += 1


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
