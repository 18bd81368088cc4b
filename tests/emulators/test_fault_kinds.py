"""The fault kinds beyond 429/500/drops, on both emulators: a stalled answer (the client times
out; the request took effect or not) and a slow queue (queued work that stays pending longer).
Short stalls and delays: these run in about a second."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from syncer.emulators.base import FAULT_KINDS, FaultConfig, FaultInjector
from tests.fixtures.hexabase import HexabaseServer, hexabase_emulator
from tests.fixtures.zilliz import CLUSTER_ID, S3Server, zilliz_emulator

STALL_MS = 400
CLIENT_TIMEOUT = 0.1


def _csv(n: int, start: int = 0) -> str:
    return "sku,name\n" + "".join(f"s{i},item {i}\n" for i in range(start, start + n))


def test_a_stalled_answer_times_out_the_client_and_is_counted(tmp_path: Path) -> None:
    with hexabase_emulator(tmp_path) as server:
        server.import_csv("app", "ds", _csv(1), no_queue=True)
        quick = httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT,
                             headers={"Authorization": f"Bearer {server.token}"})
        with quick:
            for after, start in ((0.0, 1), (1.0, 2)):
                server.emulator.faults.configure(FaultConfig(rate_timeout=1, stall_ms=STALL_MS,
                                                             drop_after_apply=after))
                with pytest.raises(httpx.ReadTimeout):
                    quick.post("/api/v0/applications/app/datastores/ds/import",
                               data={"no_queue": "true"},
                               files={"file": ("a.csv", _csv(1, start), "text/csv")})
        time.sleep(STALL_MS / 1000 + 0.1)  # the stalled handlers finish
        server.emulator.faults.configure(FaultConfig())
        assert server.emulator.stats()["faults"]["timeout_before"] == 1
        assert server.emulator.stats()["faults"]["timeout_after"] == 1
        # stalled before: nothing happened; stalled after: the import landed all the same
        assert sorted(i["sku"] for i in server.all_items("app", "ds")) == ["s0", "s2"]


def test_a_slow_queue_keeps_a_hexabase_import_queued_longer(tmp_path: Path) -> None:
    faults = FaultConfig(rate_slow_queue=1, slow_queue_ms=400, seed=1)
    with hexabase_emulator(tmp_path, faults=faults, queue_delay=0.01) as server:
        started = time.monotonic()
        answer = server.import_csv("app", "ds", _csv(3)).json()
        server.wait_for_stream(answer["stream_id"])
        assert time.monotonic() - started >= 0.1  # at least a quarter of slow_queue_ms
        assert server.emulator.stats()["faults"]["slow_queue"] == 1


def test_a_slow_queue_keeps_a_zilliz_job_pending_longer(moto_s3: S3Server) -> None:
    faults = FaultConfig(rate_slow_queue=1, slow_queue_ms=400, seed=1)
    with zilliz_emulator(moto_s3, faults=faults, job_delay=0.01) as server:
        server.ok("collections/create", {"collectionName": "c", "dimension": 2})
        job_id = server.import_file("c", "rows.json", {"rows": [{"id": 1, "vector": [0, 1]}]})
        state = server.ok("jobs/import/getProgress", {"clusterId": CLUSTER_ID, "jobId": job_id})
        assert state["state"] == "Pending"
        started = time.monotonic()
        assert server.wait_job(job_id)["state"] == "Completed"
        assert time.monotonic() - started >= 0.05
        assert server.emulator.stats()["faults"]["slow_queue"] == 1


def test_new_settings_are_validated_and_leave_old_seeds_alone() -> None:
    with pytest.raises(ValueError):
        FaultConfig(rate_timeout=0.6, rate_500=0.6)
    with pytest.raises(ValueError):
        FaultConfig(stall_ms=-1)
    with pytest.raises(ValueError):
        FaultConfig.from_mapping({"slow_queue_ms": 1.5})
    assert FaultConfig.from_mapping({"rate_timeout": 0.1, "stall_ms": 100}).stall_ms == 100

    def draws(**extra: Any) -> list[str | None]:
        injector = FaultInjector(FaultConfig(rate_429=0.2, rate_500=0.2, rate_drop=0.2, seed=5,
                                             **extra))
        out = []
        for _ in range(50):
            out.append(injector.draw())
            injector.queue_delay()
        return out

    # slow queues draw from their own stream: the request faults of a seed stay what they were
    assert draws() == draws(rate_slow_queue=0.5)
    assert set(FaultInjector(FaultConfig()).stats()["faults"]) == set(FAULT_KINDS)
