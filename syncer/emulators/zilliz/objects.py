"""Reading import files from S3: parsing object URLs, fetching them with each job's credentials
(:class:`ObjectReader`, boto3) and reading a JSON import file's rows."""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from typing import Any

from .errors import INVALID_PARAMETER, api_error


def parse_object_url(url: str) -> tuple[str, str]:
    """``(bucket, key)`` of ``s3://bucket/key``, a path-style ``http(s)://host/bucket/key`` or a
    virtual-hosted ``https://bucket.s3.region.amazonaws.com/key`` URL."""
    parts = urllib.parse.urlsplit(url)
    path = urllib.parse.unquote(parts.path).lstrip("/")
    if parts.scheme == "s3" and parts.netloc and path:
        return parts.netloc, path
    if parts.scheme in ("http", "https") and parts.netloc:
        host = parts.hostname or ""
        virtual = re.match(r"^(?P<bucket>[^.]+)\.s3[.\-]", host)
        if virtual and path:
            return virtual.group("bucket"), path
        bucket, _, key = path.partition("/")
        if bucket and key:
            return bucket, key
    raise api_error(INVALID_PARAMETER, f"invalid objectUrl: {url}")


class ImportFailure(Exception):
    """A job fails whole; the message is its ``reason``."""


class ObjectReader:
    """Reads import files from one S3 endpoint with the credentials each job carries."""

    def __init__(self, endpoint: str, region: str = "us-east-1") -> None:
        self.endpoint, self.region = endpoint, region
        self._clients: dict[tuple[str | None, str | None, str | None], Any] = {}
        self._lock = threading.Lock()

    def read(self, url: str, access_key: str | None, secret_key: str | None,
             token: str | None) -> bytes:
        bucket, key = parse_object_url(url)
        client = self._client(access_key, secret_key, token)
        try:
            answer = client.get_object(Bucket=bucket, Key=key)
            return bytes(answer["Body"].read())
        except Exception as exc:  # noqa: BLE001 - botocore raises many kinds; the reason matters
            code = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
            raise ImportFailure(f"failed to read file '{key}' from bucket '{bucket}': {code}") from None

    def _client(self, access_key: str | None, secret_key: str | None, token: str | None) -> Any:
        with self._lock:
            cache_key = (access_key, secret_key, token)
            if cache_key not in self._clients:
                import boto3
                from botocore import UNSIGNED
                from botocore.config import Config

                options: dict[str, Any] = {"endpoint_url": self.endpoint, "region_name": self.region}
                if access_key and secret_key:
                    options.update(aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                                   aws_session_token=token or None)
                else:
                    options["config"] = Config(signature_version=UNSIGNED)
                self._clients[cache_key] = boto3.session.Session().client("s3", **options)
            return self._clients[cache_key]


def parse_import_file(name: str, data: bytes) -> list[Any]:
    """The rows of a JSON import file: ``{"rows": [...]}`` or a top-level list."""
    if not name.lower().endswith(".json"):
        raise ImportFailure(f"unsupported file type of '{name}': the emulator reads JSON files only")
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImportFailure(f"failed to parse file '{name}': invalid JSON: {exc}") from None
    if isinstance(document, dict) and isinstance(document.get("rows"), list):
        return list(document["rows"])
    if isinstance(document, list):
        return document
    raise ImportFailure(f"failed to parse file '{name}': expected a list of rows or "
                        "{\"rows\": [...]}")
