"""A small framework for local HTTP emulators of cloud APIs.

An emulator is an :class:`EmulatorApp` subclass that registers routes; :func:`running` serves it
on a background thread for tests and :func:`serve_forever` serves it in the foreground for the
CLI. The framework owns what every emulator needs and none should write twice:

* routing by method and path pattern (``/api/{app}/items``), JSON and multipart helpers;
* errors as JSON bodies (never a traceback on the wire), in the shape the subclass chooses;
* seeded fault injection (429, 500, dropped connections and stalled answers before *or after*
  the request took effect, queued work that stays pending longer), counted by kind, so drivers
  can be tested against the failures that matter;
* control endpoints under ``/_emulator/`` that are never faulted: ``GET /_emulator/stats``,
  ``POST /_emulator/faults``, ``POST /_emulator/reset``.
"""

from __future__ import annotations

import dataclasses
import email.message
import email.parser
import email.utils
import json
import logging
import random
import re
import signal
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Literal, Self

logger = logging.getLogger(__name__)

FaultKind = Literal["429", "500", "drop_before", "drop_after", "timeout_before", "timeout_after",
                    "slow_queue"]
FAULT_KINDS: tuple[FaultKind, ...] = ("429", "500", "drop_before", "drop_after", "timeout_before",
                                      "timeout_after", "slow_queue")
_INT_SETTINGS = ("latency_ms", "stall_ms", "slow_queue_ms")


