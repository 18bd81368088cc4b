"""The look every plan takes at each dataset's target, and what it means for the plan.

The state is bound to its target: a dataset's record names where it was applied (the target's
resolved location and the table) and the marker syncer keeps in the target (the last batch it
wrote there).  Before a plan trusts the state it looks, cheaply (one count, no rows read):

- the manifest puts the dataset somewhere else: it *moved*, and is planned as a full load
  there (the old location is left as it is, and named);
- the table is missing, or holds another number of rows than the state says: *drift*;
- the target's marker names a batch this state never wrote: the state is not that target's
  (*foreign*); the plan refuses to guess;
- a first load of an append or upsert into a table that already holds rows (*existing*):
  every row would be sent again, so it is blocked like a mass delete;
- the target cannot be reached: *unreachable*, never "in sync".

The look uses each target type's light probe (:func:`~syncer.targets.registry.open_probe`):
no polars, no driver, so a plan that reads nothing stays fast.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..errors import DiskFull, SyncError
from ..model.place import Place
from ..model.plan import TargetCheck
from ..secrets import redact
from ..state import DatasetState, StateStore
from ..targets.base import Found, Probe

if TYPE_CHECKING:
    from ..model.project import Dataset

REFRESH = "`syncer apply --refresh` compares every row with the target and repairs it"


def shown(location: str | None, root: Path | None) -> str:
    """A location as a person reads it: a file under the working directory relative to it."""
    if location is None:
        return "(location not recorded)"
    if "://" in location or location.startswith("unix:"):
        return location
    path = Path(location) if os.path.isabs(location) else (root or Path.cwd()) / location
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Judged:
    """The look at one dataset's target, and what the plan makes of it."""

    check: TargetCheck | None  # None: not looked (--no-target-check)
    guard: str | None = None   # the dataset is blocked, and why
    moved_from: str | None = None
    moved_to: str | None = None
    found: Found | None = None

    @property
    def moved(self) -> bool:
        return self.moved_from is not None


class Looks(Protocol):
    """How a checker looks at a dataset's target: :class:`Found`, or SyncError when the target
    cannot be reached."""

    def look(self, place: Place) -> Found: ...

    def close(self) -> None: ...


class Probes:
    """Looks through each target type's light probe (opened on first use, one per target)."""

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self._datasets = {d.id: d for d in datasets}
        self._probes: dict[str, Probe] = {}

    def look(self, place: Place) -> Found:
        from ..targets.registry import open_probe

        ds = self._datasets[place.id]
        if ds.target.name not in self._probes:
            self._probes[ds.target.name] = open_probe(ds.target)
        return self._probes[ds.target.name].look(ds.spec)

    def close(self) -> None:
        for probe in self._probes.values():
            probe.close()
        self._probes.clear()


