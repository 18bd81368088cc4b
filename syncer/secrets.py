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
