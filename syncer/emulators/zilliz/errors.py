"""The API's errors: the codes it answers with, and :func:`api_error`, an error that goes out as
HTTP 200 with a non-zero ``code``, as the service answers them."""

from __future__ import annotations

from ..base import HTTPError

BAD_KEY = 80001
TOO_MANY_JOBS = 80010
JOB_NOT_FOUND = 80016
CLUSTER_NOT_FOUND = 80020
PARTITION_NOT_FOUND = 200
COLLECTION_NOT_FOUND = 100
INVALID_PARAMETER = 1100
ALIAS_NOT_FOUND = 1602
GENERIC = 65535


def api_error(code: int, message: str) -> HTTPError:
    """An API error: HTTP 200 with ``{"code": code, "message": message}``."""
    return HTTPError(200, message, str(code))
