"""Reading import files from S3: parsing object URLs, fetching them (and listing folder URLs) with
each job's credentials (:class:`ObjectReader`, boto3), and reading an import file's rows:
Parquet, JSON, JSON Lines, or the ``.npy`` files of a NumPy row group."""

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

    def expand(self, url: str, access_key: str | None, secret_key: str | None,
               token: str | None) -> list[str] | None:
        """The files of a folder URL (``s3://bucket/dir/``, or a prefix that names no object but
        has objects under ``prefix/``), in key order; None when ``url`` names one file."""
        bucket, key = parse_object_url(url) if not url.endswith("/") else _folder(url)
        client = self._client(access_key, secret_key, token)
        if not key.endswith("/"):
            if "." in key.rsplit("/", 1)[-1]:
                return None  # a file name: read it (a missing one fails when it is read)
            key += "/"
        keys: list[str] = []
        options: dict[str, Any] = {"Bucket": bucket, "Prefix": key}
        try:
            while True:
                answer = client.list_objects_v2(**options)
                keys += [str(o["Key"]) for o in answer.get("Contents") or []
                         if not str(o["Key"]).endswith("/")]
                if not answer.get("IsTruncated"):
                    break
                options["ContinuationToken"] = answer["NextContinuationToken"]
        except Exception as exc:  # noqa: BLE001
            code = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
            raise ImportFailure(f"failed to list '{key}' in bucket '{bucket}': {code}") from None
        if not keys:
            raise ImportFailure(f"no file found under '{key}' in bucket '{bucket}'")
        return [f"s3://{bucket}/{k}" for k in sorted(keys)]

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


def _folder(url: str) -> tuple[str, str]:
    """``(bucket, prefix)`` of a folder URL ending in ``/`` (``s3://bucket/`` is the bucket)."""
    bucket, key = parse_object_url(url + "x")
    return bucket, key[:-1]


def parse_import_file(name: str, data: bytes) -> list[Any]:
    """The rows of an import file, by its type: JSON (``{"rows": [...]}`` or a top-level list),
    JSON Lines (``.jsonl``, ``.ndjson``: an object per line) or Parquet (a column per field;
    ``$meta`` as JSON text)."""
    lower = name.lower()
    if lower.endswith(".parquet"):
        return parquet_rows(name, data)
    if lower.endswith((".jsonl", ".ndjson")):
        return json_lines(name, data)
    if lower.endswith(".npy"):
        raise ImportFailure(f"'{name}' is a NumPy file: import the folder of its row group (one "
                            ".npy file per field) or list every file of it in one group")
    if not lower.endswith(".json"):
        raise ImportFailure(f"unsupported file type of '{name}': the emulator reads Parquet, JSON, "
                            "JSON Lines and NumPy files")
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


def json_lines(name: str, data: bytes) -> list[Any]:
    """The rows of a JSON Lines file (blank lines skipped)."""
    rows = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ImportFailure(f"failed to parse file '{name}': line {number}: invalid JSON: "
                                f"{exc}") from None
    return rows


def parquet_rows(name: str, data: bytes) -> list[Any]:
    """The rows of a Parquet file: lists (fixed-size or not) as lists, ``$meta`` parsed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        rows: list[Any] = list(pq.read_table(pa.BufferReader(data)).to_pylist())
    except (pa.ArrowException, OSError) as exc:
        raise ImportFailure(f"failed to parse file '{name}': not a Parquet file: {exc}") from None
    for row in rows:
        meta = row.get("$meta")
        if isinstance(meta, str):
            try:
                row["$meta"] = json.loads(meta)
            except ValueError:
                raise ImportFailure(f"failed to parse file '{name}': $meta is not JSON") from None
    return rows


def numpy_rows(files: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
    """The rows of a NumPy row group: one ``<field>.npy`` per field, the same length each."""
    import io

    try:
        import numpy as np
    except ImportError:
        raise ImportFailure("NumPy files need numpy, which the emulator lacks") from None
    columns: dict[str, list[Any]] = {}
    for name, data in files:
        field = name.rsplit("/", 1)[-1].removesuffix(".npy")
        try:
            array = np.load(io.BytesIO(data), allow_pickle=False)
        except ValueError as exc:
            raise ImportFailure(f"failed to parse file '{name}': {exc}") from None
        columns[field] = array.tolist()
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise ImportFailure("the NumPy files of a row group hold different numbers of rows: "
                            + ", ".join(f"{k}: {len(v)}" for k, v in columns.items()))
    count = lengths.pop() if lengths else 0
    return [{k: v[i] for k, v in columns.items()} for i in range(count)]
