"""Notifications of ``syncer watch``: an HTTP POST to each ``--notify`` URL when a dataset starts
failing, recovers, is blocked by a safety guard, or drifts, and when a standby watcher takes over.

The loop never waits for a receiver: :meth:`Notifier.send` (a :class:`~syncer.watch.status.Status`
listener) only puts the notice on each URL's bounded queue; one daemon thread per URL posts them
in order, retrying a failed post (connection trouble, a timeout, 429 or 5xx) with exponential
backoff up to :data:`ATTEMPTS` times, so a receiver that answers 500 a few times loses nothing,
and a slow one delays only its own notifications.  On stop, what is queued gets the stop grace to
go out.

The body is documented in docs/watch.md (``format_version`` 1); a Slack incoming webhook
(``hooks.slack.com``) gets Slack's ``{"text": ...}`` instead.  URLs are shown redacted everywhere
(:func:`~syncer.secrets.register_url`, done when the settings are read).
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..secrets import redact
from .events import event
from .status import Notice, iso

FORMAT_VERSION = 1
ATTEMPTS = 6           # posts of one notification before it is given up (logged)
BACKOFF = 0.5          # seconds before the first retry; doubles each time
MAX_BACKOFF = 30.0
TIMEOUT = 10.0         # seconds a receiver may take to answer one post
QUEUE = 1000           # notifications waiting per URL; more are dropped (logged)

ICONS = {"failed": ":red_circle:", "recovered": ":large_green_circle:", "blocked": ":no_entry:",
         "drift": ":warning:", "takeover": ":arrows_counterclockwise:"}


def body(notice: Notice, url: str, page: str | None = None) -> dict[str, Any]:
    """What is posted to ``url`` about ``notice``: Slack's text, or syncer's documented body."""
    host = socket.gethostname()
    if is_slack(url):
        where = f"{notice.target}/{notice.dataset}" if notice.dataset else "watcher"
        text = f"{ICONS.get(notice.event, '')} syncer watch on {host}: *{notice.event}* " \
               f"{where}: {redact(notice.message)}"
        link = f" (<{page}|status page>)" if page else ""
        return {"text": _slack_escape(text.strip()) + link}
    return {"format_version": FORMAT_VERSION, "event": notice.event, "target": notice.target,
            "dataset": notice.dataset, "message": redact(notice.message), "at": iso(notice.at),
            "host": host, "pid": os.getpid(), "page": page,
            "details": {k: redact(v) if isinstance(v, str) else v
                        for k, v in notice.details.items()}}


def is_slack(url: str) -> bool:
    try:
        return (urlsplit(url).hostname or "").lower() == "hooks.slack.com"
    except ValueError:
        return False


def _slack_escape(text: str) -> str:
    """Slack's three control characters (its docs: escape &, < and > in message text)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Sender:
    """One URL: a bounded queue and the daemon thread that posts from it, in order."""

    def __init__(self, url: str, page: str | None = None, backoff: float = BACKOFF,
                 attempts: int = ATTEMPTS) -> None:
        self.url, self.page, self.backoff, self.attempts = url, page, backoff, attempts
        self.shown = redact(url)
        self.queue: queue.Queue[Notice | None] = queue.Queue(QUEUE)
        self.dropped = 0
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self._run, name="syncer-notify", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def put(self, notice: Notice) -> None:
        """Queue ``notice``; never blocks (a full queue drops it, and says so)."""
        try:
            self.queue.put_nowait(notice)
        except queue.Full:
            self.dropped += 1
            event(logging.WARNING, "notify", f"{self.shown}: {QUEUE} notifications waiting; "
                  f"{notice.event} dropped ({self.dropped} so far)", url=self.shown,
                  notification=notice.event)

    def close(self, grace: float) -> None:
        """Send what is queued within ``grace`` seconds, then stop (the rest is logged)."""
        self.closing.set()
        try:
            self.queue.put_nowait(None)
        except queue.Full:
            pass
        self.thread.join(timeout=grace)
        if self.thread.is_alive():
            left = max(1, self.queue.qsize())  # the one in flight, and those after it
            event(logging.WARNING, "notify", f"{self.shown}: stopping with about {left} "
                  "notification(s) not sent", url=self.shown)

    def _run(self) -> None:
        with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as client:
            while (notice := self.queue.get()) is not None:
                self._deliver(client, notice)

    def _deliver(self, client: httpx.Client, notice: Notice) -> None:
        payload = body(notice, self.url, self.page)
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            problem = self._post(client, payload)
            if problem is None:
                event(logging.INFO, "notify", f"{notice.event} sent to {self.shown}",
                      url=self.shown, notification=notice.event, attempts=attempt)
                return
            final = attempt == self.attempts or problem.startswith("refused")
            event(logging.WARNING, "notify", f"{self.shown}: {notice.event}: {problem}; " + (
                "given up" if final else f"retrying in {delay:g}s"), url=self.shown,
                notification=notice.event, attempts=attempt, error=problem)
            if final:
                return
            self.closing.wait(delay)  # stopping: no more waiting (the exit's grace bounds it)
            delay = min(MAX_BACKOFF, delay * 2)

    def _post(self, client: httpx.Client, payload: dict[str, Any]) -> str | None:
        """Post once: None when the receiver took it, else what went wrong (``refused ...``:
        not worth retrying)."""
        try:
            response = client.post(self.url, json=payload)
        except httpx.HTTPError as exc:
            return redact(f"{type(exc).__name__}: {exc}")
        if response.is_success:
            return None
        code = response.status_code
        retry = code == 429 or code >= 500 or code == 408
        return f"{'' if retry else 'refused: '}HTTP {code}"


class Notifier:
    """Every ``--notify`` URL: :meth:`send` is the :class:`Status` listener.  A context manager:
    the senders start on entry and get ``grace`` seconds to finish on exit."""

    def __init__(self, urls: tuple[str, ...] | list[str], page: str | None = None,
                 grace: float = 5.0, backoff: float = BACKOFF) -> None:
        self.senders = [Sender(url, page, backoff) for url in urls]
        self.grace = grace

    def send(self, notice: Notice) -> None:
        for sender in self.senders:
            sender.put(notice)

    def __enter__(self) -> Notifier:
        for sender in self.senders:
            sender.start()
        return self

    def __exit__(self, *exc: object) -> None:
        deadline = time.monotonic() + self.grace
        for sender in self.senders:
            sender.close(max(0.0, deadline - time.monotonic()))
