"""``syncer watch``: the reconcile loop (:class:`Watcher`), what it watches (:class:`WatchSet`), its
settings (:class:`WatchConfig`), its log (:func:`event` on the ``syncer.watch`` logger) and what
it reports (:class:`Status`, served by :class:`HealthServer`).

::

    config.py   WatchConfig: settings from the argument, the environment, the default
    changes.py  WatchSet, glob matching, the debounced changes() over watchfiles
    signals.py  StopSignals: SIGINT/SIGTERM as a stop request, the stop grace
    events.py   event(), EventFormatter, configure_logging: one log line per event
    loop.py     Watcher: the loop (manifests, changes, what is due)
    status.py   Status: what the loop reports (read by the server, heard by the notifier)
    health.py   the server: /healthz, /metrics (metrics.py), /api/status (api.py), the page (static/)
    notify.py   Notifier: webhooks from a bounded queue on their own threads
"""

from __future__ import annotations

from .changes import WatchSet
from .config import WatchConfig
from .events import EventFormatter, configure_logging, event
from .health import HealthServer, Status
from .loop import Watcher
from .signals import StopSignals

__all__ = ["EventFormatter", "HealthServer", "Status", "StopSignals", "WatchConfig", "WatchSet",
           "Watcher", "configure_logging", "event"]
