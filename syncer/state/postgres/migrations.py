"""The PostgreSQL state's schema: versioned migrations, each applied in the transaction that
records it in ``schema_version``; a schema from a newer syncer is refused.  Every table has a
``project`` column: several projects share one schema.  The tables mirror the SQLite state's
(see :mod:`syncer.state.sqlite.migrations`), blobs as ``bytea`` stored uncompressed (they are
compressed Arrow IPC already)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import StateError
from .connection import translated
from .url import PgUrl

if TYPE_CHECKING:
    import psycopg

MIGRATIONS: list[str] = [
    # 1: the layout of the SQLite state's schema 4, plus projects and the lock holders
    """
    CREATE TABLE datasets (
        project TEXT NOT NULL, target TEXT NOT NULL, dataset TEXT NOT NULL,
        target_type TEXT NOT NULL, table_name TEXT NOT NULL, mode TEXT NOT NULL,
        generation BIGINT NOT NULL DEFAULT 0, spec_hash TEXT, schema_json TEXT,
        fingerprint_json TEXT, rows BIGINT NOT NULL DEFAULT 0, hash_version TEXT,
        applied_at TEXT, PRIMARY KEY (project, target, dataset));
    CREATE TABLE snapshot_chunks (
        project TEXT NOT NULL, target TEXT NOT NULL, dataset TEXT NOT NULL,
        chunk INTEGER NOT NULL, rows BIGINT NOT NULL, min_key TEXT, max_key TEXT,
        batch_id TEXT, keys BYTEA, data BYTEA NOT NULL,
        PRIMARY KEY (project, target, dataset, chunk));
    ALTER TABLE snapshot_chunks ALTER COLUMN keys SET STORAGE EXTERNAL;
    ALTER TABLE snapshot_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
    CREATE TABLE journal (
        id BIGSERIAL PRIMARY KEY, project TEXT NOT NULL, run_id TEXT NOT NULL,
        batch_id TEXT NOT NULL, target TEXT NOT NULL, dataset TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('open', 'done', 'compacted', 'abandoned')),
        reset BOOLEAN NOT NULL, upserts BIGINT NOT NULL, deletes BIGINT NOT NULL,
        hash_version TEXT NOT NULL, schema_json TEXT NOT NULL, dels BYTEA,
        created_at TEXT NOT NULL, finished_at TEXT, UNIQUE (project, batch_id));
    CREATE INDEX journal_dataset ON journal (project, target, dataset, status);
    CREATE TABLE runs (
        project TEXT NOT NULL, id TEXT NOT NULL, command TEXT NOT NULL,
        started_at TEXT NOT NULL, finished_at TEXT, "user" TEXT, host TEXT, pid INTEGER,
        git_commit TEXT, outcome TEXT, summary TEXT, PRIMARY KEY (project, id));
    CREATE TABLE lock_holders (
        project TEXT PRIMARY KEY, pid INTEGER NOT NULL, host TEXT NOT NULL, "user" TEXT,
        command TEXT NOT NULL, started_at TEXT NOT NULL, backend_pid INTEGER NOT NULL);
    """,
    # 2: whether the Git working tree had uncommitted changes when a run began
    "ALTER TABLE runs ADD COLUMN git_dirty INTEGER",
]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def schema_exists(db: psycopg.Connection[tuple[object, ...]], url: PgUrl) -> bool:
    with translated(url):
        row = db.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (url.schema,)).fetchone()
    return row is not None


def version(db: psycopg.Connection[tuple[object, ...]], url: PgUrl) -> int:
    with translated(url):
        if db.execute("SELECT to_regclass(%s)", (f"{_ident(url.schema)}.schema_version",)
                      ).fetchone() in (None, (None,)):
            return 0
        row = db.execute(f"SELECT COALESCE(MAX(version), 0) FROM {_ident(url.schema)}"
                         ".schema_version").fetchone()
    return int(row[0]) if row else 0  # type: ignore[call-overload]


def migrate(db: psycopg.Connection[tuple[object, ...]], url: PgUrl) -> int:
    """Create the schema when missing and bring it to the latest version; returns it."""
    from psycopg import errors

    schema = _ident(url.schema)
    with translated(url):
        if not schema_exists(db, url):
            try:
                with db.transaction():
                    db.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            except errors.InsufficientPrivilege:
                raise StateError(
                    f"cannot create the schema {url.schema} for the state {url.display}: "
                    f"user {url.user or '(default)'} may not create schemas in database "
                    f"{url.dbname}",
                    hint=f"ask an administrator: CREATE SCHEMA {url.schema} AUTHORIZATION "
                         f"{url.user or 'USER'}; (or GRANT CREATE ON DATABASE "
                         f"{url.dbname} TO {url.user or 'USER'})") from None
    current = version(db, url)
    _refuse_newer(current, url)
    with translated(url):
        while current < len(MIGRATIONS):
            with db.transaction():
                # one migrator at a time: others wait here, then find the work done
                db.execute("SELECT pg_advisory_xact_lock(%s)", (url.schema_key,))
                db.execute(f"SET LOCAL search_path TO {schema}")
                db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY "
                           "KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
                row = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version"
                                 ).fetchone()
                current = int(row[0]) if row else 0  # type: ignore[call-overload]
                _refuse_newer(current, url)
                if current < len(MIGRATIONS):
                    db.execute(MIGRATIONS[current].encode())
                    current += 1
                    db.execute("INSERT INTO schema_version (version) VALUES (%s)", (current,))
    return current


def _refuse_newer(current: int, url: PgUrl) -> None:
    if current > len(MIGRATIONS):
        raise StateError(f"the state {url.display} was written by a newer syncer "
                         f"(schema {current}, this one knows {len(MIGRATIONS)})",
                         hint="upgrade syncer")