class Checker:
    """Looks at the targets of one plan through ``looks``, closed with the checker.  Without
    ``enabled`` (``--no-target-check``) it only tells a dataset that moved."""

    def __init__(self, store: StateStore, looks: Looks | None = None, *, enabled: bool = True,
                 allow_existing: bool = False, refresh: bool = False) -> None:
        self.store = store
        self.looks = looks
        self.enabled = enabled
        self.allow_existing = allow_existing
        self.refresh = refresh

    def close(self) -> None:
        if self.looks is not None:
            self.looks.close()

    def __enter__(self) -> Checker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def judge(self, ds: Place, state: DatasetState | None, open_ids: set[str]) -> Judged:
        location = ds.location
        here = f"{shown(location, ds.root)}:{ds.table_name}"
        moved_from = None
        if state is not None and (
                state.table_name != ds.table_name or state.target_type != ds.target_type
                or (state.location is not None and state.location != location)):
            moved_from = f"{shown(state.location, ds.root)}:{state.table_name}"
        moved_to = here if moved_from is not None else None
        if self.looks is None or not self.enabled:
            return Judged(None, None, moved_from, moved_to)
        try:
            found = self.looks.look(ds)
        except DiskFull:
            raise  # not a target out of reach: a full disk, named, stops the run
        except SyncError as exc:
            message = redact(str(exc))
            return Judged(TargetCheck("unreachable", message), f"cannot look at the target: "
                          f"{message}", moved_from, moved_to)
        if state is None or moved_from is not None:
            check, guard = self._first(ds, found, here)
        else:
            check, guard = self._bound(ds, state, found, here, ds.id in open_ids)
        if self.refresh:
            guard = None  # --refresh reads the target back in full: it repairs what was found
        return Judged(check, guard, moved_from, moved_to, found)

    def _first(self, ds: Place, found: Found, here: str) -> tuple[TargetCheck, str | None]:
        """Nothing recorded for this location: only a table holding rows matters."""
        rows = found.rows if found.exists else 0
        if rows and ds.mode in ("append", "upsert") and not self.allow_existing:
            message = (f"{here} already holds {rows:,} row(s) and this state has none recorded "
                       "there: applying would send every row again")
            guard = (f"{message}; `syncer adopt {ds.id}` records the rows there as applied "
                     f"(or --allow-existing to {ds.mode} anyway)")
            return TargetCheck("existing", message, rows, 0), guard
        return TargetCheck("ok", None, rows if found.exists else None, 0), None

    def _bound(self, ds: Place, state: DatasetState, found: Found, here: str,
               in_flight: bool) -> tuple[TargetCheck, str | None]:
        expected = state.rows
        if not found.exists:
            if expected == 0 and not in_flight:
                return TargetCheck("ok", None, None, 0), None
            message = (f"{here} does not exist, but the state says {expected:,} row(s) were "
                       "applied there")
            return (TargetCheck("drift", message, None, expected),
                    f"{message}; {REFRESH} (here: loads it again)")
        ours = {state.marker} | {b.batch_id for b in self.store.open_batches()
                                 if f"{b.target}/{b.dataset}" == ds.id}
        if found.marks and state.marker is not None and found.marker not in ours:
            last = found.marker or "no syncer marker"
            message = (f"{here} was last written by {'batch ' if found.marker else ''}{last}, "
                       f"not by this state (its last batch there is {state.marker}): this "
                       "state is not that target's")
            guard = (f"{message}; `syncer adopt {ds.id}` takes the target's rows as applied, "
                     f"or {REFRESH}")
            return TargetCheck("foreign", message, found.rows, expected), guard
        if not in_flight and found.rows != expected:
            keys = self.store.snapshot_keys(ds.target, ds.name)  # the record may lag
            expected = keys.height if keys is not None else 0
        if not in_flight and found.rows != expected:
            message = f"{here} holds {found.rows:,} row(s), the state says {expected:,}"
            # a batch that failed part way (an upsert's deletes went, its import did not), or
            # one whose outcome was unknown and was settled as not landed (a key-field import
            # a crash left queued may have landed since): this plan sends its changes again;
            # a later plan looks again
            why = ("its last apply failed part way" if self._last_apply_failed(ds) else
                   "its last batch was settled as not landed"
                   if self.store.last_batch_abandoned(ds.target, ds.name) else None)
            if why is not None:
                return TargetCheck("drift", f"{message}; {why} and this plan sends its changes "
                                   "again", found.rows, expected), None
            return (TargetCheck("drift", message, found.rows, expected),
                    f"{message}; {REFRESH} (`syncer drift` shows the rows)")
        return TargetCheck("ok", None, found.rows, expected), None

    def _last_apply_failed(self, ds: Place) -> bool:
        """Whether the newest run that touched ``ds`` failed for it (read on a mismatch only)."""
        for run in reversed(self.store.runs()):
            for item in run.get("summary") or []:
                if (item.get("target"), item.get("dataset")) == (ds.target, ds.name):
                    return bool(item.get("error"))
        return False
