"""The container image the README runs: slim, unprivileged, syncer as the entrypoint (so
SIGTERM reaches it), a health check on /healthz; built for real where Docker runs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tests.conftest import REPO

DOCKERFILE = REPO / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
            for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last:]


def test_the_image_is_slim_and_unprivileged() -> None:
    stage = final_stage()
    assert "slim" in stage[0][1], stage[0]
    users = [arg for op, arg in stage if op == "USER"]
    assert users and users[-1] not in ("root", "0"), users


def test_syncer_is_the_exec_form_entrypoint() -> None:
    entry = [arg for op, arg in final_stage() if op == "ENTRYPOINT"]
    assert entry and json.loads(entry[-1]) == ["syncer"], entry  # exec form: PID 1 gets SIGTERM


def test_the_health_check_asks_healthz_on_the_port_watch_serves() -> None:
    stage = final_stage()
    check = " ".join(arg for op, arg in stage if op == "HEALTHCHECK")
    assert "/healthz" in check and "SYNCER_WATCH_HEALTH_PORT" in check, check
    env = " ".join(arg for op, arg in stage if op == "ENV")
    assert "SYNCER_WATCH_HEALTH_PORT=" in env, env


def _docker_runs() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(not _docker_runs(), reason="no Docker engine here: build it with "
                    "`docker build -t syncer .` where one runs")
def test_the_image_builds_and_runs_syncer() -> None:  # pragma: no cover - needs Docker
    subprocess.run(["docker", "build", "-t", "syncer-test", str(REPO)], check=True, timeout=900)
    done = subprocess.run(["docker", "run", "--rm", "syncer-test", "--version"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("syncer "), done.stderr
