"""The order in which batches are sent and ended when several may wait on the target at once
(:func:`syncer.sync.inflight.send_overlapped`): the rules that keep a crash safe."""

from __future__ import annotations

import polars as pl
import pytest

from syncer.errors import TargetError
from syncer.model.manifest import DatasetSpec
from syncer.model.schema import KEY
from syncer.sync.inflight import failed, send_overlapped
from syncer.targets.base import Batch, Pending, RowError

SPEC = DatasetSpec.model_validate({"name": "items", "source": "items.csv", "mode": "upsert",
                                   "key": ["id"]})


def batch(name: str, *, deletes: bool = False, reset: bool = False) -> Batch:
    rows = pl.DataFrame({"id": [name], KEY: [name]})
    empty = rows.clear()
    return Batch(name, "t", SPEC, None, reset,  # type: ignore[arg-type]
                 empty if deletes else rows, rows if deletes else empty)


class Target:
    """Records every send and end, in order; fails the batches named in ``failing``."""

    def __init__(self, failing: tuple[str, ...] = (), alone: tuple[str, ...] = ()) -> None:
        self.events: list[str] = []
        self.failing, self.alone = failing, alone
        self.waiting: set[str] = set()
        self.most_waiting = 0

    def overlaps(self, b: Batch) -> bool:
        return b.id not in self.alone

    def submit(self, b: Batch) -> Pending:
        self.events.append(f"send {b.id}")
        self.waiting.add(b.id)
        self.most_waiting = max(self.most_waiting, len(self.waiting))

        def pending() -> list[RowError]:
            self.waiting.discard(b.id)
            if b.id in self.failing:
                raise TargetError(f"{b.id} failed")
            return []
        return pending

    def finish(self, b: Batch, pending: Pending) -> None:
        try:
            pending()
        finally:
            self.events.append(f"end {b.id}")

    def run(self, batches: list[Batch], limit: int) -> None:
        send_overlapped(batches, limit, self.overlaps, self.submit, self.finish)


def test_up_to_the_limit_wait_at_once_and_end_in_the_order_sent() -> None:
    target = Target()
    target.run([batch(str(n)) for n in range(6)], limit=3)
    assert target.events == ["send 0", "send 1", "send 2", "end 0", "send 3", "end 1", "send 4",
                             "end 2", "send 5", "end 3", "end 4", "end 5"]
    assert target.most_waiting == 3


def test_a_limit_of_one_sends_each_after_the_last_ended() -> None:
    target = Target()
    target.run([batch(str(n)) for n in range(3)], limit=1)
    assert target.events == ["send 0", "end 0", "send 1", "end 1", "send 2", "end 2"]


def test_a_batch_the_driver_keeps_alone_waits_for_the_others_and_they_for_it() -> None:
    target = Target(alone=("2",))
    target.run([batch(str(n)) for n in range(5)], limit=4)
    assert target.events == ["send 0", "send 1", "end 0", "end 1", "send 2", "end 2",
                             "send 3", "send 4", "end 3", "end 4"]


def test_a_reset_is_alone_whatever_the_driver_says() -> None:
    target = Target()
    target.run([batch("r", reset=True), batch("a"), batch("b")], limit=4)
    assert target.events[:2] == ["send r", "end r"]


def test_deletes_end_before_the_first_rows_are_sent() -> None:
    target = Target()
    target.run([batch("d1", deletes=True), batch("d2", deletes=True), batch("u1"), batch("u2")],
               limit=4)
    assert target.events == ["send d1", "send d2", "end d1", "end d2", "send u1", "send u2",
                             "end u1", "end u2"]


def test_a_failure_stops_the_sending_ends_what_was_sent_and_is_raised() -> None:
    target = Target(failing=("1", "2"))
    with pytest.raises(TargetError, match="^1 failed"):
        target.run([batch(str(n)) for n in range(8)], limit=3)
    # 0, 1, 2 were waiting when 1 failed: 2 is still ended (folded or settled), nothing new sent
    assert target.events == ["send 0", "send 1", "send 2", "end 0", "send 3", "end 1",
                             "end 2", "end 3"]


def test_an_interrupt_leaves_at_once_the_rest_stays_open_for_the_next_run() -> None:
    target = Target()

    def finish(b: Batch, pending: Pending) -> None:
        if b.id == "1":
            raise KeyboardInterrupt
        target.finish(b, pending)

    with pytest.raises(KeyboardInterrupt):
        send_overlapped([batch(str(n)) for n in range(5)], 3, target.overlaps, target.submit,
                        finish)
    assert target.events == ["send 0", "send 1", "send 2", "end 0", "send 3"]
    assert target.waiting == {"1", "2", "3"}


def test_a_send_that_failed_is_raised_in_its_turn() -> None:
    pending = failed(TargetError("refused"))
    with pytest.raises(TargetError, match="refused"):
        pending()
