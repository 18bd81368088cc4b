"""Build a Plan: read sources and the state, call the pure planner per dataset.

Every source is read (or skipped by its fingerprint) before anything else happens; all source
errors are reported together and nothing is planned when any exists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..errors import Problem, SourceError
from ..model.plan import DatasetPlan, Plan
from ..profile import phase
from ..model.project import Dataset, Project
from ..model.schema import Schema
from ..sources.fingerprint import FileStamp
from ..state import StateStore
from .check import Checker
from .glance import glance, orphans_of
from .progress import Progress
from .read import load_snapshot, stream_rows

if TYPE_CHECKING:
    from concurrent.futures import Future

    import polars as pl

    from ..model.changes import Drift
    from ..sources.rows import RowStream
    from ..sources.spool import Spool
    from ..targets.base import Driver, Found


@dataclass(frozen=True)
class Planned:
    """A plan plus what the executor needs that a plan file does not carry."""

    plan: Plan
    schemas: dict[str, Schema]
    datasets: dict[str, Dataset]
    stamps: dict[str, list[FileStamp]]
    #: with refresh and ``keep_actual``: the rows each target holds, to record before repairing
    actual: dict[str, pl.DataFrame] | None = None
    #: where the declared rows wait until the apply reads them; :meth:`close` removes them
    spools: tuple[Spool, ...] = ()
    #: what the look at each dataset's target found (its marker is recorded when the state
    #: is bound to it again: a moved dataset, a refresh)
    found: dict[str, Found] = field(default_factory=dict)

    def close(self) -> None:
        """Remove the spooled rows (the plan's changes can no longer be read after this)."""
        for spool in self.spools:
            spool.close()


def build_plan(project: Project, store: StateStore, selected: list[Dataset], *,
               allow_deletes: bool = False, progress: Progress | None = None,
               filtered: bool = False, refresh: Callable[[Dataset], Driver] | None = None,
               keep_actual: bool = False, with_samples: bool = True,
               checker: Checker | None = None) -> Planned:
    """Plan ``selected``.  With ``refresh`` (a dataset -> its driver), every dataset's target is
    read back: drift (target vs state) is reported, and the target's rows stand in for the
    snapshot, so the plan is declared-vs-actual and applying it repairs the drift.  Without
    ``with_samples`` (a plan nobody will see), no sample rows are read.  ``checker`` looks at
    each target first (:mod:`.check`); without one, only a dataset that moved is noticed."""
    checker = checker if checker is not None else Checker(store, enabled=False)
    found: dict[str, Found] = {}
    plans: list[DatasetPlan] = []
    actual_by_id: dict[str, pl.DataFrame] = {}
    schemas: dict[str, Schema] = {}
    stamps_by_id: dict[str, list[FileStamp]] = {}
    problems: list[Problem] = []
    spools: list[Spool] = []
    open_ids = {f"{b.target}/{b.dataset}" for b in store.open_batches()}
    for ds in selected:
        if progress:
            progress(f"reading {ds.id}")
        place = ds.place()
        try:
            seen = glance(place, store, checker, open_ids, refresh=refresh is not None)
        except OSError as exc:
            problems.append(Problem(ds.files[0], None, f"cannot read source: {exc.strerror}"))
            continue
        stamps_by_id[ds.id] = seen.stamps
        judged, state = seen.judged, seen.state
        if judged.found is not None:
            found[ds.id] = judged.found
        if seen.plan is not None:
            assert state is not None and state.schema is not None  # nothing read: as recorded
            schemas[ds.id] = state.schema
            plans.append(seen.plan)
            continue
        digests, generation, spec_hash, bound = (seen.digests, seen.generation,
                                                 place.spec_hash, seen.bound())
        # reading rows needs polars, the planner and the readers: loaded here, on first use
        from .refresh import actual_rows, compare, read_actual
        from .diff import diff, samples, with_key_hash
        from ..sources.rows import duplicate_keys
        from ..sources.spool import Spool

        drifted: Drift | None = None
        back = Spool()
        spool = Spool()
        spools.append(spool)
        try:
            # the spool outlives the plan: the apply reads the rows to write from it; each
            # block is hashed by identity once here, not once per partition of the diff
            with phase(ds.id, "read"):
                rows = stream_rows(ds)
                for block in rows.batches:
                    spool.write(with_key_hash(block))
            with phase(ds.id, "snapshot"):
                # a dataset that moved is loaded in full where it now goes
                snapshot = None if judged.moved else load_snapshot(store, ds, rows.schema)
            if refresh is not None:
                with phase(ds.id, "read back"):
                    actual = read_actual(refresh(ds), ds, rows.schema, back, progress=progress)
                    drifted = compare(actual, snapshot, rows.schema, back,
                                      lambda keys, ds=ds: store.snapshot_rows(
                                          ds.target.name, ds.name, keys))
                snapshot = actual
            with phase(ds.id, "diff"):
                result = diff(ds.spec, rows.schema, spool.parts() or None, snapshot,
                              allow_deletes=allow_deletes, refreshed=refresh is not None)
            if result.duplicates is not None:
                raise duplicate_keys(ds, rows.schema, result.duplicates)
            with phase(ds.id, "samples"):
                wanted = (result.sample_keys.get("~", []) + result.sample_keys.get("-", [])
                          if with_samples else [])
                shown = result.sample_keys.get("+", []) + result.sample_keys.get("~", [])
                if refresh is not None:
                    old = actual_rows(back, rows.schema, wanted) if wanted else None
                    if keep_actual:
                        actual_by_id[ds.id] = actual_rows(back, rows.schema)
                    new = result.changes.upserts.pick(shown) if with_samples else None
                else:
                    # the new rows from the spool on a thread (polars, outside the GIL) while
                    # this thread, which alone uses the state's connection, reads the old ones
                    with _beside(result.changes.upserts.pick, shown if with_samples else None
                                 ) as picked:
                        old = (store.snapshot_rows(ds.target.name, ds.name, wanted) if wanted
                               else None)
                    new = picked.result() if picked is not None else None
                if new is not None:
                    result = replace(result, samples=samples(rows.schema, result.sample_keys,
                                                             new, old))
        except SourceError as exc:
            problems.extend(exc.problems)
            continue
        except BaseException:
            for each in spools:
                each.close()
            raise
        finally:
            back.close()
        schemas[ds.id] = rows.schema
        plans.append(DatasetPlan(ds.target.name, ds.name, ds.spec.mode, ds.spec.table_name,
                                 result, generation, digests, spec_hash,
                                 record_only=not result.has_changes, drift=drifted, **bound))
    if problems:
        for each in spools:
            each.close()
        raise SourceError.of(problems)  # "N problems in the data of FILE" when several
    orphans = orphans_of(store, {(d.target.name, d.name) for d in project.datasets},
                         {d.target.name for d in selected} if filtered else None)
    return Planned(Plan(tuple(plans), orphans), schemas,
                   {d.id: d for d in selected}, stamps_by_id,
                   actual_by_id if refresh is not None and keep_actual else None, tuple(spools),
                   found)


@contextmanager
def _beside(work: Callable[[list[str]], pl.DataFrame], keys: list[str] | None
            ) -> Iterator[Future[pl.DataFrame] | None]:
    """``work(keys)`` on a thread of its own while the block runs (nothing when ``keys`` is
    None); the thread is joined when the block ends, whatever happens in it."""
    if keys is None:
        yield None
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="syncer-samples") as pool:
        yield pool.submit(work, keys)
