"""Routing: :class:`EmulatorApp` matches a request to a route by method and path pattern, applies
fault injection, renders errors as JSON, and serves the ``/_emulator/`` control endpoints."""

from __future__ import annotations

import dataclasses
import logging
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from .faults import FaultConfig, FaultInjector, FaultKind
from .messages import HTTPError, Request, Response, json_response

logger = logging.getLogger(__name__)

Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    """A handler bound to a method and a compiled path pattern."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler
    faultable: bool
    control: bool


def compile_path(template: str) -> re.Pattern[str]:
    """``/a/{x}/b`` -> a regex with a named group per ``{param}`` (one path segment each)."""
    regex = ""
    for literal, name in re.findall(r"([^{]*)(?:\{(\w+)\})?", template):
        regex += re.escape(literal)
        if name:
            regex += f"(?P<{name}>[^/]+)"
    return re.compile(regex)


class EmulatorApp:
    """Routes, fault injection and control endpoints; subclass it and register API routes.

    Subclasses override :meth:`reset` (clear data), :meth:`close` (release resources) and
    :meth:`error_body` (the API's error shape).
    """

    def __init__(self, faults: FaultConfig | None = None) -> None:
        self._routes: list[Route] = []
        self.faults = FaultInjector(faults or FaultConfig())
        self.add_control_route(
            "GET", "/_emulator/stats", lambda _request: json_response(self.stats())
        )
        self.add_control_route("POST", "/_emulator/faults", self._set_faults)
        self.add_control_route("POST", "/_emulator/reset", self._reset)

    # -- to override

    def error_body(self, status: int, message: str, code: str) -> Any:
        """The JSON body of an error response."""
        return {"error": message, "error_code": code}

    def reset(self) -> None:
        """Clear all emulated data and the request/fault counters."""
        self.faults.reset_counts()

    def close(self) -> None:
        """Release resources (threads, files). The base app holds none."""

    # -- public API

    def add_route(
        self, method: str, path: str, handler: Handler, *, faultable: bool = True
    ) -> None:
        """Serve ``handler`` for ``method path``; ``faultable=False`` exempts it from faults."""
        self._routes.append(Route(method.upper(), compile_path(path), handler, faultable, False))

    def add_control_route(self, method: str, path: str, handler: Handler) -> None:
        """Serve a control endpoint: never faulted, never counted."""
        self._routes.append(Route(method.upper(), compile_path(path), handler, False, True))

    def stats(self) -> dict[str, Any]:
        """Request and fault counts, as served by ``GET /_emulator/stats``."""
        return self.faults.stats()

    def error_response(
        self, status: int, message: str, code: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        """An error response in this API's shape."""
        return json_response(self.error_body(status, message, code), status, headers)

    def dispatch(self, request: Request) -> Response | None:
        """Answer one request; ``None`` means: close the connection without any response."""
        found = self._match(request.method, request.path)
        if found is None:
            return self.error_response(
                404, f"no such endpoint: {request.method} {request.path}", "NOT_FOUND"
            )
        route, params = found
        request = dataclasses.replace(request, params=params)
        fault: FaultKind | None = None
        if not route.control:
            self.faults.count_request()
            latency = self.faults.config.latency_ms
            if latency:
                time.sleep(latency / 1000)
            if route.faultable:
                fault = self.faults.draw()
        if fault == "429":
            return self.error_response(
                429, "too many requests (injected)", "TOO_MANY_REQUESTS", {"Retry-After": "0"}
            )
        if fault == "500":
            return self.error_response(500, "internal error (injected)", "SYSTEM_ERROR")
        if fault == "drop_before":
            return None
        if fault == "timeout_before":  # the server hangs, then gives up without doing anything
            time.sleep(self.faults.config.stall_ms / 1000)
            return None
        response = self._call(route, request)
        if fault == "timeout_after":  # done, but the answer comes after the client gave up
            time.sleep(self.faults.config.stall_ms / 1000)
        return None if fault == "drop_after" else response

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals

    def _match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self._routes:
            if route.method != method:
                continue
            matched = route.pattern.fullmatch(path)
            if matched:
                params = {k: urllib.parse.unquote(v) for k, v in matched.groupdict().items()}
                return route, params
        return None

    def _call(self, route: Route, request: Request) -> Response:
        try:
            return route.handler(request)
        except HTTPError as exc:
            return self.error_response(exc.status, exc.message, exc.code, exc.headers)
        except Exception:
            # A bug in the emulator: keep the traceback in the log, never on the wire.
            logger.exception("emulator handler failed: %s %s", request.method, request.path)
            return self.error_response(500, "internal emulator error", "SYSTEM_ERROR")

    def _set_faults(self, request: Request) -> Response:
        try:
            config = FaultConfig.from_mapping(request.json_object())
        except (TypeError, ValueError) as exc:
            raise HTTPError(400, str(exc), "INVALID_PARAMS") from exc
        self.faults.configure(config)
        return json_response(dataclasses.asdict(config))

    def _reset(self, _request: Request) -> Response:
        self.reset()
        return json_response({"reset": True})
