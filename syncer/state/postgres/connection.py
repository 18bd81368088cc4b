"""Connections to the state's server, and psycopg's errors told in syncer's words.

Every statement runs inside :func:`translated`: a refused connection, a wrong password, missing
rights or a connection lost mid-command become a :class:`~syncer.errors.StateError` (exit 1)
that names the state without its password; a lost connection is a
:class:`~syncer.errors.StateLost`, which stops an apply at once.  Only a statement of ours that
the server cannot parse escapes as the bug it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ... import secrets
from ...errors import StateError, StateLost
from .url import PgUrl

if TYPE_CHECKING:
    import psycopg

#: seconds to wait for the server when the URL says nothing (libpq waits forever)
CONNECT_TIMEOUT = 10


def require_psycopg() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise StateError("a PostgreSQL state needs psycopg",
                         hint="pip install 'syncer-data[postgres]'") from None


def connect(url: PgUrl, purpose: str = "state") -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit connection (transactions are explicit) to the state's server."""
    require_psycopg()
    import psycopg
    from psycopg import conninfo

    try:
        params = conninfo.conninfo_to_dict(url.conninfo)
    except psycopg.ProgrammingError as exc:
        raise StateError(f"malformed state URL {url.display}: {_clean(exc)}",
                         hint="see docs/state.md for the URL's form") from None
    if "connect_timeout" not in params:
        params["connect_timeout"] = CONNECT_TIMEOUT
    params.setdefault("application_name", f"syncer {purpose}")
    if purpose == "lock":  # find out soon when the server is gone (the lock went with it)
        for name, value in (("keepalives", 1), ("keepalives_idle", 5),
                            ("keepalives_interval", 2), ("keepalives_count", 3),
                            ("tcp_user_timeout", 10_000)):
            params.setdefault(name, value)
    try:
        return psycopg.connect(autocommit=True, **params)  # type: ignore[arg-type]
    except psycopg.OperationalError as exc:
        raise unreachable(url, exc) from None


def unreachable(url: PgUrl, exc: Exception) -> StateError:
    text = _clean(exc)
    if "password authentication failed" in text or "no password supplied" in text:
        return StateError(f"cannot log in to the state server {url.display}: {text}",
                          hint="check the user and the password (PGPASSWORD or ~/.pgpass)")
    if "does not exist" in text and "database" in text:
        return StateError(f"the state database of {url.display} does not exist: {text}",
                          hint="create it first (createdb), or name another database")
    return StateError(f"cannot reach the state server {url.display}: {text}",
                      hint="check the host, the port and that the server is running")


def _clean(exc: BaseException) -> str:
    """An error's message on one line, without a secret it may echo."""
    return secrets.redact(" ".join(str(exc).split()))


@contextmanager
def translated(url: PgUrl) -> Iterator[None]:
    """Turn psycopg's errors inside the block into syncer's."""
    import psycopg
    from psycopg import errors

    try:
        yield
    except (errors.SyntaxError, errors.UndefinedColumn, errors.UndefinedFunction):
        raise  # a statement of ours the server does not understand: a bug
    except errors.InsufficientPrivilege as exc:
        raise StateError(f"the state {url.display} refused {url.user or 'this user'}: "
                         f"{_clean(exc)}",
                         hint=f"grant the user the rights on schema {url.schema} "
                              "(see docs/state.md)") from None
    except (errors.UndefinedTable, errors.InvalidSchemaName) as exc:
        raise StateError(f"the state {url.display} is missing its tables ({_clean(exc)})",
                         hint="was the schema dropped? restore it, or copy a backup in with "
                              "`syncer state copy`") from None
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        raise StateLost(f"lost the connection to the state server {url.display}: "
                        f"{_clean(exc)}",
                        hint="nothing the target did not confirm was recorded; run the command "
                             "again once the server is back (an unfinished batch is settled "
                             "first)") from None
    except psycopg.Error as exc:
        raise StateError(f"the state server {url.display} refused a statement: "
                         f"{_clean(exc)}") from None
