"""One apply, for the ``apply`` command: settle the journal, plan (or check a saved plan),
execute, and record the run; and a plan alone, for the ``plan`` command."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ApplyFailed, Interrupted, PlanError
from ..model.plan import SavedPlan
from .check import Checker, Probes
from .plan import Planned, build_plan
from .progress import Progress, Reporter
from .session import RunRecord, Selection, Session, load, session

if TYPE_CHECKING:
    from ..model.project import Project
    from .execute import ApplyResult


def plan(selection: Selection, *, allow_deletes: bool = False,
         progress: Progress | None = None, refresh: bool = False, target_check: bool = True,
         allow_existing: bool = False) -> tuple[Project, Planned]:
    """A plan to show or save (nothing is written; the rows to write are not read).  Each
    dataset's target is looked at first, unless ``target_check`` is off."""
    project, datasets = load(selection)
    with session(selection.state, "plan", write=False) as held, \
            Checker(held.store, Probes(project.datasets), enabled=target_check,
                    allow_existing=allow_existing, refresh=refresh) as checker:
        planned = build_plan(project, held.store, datasets, allow_deletes=allow_deletes,
                             progress=progress, filtered=selection.filtered,
                             refresh=held.drivers.of if refresh else None, checker=checker)
    planned.close()
    return project, planned


class Applier:
    """One apply: settle the journal, plan (or check a saved plan), confirm, execute, record."""

    def __init__(self, selection: Selection, held: Session, reporter: Reporter | None = None,
                 allow_deletes: bool = False, refresh: bool = False, target_check: bool = True,
                 allow_existing: bool = False) -> None:
        self.selection = selection
        self.refresh = refresh
        self.target_check = target_check
        self.allow_existing = allow_existing
        self.store = held.store
        self.reporter = reporter or Reporter()
        self.allow_deletes = allow_deletes
        self.project, self.datasets = load(selection)
        from .execute import Executor  # the write path: loaded by the commands that write

        self.executor = Executor(self.project, held.store, held.drivers, self.reporter)
        self._planned: list[Planned] = []

    def close(self) -> None:
        for planned in self._planned:
            planned.close()

    def settle(self) -> list[str]:
        return self.executor.settle_open_batches()

    def plan(self, saved: SavedPlan | None = None, progress: Progress | None = None,
             with_samples: bool = True) -> Planned:
        datasets = self.datasets
        if saved is not None:
            wanted = set(saved.dataset_ids)
            datasets = [d for d in self.project.datasets if d.id in wanted]
        with Checker(self.store, Probes(self.project.datasets), enabled=self.target_check,
                     allow_existing=self.allow_existing, refresh=self.refresh) as checker:
            planned = build_plan(self.project, self.store, datasets,
                                 allow_deletes=self.allow_deletes, progress=progress,
                                 filtered=self.selection.filtered or saved is not None,
                                 refresh=self.executor.driver if self.refresh else None,
                                 keep_actual=self.refresh, with_samples=with_samples,
                                 checker=checker)
        self._planned.append(planned)
        if saved is not None:
            saved.check(planned.plan)
        return planned

    def apply(self, planned: Planned, command: str = "apply") -> ApplyResult:
        blocked = planned.plan.blocked
        if blocked:
            reasons = "\n".join(f"  {d.id}: {d.blocked}" for d in blocked)
            guard = ("a safety guard" if any(not d.guard for d in blocked) else
                     "what the targets hold")
            raise PlanError(f"the plan is blocked by {guard}; nothing was applied:\n{reasons}")
        record = RunRecord(self.store, self.executor.run_id, command, self.selection.manifests)
        record.begin()
        try:
            result = self.executor.apply(planned)
        except Interrupted as exc:  # what was applied before the interrupt is recorded too
            partial: ApplyResult | None = getattr(exc, "result", None)
            record.summaries = [d.to_json() for d in partial.datasets] if partial else []
            record.abort(exc)
            raise
        except BaseException as exc:
            # a bug, or Ctrl-C outside a write: the open batch, if any, is settled by the
            # next apply
            record.abort(exc)
            raise
        record.summaries = [d.to_json() for d in result.datasets]
        record.finish()
        if result.failed:
            names = "\n".join(f"  {d.id}: {d.error}" for d in result.failed)
            ok = len(result.datasets) - len(result.failed)
            raise ApplyFailed(f"{len(result.failed)} dataset(s) failed ({ok} applied):\n{names}")
        return result
