"""Manifest models of the Hexabase target (datastores fed through ImportItems)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from ...model.manifest import DatasetSpec, TargetSpec, without_userinfo

SPECIAL_COLUMNS = ("_status_", "_group_id_")


class HexabaseTarget(TargetSpec):
    """``type: hexabase``: one Hexabase application."""

    type: Literal["hexabase"]
    url: str = Field("https://api.hexabase.com", description="API base URL (or the emulator's)")
    application: str = Field(description="application id (p_id) or display id")
    token: SecretStr | None = Field(None, description="bearer token, e.g. ${HEXABASE_TOKEN}")
    email: str | None = Field(None, description="login e-mail (with password), e.g. ${HEXABASE_EMAIL}")
    password: SecretStr | None = Field(None, description="login password, e.g. ${HEXABASE_PASSWORD}")
    encoding: str = Field("utf-8", description="encoding of the uploaded CSV (e.g. cp932)")
    max_rows_per_import: int = Field(10_000, ge=1, description="rows per ImportItems call")
    max_imports_in_flight: int = Field(
        4, ge=1, description="queued key-field imports (upserts, deletes) of one dataset "
                             "followed at once; 1 sends each after the last finished")
    timeout: float = Field(60.0, gt=0, description="seconds per HTTP request")
    retries: int = Field(5, ge=0, description="retries on 429 / 5xx / connection errors")
    poll_interval: float = Field(
        1.0, gt=0,
        description="seconds between queue status checks (the first three come sooner: 1/8, 1/4, "
                    "1/2 of it)")
    import_timeout: float = Field(3600.0, gt=0, description="longest wait for a queued import")

    def location(self, root: Path | None = None) -> str:
        """The API's URL and the application: ``https://api.hexabase.com/<application>``."""
        return f"{without_userinfo(self.url).rstrip('/')}/{self.application}"

    @model_validator(mode="after")
    def _credentials(self) -> HexabaseTarget:
        if self.token is None and not (self.email and self.password):
            raise ValueError("give `token: ${HEXABASE_TOKEN}`, or `email:` and `password:` "
                             "(from the environment)")
        return self


class HexabaseDataset(DatasetSpec):
    """A dataset bound for a datastore; ``datastore:`` is an alias of ``table:``.

    Map a source column to ``_status_`` (status name) or ``_group_id_`` (publish group) under
    ``columns:``, e.g. ``_status_: {from: state}``.
    """

    datastore: str | None = Field(None, description="datastore id or display id (alias of table)")

    @model_validator(mode="after")
    def _one_key_field(self) -> HexabaseDataset:
        if self.datastore and self.table and self.datastore != self.table:
            raise ValueError("`datastore:` and `table:` name different datastores; keep one")
        if self.key and len(self.key) > 1:
            raise ValueError("Hexabase imports match on one key field; use a single `key:` column")
        return self

    @property
    def table_name(self) -> str:
        return self.datastore or self.table or self.name
