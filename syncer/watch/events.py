"""The watcher's log: one line per event on the ``syncer.watch`` logger, as text or JSON lines.

Nothing else in the watch code logs through another channel: :func:`event` is the one way out,
and :func:`configure_logging` the one place the lines are formatted and sent.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from datetime import datetime, timezone
from typing import Any, TextIO

from ..secrets import redact

log = logging.getLogger("syncer.watch")


def event(level: int, name: str, message: str, **values: Any) -> None:
    """Log one event on ``syncer.watch``: a message plus the fields a log shipper indexes."""
    log.log(level, message, extra={"event": name, "fields": values})


def bug(exc: BaseException, message: str) -> None:
    """Log a bug as a ``bug`` event: ``message``, the exception, and its traceback (in the line
    when SYNCER_DEBUG is set, as the CLI shows it)."""
    error = f"{type(exc).__name__}: {exc}"
    log.error(f"{message}: {error}", exc_info=exc, extra={"event": "bug",
                                                           "fields": {"error": error}})


class EventFormatter(logging.Formatter):
    """One line per event: ``ts LEVEL event message`` as text, or a JSON object with ts, level,
    event, message and the event's fields (target, dataset, inserts, seconds, error, ...)."""

    def __init__(self, json_lines: bool = False) -> None:
        super().__init__()
        self.json_lines = json_lines

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, timezone.utc).isoformat(
            timespec="milliseconds").replace("+00:00", "Z")
        message = redact(record.getMessage())
        if record.exc_info and os.environ.get("SYNCER_DEBUG"):
            message += "\n" + redact("".join(traceback.format_exception(*record.exc_info)))
        name = getattr(record, "event", record.name)
        if self.json_lines:
            values = {k: _plain(v) for k, v in (getattr(record, "fields", None) or {}).items()}
            return json.dumps({"ts": ts, "level": record.levelname.lower(), "event": name,
                               **values, "message": message}, ensure_ascii=False, default=str)
        return f"{ts} {record.levelname:<7} {name:<9} {message}".replace("\n", " | ")


def _plain(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    return value


def configure_logging(log_format: str = "text", stream: TextIO | None = None) -> None:
    """Send ``syncer.watch`` events to ``stream`` (stderr), one line each, flushed."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(EventFormatter(json_lines=log_format == "json"))
    log.handlers = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