# --------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class FaultConfig:
    """What fraction of requests fail, and how.

    For each faultable request one number is drawn from a RNG seeded with ``seed``: below
    ``rate_429`` the reply is 429 (``Retry-After: 0``), below ``rate_429 + rate_500`` it is 500,
    below ``... + rate_drop`` the connection is closed with no response, below
    ``... + rate_timeout`` the answer is stalled for ``stall_ms`` (longer than the client's
    timeout, so the client sees a read timeout). A dropped or stalled request is handled (its
    effect lands) with probability ``drop_after_apply``: that is the outcome-unknown case a
    driver must settle before re-sending. ``latency_ms`` delays every faultable request.

    Queued work (a Hexabase queued import, a Zilliz import job) is drawn from a second RNG when
    it starts: with probability ``rate_slow_queue`` it stays pending for an extra wait drawn
    uniformly between a quarter of and the whole of ``slow_queue_ms`` (and holds up the work
    queued behind it, as a slow queue does).
    """

    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_drop: float = 0.0
    latency_ms: int = 0
    seed: int | None = None
    drop_after_apply: float = 0.5
    rate_timeout: float = 0.0
    stall_ms: int = 2000
    rate_slow_queue: float = 0.0
    slow_queue_ms: int = 1000

    def __post_init__(self) -> None:
        for name in ("rate_429", "rate_500", "rate_drop", "drop_after_apply", "rate_timeout",
                     "rate_slow_queue"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.rate_429 + self.rate_500 + self.rate_drop + self.rate_timeout > 1.0:
            raise ValueError("rate_429 + rate_500 + rate_drop + rate_timeout must not exceed 1")
        for name in _INT_SETTINGS:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FaultConfig:
        """Build a config from JSON-like data; unknown keys and wrong types are ``ValueError``."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(unknown)}")
        for name, value in data.items():
            if isinstance(value, bool):
                raise ValueError(f"{name} must be a number")
            if name == "seed":
                if value is not None and not isinstance(value, int):
                    raise ValueError("seed must be an integer or null")
            elif name in _INT_SETTINGS:
                if not isinstance(value, int):
                    raise ValueError(f"{name} must be an integer")
            elif not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number")
        return cls(**data)


class FaultInjector:
    """Draws faults from a seeded RNG and counts requests and injected faults (thread-safe)."""

    def __init__(self, config: FaultConfig) -> None:
        self._lock = threading.Lock()
        self._config = config
        self._rng = random.Random(config.seed)
        self._queue_rng = random.Random(_queue_seed(config.seed))
        self._requests = 0
        self._faults: dict[FaultKind, int] = dict.fromkeys(FAULT_KINDS, 0)

    @property
    def config(self) -> FaultConfig:
        """The configuration in force."""
        return self._config

    def configure(self, config: FaultConfig) -> None:
        """Replace the configuration and re-seed, so a run from here on is reproducible."""
        with self._lock:
            self._config = config
            self._rng = random.Random(config.seed)
            self._queue_rng = random.Random(_queue_seed(config.seed))

    def count_request(self) -> None:
        """Count one request that went through fault injection."""
        with self._lock:
            self._requests += 1

    def draw(self) -> FaultKind | None:
        """Decide the fate of one request and count it when it is a fault."""
        with self._lock:
            config = self._config
            roll = self._rng.random()
            kind: FaultKind | None = None
            if roll < config.rate_429:
                kind = "429"
            elif roll < config.rate_429 + config.rate_500:
                kind = "500"
            elif roll < config.rate_429 + config.rate_500 + config.rate_drop:
                after = self._rng.random() < config.drop_after_apply
                kind = "drop_after" if after else "drop_before"
            elif roll < config.rate_429 + config.rate_500 + config.rate_drop + config.rate_timeout:
                after = self._rng.random() < config.drop_after_apply
                kind = "timeout_after" if after else "timeout_before"
            if kind is not None:
                self._faults[kind] += 1
            return kind

    def queue_delay(self) -> float:
        """Seconds a piece of queued work that starts now waits on top of the usual delay (0
        unless the draw makes it a slow one, which is counted)."""
        with self._lock:
            config = self._config
            if not config.rate_slow_queue or self._queue_rng.random() >= config.rate_slow_queue:
                return 0.0
            self._faults["slow_queue"] += 1
            return self._queue_rng.uniform(0.25, 1.0) * config.slow_queue_ms / 1000

    def stats(self) -> dict[str, Any]:
        """``{"requests": n, "faults": {kind: n}}`` for every kind of :data:`FAULT_KINDS`."""
        with self._lock:
            return {"requests": self._requests, "faults": dict(self._faults)}

    def reset_counts(self) -> None:
        """Zero the counters (the configuration and RNG stay)."""
        with self._lock:
            self._requests = 0
            self._faults = dict.fromkeys(FAULT_KINDS, 0)


# --------------------------------------------------------------------------- requests and responses


def _queue_seed(seed: int | None) -> int | None:
    # a second stream, so slow queues leave the per-request sequence of a seed as it was
    return None if seed is None else seed * 7919 + 1


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
class FormField:
    """One part of a multipart/form-data body."""

    name: str
    content: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        """The content decoded as UTF-8 (form values, not uploaded files)."""
        return self.content.decode("utf-8", errors="replace")


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


def parse_multipart(body: bytes, content_type: str) -> list[FormField]:
    """Split a multipart/form-data body into its parts (RFC 7578).

    Written by hand rather than with ``email.parser`` on the whole body because the email parser
    treats part contents as text lines, which is slow for large uploads and fragile for bytes that
    are not ASCII (a CP932 CSV). Only the small part headers go through the email package.
    """
    header = email.message.Message()
    header["Content-Type"] = content_type
    if header.get_content_type() != "multipart/form-data":
        raise ValueError(f"expected multipart/form-data, got {content_type or 'no Content-Type'}")
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise ValueError("multipart/form-data without a boundary")
    # Every delimiter is preceded by CRLF except the first, hence the CRLF put in front.
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    chunks = (b"\r\n" + body).split(delimiter)
    if len(chunks) < 2:
        raise ValueError("multipart body has no parts")
    parts: list[FormField] = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            return parts  # the close delimiter: the rest is epilogue
        head, separator, content = chunk.partition(b"\r\n\r\n")
        if not separator:
            raise ValueError("multipart part without a header/body separator")
        headers = email.parser.BytesParser().parsebytes(head.lstrip(b" \t").lstrip(b"\r\n"))
        name = _header_param(headers, "name")
        if name is None:
            raise ValueError("multipart part without a name")
        parts.append(
            FormField(
                name=name,
                content=content,
                filename=_header_param(headers, "filename"),
                content_type=headers.get("Content-Type"),
            )
        )
    raise ValueError("multipart body is not terminated by a close delimiter")


def _header_param(headers: email.message.Message, name: str) -> str | None:
    value = headers.get_param(name, header="content-disposition")
    if value is None:
        return None
    return email.utils.collapse_rfc2231_value(value)


# --------------------------------------------------------------------------- routing


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


# --------------------------------------------------------------------------- serving


class _RequestHandler(BaseHTTPRequestHandler):
    """Reads a request, lets the app answer it, writes the answer (or drops the connection)."""

    # HTTP/1.1 keeps connections alive, as real APIs do; every response sets Content-Length.
    protocol_version = "HTTP/1.1"
    # An idle keep-alive connection must not pin a handler thread forever.
    timeout = 30
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm and the
    # client's delayed ACK add ~40 ms to every response.
    disable_nagle_algorithm = True
    server: EmulatorServer

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _handle(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        request = Request(
            method=self.command,
            path=url.path,
            query=urllib.parse.parse_qs(url.query, keep_blank_values=True),
            headers=self.headers,
            body=self._read_body(),
        )
        response = self.server.app.dispatch(request)
        if response is None:
            self.close_connection = True  # the server closes the socket: no HTTP response at all
            return
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after each chunk


class EmulatorServer(ThreadingHTTPServer):
    """A threading HTTP server bound to one :class:`EmulatorApp`."""

    daemon_threads = True

    def __init__(
        self, app: EmulatorApp, host: str = "127.0.0.1", port: int = 0, *, verbose: bool = False
    ) -> None:
        self.app = app
        self.verbose = verbose
        super().__init__((host, port), _RequestHandler)

    @property
    def url(self) -> str:
        """``http://host:port`` with the port actually bound."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Mostly clients that hung up; worth a line only when asked for.
        logger.debug("connection from %s failed", client_address, exc_info=True)


@contextmanager
def running(
    app: EmulatorApp, *, host: str = "127.0.0.1", port: int = 0, verbose: bool = False
) -> Iterator[str]:
    """Serve ``app`` on a background thread; yield its base URL; shut down on exit.

    The app itself is not closed: whoever made it owns it (so it can be served again).
    """
    server = EmulatorServer(app, host, port, verbose=verbose)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.01},
        name="emulator-server",
        daemon=True,
    )
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def serve_forever(
    app: EmulatorApp,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    on_ready: Callable[[str], None] | None = None,
    verbose: bool = False,
) -> None:
    """Serve ``app`` in the foreground until SIGINT or SIGTERM; ``on_ready`` gets the base URL."""
    server = EmulatorServer(app, host, port, verbose=verbose)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        # shutdown() waits for the serve loop, which runs on this very thread: ask from another.
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():  # signal handlers: main thread only
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, stop)
    try:
        if on_ready is not None:
            on_ready(server.url)
        server.serve_forever(poll_interval=0.2)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        server.server_close()


class SqliteStore:
    """An emulator's SQLite database: one connection shared by the server's threads behind one
    lock, with explicit write transactions.  Subclasses add their own tables (``ddl``) and
    queries."""

    def __init__(self, path: Path, ddl: str) -> None:
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(ddl)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and run a write transaction, rolled back on any exception."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a read query under the lock."""
        with self._lock:
            return self._db.execute(sql, args).fetchall()
