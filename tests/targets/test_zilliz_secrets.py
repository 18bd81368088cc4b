"""Secrets of a zilliz target (the API key, the stage's S3 secret key and session token) appear
in no output and no file syncer writes: after successful runs, a saved plan and its apply, failing
runs (the server echoing the secrets back in its error, the server gone), an unexpected exception
shown with its traceback, the watch log, a state backup and the staged import files.  The state
files are readable by their owner only.

The emulator's own data directory is left out of the search: the server is given the keys (an
import job carries the S3 keys so the service can read the staged file) and keeps them, as the
real service does.
"""

from __future__ import annotations

import io
import json
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syncer.emulators.base import Request, Response, json_response
from tests.conftest import Result
from tests.fixtures.zilliz import S3Server, zilliz_emulator
from tests.targets.test_zilliz_e2e import Project, _doc

API_KEY = "zk-secret-api-key-9d41e7c2a0"
S3_SECRET = "s3-secret-access-key-5b7f0a1e"
S3_TOKEN = "s3-session-token-c3a9e4d2b8"
SECRETS = (API_KEY, S3_SECRET, S3_TOKEN)
# the staged files stay in the bucket, so that every one of them is looked at below
KEEP = "  keep_staged: true\n"


@pytest.fixture
def zs(tmp_path: Path, moto_s3: S3Server, capsys: pytest.CaptureFixture[str],
       monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("SYNCER_STATE", raising=False)
    monkeypatch.delenv("SYNCER_DEBUG", raising=False)
    # moto takes any keys, and so does the emulator when it reads the staged files with them
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASECRETSTEST00001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", S3_TOKEN)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with zilliz_emulator(moto_s3, tmp_path / "emulator", api_key=API_KEY) as server:
        monkeypatch.setenv("ZILLIZ_URL", server.url)
        monkeypatch.setenv("ZILLIZ_ENDPOINT", server.url)
        monkeypatch.setenv("ZILLIZ_API_KEY", API_KEY)
        yield Project(tmp_path, server, capsys, monkeypatch)


def _echo_secrets_on_import(zs: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server refuses import jobs with an error that repeats the keys it was sent."""
    dispatch = zs.server.emulator.dispatch

    def echoing(request: Request) -> Response | None:
        if request.path.endswith("jobs/import/create"):
            body = json.loads(request.body)
            return json_response({"code": 1100, "message": (
                f"invalid parameter: secretKey={body.get('secretKey')} token={body.get('token')}"
                f" rejected for {request.headers.get('Authorization')}")})
        return dispatch(request)

    monkeypatch.setattr(zs.server.emulator, "dispatch", echoing)


def _watch_log(zs: Project) -> str:
    """What ``syncer watch`` logs (JSON lines) over its first reconcile."""
    from syncer import watch

    buffer = io.StringIO()
    watch.configure_logging("json", stream=buffer)
    config = watch.WatchConfig.resolve(zs.manifests, zs.state, log_format="json")
    watcher = watch.Watcher(config)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while '"reconcile"' not in buffer.getvalue() and time.monotonic() < deadline:
        time.sleep(0.02)
    watcher.stop.set()
    thread.join(timeout=20)
    assert not thread.is_alive()
    return buffer.getvalue()


def _leaks(root: Path, skip: Path) -> list[str]:
    found = []
    for file in root.rglob("*"):
        if not file.is_file() or skip in file.parents:
            continue
        data = file.read_bytes()
        found += [f"{file}: {s}" for s in SECRETS if s.encode() in data]
    return found


def test_the_keys_appear_in_no_output_and_no_file(zs: Project,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    zs.manifest(mode="upsert", target=KEEP + "  max_rows_per_import: 4\n")
    zs.write([_doc(i) for i in range(1, 9)])
    outputs: list[Result] = [zs.run("-v", "apply", "-m", zs.manifests, "--state", zs.state,
                                    "--auto-approve")]
    assert outputs[-1].code == 0, str(outputs[-1])

    # a saved plan, shown every way, then applied (no deletes: `plan --out` of a plan that
    # deletes fails in Changes.digest, reported separately)
    zs.write([_doc(i, title=f"v2 {i}") for i in range(1, 12)])
    plan_file = zs.root / "plan.json"
    outputs += [zs.run("plan", "-m", zs.manifests, "--state", zs.state, "--out", plan_file),
                ]
    assert plan_file.exists(), str(outputs[-1])
    outputs += [
                zs.run("plan", "-m", zs.manifests, "--state", zs.state, "--json"),
                zs.run("plan", "-m", zs.manifests, "--state", zs.state, "--format", "markdown"),
                zs.run("-v", "apply", "--state", zs.state, plan_file, "--auto-approve")]
    assert outputs[-1].code == 0, str(outputs[-1])

    # failing runs: the server echoes the keys in its error; the server is gone
    zs.write([_doc(i, title=f"v3 {i}") for i in range(3, 14)])
    with monkeypatch.context() as patch:
        _echo_secrets_on_import(zs, patch)
        outputs.append(zs.run("-v", "apply", "-m", zs.manifests, "--state", zs.state,
                              "--auto-approve"))
        assert outputs[-1].code == 1, str(outputs[-1])
        assert "secretKey=***" in outputs[-1].output, str(outputs[-1])
        log = _watch_log(zs)  # the same refusal, as the watcher logs it
        assert '"event": "error"' in log and "secretKey=***" in log, log
    with monkeypatch.context() as patch:
        patch.setenv("ZILLIZ_URL", "http://127.0.0.1:9")
        patch.setenv("ZILLIZ_ENDPOINT", "http://127.0.0.1:9")
        zs.manifest(mode="upsert", target=KEEP + "  retries: 0\n")
        outputs.append(zs.apply())
        assert outputs[-1].code == 1, str(outputs[-1])

    # an unexpected exception that carries the keys, shown with its traceback
    from syncer.targets import http

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError(f"boom Bearer {API_KEY} secretKey={S3_SECRET} token={S3_TOKEN}")

    with monkeypatch.context() as patch:
        patch.setattr(http.Http, "request", broken)
        patch.setenv("SYNCER_DEBUG", "1")
        outputs.append(zs.apply())
    assert outputs[-1].code == 3, str(outputs[-1])
    assert "Traceback" in outputs[-1].err
    assert "boom Bearer *** secretKey=*** token=***" in outputs[-1].err

    # the run that converges, the state shown and backed up
    zs.manifest(mode="upsert", target=KEEP + "  max_rows_per_import: 4\n")
    outputs += [zs.apply(),
                zs.run("state", "list", "--state", zs.state, "--json"),
                zs.run("state", "show", "zc/docs", "--state", zs.state),
                zs.run("history", "--state", zs.state),
                zs.run("state", "backup", zs.root / "backup.db", "--state", zs.state)]
    assert all(r.code == 0 for r in outputs[-5:]), "\n".join(map(str, outputs[-5:]))

    for result in outputs:
        for secret in SECRETS:
            assert secret not in result.output, str(result)
    for secret in SECRETS:
        assert secret not in log
    assert not _leaks(zs.root, skip=zs.root / "emulator")
    # the staged import files and their job notes hold rows and job ids, never a key
    s3, bucket = zs.server.s3.client, zs.server.bucket
    objects = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert objects
    for item in objects:
        body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        assert not [s for s in SECRETS if s.encode() in body], item["Key"]
    # the state and everything beside it: owner only
    for file in [*zs.state.parent.iterdir(), zs.root / "backup.db"]:
        assert stat.S_IMODE(file.stat().st_mode) & 0o077 == 0, file
