"""What ``syncer watch`` reports about itself, served on 127.0.0.1 by the standard library's
``http.server`` in a daemon thread:

- ``/healthz`` (JSON) and ``/metrics`` (Prometheus text format, version 0.0.4, :mod:`.metrics`);
- ``/api/status``: the status page's data, versioned JSON (:mod:`.api`); ``?since=VERSION``
  waits (up to :data:`LONG_POLL` seconds) until something changed: the page's live updates;
- ``/``: the status page, and its assets under ``/static/`` (package data: no CDN, no network).

The watch loop writes into a :class:`~syncer.watch.status.Status`; the server only reads it, under
the status lock and for the time it takes to copy, so a slow reader never holds up a reconcile.
Nothing here changes anything: every route is a GET.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from ..errors import SyncError
from .api import document
from .status import DatasetStatus, Status

__all__ = ["DatasetStatus", "HealthServer", "Status"]

#: longest time, in seconds, ``/api/status?since=N`` waits for a change
LONG_POLL = 10.0

#: the page and its assets (``syncer/watch/static``): name -> content type
ASSETS = {"index.html": "text/html; charset=utf-8", "status.css": "text/css; charset=utf-8",
          "status.js": "text/javascript; charset=utf-8"}

#: the page loads nothing but its own assets and its own API
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store"}


# -- the server -------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # the stdlib's name for it
        path, _, query = self.path.partition("?")
        status = self.server.status
        if path == "/healthz":
            health = status.health()
            code = 200 if health["status"] in ("ok", "standby") else 503
            self._send(code, "application/json", json.dumps(health, indent=2) + "\n")
        elif path == "/metrics":
            self._send(200, "text/plain; version=0.0.4; charset=utf-8", status.metrics())
        elif path == "/api/status":
            self._api(status, parse_qs(query).get("since", [""])[0])
        elif path in ("/", "/index.html"):
            self._asset("index.html")
        elif path.startswith("/static/") and path[len("/static/"):] in ASSETS:
            self._asset(path[len("/static/"):])
        else:
            self._send(404, "text/plain; charset=utf-8",
                       "not found: try /, /api/status, /healthz or /metrics\n")

    def _api(self, status: Status, since: str) -> None:
        if since.isdigit():  # a long poll: answer once something changed (or after a while)
            status.wait(int(since), LONG_POLL)
        body = json.dumps(document(status.snapshot()), ensure_ascii=False, indent=1)
        self._send(200, "application/json; charset=utf-8", body + "\n",
                   {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})

    def _asset(self, name: str) -> None:
        text = resources.files(__package__).joinpath("static", name).read_text("utf-8")
        self._send(200, ASSETS[name], text, PAGE_HEADERS)

    def _send(self, code: int, content_type: str, body: str,
              headers: dict[str, str] | None = None) -> None:
        data = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the reader left (a page closed during a long poll)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # scrapes are not events worth a log line


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, status: Status, host: str, port: int) -> None:
        self.status = status
        super().__init__((host, port), _Handler)


class HealthServer:
    """Serve ``status`` on ``host:port`` (port 0: any free port) from a daemon thread.

    Use as a context manager; :attr:`url` is the address actually bound.
    """

    def __init__(self, status: Status, port: int, host: str = "127.0.0.1") -> None:
        try:
            self._server = _Server(status, host, port)
        except OSError as exc:
            raise SyncError(f"cannot serve the status page and /healthz on {host}:{port}: {exc.strerror or exc}",
                            hint="choose another --health-port (0 picks a free one)") from None
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.2}, name="syncer-health",
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> HealthServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.status.wake()  # long polls answer now
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
