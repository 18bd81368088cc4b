"""PostgreSQL's errors, as syncer shows them: the server's own message (primary text, detail,
hint), the dataset it concerns, and where a COPY stopped (``COPY t, line N``: the N-th row of the
rows that COPY was sending), without the password.  Both client libraries (psycopg and ADBC's
libpq driver) carry the server's diagnostic fields; they are read from there, not parsed."""

from __future__ import annotations

import re
from typing import Any

from ...secrets import redact

_COPY_LINE = re.compile(r"COPY [^,]+, line (\d+)")


def diagnostics(exc: BaseException) -> dict[str, str]:
    """The server's diagnostic fields of an error (empty when the server said nothing: a
    connection that failed, a client-side problem)."""
    details = getattr(exc, "details", None)  # ADBC: a list of (b"PG_DIAG_...", b"value")
    if isinstance(details, list):
        found: dict[str, str] = {}
        for key, value in details:
            name = key.decode(errors="replace") if isinstance(key, bytes) else str(key)
            if name.startswith("PG_DIAG_"):
                found[name[len("PG_DIAG_"):].lower()] = (
                    value.decode(errors="replace") if isinstance(value, bytes) else str(value))
        return found
    diag: Any = getattr(exc, "diag", None)  # psycopg
    if diag is None:
        return {}
    fields = ("message_primary", "message_detail", "message_hint", "context", "sqlstate",
              "constraint_name")
    return {f: str(getattr(diag, f)) for f in fields if getattr(diag, f, None)}


def message(exc: BaseException) -> str:
    """The server's message (with its detail and hint), or the client's when there is none."""
    diag = diagnostics(exc)
    primary = diag.get("message_primary")
    if not primary:
        text = str(exc).strip()
        # ADBC prefixes its status and the libpq call: keep what the server or libpq said
        text = re.sub(r"^[A-Z_]+: \[libpq\] (Failed to [^:]+: )?", "", text)
        text = re.sub(r"\s*\. SQLSTATE: \w+$", "", text)
        return redact(" ".join(text.split()))
    parts = [primary]
    if diag.get("message_detail"):
        parts.append(diag["message_detail"].rstrip("."))
    if diag.get("message_hint"):
        parts.append(f"hint: {diag['message_hint']}")
    return redact("; ".join(parts))


def copy_line(exc: BaseException) -> int | None:
    """The 1-based row of a COPY at which the server stopped, if it says."""
    match = _COPY_LINE.search(diagnostics(exc).get("context", ""))
    return int(match.group(1)) if match else None


def sqlstate(exc: BaseException) -> str | None:
    return diagnostics(exc).get("sqlstate") or getattr(exc, "sqlstate", None)
