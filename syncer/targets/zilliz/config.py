"""Manifest models of the Zilliz Cloud target (collections fed through import jobs).

Nothing here imports boto3: the driver module does, and only when a zilliz target is applied.
The dataset model is the milvus one (one vector column with ``dim``, one integer or string key,
``metric``, ``dynamic_fields``, ``alias``): a Zilliz Cloud cluster is a managed Milvus.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from ...model.manifest import StrictModel, TargetSpec, without_userinfo
from ..milvus.config import IDENTIFIER, MAX_NAME, MilvusDataset

_S3_URL = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(?P<prefix>.*))?$")
_HTTP_URL = re.compile(r"^https?://[^/\s]+(/.*)?$")


class ZillizStage(StrictModel):
    """Where import files are staged: an S3 (or S3-compatible) bucket the cluster can read.

    The keys come from the environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
    optionally ``AWS_SESSION_TOKEN``): boto3 uploads with them and the import job is given them.
    """

    url: str = Field(description="s3://bucket/prefix where import files are uploaded")
    endpoint_url: str | None = Field(None, description="S3 endpoint of a non-AWS store "
                                                       "(MinIO, moto, ...); default: AWS")
    region: str | None = Field(None, description="bucket region (default: boto3's)")

    @field_validator("url")
    @classmethod
    def _s3_url(cls, value: str) -> str:
        value = value.strip()
        if not _S3_URL.match(value):
            raise ValueError(f"stage url must look like s3://bucket/prefix (got '{value}')")
        return value

    @field_validator("endpoint_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not _HTTP_URL.match(value.strip()):
            raise ValueError(f"endpoint_url must be an http(s) URL (got '{value}')")
        return value.strip() if value is not None else None

    @property
    def bucket(self) -> str:
        match = _S3_URL.match(self.url)
        assert match is not None  # validated
        return match.group("bucket")

    @property
    def prefix(self) -> str:
        """The key prefix, without leading or trailing slashes (may be empty)."""
        match = _S3_URL.match(self.url)
        assert match is not None  # validated
        return (match.group("prefix") or "").strip("/")


class ZillizTarget(TargetSpec):
    """``type: zilliz``: one Zilliz Cloud cluster, written through import jobs."""

    type: Literal["zilliz"]
    url: str = Field("https://api.cloud.zilliz.com",
                     description="control plane base URL (import jobs), or the emulator's")
    api_key: SecretStr = Field(description="API key, e.g. ${ZILLIZ_API_KEY}")
    cluster_id: str = Field(min_length=1, description="cluster id, e.g. in01-0123456789abcdef")
    endpoint: str = Field(description="the cluster endpoint (collections and entities), e.g. "
                                      "https://in01-....api.gcp-us-west1.zillizcloud.com")
    db_name: str | None = Field(None, description="database (default: the cluster's default)")
    stage: ZillizStage = Field(description="where import files are staged: {url: s3://bucket/"
                                           "prefix, endpoint_url:, region:}")
    max_rows_per_import: int = Field(100_000, ge=1, description="rows per import job")
    max_imports_in_flight: int = Field(
        4, ge=1, description="import jobs of one dataset followed at once (each staged and "
                             "created while the earlier ones run); 1 sends each after the last "
                             "finished")
    import_format: Literal["parquet", "json"] = Field(
        "parquet", description="import files: parquet (the default, what Zilliz recommends) or "
                               "json ({\"rows\": [...]})")
    max_file_bytes: int = Field(16 * 1024 ** 3, ge=1024, description="largest import file; a "
                                "job's rows are split into several files past it (the service's "
                                "limit: 16 GB)")
    keep_staged: bool = Field(False, description="keep the staged import files once their job "
                                                 "completed (to look at them); by default they "
                                                 "are deleted")
    timeout: float = Field(60.0, gt=0, description="seconds per HTTP request")
    retries: int = Field(5, ge=0, description="retries on 429 / 5xx / connection errors")
    poll_interval: float = Field(
        2.0, gt=0,
        description="seconds between job progress checks (the first three come sooner: 1/8, 1/4, "
                    "1/2 of it)")
    import_timeout: float = Field(3600.0, gt=0, description="longest wait for one import job")
    rate_limit: float = Field(20.0, gt=0, description="requests per second, at most (the "
                                                      "service allows 20)")

    def location(self, root: Path | None = None) -> str:
        """The cluster: its endpoint (with the database, when one is named)."""
        endpoint = without_userinfo(self.endpoint)
        return f"{endpoint}/{self.db_name}" if self.db_name else endpoint

    @field_validator("url", "endpoint")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not _HTTP_URL.match(value):
            raise ValueError(f"expected an http(s) URL (got '{value}')")
        return value


class ZillizDataset(MilvusDataset):
    """A dataset bound for a Zilliz Cloud collection: the shape of a milvus dataset.

    ``columns:`` must declare exactly one vector column, and ``key:`` one integer or string
    column: it becomes the collection's primary key.
    """

    partition: str | None = Field(None, description="the partition rows are imported into, "
                                                    "created when missing (default: the "
                                                    "collection's _default)")

    @model_validator(mode="after")
    def _milvus_shape(self) -> ZillizDataset:
        # the milvus checks, worded for this target
        try:
            MilvusDataset._milvus_shape(self)  # type: ignore[operator]  # pydantic unwraps it
        except ValueError as exc:
            raise ValueError(str(exc).replace("a milvus dataset", "a zilliz dataset")
                             .replace("a Milvus", "a Zilliz")) from None
        if self.partition is not None:
            if not IDENTIFIER.match(self.partition) or len(self.partition) > MAX_NAME:
                raise ValueError(f"partition '{self.partition}' is not a valid partition name "
                                 "(letters, digits and _, not starting with a digit)")
            if self.alias is not None:
                raise ValueError("`partition:` and `alias:` do not go together: a replace with "
                                 "an alias loads a whole new collection")
        return self
