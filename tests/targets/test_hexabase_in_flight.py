"""Key-field imports wait in Hexabase's queue side by side (``max_imports_in_flight``), against
the emulator on 127.0.0.1: while one import is queued the next ones are posted, each is still
journaled before it is sent and folded once its own task ended; appends never overlap; an
apply interrupted with several imports queued is settled by the next, which converges."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncer.emulators.base import Request, Response
from syncer.targets.hexabase.api import Api
from tests.targets.test_hexabase_e2e import (Project, _expected, _products, _typed,
                                              hexabase_project)

QUEUE_DELAY = 0.25  # long enough that the next imports are posted while one waits


class Queue:
    """For every import posted: the tasks unfinished right after it was queued (itself included),
    and whether one of them is of the other kind (deletes beside rows)."""

    def __init__(self, hx: Project, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[tuple[int, bool]] = []
        emulator = hx.server.emulator
        dispatch = emulator.dispatch

        def record(request: Request) -> Response | None:
            response = dispatch(request)
            if request.method == "POST" and request.path.endswith("/import"):
                waiting = emulator.store.tasks(None, unfinished_only=True)
                kinds = {"_delete_" in bytes(t["csv"]).split(b"\n", 1)[0].decode()
                         for t in waiting}
                self.seen.append((len(waiting), len(kinds) > 1))
            return response

        monkeypatch.setattr(emulator, "dispatch", record)

    @property
    def most(self) -> int:
        return max((n for n, _ in self.seen), default=0)


@pytest.fixture
def hx(tmp_path: Path, capsys: pytest.CaptureFixture[str],
       monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    with hexabase_project(tmp_path, capsys, monkeypatch, QUEUE_DELAY) as project:
        yield project


def _target(in_flight: int) -> str:
    return (f"  token: ${{HEXABASE_TOKEN}}\n  max_rows_per_import: 150\n"
            f"  max_imports_in_flight: {in_flight}")



@pytest.mark.parametrize("in_flight", [4, 1])
def test_upserts_wait_side_by_side_up_to_the_limit_and_land_once(
        hx: Project, monkeypatch: pytest.MonkeyPatch, in_flight: int) -> None:
    hx.manifest(mode="upsert", target=_target(in_flight))
    queue = Queue(hx, monkeypatch)
    v1 = _products(900)  # 6 queued imports of 150 rows
    hx.write(v1)
    hx.apply_ok()
    assert len(queue.seen) == 6
    assert queue.most == in_flight  # 4 queued at once; with 1, each after the last ended
    assert hx.rows() == Counter(_typed(v1))
    hx.assert_no_changes()

    # a change: deletes (two imports), then rows; no delete waits beside a row import
    queue.seen.clear()
    v2 = [r for r in v1 if int(r[0][1:]) % 3] + _products(600, start=1001)
    v2[0] = ["s00001", "edited", "42.00"]
    hx.write(v2)
    hx.apply_ok()
    assert not any(mixed for _, mixed in queue.seen), queue.seen
    assert queue.most == min(in_flight, 4)
    assert hx.rows() == Counter(_typed(v2))
    assert hx.open_batches() == 0
    hx.assert_no_changes()


def test_appends_are_followed_one_at_a_time(hx: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """An append is settled by the datastore's item count: with several queued, a count could
    not tell which landed, so they never overlap, whatever the limit says."""
    hx.manifest(mode="append", target=_target(4))
    queue = Queue(hx, monkeypatch)
    rows = _products(600)
    hx.write(rows)
    hx.apply_ok()
    assert len(queue.seen) == 4 and queue.most == 1
    assert hx.rows() == _expected("append", [rows])


def test_an_apply_interrupted_with_imports_queued_is_settled_by_the_next(
        hx: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    hx.manifest(mode="upsert", target=_target(4))
    v1 = _products(300)
    hx.write(v1)
    hx.apply_ok()
    v2 = [["s00001", "edited", "1.00"], *v1[1:]] + _products(600, start=301)
    hx.write(v2)
    follow = Api.follow
    calls: list[str] = []

    def interrupted(self: Api, stream_id: str, batch: object) -> object:
        calls.append(stream_id)
        # 601 rows: four imports of 150 sent; the first ended (folded), the fifth sent (one row,
        # no_queue: it landed at once); then Ctrl-C while the second is followed
        if len(calls) == 2:
            raise KeyboardInterrupt
        return follow(self, stream_id, batch)  # type: ignore[arg-type]

    with monkeypatch.context() as patch:
        patch.setattr(Api, "follow", interrupted)
        crashed = hx.apply()
    assert crashed.code == 130, str(crashed)
    assert hx.open_batches() == 4
    result = hx.apply_ok()
    # key-field imports are idempotent: each is "not landed" and sent again by the plan
    assert result.err.count("it had not landed") == 4, str(result)
    assert hx.open_batches() == 0
    assert hx.rows() == Counter(_typed(v2))
    hx.assert_no_changes()


def test_deletes_left_queued_by_a_kill_that_landed_since_do_not_block_the_next_apply(
        hx: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """A key-field import's outcome is not asked of the target: settled as "not landed", it is
    sent again. When it had landed after all (the queue ran it after the kill), the datastore
    holds fewer rows than the state says: the target check must let the plan send it again,
    not block it as drift (found by bench/torture.py, with one import in flight or four)."""
    hx.manifest(mode="upsert", target=_target(1))
    v1 = _products(600)
    hx.write(v1)
    hx.apply_ok()
    hx.write(v1[300:])  # 300 deletes: two queued imports
    emulator = hx.server.emulator
    dispatch = emulator.dispatch
    child: list[subprocess.Popen[bytes]] = []

    def kill_once_queued(request: Request) -> Response | None:
        response = dispatch(request)
        if request.method == "POST" and request.path.endswith("/import") and child:
            os.kill(child[0].pid, signal.SIGKILL)  # the import is queued; nothing is folded
        return response

    monkeypatch.setattr(emulator, "dispatch", kill_once_queued)
    child.append(subprocess.Popen(
        [sys.executable, "-m", "syncer", "apply", "-m", str(hx.manifests), "--state",
         str(hx.state), "--auto-approve", "--allow-deletes"], cwd=hx.root,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    assert child[0].wait(timeout=60) == -signal.SIGKILL
    child.clear()
    assert hx.open_batches() == 1
    _wait_for_the_queue(hx)
    assert len(hx.items()) == 450  # the deletes the kill left queued landed since
    result = hx.apply("--allow-deletes")
    assert result.code == 0, str(result)
    assert "it had not landed" in result.err, str(result)
    assert hx.rows() == Counter(_typed(v1[300:]))
    hx.assert_no_changes()


def _wait_for_the_queue(hx: Project) -> None:
    deadline = time.monotonic() + 10
    while any(t["status"]["id"] < 2 for t in hx.tasks()):
        assert time.monotonic() < deadline, hx.tasks()
        time.sleep(0.05)
