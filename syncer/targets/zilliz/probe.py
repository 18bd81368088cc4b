"""The light look at a Zilliz Cloud target every plan takes, through the cluster's REST API:
does the collection (or the alias) exist, how many entities it holds (one ``count(*)``
query), and the marker syncer keeps in the collection's properties (the last batch it wrote)."""

from __future__ import annotations

from typing import Any

from ...model.manifest import DatasetSpec
from ..base import Found
from .config import ZillizDataset, ZillizTarget
from .rest import ApiError, Rest

#: collection property naming the last batch syncer wrote there (a plan checks it)
BATCH_MARKER = "syncer.batch"


def marker_key(partition: str | None) -> str:
    """The property holding the marker: one per partition when datasets share a collection in
    partitions of their own (each is written, and checked, apart from the others)."""
    return f"{BATCH_MARKER}.{partition}" if partition else BATCH_MARKER


def properties_of(info: dict[str, Any]) -> dict[str, str]:
    """A describe answer's ``properties`` (a list of ``{key, value}``) as a dict."""
    found = info.get("properties") or []
    if isinstance(found, dict):
        return {str(k): str(v) for k, v in found.items()}
    return {str(p.get("key")): str(p.get("value")) for p in found if isinstance(p, dict)}


class ZillizProbe:
    def __init__(self, target: ZillizTarget) -> None:
        # the target's own retry policy: a rate limit or a 5xx is not an outage
        self.rest = Rest(target, f"zilliz target '{target.name}'")

    def _post(self, path: str, body: dict[str, Any], what: str) -> Any:
        return self.rest.post("cluster", path, body, what=what)

    def look(self, dataset: DatasetSpec) -> Found:
        assert isinstance(dataset, ZillizDataset)
        name = dataset.alias or dataset.table_name
        try:
            info = self._post("collections/describe", {"collectionName": name},
                              f"describing collection '{name}'")
        except ApiError as exc:
            if exc.not_found:
                return Found(False, marks=True)
            raise
        query: dict[str, Any] = {"collectionName": name, "filter": "",
                                 "outputFields": ["count(*)"]}
        if dataset.partition:  # the dataset's own partition: its rows and its marker
            query["partitionNames"] = [dataset.partition]
        counted = self._post("entities/query", query, f"counting '{name}'") or []
        rows = int(counted[0]["count(*)"]) if counted else 0
        marker = properties_of(dict(info or {})).get(marker_key(dataset.partition))
        return Found(True, rows, marker, marks=True)

    def close(self) -> None:
        self.rest.close()
