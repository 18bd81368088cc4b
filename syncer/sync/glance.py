"""The first look a plan takes at one dataset, before any row is read: its state record, its
source files' fingerprints and its target.  When those say nothing changed, the dataset's plan
is made here and no row is read; otherwise the plan reads the rows (:mod:`.plan`).

Pydantic-free and polars-free, so a plan with nothing to do runs it from a remembered
:class:`~syncer.model.place.Place` without loading the manifests (:mod:`syncer.quick`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model.place import Place
from ..model.plan import DatasetPlan
from ..profile import phase
from ..sources.fingerprint import FileStamp, fingerprint, unchanged
from ..state import DatasetState, StateStore
from .check import Checker, Judged


@dataclass(frozen=True)
class Glance:
    state: DatasetState | None
    stamps: list[FileStamp]
    judged: Judged
    #: the dataset's plan, when nothing needs reading (None: read the rows)
    plan: DatasetPlan | None

    @property
    def digests(self) -> tuple[str, ...]:
        return tuple(s.digest for s in self.stamps)

    @property
    def generation(self) -> int:
        return self.state.generation if self.state else 0

    def bound(self) -> dict[str, Any]:
        """What the look at the target adds to the dataset's plan."""
        judged = self.judged
        return {"check": judged.check, "guard": judged.guard, "moved_from": judged.moved_from,
                "moved_to": judged.moved_to}


def glance(place: Place, store: StateStore, checker: Checker, open_ids: set[str], *,
           refresh: bool = False) -> Glance:
    """Look at ``place`` without reading its rows (OSError: a source file cannot be read).  The
    plan is made here when the sources hash as recorded, the manifest shapes the rows as it
    did, no batch of the dataset is open, it did not move, and no ``refresh`` reads the target
    back."""
    with phase(place.id, "state read"):
        state = store.dataset(place.target, place.name)
    with phase(place.id, "fingerprint"):
        stamps = fingerprint(place.files, state.fingerprint if state else None, place.base)
    with phase(place.id, "target check"):
        judged = checker.judge(place, state, open_ids)
    seen = Glance(state, stamps, judged, None)
    if (refresh or state is None or not unchanged(stamps, state.fingerprint)
            or state.spec_hash != place.spec_hash or place.id in open_ids
            or state.schema is None or judged.moved):
        return seen
    plan = DatasetPlan(place.target, place.name, place.mode, place.table_name, None,
                       seen.generation, seen.digests, place.spec_hash,
                       record_only=stamps != state.fingerprint, **seen.bound())
    return Glance(state, stamps, judged, plan)


def orphans_of(store: StateStore, declared: set[tuple[str, str]],
               targets: set[str] | None) -> tuple[str, ...]:
    """The datasets the state holds that no manifest declares (of ``targets`` only, when the
    plan was filtered to them)."""
    return tuple(s.id for s in store.datasets() if (s.target, s.dataset) not in declared
                 and (targets is None or s.target in targets))
