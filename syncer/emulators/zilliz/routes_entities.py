"""The entity routes (:class:`EntityRoutes`): ``entities/{insert,upsert,delete,query}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..base import Handler, Request, Response
from .errors import INVALID_PARAMETER, PARTITION_NOT_FOUND, api_error
from .filters import keys_in, parse_filter
from .rows import RowProblem, check_row, entity_output
from .store import DEFAULT_PARTITION, Collection, ZillizStore, pk_text
from .wire import ok, positive, read_body, requested_collection

MAX_QUERY_WINDOW = 16_384


class EntityRoutes:
    """Inserts, upserts, deletes and queries a collection's entities."""

    def __init__(self, store: ZillizStore) -> None:
        self.store = store

    def routes(self) -> dict[str, Handler]:
        """Handlers by path under ``/v2/vectordb/``."""
        return {
            "entities/insert": self.insert,
            "entities/upsert": self.upsert,
            "entities/delete": self.delete,
            "entities/query": self.query,
        }

    def _rows(self, body: Mapping[str, Any], collection: Collection) -> list[dict[str, Any]]:
        data = body.get("data")
        rows = data if isinstance(data, list) else [data] if isinstance(data, dict) else None
        if not rows:
            raise api_error(INVALID_PARAMETER, "invalid parameter: data must be a non-empty list")
        entities = []
        for index, row in enumerate(rows):
            try:
                entities.append(check_row(collection.schema, row, next_id=self.store.next_id))
            except RowProblem as problem:
                raise api_error(INVALID_PARAMETER, f"invalid parameter: row {index}: {problem}") from None
        return entities

    def _partition(self, body: Mapping[str, Any], collection: Collection) -> str:
        """The request's ``partitionName`` (``_default`` when absent); an unknown one refused."""
        name = body.get("partitionName") or DEFAULT_PARTITION
        if name not in self.store.partitions(collection.id):
            raise api_error(PARTITION_NOT_FOUND, f"partition not found[partition={name}]")
        return str(name)

    def _partitions(self, body: Mapping[str, Any], collection: Collection) -> list[str] | None:
        """The request's ``partitionNames`` (None: every partition); unknown ones refused."""
        names = body.get("partitionNames")
        if not names:
            return None
        if not isinstance(names, list):
            raise api_error(INVALID_PARAMETER, "invalid parameter: partitionNames must be a list")
        known = self.store.partitions(collection.id)
        for name in names:
            if name not in known:
                raise api_error(PARTITION_NOT_FOUND, f"partition not found[partition={name}]")
        return [str(n) for n in names]

    def _candidates(self, collection: Collection, text: str, partitions: list[str] | None
                    ) -> list[tuple[int, dict[str, Any]]]:
        """The entities a filter may match: for ``<pk> in [...]``, those with one of its keys
        (through the key's index), else all of them (of ``partitions``)."""
        keys = keys_in(text, collection.schema.primary.name) if text.strip() else None
        if keys is None:
            return self.store.entities(collection.id, partitions)
        return self.store.entities_by_pk(collection.id, [pk_text(k) for k in keys], partitions)

    def insert(self, request: Request) -> Response:
        body = read_body(request)
        collection = requested_collection(self.store, body)
        partition = self._partition(body, collection)
        entities = self._rows(body, collection)
        with self.store.transaction() as conn:
            # never de-duplicated, as on Milvus
            self.store.insert(conn, collection, entities, partition)
        pk = collection.schema.primary.name
        return ok({"insertCount": len(entities), "insertIds": [e[pk] for e in entities]})

    def upsert(self, request: Request) -> Response:
        body = read_body(request)
        collection = requested_collection(self.store, body)
        if collection.schema.auto_id:
            raise api_error(INVALID_PARAMETER, "upsert into an autoId collection is not supported "
                                               "by the emulator")
        partition = self._partition(body, collection)
        entities = self._rows(body, collection)
        pk = collection.schema.primary.name
        with self.store.transaction() as conn:
            conn.executemany("DELETE FROM entities WHERE collection_id = ? AND pk = ?",
                             [(collection.id, pk_text(e[pk])) for e in entities])
            self.store.insert(conn, collection, entities, partition)
        return ok({"upsertCount": len(entities), "upsertIds": [e[pk] for e in entities]})

    def delete(self, request: Request) -> Response:
        body = read_body(request)
        collection = requested_collection(self.store, body)
        text = body.get("filter")
        if not isinstance(text, str) or not text.strip():
            raise api_error(INVALID_PARAMETER, "invalid parameter: filter is required")
        predicate = parse_filter(text)
        partition = [self._partition(body, collection)] if body.get("partitionName") else None
        doomed = [seq for seq, entity in self._candidates(collection, text, partition)
                  if predicate(entity)]
        with self.store.transaction() as conn:
            conn.executemany("DELETE FROM entities WHERE seq = ?", [(s,) for s in doomed])
        return ok({}, cost=0)

    def query(self, request: Request) -> Response:
        body = read_body(request)
        collection = requested_collection(self.store, body)
        text = body.get("filter") or ""
        if not isinstance(text, str):
            raise api_error(INVALID_PARAMETER, "invalid parameter: filter must be a string")
        predicate = parse_filter(text) if text.strip() else (lambda _entity: True)
        outputs = body.get("outputFields")
        if outputs is not None and (not isinstance(outputs, list)
                                    or not all(isinstance(o, str) for o in outputs)):
            raise api_error(INVALID_PARAMETER, "invalid parameter: outputFields must be a list")
        partitions = self._partitions(body, collection)
        if outputs == ["count(*)"] and not text.strip():
            return ok([{"count(*)": self.store.count(collection.id, partitions)}], cost=0)
        matched = [entity for _seq, entity in self._candidates(collection, text, partitions)
                   if predicate(entity)]
        if outputs == ["count(*)"]:
            return ok([{"count(*)": len(matched)}], cost=0)
        limit = positive(body, "limit", 100)
        offset = body.get("offset", 0)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise api_error(INVALID_PARAMETER, "invalid parameter: offset must be >= 0")
        if offset + limit > MAX_QUERY_WINDOW:
            raise api_error(INVALID_PARAMETER, f"invalid max query result window, (offset+limit) "
                                               f"should be in range [1, {MAX_QUERY_WINDOW}]")
        fields = None if not outputs or "*" in outputs else list(
            dict.fromkeys([collection.schema.primary.name, *outputs]))
        page = matched[offset:offset + limit]
        return ok([entity_output(e, fields) for e in page], cost=0)
