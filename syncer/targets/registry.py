"""Target types, keyed by the manifest's ``target.type``: models and (lazily) drivers.

Drivers are imported only when a target of their type is applied, so an optional dependency
(pymilvus, boto3) is needed only by those who use that target.  The models of a type are
imported when a manifest names it (building a type's pydantic models costs milliseconds at
every start; a sqlite project never builds the others').
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .base import Driver, DriverFactory, Probe

if TYPE_CHECKING:
    import httpx

    from ..model.manifest import DatasetSpec, TargetSpec


@dataclass(frozen=True)
class TargetType:
    """Everything syncer knows about one ``target.type``."""

    target_model: type[TargetSpec]
    dataset_model: type[DatasetSpec]
    driver: str  # "module:attribute" of the driver class, imported on first use
    #: "module:attribute" of the light look every plan takes (:class:`~.base.Probe`): it
    #: imports neither polars nor the driver, so a plan that reads nothing stays fast
    probe: str


def _sqlite() -> TargetType:
    from ..model.manifest import DatasetSpec
    from .sqlite.config import SqliteTarget

    return TargetType(SqliteTarget, DatasetSpec, "syncer.targets.sqlite.driver:SqliteDriver",
                      "syncer.targets.sqlite.probe:SqliteProbe")


def _postgres() -> TargetType:
    from .postgres.config import PostgresDataset, PostgresTarget

    return TargetType(PostgresTarget, PostgresDataset,
                      "syncer.targets.postgres.driver:PostgresDriver",
                      "syncer.targets.postgres.probe:PostgresProbe")


def _hexabase() -> TargetType:
    from .hexabase.config import HexabaseDataset, HexabaseTarget

    return TargetType(HexabaseTarget, HexabaseDataset,
                      "syncer.targets.hexabase.driver:HexabaseDriver",
                      "syncer.targets.hexabase.probe:HexabaseProbe")


def _milvus() -> TargetType:
    from .milvus.config import MilvusDataset, MilvusTarget

    return TargetType(MilvusTarget, MilvusDataset, "syncer.targets.milvus.driver:MilvusDriver",
                      "syncer.targets.milvus.probe:MilvusProbe")


def _zilliz() -> TargetType:
    from .zilliz.config import ZillizDataset, ZillizTarget

    return TargetType(ZillizTarget, ZillizDataset, "syncer.targets.zilliz.driver:ZillizDriver",
                      "syncer.targets.zilliz.probe:ZillizProbe")


class TargetTypes(Mapping[str, TargetType]):
    """``target.type`` -> :class:`TargetType`, each built (its config module imported) on its
    first lookup; the names are known without importing anything."""

    def __init__(self, loaders: dict[str, Callable[[], TargetType]]) -> None:
        self._loaders = loaders
        self._built: dict[str, TargetType] = {}

    def __getitem__(self, name: str) -> TargetType:
        if name not in self._built:
            self._built[name] = self._loaders[name]()
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaders)

    def __len__(self) -> int:
        return len(self._loaders)


if TYPE_CHECKING:  # read-only use (lookup, `in`, iteration), which narrows like a dict's
    TARGET_TYPES: dict[str, TargetType]
else:
    TARGET_TYPES = TargetTypes({"sqlite": _sqlite, "postgres": _postgres, "hexabase": _hexabase,
                                "milvus": _milvus, "zilliz": _zilliz})


def open_driver(target: TargetSpec, *, transport: httpx.BaseTransport | None = None) -> Driver:
    """Create the driver for ``target`` (imports its module on first use).  ``transport``
    replaces the network under an HTTP driver's ``httpx.Client`` (tests use a MockTransport);
    a driver that does not speak HTTP ignores it."""
    module_name, _, attribute = TARGET_TYPES[target.type].driver.partition(":")
    factory: DriverFactory = getattr(importlib.import_module(module_name), attribute)
    return factory(target, transport=transport)


def open_probe(target: TargetSpec) -> Probe:
    """The light look at ``target`` every plan takes (imports its module on first use)."""
    module_name, _, attribute = TARGET_TYPES[target.type].probe.partition(":")
    factory = getattr(importlib.import_module(module_name), attribute)
    probe: Probe = factory(target)
    return probe
