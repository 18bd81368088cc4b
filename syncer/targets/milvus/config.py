"""Manifest models of the Milvus target (a Milvus server, Zilliz Cloud over gRPC, or Milvus Lite).

Nothing here imports pymilvus: the driver module does, and only when a milvus target is applied.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from ...model.manifest import DatasetSpec, TargetSpec, without_userinfo
from ...model.place import file_location

#: what Milvus accepts as a collection, alias or field name
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_NAME = 255
#: room left in a collection name for the ``__<batch>`` suffix of alias replaces
SUFFIX_ROOM = 40
_REMOTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://|^unix:")


def is_remote(uri: str) -> bool:
    """``http://host:19530``, ``https://...``, ``tcp://...``, ``unix:...``: not a local file."""
    return bool(_REMOTE.match(uri))


class MilvusTarget(TargetSpec):
    """``type: milvus``: a Milvus server (``uri: http://host:19530``) or a Milvus Lite file."""

    type: Literal["milvus"]
    uri: str = Field(description="http(s)://host:port of a Milvus server, or a local `.db` path "
                                 "(Milvus Lite, embedded; relative to the manifest file)")
    token: SecretStr | None = Field(None, description="`user:password` or an API key, "
                                                      "e.g. ${MILVUS_TOKEN}")
    db_name: str | None = Field(None, description="database (default: the server's default)")
    timeout: float = Field(60.0, gt=0, description="seconds per request")

    @field_validator("uri")
    @classmethod
    def _local_file_is_db(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("uri is empty")
        if not is_remote(value) and not value.endswith(".db"):
            raise ValueError(f"a local Milvus Lite uri must name a `.db` file (got '{value}'); "
                             "use e.g. ../build/vectors.db, or http://host:19530 for a server")
        return value

    @property
    def is_lite(self) -> bool:
        return not is_remote(self.uri)

    def location(self, root: Path | None = None) -> str:
        """The server's URI (or the Milvus Lite file, relative to the project root when inside
        it), and the database."""
        uri = without_userinfo(self.uri) if is_remote(self.uri) else file_location(self.uri, root)
        return f"{uri}/{self.db_name}" if self.db_name else uri

    def resolve_paths(self, base: Path) -> MilvusTarget:
        if is_remote(self.uri):
            return self
        return self.model_copy(update={"uri": str((base / self.uri).resolve())})


class MilvusDataset(DatasetSpec):
    """A dataset bound for a Milvus collection.

    ``columns:`` must declare exactly one vector column, and ``key:`` one integer or string
    column: it becomes the collection's primary key.
    """

    metric: Literal["COSINE", "L2", "IP"] = Field("COSINE", description="vector index metric")
    dynamic_fields: bool = Field(False, description="create the collection with dynamic fields "
                                                    "enabled (an existing one must match)")
    alias: str | None = Field(None, description="replace: load a new collection "
                                                "`<table>__<batch>`, then move this alias to it")

    @model_validator(mode="after")
    def _milvus_shape(self) -> MilvusDataset:
        if self.columns is None:
            raise ValueError("a milvus dataset needs `columns:` declaring the key, one "
                             "`{type: vector, dim: N}` column and the scalar fields")
        vectors = [name for name, c in self.columns.items() if c.type == "vector"]
        if len(vectors) != 1:
            found = f"found {len(vectors)}: {', '.join(vectors)}" if vectors else "found none"
            raise ValueError(f"a milvus dataset needs exactly one vector column ({found})")
        if not self.key or len(self.key) != 1:
            raise ValueError("a milvus dataset needs `key:` naming one integer or string column "
                             "(it becomes the primary key)")
        key_type = self.columns[self.key[0]].type
        if key_type not in ("integer", "string"):
            raise ValueError(f"key column '{self.key[0]}' is {key_type}; a Milvus primary key "
                             "must be an integer or string column")
        for name in self.columns:
            if not IDENTIFIER.match(name) or len(name) > MAX_NAME:
                raise ValueError(f"column '{name}' is not a valid Milvus field name (letters, "
                                 "digits and _, not starting with a digit); rename it under "
                                 "`columns:` with {from: ...}")
        room = MAX_NAME - SUFFIX_ROOM if self.alias else MAX_NAME
        if not IDENTIFIER.match(self.table_name) or len(self.table_name) > room:
            raise ValueError(f"'{self.table_name}' is not a valid Milvus collection name (letters, "
                             f"digits and _, not starting with a digit, at most {room} "
                             "characters); set `table:`")
        if self.alias is not None:
            if self.mode != "replace":
                raise ValueError("`alias:` works with mode replace only (each replace loads a new "
                                 "collection and moves the alias)")
            if not IDENTIFIER.match(self.alias) or len(self.alias) > MAX_NAME:
                raise ValueError(f"alias '{self.alias}' is not a valid Milvus name (letters, "
                                 "digits and _, not starting with a digit)")
        return self

    @property
    def vector_column(self) -> str:
        assert self.columns is not None
        return next(name for name, c in self.columns.items() if c.type == "vector")
