"""Keep secrets out of every output.

Values that reach a manifest through ``${VAR}`` interpolation are registered here.  Anything that
is shown to a person or written to disk (error messages, logs, plan files) passes through
:func:`redact`, so a token cannot leak even through a server's error text that echoes it back.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_secrets: set[str] = set()
MASK = "***"


def register(value: str) -> None:
    """Remember ``value`` as secret (short values are not worth masking and would garble text)."""
    if len(value) >= 4:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """Return ``text`` with every registered secret replaced by ``***``."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def register_url(url: str) -> None:
    """Remember the secret parts of a URL (a webhook's): the password, every query value, and
    every path segment that looks like a token (16 characters or more, or 6 or more mixing
    letters and digits: Slack's ``/services/T0../B0../XXXX``), so ``redact(url)`` shows where it
    points without the credential."""
    from urllib.parse import parse_qsl, urlsplit

    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        register(url)  # not a URL we can read: keep it out of sight entirely
        return
    if password:
        register(password)
    for _name, value in parse_qsl(parts.query, keep_blank_values=False):
        register(value)
    for segment in parts.path.split("/"):
        if len(segment) >= 16 or (len(segment) >= 6 and any(c.isdigit() for c in segment)
                                  and any(c.isalpha() for c in segment)):
            register(segment)
