"""The calls the milvus driver makes, through pymilvus ``MilvusClient``: the connection (a
Milvus server, or Milvus Lite embedded), every call turned into one TargetError on failure, and
the collection operations (create, describe, count, fetch, write, aliases).

pymilvus is imported here only, when a milvus target is applied: syncer runs without it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from ...errors import TargetError
from ...model.schema import Schema
from .config import MilvusDataset, MilvusTarget
from .rows import chunks, in_filter, is_int_key, key_of
from .schema import Field, declared_fields

#: keys per delete / query expression
KEYS_PER_QUERY = 1_000
#: collection property that marks the collections an alias replace created, for cleanup
MARKER = "syncer.dataset"
#: collection property naming the last batch syncer wrote there (a plan checks it)
BATCH_MARKER = "syncer.batch"
INSTALL_HINT = "pip install 'syncer-data[milvus]'"


def load_pymilvus() -> Any:
    """Import pymilvus on first use, with an actionable error when it is missing."""
    try:
        import pymilvus
    except ImportError:
        raise TargetError("the milvus target needs pymilvus, which is not installed",
                          hint=INSTALL_HINT) from None
    # the driver turns every failure into one TargetError; pymilvus' own error log (with a
    # traceback) would only repeat it
    logging.getLogger("pymilvus.decorators").setLevel(logging.CRITICAL)
    return pymilvus


def _failures() -> tuple[type[BaseException], ...]:
    """What a pymilvus call raises when the server or the connection fails (anything else is a
    bug, and is not turned into a TargetError)."""
    import grpc

    return (load_pymilvus().exceptions.MilvusException, grpc.RpcError, grpc.FutureTimeoutError,
            ConnectionError, TimeoutError, OSError)


@contextmanager
def _lite_log(errors: list[str]) -> Iterator[None]:
    """Collect what milvus-lite logs while it starts (it logs a failure with a traceback, then
    pymilvus raises a bare "Open local milvus failed"): the reason goes into our message."""

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                reason = record.exc_info[1] if record.exc_info else None
                errors.append(str(reason) if reason else record.getMessage())

    logger = logging.getLogger("milvus_lite")
    handler, propagate = Collect(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


class Client:
    """One milvus target's connection and collection operations (the :class:`AliasOps` of an
    alias replace among them)."""

    def __init__(self, target: MilvusTarget) -> None:
        self.target = target
        self.name = f"milvus target '{target.name}'"
        self._client: Any = None
        self._fields: dict[str, list[Field]] = {}

    @property
    def connection(self) -> Any:
        if self._client is None:
            pymilvus = load_pymilvus()
            uri = self.target.uri
            if self.target.is_lite:
                try:
                    Path(uri).parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise TargetError(f"{self.name}: cannot create the directory of {uri}: "
                                      f"{exc}") from None
            options: dict[str, Any] = {"uri": uri, "timeout": self.target.timeout}
            if self.target.token is not None:
                options["token"] = self.target.token.get_secret_value()
            if self.target.db_name:
                options["db_name"] = self.target.db_name
            lite_errors: list[str] = []
            try:
                with _lite_log(lite_errors):
                    self._client = pymilvus.MilvusClient(**options)
                if self.target.is_lite:
                    _LITE_CLIENTS[uri] += 1
            except _failures() as exc:  # pymilvus raises many types on connect (and milvus-lite)
                text = "; ".join([message(exc), *lite_errors])
                if "milvus-lite" in text or "milvus_lite is required" in text:
                    hint = INSTALL_HINT
                elif self.target.is_lite:
                    hint = ("Milvus Lite lets one process open a .db file at a time: close the "
                            "other program using it, or check `uri:`")
                else:
                    hint = "check `uri:` (and `token:`), and that the server is running"
                raise TargetError(f"{self.name}: cannot connect to {_where(self.target)}: {text}",
                                  hint=hint, retryable=not self.target.is_lite) from None
        return self._client

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except _failures():
                pass  # closing must not mask the real outcome
            self._client = None
            if self.target.is_lite:
                _LITE_CLIENTS[self.target.uri] -= 1
                if _LITE_CLIENTS[self.target.uri] <= 0:  # the last client of the file (a
                    del _LITE_CLIENTS[self.target.uri]   # plan's probe and the driver share it)
                    _release_lite(self.target.uri)

    def call(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call a MilvusClient method; turn any pymilvus failure into one TargetError."""
        client = self.connection
        exceptions = load_pymilvus().exceptions
        try:
            return getattr(client, method)(*args, timeout=self.target.timeout, **kwargs)
        except exceptions.MilvusException as exc:
            raise TargetError(f"{self.name}: {what}: {message(exc)}",
                              retryable=transient(exc)) from None
        except (ConnectionError, TimeoutError, OSError) as exc:
            raise TargetError(f"{self.name}: {what}: {exc}", retryable=True) from None

    # -- collections ------------------------------------------------------------------------
    def exists(self, name: str) -> bool:
        return bool(self.call(f"checking collection '{name}'", "has_collection", name))

    def load(self, name: str) -> None:
        self.call(f"loading collection '{name}'", "load_collection", name)

    def describe(self, name: str) -> dict[str, Any]:
        return dict(self.call(f"describing collection '{name}'", "describe_collection", name))

    def drop(self, name: str) -> None:
        self.call(f"dropping collection '{name}'", "drop_collection", name)
        self._fields.pop(name, None)

    def create(self, name: str, spec: MilvusDataset, schema: Schema, *,
               marker: str | None = None) -> None:
        pymilvus = load_pymilvus()
        data_type = pymilvus.DataType
        collection = pymilvus.MilvusClient.create_schema(auto_id=False,
                                                         enable_dynamic_field=spec.dynamic_fields)
        for field in declared_fields(schema):
            options: dict[str, Any] = {}
            if field.primary:
                options["is_primary"] = True
            if field.nullable:
                options["nullable"] = True
            if field.dim is not None:
                options["dim"] = field.dim
            if field.max_length is not None:
                options["max_length"] = field.max_length
            collection.add_field(field.name, getattr(data_type, field.type), **options)
        extra: dict[str, Any] = {}
        if self.indexed(spec):
            index = self.connection.prepare_index_params()
            index.add_index(field_name=spec.vector_column, index_type="AUTOINDEX",
                            metric_type=spec.metric)
            extra["index_params"] = index
        if marker is not None:
            extra["properties"] = {MARKER: marker}
        self.call(f"creating collection '{name}'", "create_collection", name, schema=collection,
                  **extra)
        self.load(name)
        self._fields[name] = declared_fields(schema)

    def mark(self, name: str, batch_id: str) -> None:
        """Record in the collection's properties that ``batch_id`` is the last batch syncer
        wrote there."""
        self.call(f"marking collection '{name}'", "alter_collection_properties", name,
                  properties={BATCH_MARKER: batch_id})

    def indexed(self, spec: MilvusDataset) -> bool:
        """Whether the vector field gets an index.  Milvus Lite opens a collection that has an
        index *released* (its load state is not kept in the file), so a reader in another
        process would have to call ``load_collection`` first; a Lite collection without an
        index is loaded whenever the file is opened, and searched exactly with COSINE, the
        default.  So on Milvus Lite a COSINE collection has no index; L2 and IP keep theirs (a
        search without it would silently use COSINE)."""
        return not (self.target.is_lite and spec.metric == "COSINE")

    def index_problems(self, name: str, spec: MilvusDataset) -> list[str]:
        """The vector field needs an index with the declared metric; create a missing one
        (none on Milvus Lite with COSINE: see :meth:`indexed`)."""
        vector = spec.vector_column
        names = self.call(f"listing the indexes of '{name}'", "list_indexes", name,
                          field_name=vector) or []
        if not names and not self.indexed(spec):
            return []
        if not names:
            index = self.connection.prepare_index_params()
            index.add_index(field_name=vector, index_type="AUTOINDEX", metric_type=spec.metric)
            self.call(f"indexing '{name}'.{vector}", "create_index", name, index)
            return []
        info = self.call(f"describing index '{names[0]}' of '{name}'", "describe_index", name,
                         index_name=names[0])
        metric = str((info or {}).get("metric_type", "")).upper()
        if metric and metric != spec.metric:
            return [f"the index on '{vector}' uses metric {metric}, declared {spec.metric} "
                    f"(metric: {spec.metric})"]
        return []

    def fields_of(self, name: str) -> list[Field]:
        if name not in self._fields:
            self._fields[name] = [field_of(f) for f in self.describe(name).get("fields", [])]
        return self._fields[name]

    def know_fields(self, name: str, fields: list[Field]) -> None:
        self._fields[name] = fields

    def count(self, name: str) -> int:
        result = self.call(f"counting '{name}'", "query", name, filter="",
                           output_fields=["count(*)"], consistency_level="Strong")
        return int(result[0]["count(*)"]) if result else 0

    # -- aliases ----------------------------------------------------------------------------
    def alias_target(self, alias: str) -> str | None:
        exceptions = load_pymilvus().exceptions
        try:
            info = self.connection.describe_alias(alias, timeout=self.target.timeout)
        except exceptions.MilvusException as exc:
            if _not_found(exc):
                return None
            raise TargetError(f"{self.name}: describing alias '{alias}': {message(exc)}",
                              retryable=transient(exc)) from None
        name = info.get("collection_name") if isinstance(info, dict) else None
        return str(name) if name else None

    def create_alias(self, alias: str, name: str) -> None:
        self.call(f"creating alias '{alias}' -> '{name}'", "create_alias", name, alias)

    def alter_alias(self, alias: str, name: str) -> None:
        self.call(f"moving alias '{alias}' to '{name}'", "alter_alias", name, alias)

    def drop_replaced(self, table: str, *, keep: str, previous: str | None,
                      marker: str | None) -> None:
        """Drop the collections earlier alias replaces of this dataset built (marked by syncer)."""
        for name in self.call("listing collections", "list_collections") or []:
            if name == keep or not str(name).startswith(f"{table}__"):
                continue
            info = self.describe(name)
            if (info.get("properties") or {}).get(MARKER) == marker:
                self.call(f"dropping replaced collection '{name}'", "drop_collection", name)
                self._fields.pop(name, None)

    # -- entities ---------------------------------------------------------------------------
    def delete_all(self, name: str, schema: Schema) -> None:
        """Empty the collection: truncate where the server has it, else delete every key."""
        if hasattr(self.connection, "truncate_collection"):
            try:
                self.call(f"truncating collection '{name}'", "truncate_collection", name)
                return
            except TargetError:
                pass  # an older server: delete by filter
        pk = schema.key[0]
        everything = f"{pk} >= 0 or {pk} < 0" if is_int_key(schema) else f'{pk} >= ""'
        self.call(f"emptying collection '{name}'", "delete", name, filter=everything)

    def delete_keys(self, name: str, schema: Schema, deletes: pl.DataFrame) -> None:
        pk = schema.key[0]
        keys = deletes.get_column(pk).to_list()
        for start in range(0, len(keys), KEYS_PER_QUERY):
            self.call(f"deleting from '{name}'", "delete", name,
                      filter=in_filter(pk, keys[start:start + KEYS_PER_QUERY]))

    def write(self, name: str, method: str, rows: list[dict[str, Any]], schema: Schema,
              wrote: Callable[[int], None] | None = None) -> None:
        for chunk in chunks(rows, schema):
            self.call(f"{method} into '{name}' ({len(chunk)} rows)", method, name, chunk)
            if wrote is not None:
                wrote(len(chunk))

    def fetch(self, name: str, schema: Schema, keys: list[Any],
              fields: list[str]) -> dict[Any, dict[str, Any]]:
        """The entities with these primary keys, by key (read with strong consistency)."""
        pk = schema.key[0]
        found: dict[Any, dict[str, Any]] = {}
        for start in range(0, len(keys), KEYS_PER_QUERY):
            part = keys[start:start + KEYS_PER_QUERY]
            result = self.call(f"querying '{name}'", "query", name,
                               filter=in_filter(pk, part), output_fields=fields,
                               limit=len(part), consistency_level="Strong")
            for row in result:
                found[key_of(row[pk])] = dict(row)
        return found

    def read(self, name: str, names: list[str], batch_size: int) -> Iterator[list[dict[str, Any]]]:
        """Every entity (strong consistency), ``batch_size`` at a time, through a query
        iterator."""
        iterator = self.call(f"reading '{name}'", "query_iterator", name, batch_size=batch_size,
                             filter="", output_fields=names, consistency_level="Strong")
        try:
            while True:
                try:
                    rows = iterator.next()
                except _failures() as exc:  # pymilvus raises its own classes mid-iteration
                    raise TargetError(f"{self.name}: reading '{name}': {message(exc)}") from None
                if not rows:
                    return
                yield [dict(r) for r in rows]
        finally:
            iterator.close()


