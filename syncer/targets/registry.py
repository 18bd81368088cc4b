"""Target types, keyed by the manifest's ``target.type``: models and (lazily) drivers.

Drivers are imported only when a target of their type is applied, so an optional dependency
(pymilvus, boto3) is needed only by those who use that target.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..model.manifest import DatasetSpec, TargetSpec
from .base import Driver, DriverFactory, Probe
from .hexabase.config import HexabaseDataset, HexabaseTarget
from .milvus.config import MilvusDataset, MilvusTarget
from .postgres.config import PostgresDataset, PostgresTarget
from .sqlite.config import SqliteTarget
from .zilliz.config import ZillizDataset, ZillizTarget

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True)
class TargetType:
    """Everything syncer knows about one ``target.type``."""

    target_model: type[TargetSpec]
    dataset_model: type[DatasetSpec]
    driver: str  # "module:attribute" of the driver class, imported on first use
    #: "module:attribute" of the light look every plan takes (:class:`~.base.Probe`): it
    #: imports neither polars nor the driver, so a plan that reads nothing stays fast
    probe: str


TARGET_TYPES: dict[str, TargetType] = {
    "sqlite": TargetType(SqliteTarget, DatasetSpec, "syncer.targets.sqlite.driver:SqliteDriver",
                         "syncer.targets.sqlite.probe:SqliteProbe"),
    "postgres": TargetType(PostgresTarget, PostgresDataset,
                           "syncer.targets.postgres.driver:PostgresDriver",
                           "syncer.targets.postgres.probe:PostgresProbe"),
    "hexabase": TargetType(HexabaseTarget, HexabaseDataset,
                           "syncer.targets.hexabase.driver:HexabaseDriver",
                           "syncer.targets.hexabase.probe:HexabaseProbe"),
    "milvus": TargetType(MilvusTarget, MilvusDataset, "syncer.targets.milvus.driver:MilvusDriver",
                         "syncer.targets.milvus.probe:MilvusProbe"),
    "zilliz": TargetType(ZillizTarget, ZillizDataset, "syncer.targets.zilliz.driver:ZillizDriver",
                         "syncer.targets.zilliz.probe:ZillizProbe"),
}


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
