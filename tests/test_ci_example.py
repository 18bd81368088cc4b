"""The GitHub Actions example of docs/ci.md, run as CI would run it: each job's commands (but
installing syncer and posting a comment) in a fresh clone of a data repository whose
``syncer.yaml`` names a PostgreSQL state, twice in a row on hosted-runner-like empty machines:
the second run finds the first one's state and plans no changes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml

from tests import pg
from tests.conftest import REPO

WORKFLOW = REPO / "examples" / "ci" / "github-actions.yml"
SKIP = ("pip install", "gh pr comment")


def job_commands(job: str) -> list[str]:
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"][job]["steps"]
    return [s["run"] for s in steps if "run" in s and not s["run"].startswith(SKIP)]


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def schema(pg_server: str) -> Iterator[str]:
    """The target's schema on the test server, of this test's own (dropped afterwards)."""
    import psycopg

    name = pg.fresh_name("ci_shop")
    yield name
    with psycopg.connect(pg_server, autocommit=True) as db:
        db.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def target_url(pg_url: str) -> str:
    """The target's URL (DATABASE_URL): the state's server and database, no password, no
    state options."""
    parts = urlsplit(pg_url)
    return urlunsplit((parts.scheme, f"{parts.username}@{parts.hostname}:{parts.port}",
                       parts.path, "", ""))


@pytest.fixture
def origin(tmp_path: Path, schema: str) -> Path:
    """A data repository as docs/ci.md lays it out: manifests/, data/, syncer.yaml."""
    repo = tmp_path / "origin"
    repo.mkdir()
    for folder in ("manifests", "data"):
        (repo / folder).mkdir()
    # the shop example on a PostgreSQL target every job reaches (a schema of this test's own)
    example = (REPO / "manifests" / "postgres" / "shop.yaml").read_text()
    assert "url: ${DATABASE_URL}" in example and "schema: shop " in example
    (repo / "manifests" / "shop.yaml").write_text(
        example.replace("../../data/", "../data/").replace("schema: shop ", f"schema: {schema} "))
    for name in ("products.csv", "prices.jsonl", "categories.tsv"):
        (repo / "data" / name).write_bytes((REPO / "data" / name).read_bytes())
    (repo / "syncer.yaml").write_text("state: ${SYNCER_STATE_URL}\nproject: shop\n")
    git(repo, "init", "-q")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@e", "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "data")
    return repo


def run_job(job: str, clone: Path, url: str, password: str, summary: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCER_")}
    env.update({"SYNCER_STATE_URL": url, "DATABASE_URL": target_url(url),
                "PGPASSWORD": password,
                "NO_COLOR": "1",
                "GITHUB_STEP_SUMMARY": str(summary), "PYTHONPATH": str(REPO),
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"})
    out = []
    for command in job_commands(job):
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=clone, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{job}: {command!r} failed:\n{done.stdout}{done.stderr}"
        out.append(done.stdout + done.stderr)
    return "\n".join(out)


def test_the_workflow_runs_twice_on_fresh_clones_with_a_postgresql_state(
        origin: Path, pg_url: str, tmp_path: Path) -> None:
    parts = urlsplit(pg_url)
    password = parts.password or ""
    netloc = f"{parts.username}@{parts.hostname}:{parts.port}"
    url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))  # no password in it
    for run in (1, 2):  # every CI job starts on an empty machine: a fresh clone, no local state
        clone = tmp_path / f"clone-{run}"
        git(tmp_path, "clone", "-q", str(origin), str(clone))
        summary = tmp_path / f"summary-{run}.md"
        planned = run_job("plan", clone, url, password, summary)
        applied = run_job("apply", clone, url, password, summary)
        assert password not in planned + applied + summary.read_text()
        plan_md = (clone / "plan.md").read_text()
        if run == 1:
            assert "+" in plan_md and not (clone / "state").exists()
        else:  # the state lives on the server: the second clone has nothing left to do
            assert "No changes" in plan_md or "no changes" in plan_md.lower(), plan_md
            again = subprocess.run([sys.executable, "-m", "syncer", "plan", "-m", "manifests",
                                    "--detailed-exitcode"], cwd=clone, capture_output=True,
                                   text=True, env={**os.environ, "SYNCER_STATE_URL": url,
                                                   "DATABASE_URL": target_url(url),
                                                   "PGPASSWORD": password,
                                                   "PYTHONPATH": str(REPO)})
            assert again.returncode == 0, again.stdout + again.stderr


def test_two_clones_share_one_lock(origin: Path, pg_url: str, tmp_path: Path) -> None:
    """Two clones of the repository (two laptops, two runners) name the same project in
    syncer.yaml: an apply from one is refused while the other holds the state, naming it, or
    waits for it with --lock-timeout."""
    clones = [tmp_path / "laptop-a", tmp_path / "laptop-b"]
    for clone in clones:
        git(tmp_path, "clone", "-q", str(origin), str(clone))
    env = {**os.environ, "SYNCER_STATE_URL": pg_url, "DATABASE_URL": target_url(pg_url),
           "PGPASSWORD": urlsplit(pg_url).password or "", "PYTHONPATH": str(REPO),
           "NO_COLOR": "1"}
    env.pop("SYNCER_STATE", None)
    hold = ("import sys, time; from pathlib import Path\n"
            "from syncer.state import open_state\n"
            "from syncer.sync.session import state_path\n"
            "store = open_state(state_path(None, Path('manifests')))\n"
            "lock = store.lock('apply')\n"
            "print('held', flush=True)\n"
            "sys.stdin.readline()\n"
            "lock.release()\n")
    holder = subprocess.Popen([sys.executable, "-c", hold], cwd=clones[0], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"

        def apply(*extra: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "syncer", "apply", "-m", "manifests",
                                   "--auto-approve", *extra], cwd=clones[1], env=env,
                                  capture_output=True, text=True, timeout=120)

        refused = apply()
        assert refused.returncode == 1, refused.stderr
        assert f"the state is locked by pid {holder.pid}" in refused.stderr
        assert holder.stdin is not None
        import threading
        threading.Timer(1.0, lambda: (holder.stdin.write("\n"), holder.stdin.flush())).start()
        waited = apply("--lock-timeout", "60")
        assert waited.returncode == 0, waited.stderr
    finally:
        holder.kill()
        holder.wait()
