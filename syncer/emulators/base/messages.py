"""Requests and responses as handlers see them: :class:`Request`, :class:`Response`, the
:class:`HTTPError` a handler raises, and the JSON and empty response helpers."""

from __future__ import annotations

import email.message
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .multipart import FormField, parse_multipart


class HTTPError(Exception):
    """Raised by a handler to answer with an error; the app renders the body in its API's shape."""

    def __init__(
        self, status: int, message: str, code: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class Request:
    """An HTTP request as handlers see it: path parameters already extracted."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: email.message.Message
    body: bytes
    params: Mapping[str, str] = field(default_factory=dict)

    def query_value(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def bearer_token(self) -> str | None:
        """The token of an ``Authorization: Bearer`` header, if any."""
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def json(self) -> Any:
        """The body parsed as JSON; a missing or malformed body is a 400."""
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise HTTPError(
                400, f"request body is not valid JSON: {exc}", "INVALID_PARAMS"
            ) from exc

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; anything else is a 400."""
        data = self.json()
        if not isinstance(data, dict):
            raise HTTPError(400, "request body must be a JSON object", "INVALID_PARAMS")
        return data

    def form(self) -> dict[str, FormField]:
        """The multipart/form-data body by field name (the last part wins on repeats)."""
        content_type = self.headers.get("Content-Type") or ""
        try:
            parts = parse_multipart(self.body, content_type)
        except ValueError as exc:
            raise HTTPError(400, str(exc), "INVALID_PARAMS") from exc
        return {part.name: part for part in parts}


@dataclass(frozen=True)
class Response:
    """What a handler answers."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def json_response(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON response (UTF-8, non-ASCII kept as is)."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return Response(status, body, "application/json; charset=utf-8", dict(headers or {}))


def empty_response(status: int = 200) -> Response:
    """A response with a zero-length body."""
    return Response(status)
