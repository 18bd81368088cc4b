"""Import jobs of one dataset run side by side (``max_imports_in_flight``), against the Zilliz
emulator on 127.0.0.1 with a moto S3 stage: while one job runs the next batches are staged and
their jobs created; each batch is folded once its own job ended; an apply interrupted with
several jobs running is settled by the next, which finds every job by its batch id and imports
nothing twice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import syncer.targets.zilliz.jobs as zilliz_jobs
from syncer.emulators.base import Request, Response
from tests.fixtures.zilliz import S3Server
from tests.targets.test_zilliz_e2e import Project, _doc, _expected, zilliz_project

JOB_DELAY = 0.3  # long enough that the next jobs are created while one runs


class Jobs:
    """For every job created: how many jobs were pending or importing right after."""

    def __init__(self, zc: Project, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[int] = []
        emulator = zc.server.emulator
        dispatch = emulator.dispatch

        def record(request: Request) -> Response | None:
            response = dispatch(request)
            if request.path.endswith("jobs/import/create"):
                running = emulator.store.query(
                    "SELECT count(*) AS n FROM jobs WHERE state IN ('Pending', 'Importing')")
                self.seen.append(int(running[0]["n"]))
            return response

        monkeypatch.setattr(emulator, "dispatch", record)


@pytest.fixture
def zc(tmp_path: Path, moto_s3: S3Server, s3_keys: None, capsys: pytest.CaptureFixture[str],
       monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    with zilliz_project(tmp_path, moto_s3, capsys, monkeypatch, job_delay=JOB_DELAY) as project:
        yield project


def _target(in_flight: int) -> str:
    return f"  max_rows_per_import: 3\n  max_imports_in_flight: {in_flight}\n"



@pytest.mark.parametrize("mode", ["append", "upsert"])
@pytest.mark.parametrize("in_flight", [4, 1])
def test_jobs_run_side_by_side_up_to_the_limit_and_land_once(
        zc: Project, monkeypatch: pytest.MonkeyPatch, mode: str, in_flight: int) -> None:
    zc.manifest(mode=mode, target=_target(in_flight))
    jobs = Jobs(zc, monkeypatch)
    v1 = [_doc(i) for i in range(1, 16)]  # five jobs of three rows
    zc.write(v1)
    zc.apply_ok()
    assert len(jobs.seen) == 5
    assert max(jobs.seen) == in_flight, jobs.seen
    assert zc.rows() == _expected(mode, [v1])
    zc.assert_unique_keys()
    zc.assert_no_changes()

    v2 = [_doc(i, title="changed") if i % 2 else _doc(i) for i in range(3, 25)]
    zc.write(v2)
    zc.apply_ok()
    assert zc.rows() == _expected(mode, [v1, v2])
    zc.assert_unique_keys()
    assert zc.open_batches() == 0
    zc.assert_no_changes()


def test_an_apply_interrupted_with_jobs_running_is_settled_by_the_next(
        zc: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """An append: the next run finds every job by the batch id its files carry, follows it and
    folds it; not one is created again (an import is insert-only)."""
    zc.manifest(mode="append", target=_target(4))
    v1 = [_doc(i) for i in range(1, 16)]
    zc.write(v1)
    follow = zilliz_jobs.Jobs.follow
    calls: list[str] = []

    def interrupted(self: Any, job_id: str, collection: str, batch: Any) -> Any:
        calls.append(job_id)
        if len(calls) == 2:  # the first job folded; the second and three more still running
            raise KeyboardInterrupt
        return follow(self, job_id, collection, batch)

    with monkeypatch.context() as patch:
        patch.setattr(zilliz_jobs.Jobs, "follow", interrupted)
        crashed = zc.apply()
    assert crashed.code == 130, str(crashed)
    assert zc.open_batches() == 4
    zc.recorder.clear()
    result = zc.apply_ok()
    assert result.err.count("it had landed") == 4, str(result)
    assert zc.recorder.count("jobs/import/create") == 0
    assert zc.open_batches() == 0
    assert zc.rows() == _expected("append", [v1])
    zc.assert_unique_keys()
    zc.assert_no_changes()


def test_a_failed_job_stops_the_sending_and_the_jobs_already_running_are_recorded(
        zc: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Six jobs, four in flight; the second fails (a vector one value short in its file). The
    third to fifth were created before that was known (the fifth once the first ended): they
    are followed to their end and recorded; the sixth is not sent. The next apply sends the
    second's rows and the sixth's."""
    import pyarrow as pa

    import syncer.targets.zilliz.files as zilliz_files

    zc.manifest(mode="append", target=_target(4))
    docs = [_doc(i) for i in range(1, 19)]  # jobs of ids 1-3, 4-6, 7-9, 10-12, 13-15, 16-18
    zc.write(docs)
    table_of = zilliz_files.arrow_table

    def corrupted(frame: Any, schema: Any, dynamic: bool) -> Any:
        table = table_of(frame, schema, dynamic)
        if 5 not in table.column("id").to_pylist():
            return table
        vectors = table.column("embedding").to_pylist()
        vectors[1] = vectors[1][:-1]
        return table.set_column(table.schema.get_field_index("embedding"), "embedding",
                                pa.array(vectors, pa.list_(pa.float32())))

    with monkeypatch.context() as patch:
        patch.setattr(zilliz_files, "arrow_table", corrupted)
        result = zc.apply()
    assert result.code == 1, str(result)
    assert "row 2 of the file is the source row with id = 5" in result.err, str(result)
    assert sorted(zc.server.key_counts("docs")) == [1, 2, 3, *range(7, 16)]
    assert zc.open_batches() == 0
    (item,) = zc.plan()["datasets"]
    assert (item["inserts"], item["updates"], item["deletes"]) == (6, 0, 0)
    zc.apply_ok()
    assert zc.rows() == _expected("append", [docs])
    zc.assert_unique_keys()
    zc.assert_no_changes()
