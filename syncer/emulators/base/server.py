"""Serving an :class:`~syncer.emulators.base.app.EmulatorApp` over HTTP: on a background thread
(:func:`running`, for tests) or in the foreground until a signal (:func:`serve_forever`, for the
CLI)."""

from __future__ import annotations

import logging
import signal
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

from .app import EmulatorApp
from .messages import Request

logger = logging.getLogger(__name__)


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
