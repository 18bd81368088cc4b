"""The collection routes (:class:`CollectionRoutes`): ``collections/{create,describe,drop,list,has,
load,get_load_state,alter_properties}``."""

from __future__ import annotations

from ..base import Handler, Request, Response
from .errors import GENERIC, INVALID_PARAMETER, api_error
from .schema import VALID_NAME, schema_from_request
from .store import ZillizStore
from .wire import db_name, now, ok, read_body, required_name, requested_collection


class CollectionRoutes:
    """Creates, describes, lists and drops a cluster's collections."""

    def __init__(self, store: ZillizStore) -> None:
        self.store = store

    def routes(self) -> dict[str, Handler]:
        """Handlers by path under ``/v2/vectordb/``."""
        return {
            "collections/create": self.collection_create,
            "collections/describe": self.collection_describe,
            "collections/drop": self.collection_drop,
            "collections/list": self.collection_list,
            "collections/has": self.collection_has,
            "collections/load": self.collection_load,
            "collections/get_load_state": self.collection_load_state,
            "collections/alter_properties": self.collection_alter_properties,
        }

    def collection_create(self, request: Request) -> Response:
        body = read_body(request)
        name, db = required_name(body), db_name(body)
        if not VALID_NAME.match(name):
            raise api_error(INVALID_PARAMETER, f"invalid collection name: {name}")
        schema = schema_from_request(body)
        if self.store.collection(db, name, aliases=False) is not None:
            raise api_error(GENERIC, f"collection already exists: {name}")
        if self.store.alias_target(db, name) is not None:
            raise api_error(GENERIC, f"collection name {name} conflicts with an existing alias")
        with self.store.transaction() as conn:
            conn.execute("INSERT INTO collections (db, name, schema, created_at) VALUES "
                         "(?, ?, ?, ?)", (db, name, schema.to_json(), now()))
        return ok()

    def collection_describe(self, request: Request) -> Response:
        body = read_body(request)
        collection = requested_collection(self.store, body)
        schema = collection.schema
        return ok({
            "collectionName": collection.name, "collectionID": collection.id,
            "dbName": collection.db, "description": "", "autoId": schema.auto_id,
            "enableDynamicField": schema.dynamic, "shardsNum": 1,
            "consistencyLevel": "Bounded", "aliases": self.store.aliases_of(collection.id),
            "fields": [f.describe() for f in schema.fields], "indexes": list(schema.indexes),
            "load": "LoadStateLoaded",
            "partitionsNum": len(self.store.partitions(collection.id)),
            "properties": [{"key": k, "value": v}
                           for k, v in self.store.properties_of(collection.id).items()]})

    def collection_alter_properties(self, request: Request) -> Response:
        body = read_body(request)
        collection = requested_collection(self.store, body)
        values = body.get("properties")
        if not isinstance(values, dict) or not values:
            raise api_error(INVALID_PARAMETER, "properties must be a non-empty object")
        self.store.set_properties(collection.id, values)
        return ok()

    def collection_drop(self, request: Request) -> Response:
        body = read_body(request)
        name, db = required_name(body), db_name(body)
        collection = self.store.collection(db, name, aliases=False)
        if collection is None:
            return ok()  # dropping what is not there succeeds, as on Milvus 2.3+
        aliases = self.store.aliases_of(collection.id)
        if aliases:
            raise api_error(GENERIC, f"unable to drop the collection [{name}] because it has "
                                     f"associated aliases {aliases}, please remove all aliases "
                                     "before dropping the collection")
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM entities WHERE collection_id = ?", (collection.id,))
            conn.execute("DELETE FROM properties WHERE collection_id = ?", (collection.id,))
            conn.execute("DELETE FROM partitions WHERE collection_id = ?", (collection.id,))
            conn.execute("DELETE FROM collections WHERE id = ?", (collection.id,))
        return ok()

    def collection_list(self, request: Request) -> Response:
        db = db_name(read_body(request))
        return ok([r["name"] for r in self.store.query(
            "SELECT name FROM collections WHERE db = ? ORDER BY name", (db,))])

    def collection_has(self, request: Request) -> Response:
        body = read_body(request)
        found = self.store.collection(db_name(body), required_name(body), aliases=False)
        return ok({"has": found is not None})

    def collection_load(self, request: Request) -> Response:
        requested_collection(self.store, read_body(request))
        return ok()

    def collection_load_state(self, request: Request) -> Response:
        requested_collection(self.store, read_body(request))
        return ok({"loadState": "LoadStateLoaded", "loadProgress": 100})
