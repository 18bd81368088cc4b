"""The stage bucket a zilliz target's import files go through (S3 or S3-compatible), and the keys
an import job reads them with.

boto3 is imported here only, when a zilliz target is applied: syncer runs without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import TargetError
from ...secrets import redact, register
from ..base import Batch
from .config import ZillizStage

INSTALL_HINT = "pip install 'syncer-data[zilliz]'"


def _boto3() -> Any:
    try:
        import boto3
    except ImportError:
        raise TargetError("the zilliz target stages import files with boto3, which is not "
                          "installed", hint=INSTALL_HINT) from None
    return boto3


class Stage:
    """The bucket import files are staged in, and the keys the import job reads them with."""

    def __init__(self, stage: ZillizStage, name: str) -> None:
        self.stage, self.name = stage, name
        session = _boto3().session.Session()
        credentials = session.get_credentials()
        frozen = credentials.get_frozen_credentials() if credentials is not None else None
        if frozen is None or not frozen.access_key or not frozen.secret_key:
            raise TargetError(f"{name}: no S3 credentials for the stage bucket",
                              hint="export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the "
                                   "import job reads the staged files with them too)")
        self.access_key, self.secret_key = frozen.access_key, frozen.secret_key
        self.token: str | None = frozen.token
        for secret in (self.secret_key, self.token):
            if secret:
                register(secret)
        options: dict[str, Any] = {"aws_access_key_id": self.access_key,
                                   "aws_secret_access_key": self.secret_key,
                                   "aws_session_token": self.token}
        if stage.endpoint_url:
            options["endpoint_url"] = stage.endpoint_url
        if stage.region:
            options["region_name"] = stage.region
        elif stage.endpoint_url:
            options["region_name"] = "us-east-1"  # S3-compatible stores need some region
        self.client = session.client("s3", **options)

    def folder(self, target: str, dataset: str) -> str:
        """The key prefix (ending in ``/``) of a dataset's import files and job notes."""
        parts = [self.stage.prefix, target, dataset]
        return "/".join(p for p in parts if p) + "/"

    def key(self, batch: Batch, extension: str = "json", part: int = 1) -> str:
        """The object key of a batch's import file (``part`` of several): the file name carries
        the batch id, ``<batch>.parquet``, ``<batch>.2.parquet``, ..."""
        name = f"{batch.id}.{extension}" if part == 1 else f"{batch.id}.{part}.{extension}"
        return self.folder(batch.target, batch.dataset.name) + name

    def put_file(self, key: str, path: Path) -> None:
        """Upload a file from disk (in parts, when it is large)."""
        self._call(f"uploading {self.url(key)}", "upload_file", Filename=str(path),
                   Bucket=self.stage.bucket, Key=key)

    def listed(self, prefix: str) -> list[str]:
        """The keys under ``prefix`` (directly in it: not in deeper folders)."""
        keys: list[str] = []
        options: dict[str, Any] = {"Bucket": self.stage.bucket, "Prefix": prefix}
        while True:
            answer = self._call(f"listing {self.url(prefix)}", "list_objects_v2", **options)
            keys += [str(o["Key"]) for o in answer.get("Contents") or []
                     if "/" not in str(o["Key"])[len(prefix):]]
            if not answer.get("IsTruncated"):
                return keys
            options["ContinuationToken"] = answer["NextContinuationToken"]

    def delete(self, keys: list[str]) -> None:
        """Delete objects (a missing one is no error)."""
        for start in range(0, len(keys), 1000):
            part = keys[start:start + 1000]
            self._call(f"deleting {len(part)} staged files", "delete_objects",
                       Bucket=self.stage.bucket,
                       Delete={"Objects": [{"Key": k} for k in part], "Quiet": True})

    def url(self, key: str) -> str:
        return f"s3://{self.stage.bucket}/{key}"

    def check(self) -> None:
        self._call("checking the stage bucket", "head_bucket", Bucket=self.stage.bucket)

    def put(self, key: str, data: bytes) -> None:
        self._call(f"uploading {self.url(key)}", "put_object", Bucket=self.stage.bucket, Key=key,
                   Body=data, ContentType="application/json")

    def get_text(self, key: str) -> str | None:
        """The object's text, or None when it does not exist."""
        try:
            answer = self._call(f"reading {self.url(key)}", "get_object", Bucket=self.stage.bucket,
                                Key=key, missing_ok=True)
        except _Missing:
            return None
        return bytes(answer["Body"].read()).decode("utf-8", errors="replace").strip()

    def _call(self, what: str, method: str, *, missing_ok: bool = False, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, method)(**kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if missing_ok and code in ("NoSuchKey", "404", "NotFound"):
                raise _Missing from None
            text = redact(f"{code}: {error.get('Message', '')}".strip(": "))
            raise TargetError(f"{self.name}: {what} failed: {text}",
                              hint="check `stage:` (url, endpoint_url, region) and the AWS keys",
                              retryable=code in ("SlowDown", "InternalError", "503")) from None
        except BotoCoreError as exc:
            raise TargetError(f"{self.name}: {what} failed: {redact(str(exc))}",
                              hint="check `stage: endpoint_url` and the network",
                              retryable=True) from None


class _Missing(Exception):
    pass