# -- pymilvus details -------------------------------------------------------------------------

def field_of(info: dict[str, Any]) -> Field:
    """A field of ``describe_collection``'s answer."""
    kind = info.get("type")
    name = getattr(kind, "name", None)
    if name is None:
        try:
            name = load_pymilvus().DataType(kind).name
        except ValueError:
            name = str(kind)
    params = info.get("params") or {}
    dim = params.get("dim")
    max_length = params.get("max_length")
    return Field(str(info.get("name")), str(name), primary=bool(info.get("is_primary")),
                 nullable=bool(info.get("nullable")),
                 dim=int(dim) if dim is not None else None,
                 max_length=int(max_length) if max_length is not None else None)


def message(exc: BaseException) -> str:
    text_of = getattr(exc, "message", None)
    text = str(text_of) if text_of else str(exc)
    return text.strip() or type(exc).__name__


def transient(exc: BaseException) -> bool:
    text = message(exc).lower()
    return any(word in text for word in ("unavailable", "deadline", "timeout", "timed out",
                                         "connection", "rate limit"))


def _not_found(exc: BaseException) -> bool:
    text = message(exc).lower()
    return "not exist" in text or "not found" in text


#: open clients per Milvus Lite file: the embedded server is per file and process, shared by
#: every client of it, so it is stopped only when the last one closes
_LITE_CLIENTS: Counter[str] = Counter()


def _release_lite(uri: str) -> None:
    """Stop the embedded Milvus Lite server of ``uri`` and release the file's lock: pymilvus
    keeps it until the process exits, which would shut other processes out of the file for as
    long as a ``syncer watch`` runs (closing a client only drops the connection)."""
    try:
        from milvus_lite.server_manager import server_manager_instance
    except ImportError:  # another milvus-lite layout: it stops at exit
        return
    release = getattr(server_manager_instance, "release_server", None)
    if callable(release):
        release(uri)


def _where(target: MilvusTarget) -> str:
    return f"Milvus Lite file {target.uri}" if target.is_lite else target.uri
