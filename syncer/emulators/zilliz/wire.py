"""The API's request and answer conventions: reading a JSON body and its common parameters
(collection and database names, positive integers, object URLs), finding the collection a request
names, and answering ``{"code": 0, "data": ...}``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..base import HTTPError, Request, Response, json_response
from .errors import COLLECTION_NOT_FOUND, INVALID_PARAMETER, api_error
from .store import DEFAULT_DB, Collection, ZillizStore


def now() -> str:
    """The current UTC time as the API prints it (seconds, ``Z``)."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def read_body(request: Request) -> dict[str, Any]:
    """The JSON object of a request body (``{}`` when empty); anything else is an API error."""
    if not request.body.strip():
        return {}
    try:
        return request.json_object()
    except HTTPError:
        raise api_error(INVALID_PARAMETER, "invalid parameter: the body must be a JSON "
                                           "object") from None


def ok(data: Any = None, **extra: Any) -> Response:
    """A success answer: ``{"code": 0, "data": data, **extra}``."""
    return json_response({"code": 0, "data": {} if data is None else data, **extra})


def required_name(body: Mapping[str, Any], key: str = "collectionName") -> str:
    """A required non-empty string parameter (a collection name by default)."""
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise api_error(INVALID_PARAMETER, f"invalid parameter: {key} is required")
    return value


def db_name(body: Mapping[str, Any]) -> str:
    """The ``dbName`` of a request, :data:`DEFAULT_DB` when absent."""
    value = body.get("dbName")
    return value if isinstance(value, str) and value else DEFAULT_DB


def requested_collection(store: ZillizStore, body: Mapping[str, Any]) -> Collection:
    """The collection (or alias) a request names; a missing one is an API error."""
    name, db = required_name(body), db_name(body)
    found = store.collection(db, name)
    if found is None:
        raise api_error(COLLECTION_NOT_FOUND,
                        f"collection not found[database={db}][collection={name}]")
    return found


def object_urls(body: Mapping[str, Any]) -> list[str]:
    """``objectUrls: [[url], ...]`` (or flat ``[url, ...]``) or ``objectUrl: url``."""
    return [url for group in object_url_groups(body) for url in group]


def object_url_groups(body: Mapping[str, Any]) -> list[list[str]]:
    """The file groups of ``objectUrls: [[url], ...]`` (a group is one file, a folder, or the
    ``.npy`` files of one NumPy row group; a flat ``[url, ...]`` is one file per group) or
    ``objectUrl: url``."""
    raw = body.get("objectUrls")
    if not raw and body.get("objectUrl"):
        raw = [[body["objectUrl"]]]
    groups: list[list[str]] = []
    for group in raw if isinstance(raw, list) else []:
        urls = [u for u in (group if isinstance(group, list) else [group])
                if isinstance(u, str) and u]
        if urls:
            groups.append(urls)
    if not groups:
        raise api_error(INVALID_PARAMETER, "invalid parameter: objectUrl or objectUrls is required")
    return groups


def positive(body: Mapping[str, Any], name: str, default: int, maximum: int | None = None) -> int:
    """A positive integer parameter (at most ``maximum``); anything else is an API error."""
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (
            maximum is not None and value > maximum):
        bound = f" and at most {maximum}" if maximum else ""
        raise api_error(INVALID_PARAMETER, f"invalid parameter: {name} must be a positive "
                                           f"integer{bound}")
    return value
