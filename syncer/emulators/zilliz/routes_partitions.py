"""The partition routes (:class:`PartitionRoutes`): ``partitions/{create,drop,list,has,load,release,
get_stats}``.  Every collection has ``_default``; dropping a partition drops its entities."""

from __future__ import annotations

from typing import Any

from ..base import Handler, Request, Response
from .errors import GENERIC, INVALID_PARAMETER, PARTITION_NOT_FOUND, api_error
from .schema import VALID_NAME
from .store import DEFAULT_PARTITION, Collection, ZillizStore
from .wire import ok, read_body, required_name, requested_collection

#: partitions a collection may have (``_default`` among them)
MAX_PARTITIONS = 1024


class PartitionRoutes:
    """Creates, lists and drops the partitions of a collection."""

    def __init__(self, store: ZillizStore) -> None:
        self.store = store

    def routes(self) -> dict[str, Handler]:
        """Handlers by path under ``/v2/vectordb/``."""
        return {
            "partitions/create": self.create,
            "partitions/drop": self.drop,
            "partitions/list": self.list,
            "partitions/has": self.has,
            "partitions/load": self.load,
            "partitions/release": self.load,
            "partitions/get_stats": self.stats,
        }

    def _named(self, request: Request) -> tuple[Collection, str]:
        body = read_body(request)
        return requested_collection(self.store, body), required_name(body, "partitionName")

    def create(self, request: Request) -> Response:
        collection, name = self._named(request)
        if not VALID_NAME.match(name):
            raise api_error(INVALID_PARAMETER, f"invalid partition name: {name}")
        existing = self.store.partitions(collection.id)
        if name in existing:
            raise api_error(GENERIC, f"partition already exists: {name}")
        if len(existing) >= MAX_PARTITIONS:
            raise api_error(GENERIC, f"the collection has {len(existing)} partitions, the limit")
        with self.store.transaction() as conn:
            conn.execute("INSERT INTO partitions (collection_id, name) VALUES (?, ?)",
                         (collection.id, name))
        return ok()

    def drop(self, request: Request) -> Response:
        collection, name = self._named(request)
        if name == DEFAULT_PARTITION:
            raise api_error(GENERIC, "default partition cannot be deleted")
        if name not in self.store.partitions(collection.id):
            return ok()  # dropping what is not there succeeds
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM entities WHERE collection_id = ? AND partition = ?",
                         (collection.id, name))
            conn.execute("DELETE FROM partitions WHERE collection_id = ? AND name = ?",
                         (collection.id, name))
        return ok()

    def list(self, request: Request) -> Response:
        collection = requested_collection(self.store, read_body(request))
        return ok(self.store.partitions(collection.id))

    def has(self, request: Request) -> Response:
        collection, name = self._named(request)
        return ok({"has": name in self.store.partitions(collection.id)})

    def load(self, request: Request) -> Response:
        """``load`` and ``release``: partitions are always loaded here; unknown ones refused."""
        body = read_body(request)
        collection = requested_collection(self.store, body)
        names: Any = body.get("partitionNames") or []
        if not isinstance(names, list):
            raise api_error(INVALID_PARAMETER, "invalid parameter: partitionNames must be a list")
        known = self.store.partitions(collection.id)
        for name in names:
            if name not in known:
                raise api_error(PARTITION_NOT_FOUND, f"partition not found[partition={name}]")
        return ok()

    def stats(self, request: Request) -> Response:
        collection, name = self._named(request)
        if name not in self.store.partitions(collection.id):
            raise api_error(PARTITION_NOT_FOUND, f"partition not found[partition={name}]")
        return ok({"rowCount": len(self.store.entities(collection.id, [name]))})
