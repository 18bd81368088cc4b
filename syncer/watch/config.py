"""The settings of a watch: from the argument, else the environment (``SYNCER_WATCH_*``), else the
project file, else the default, as in watchfiles.

The project file (``syncer.yaml``, another branch's work) is a seam here: whoever reads it passes
its watch settings (``notify: [url, ...]`` first of all) as ``project`` to :meth:`WatchConfig.resolve`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import SyncError
from ..state.location import Location
from ..secrets import redact, register_url

#: the environment variable of each setting (read when the argument is not given)
ENV = {"interval": "SYNCER_WATCH_INTERVAL", "debounce_ms": "SYNCER_WATCH_DEBOUNCE",
       "step_ms": "SYNCER_WATCH_STEP", "health_port": "SYNCER_WATCH_HEALTH_PORT",
       "health_host": "SYNCER_WATCH_HEALTH_HOST",
       "log_format": "SYNCER_LOG_FORMAT", "backoff": "SYNCER_WATCH_BACKOFF",
       "max_backoff": "SYNCER_WATCH_BACKOFF_MAX", "stop_grace": "SYNCER_WATCH_STOP_GRACE",
       "self_heal": "SYNCER_WATCH_SELF_HEAL", "standby": "SYNCER_WATCH_STANDBY",
       "takeover": "SYNCER_WATCH_TAKEOVER", "notify": "SYNCER_WATCH_NOTIFY"}


@dataclass(frozen=True)
class WatchConfig:
    """Every setting of a watch; build it with :meth:`resolve`."""

    manifests: Path
    state: Location               # a SQLite file, or a PostgreSQL URL
    interval: float = 300.0       # seconds between full re-plans
    debounce_ms: int = 50         # longest time watchfiles groups events for
    step_ms: int = 20             # quiet time that ends a batch of events (watchfiles' step)
    health_port: int | None = None
    health_host: str = "127.0.0.1"  # 0.0.0.0 to be scraped from outside a container
    log_format: str = "text"      # text | json
    backoff: float = 1.0          # first retry delay of a failing dataset, seconds
    max_backoff: float = 60.0     # the delay doubles up to this
    stop_grace: float = 5.0       # after SIGTERM, how long the batch in flight may take
    self_heal: bool = False       # interval passes plan with --refresh and repair drift
    standby: bool = False         # a state held by another watcher: wait and take over
    takeover: float = 15.0        # ... within this many seconds of the holder dying
    notify: tuple[str, ...] = ()  # webhook URLs told about failures, recoveries, blocks, drift

    @classmethod
    def resolve(cls, manifests: Path, state: Location, env: Mapping[str, str] | None = None,
                project: Mapping[str, Any] | None = None, **given: Any) -> WatchConfig:
        """Each setting from ``given`` (None, or an empty list: not given), else ``env``, else
        ``project`` (the project file's settings), else the default."""
        environ = os.environ if env is None else env
        if given.get("notify") is not None:
            given["notify"] = tuple(given["notify"]) or None
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in ("manifests", "state"):
                continue
            value = given.pop(f.name, None)
            variable = ENV[f.name]
            if value is None and environ.get(variable, "").strip():
                value = _parse(variable, environ[variable].strip(), f.default)
            if value is None and project is not None and project.get(f.name) is not None:
                value = project[f.name]
                value = tuple(_urls(value)) if f.name == "notify" else value
            if value is not None:
                values[f.name] = value
        if given:
            raise TypeError(f"unknown watch settings: {', '.join(given)}")
        if "notify" in values:
            values["notify"] = tuple(_urls(values["notify"]))
        config = cls(manifests, state, **values)
        config.check()
        return config

    def check(self) -> None:
        problems = [message for bad, message in (
            (self.interval <= 0, "--interval must be more than 0 seconds"),
            (self.debounce_ms < 0, "--debounce must be 0 or more milliseconds"),
            (self.step_ms < 1, f"{ENV['step_ms']} must be 1 or more milliseconds"),
            (self.health_port is not None and not 0 <= self.health_port <= 65535,
             "--health-port must be a TCP port (0 picks a free one)"),
            (self.log_format not in ("text", "json"), "--log-format must be text or json"),
            (self.backoff <= 0 or self.max_backoff < self.backoff,
             f"{ENV['backoff']} must be > 0 and at most {ENV['max_backoff']}"),
            (self.stop_grace < 0, f"{ENV['stop_grace']} must be 0 or more seconds"),
            (self.takeover <= 0, "--takeover-seconds must be more than 0"),
            *((not re.match(r"https?://[^/?#]+", url),
               f"--notify {redact(url)!r} is not an http:// or https:// URL")
              for url in self.notify),
        ) if bad]
        if problems:
            raise SyncError("; ".join(problems))


def _urls(value: str | list[str] | tuple[str, ...]) -> list[str]:
    """Notification URLs from a setting: a list, or text separated by commas or spaces; their
    secrets registered at once, so no message can show them."""
    urls = re.split(r"[\s,]+", value) if isinstance(value, str) else [str(v) for v in value]
    urls = [u for u in (u.strip() for u in urls) if u]
    for url in urls:
        register_url(url)
    return urls


def _parse(variable: str, text: str, default: Any) -> Any:
    if isinstance(default, tuple):
        return tuple(_urls(text))
    if isinstance(default, bool):
        if text.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return text.lower() in ("1", "true", "yes", "on")
        raise SyncError(f"{variable}={text!r} is not a valid boolean (true or false)")
    kind = str if isinstance(default, str) else float if isinstance(default, float) else int
    try:
        return kind(text)
    except ValueError:
        raise SyncError(f"{variable}={text!r} is not a valid {kind.__name__}") from None

