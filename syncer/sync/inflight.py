"""Batches sent while earlier ones still wait on the target (an import queue, import jobs).

:func:`send_overlapped` keeps up to ``limit`` batches of one dataset waiting at once and ends
them in the order they were sent.  What makes a crash safe stays as it was for one batch: each
is journaled before it is sent and folded once its own outcome is known, so after a crash every
open one is settled alone (``Overlaps.overlaps`` admits only batches whose outcome can be).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

from ..errors import TargetError
from ..targets.base import Batch, Pending, RowError


def send_overlapped(batches: Iterable[Batch], limit: int, overlaps: Callable[[Batch], bool],
                    submit: Callable[[Batch], Pending],
                    finish: Callable[[Batch, Pending], None]) -> None:
    """Send ``batches`` in order (``submit``), with up to ``limit`` of them waiting, and end
    each (``finish``: wait, then fold or settle it), oldest first.

    A batch ``overlaps`` refuses is sent once every earlier one ended, and ended before the
    next is sent; so is the first batch of the other kind (deletes go first, as batches are
    cut, so a key that moves is never deleted after its new row).  The first batch that fails
    stops the sending: those already sent are still ended (each folded or settled: nothing
    they did is lost), then its error is raised.  Anything but a TargetError (an interrupt, a
    state that cannot be written) leaves at once: the batches still waiting stay open in the
    journal and the next run settles each with the target."""
    waiting: deque[tuple[Batch, Pending]] = deque()
    failures: list[TargetError] = []

    def end_oldest() -> None:
        batch, pending = waiting.popleft()
        try:
            finish(batch, pending)
        except TargetError as exc:
            failures.append(exc)

    for batch in batches:
        alone = batch.reset or not overlaps(batch)
        if waiting and (alone or _writes(batch) != _writes(waiting[-1][0])):
            while waiting:
                end_oldest()
        while len(waiting) >= max(1, limit):
            end_oldest()
        if failures:
            break
        waiting.append((batch, submit(batch)))
        if alone:
            end_oldest()
    while waiting:
        end_oldest()
    if failures:
        raise failures[0]


def _writes(batch: Batch) -> bool:
    """Whether ``batch`` writes rows (else it only deletes)."""
    return batch.upsert_rows > 0


def failed(error: TargetError) -> Pending:
    """The outcome of a batch whose sending failed: its error, raised when it is waited for
    (in its turn, so the batches sent before it end first)."""
    def pending() -> list[RowError]:
        raise error

    return pending
