"""The light look at a Milvus target every plan takes: does the collection (or the alias) exist,
how many entities it holds (one ``count(*)``), and the marker syncer keeps in the collection's
properties (the last batch it wrote there)."""

from __future__ import annotations

from ...model.manifest import DatasetSpec
from ..base import Found
from .client import BATCH_MARKER, Client
from .config import MilvusDataset, MilvusTarget


class MilvusProbe:
    def __init__(self, target: MilvusTarget) -> None:
        self.client = Client(target)

    def look(self, dataset: DatasetSpec) -> Found:
        assert isinstance(dataset, MilvusDataset)
        name: str | None = dataset.table_name
        if dataset.alias:
            name = self.client.alias_target(dataset.alias)
        if name is None or not self.client.exists(name):
            return Found(False, marks=True)
        properties = self.client.describe(name).get("properties") or {}
        self.client.load(name)
        marker = properties.get(BATCH_MARKER) if isinstance(properties, dict) else None
        return Found(True, self.client.count(name), marker, marks=True)

    def close(self) -> None:
        self.client.close()
