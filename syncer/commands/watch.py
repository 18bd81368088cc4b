"""`syncer watch`: keep applying as manifests and sources change, until SIGINT or SIGTERM."""

from __future__ import annotations

import logging
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..sync.session import state_path
from ..ui import verbose
from .options import Manifests, StateOpt


def watch(
    manifests: Manifests = Path("manifests"),
    state: StateOpt = None,
    interval: Annotated[Optional[float], typer.Option(
        "--interval", help="Seconds between full re-plans of every dataset "
                           "(default: $SYNCER_WATCH_INTERVAL, else 300).")] = None,
    debounce: Annotated[Optional[int], typer.Option(
        "--debounce", help="Longest time in milliseconds to group file events over "
                           "(default: $SYNCER_WATCH_DEBOUNCE, else 50).")] = None,
    health_port: Annotated[Optional[int], typer.Option(
        "--health-port", help="Serve the status page (/), /api/status, /healthz and /metrics on "
                              "127.0.0.1:PORT (0: any free port; "
                              "default: $SYNCER_WATCH_HEALTH_PORT, else none).")] = None,
    notify: Annotated[Optional[list[str]], typer.Option(
        "--notify", metavar="URL",
        help="POST a JSON notification to URL when a dataset fails, recovers, is blocked or "
             "drifts (Slack webhooks get Slack's text); repeatable "
             "(default: $SYNCER_WATCH_NOTIFY, comma or space separated).")] = None,
    self_heal: Annotated[bool, typer.Option(
        "--self-heal", help="On every interval pass, read the targets back and repair drift "
                            "(also: SYNCER_WATCH_SELF_HEAL=true; else drift is only reported).")] = False,
    standby: Annotated[bool, typer.Option(
        "--standby", help="When another watcher holds the state, wait and take over when it "
                          "stops (also: SYNCER_WATCH_STANDBY=true; else exit 1).")] = False,
    takeover: Annotated[Optional[float], typer.Option(
        "--takeover-seconds", help="A standby takes over within this many seconds of the active "
                                   "watcher dying (default: $SYNCER_WATCH_TAKEOVER, else 15).")]
    = None,
    log_format: Annotated[Optional[str], typer.Option(
        "--log-format", help="text or json: one line per event "
                             "(default: $SYNCER_LOG_FORMAT, else text).")] = None,
) -> None:
    """Reconcile everything, then apply each change to the manifests or sources as it happens."""
    from ..watch import (HealthServer, Status, StopSignals, WatchConfig, Watcher,
                         configure_logging, event)
    from ..watch.notify import Notifier
    from ..watch.progress import LogReporter

    # a project file's `notify:` (and other watch settings) go in as `project=` once it exists
    config = WatchConfig.resolve(manifests, state_path(state, manifests), interval=interval,
                                 debounce_ms=debounce, health_port=health_port,
                                 log_format=log_format, self_heal=self_heal or None,
                                 standby=standby or None, takeover=takeover,
                                 notify=notify or None)
    configure_logging(config.log_format)
    stop = threading.Event()
    status = Status()
    page: str | None = None
    with ExitStack() as stack:
        if config.health_port is not None:
            server = stack.enter_context(HealthServer(status, config.health_port,
                                                        config.health_host))
            page = server.url + "/"
            event(logging.INFO, "health", f"status page {page}; serving {server.url}/api/status, "
                  f"{server.url}/healthz and {server.url}/metrics", url=server.url)
        if config.notify:
            notifier = stack.enter_context(Notifier(config.notify, page, config.stop_grace))
            status.listen(notifier.send)
            status.describe(notify=[sender.shown for sender in notifier.senders])
        signals = stack.enter_context(StopSignals(stop, config.stop_grace))
        # -v: the progress of long applies as log lines (there is no bar in a service's log)
        reporter = LogReporter() if verbose() else None
        Watcher(config, stop, status, signals, reporter).run()
