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

The package's modules: :mod:`.faults` (fault configuration and injection), :mod:`.multipart` and
:mod:`.messages` (requests and responses), :mod:`.app` (routing), :mod:`.server` (serving) and
:mod:`.sqlite` (the store every emulator keeps its data in).
"""

from .app import EmulatorApp, Handler, Route, compile_path
from .faults import FAULT_KINDS, FaultConfig, FaultInjector, FaultKind
from .messages import HTTPError, Request, Response, empty_response, json_response
from .multipart import FormField, parse_multipart
from .server import EmulatorServer, running, serve_forever
from .sqlite import SqliteStore

__all__ = [
    "FAULT_KINDS",
    "EmulatorApp",
    "EmulatorServer",
    "FaultConfig",
    "FaultInjector",
    "FaultKind",
    "FormField",
    "HTTPError",
    "Handler",
    "Request",
    "Response",
    "Route",
    "SqliteStore",
    "compile_path",
    "empty_response",
    "json_response",
    "parse_multipart",
    "running",
    "serve_forever",
]
