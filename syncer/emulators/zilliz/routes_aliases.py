"""The alias routes (:class:`AliasRoutes`): ``aliases/{create,alter,describe,list,drop}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..base import Handler, Request, Response
from .errors import ALIAS_NOT_FOUND, COLLECTION_NOT_FOUND, GENERIC, api_error
from .store import ZillizStore
from .wire import db_name, ok, read_body, required_name


class AliasRoutes:
    """Creates, repoints, describes, lists and drops collection aliases."""

    def __init__(self, store: ZillizStore) -> None:
        self.store = store

    def routes(self) -> dict[str, Handler]:
        """Handlers by path under ``/v2/vectordb/``."""
        return {
            "aliases/create": self.alias_create,
            "aliases/alter": self.alias_alter,
            "aliases/describe": self.alias_describe,
            "aliases/list": self.alias_list,
            "aliases/drop": self.alias_drop,
        }

    def _alias_names(self, body: Mapping[str, Any]) -> tuple[str, str, str]:
        return db_name(body), required_name(body, "aliasName"), required_name(body)

    def alias_create(self, request: Request) -> Response:
        db, alias, name = self._alias_names(read_body(request))
        target = self.store.collection(db, name, aliases=False)
        if target is None:
            raise api_error(COLLECTION_NOT_FOUND, f"collection not found[database={db}]"
                                                  f"[collection={name}]")
        if self.store.alias_target(db, alias) is not None:
            raise api_error(GENERIC, f"alias already exist: {alias}")
        if self.store.collection(db, alias, aliases=False) is not None:
            raise api_error(GENERIC, f"alias {alias} conflicts with an existing collection name")
        with self.store.transaction() as conn:
            conn.execute("INSERT INTO aliases VALUES (?, ?, ?)", (db, alias, target.id))
        return ok()

    def alias_alter(self, request: Request) -> Response:
        db, alias, name = self._alias_names(read_body(request))
        target = self.store.collection(db, name, aliases=False)
        if target is None:
            raise api_error(COLLECTION_NOT_FOUND, f"collection not found[database={db}]"
                                                  f"[collection={name}]")
        with self.store.transaction() as conn:
            changed = conn.execute("UPDATE aliases SET collection_id = ? WHERE db = ? AND "
                                   "alias = ?", (target.id, db, alias)).rowcount
        if not changed:
            raise api_error(ALIAS_NOT_FOUND, f"alias not found: {alias}")
        return ok()

    def alias_describe(self, request: Request) -> Response:
        body = read_body(request)
        db, alias = db_name(body), required_name(body, "aliasName")
        target = self.store.alias_target(db, alias)
        if target is None:
            raise api_error(ALIAS_NOT_FOUND, f"alias not found: {alias}")
        return ok({"aliasName": alias, "collectionName": target, "dbName": db})

    def alias_list(self, request: Request) -> Response:
        body = read_body(request)
        sql = ("SELECT a.alias FROM aliases a JOIN collections c ON c.id = a.collection_id "
               "WHERE a.db = ?")
        args: list[Any] = [db_name(body)]
        if body.get("collectionName"):
            sql += " AND c.name = ?"
            args.append(body["collectionName"])
        return ok([r["alias"] for r in self.store.query(sql + " ORDER BY a.alias", args)])

    def alias_drop(self, request: Request) -> Response:
        body = read_body(request)
        db, alias = db_name(body), required_name(body, "aliasName")
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM aliases WHERE db = ? AND alias = ?", (db, alias))
        return ok()
