"""A PostgreSQL state URL: libpq's URI (``postgresql://user@host:port/db?sslmode=...``) plus two
parameters of syncer's own, ``schema`` (default ``syncer``) and ``project`` (several projects
share one schema).  The password (in the URL, ``?password=``, ``PGPASSWORD`` or ``~/.pgpass``,
as libpq does) is never part of :attr:`PgUrl.display`, and is registered as a secret.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from ... import secrets
from ...errors import StateError

SCHEMES = ("postgresql", "postgres")
DEFAULT_SCHEMA = "syncer"
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
#: what a project name may hold: a directory name, within reason
PROJECT = re.compile(r"^[^\x00-\x1f]{1,200}$")


def is_url(location: object) -> bool:
    """Whether a state location names a PostgreSQL server (anything else is a SQLite path)."""
    return isinstance(location, str) and location.split("://", 1)[0].lower() in SCHEMES \
        and "://" in location


@dataclass(frozen=True)
class PgUrl:
    """A parsed state URL: what libpq gets (``conninfo``, with the password) and what a
    person sees (``display``, without it)."""

    text: str  # the URL as given (with the password, if it holds one)
    conninfo: str
    display: str
    schema: str
    project: str | None
    dbname: str
    user: str | None

    @property
    def lock_key(self) -> int:
        """The advisory lock of this project: a signed 64-bit key of schema and project."""
        digest = hashlib.blake2b(f"syncer\0{self.schema}\0{self.project}".encode(),
                                 digest_size=8).digest()
        return int.from_bytes(digest, "big", signed=True)

    @property
    def schema_key(self) -> int:
        """The advisory lock migrations of this schema take (one migrator at a time)."""
        digest = hashlib.blake2b(f"syncer-schema\0{self.schema}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big", signed=True)

    def with_project(self, project: str) -> PgUrl:
        return parse(_with_param(self.conninfo, schema=self.schema, project=project))


def _with_param(conninfo: str, **params: str) -> str:
    parts = urlsplit(conninfo)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k not in params]
    return urlunsplit(parts._replace(query=urlencode([*query, *params.items()])))


def malformed(shown: str, why: str) -> StateError:
    return StateError(f"malformed state URL {shown}: {why}",
                      hint="use postgresql://USER@HOST:PORT/DATABASE?schema=NAME&project=NAME "
                           "(the password in PGPASSWORD or ~/.pgpass)")


def parse(text: str) -> PgUrl:
    """Split a state URL; a malformed one is a StateError that does not show its password."""
    try:
        parts = urlsplit(text)
        password = parts.password
        user = parts.username
        port = parts.port  # a port that is not a number raises here
        host = parts.hostname or ""
    except ValueError as exc:
        raise malformed(_blind(text), str(exc)) from None
    params = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in params if k in ("schema", "project")}
    libpq = [(k, v) for k, v in params if k not in ("schema", "project")]
    for key, value in libpq:
        if key == "password":
            password = value
    if password:
        secrets.register(password)
    if parts.scheme.lower() not in SCHEMES:
        raise malformed(_blind(text), "the scheme must be postgresql://")
    schema = ours.get("schema") or DEFAULT_SCHEMA
    project = ours.get("project") or None
    netloc = (quote(user or "", safe="") + "@" if user else "") + (
        f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    shown = [(k, v) for k, v in libpq if k != "password"] + [("schema", schema)] + (
        [("project", project)] if project else [])
    display = urlunsplit((parts.scheme, netloc, parts.path, urlencode(shown), ""))
    if not IDENTIFIER.match(schema):
        raise malformed(display, f"schema {schema!r} is not a plain SQL name "
                                 "(letters, digits, underscores)")
    if project is not None and not PROJECT.match(project):
        raise malformed(display, "the project name is empty, too long or has control characters")
    conninfo = urlunsplit(parts._replace(query=urlencode(libpq)))
    dbname = parts.path.lstrip("/") or (user or "")
    return PgUrl(text, conninfo, display, schema, project, dbname, user)


def _blind(text: str) -> str:
    """A URL that could not be parsed, shown with anything between ``://`` and ``@`` hidden."""
    head, sep, rest = text.partition("://")
    if sep and "@" in rest:
        return f"{head}://***@{rest.rsplit('@', 1)[1]}"
    return text
