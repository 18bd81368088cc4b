"""End to end: the real CLI (in-process) against the Hexabase emulator on 127.0.0.1.

Every test writes manifests and CSV sources into ``tmp_path`` (``url: ${HEXABASE_URL}``,
``token: ${HEXABASE_TOKEN}``), runs ``syncer apply`` / ``syncer plan`` through ``syncer.cli.main``
with ``sys.argv`` patched, and reads the datastore back through items/search: what the target
holds is judged by the emulator, never by syncer's own state.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import syncer.emulators.hexabase as emulator_module
from syncer.emulators.base import FaultConfig, Request, Response
from syncer.emulators.hexabase import HexabaseEmulator
from tests.fixtures.hexabase import HexabaseServer, hexabase_emulator
from tests.conftest import Result, TargetProject

APP = "shop"
DS = "products"
TOKEN = "e2e-secret-token-7f3a"
QUEUE_DELAY = 0.05

SCHEMA: dict[str, Any] = {
    "applications": [{
        "id": APP,
        "datastores": [{
            "id": DS,
            "fields": [
                {"display_id": "sku", "name": "SKU", "dataType": "text", "unique": True},
                {"display_id": "name", "name": "Name", "dataType": "text"},
                {"display_id": "price", "name": "Price", "dataType": "number"},
            ],
        }],
    }]
}

Row = tuple[str, str, float | None]  # sku, name, price as read back


# -- the harness ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Upload:
    """One ImportItems request as the emulator received it."""

    form: dict[str, str]  # the flags (every form field but the file)
    file: bytes

    @property
    def rows(self) -> int:
        return len(emulator_module.parse_csv(self.file).rows)


class Recorder:
    """Every request the emulator receives (wraps its dispatch; nothing else changes)."""

    def __init__(self, emulator: HexabaseEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
        self.requests: list[Request] = []
        dispatch = emulator.dispatch

        def record(request: Request) -> Response | None:
            self.requests.append(request)
            return dispatch(request)

        monkeypatch.setattr(emulator, "dispatch", record)

    def uploads(self) -> list[Upload]:
        found = []
        for request in self.requests:
            if request.method == "POST" and request.path.endswith("/import"):
                form = request.form()
                found.append(Upload({k: v.text for k, v in form.items() if k != "file"},
                                    form["file"].content))
        return found

    def clear(self) -> None:
        self.requests.clear()


class Project(TargetProject):
    """Manifests, sources and the state database of one test, and the emulator they talk to."""

    def __init__(self, root: Path, server: HexabaseServer, capsys: pytest.CaptureFixture[str],
                 monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__(root, capsys, monkeypatch)
        self.server = server
        self.recorder = Recorder(server.emulator, monkeypatch)

    # -- files
    def manifest(self, *, mode: str = "upsert", target: str = "",
                 columns: str = "{sku: string, name: string, price: float}",
                 datastore: str = DS, source: str = "../data/products.csv") -> None:
        key = "    key: [sku]\n" if mode == "upsert" else ""
        (self.manifests / "hexabase.yaml").write_text(f"""\
version: 1
target:
  name: hx
  type: hexabase
  url: ${{HEXABASE_URL}}
  application: {APP}
{target or "  token: ${HEXABASE_TOKEN}"}
  poll_interval: 0.05
datasets:
  - name: products
    source: {source}
    datastore: {datastore}
    mode: {mode}
{key}    columns: {columns}
""", encoding="utf-8")

    def write(self, rows: Sequence[Sequence[Any]], header: Sequence[str] = ("sku", "name", "price"),
              name: str = "products.csv", encoding: str = "utf-8") -> Path:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        path = self.data / name
        path.write_bytes(buffer.getvalue().encode(encoding))
        return path

    # -- reading the target and the state
    def items(self) -> list[dict[str, Any]]:
        return self.server.all_items(APP, DS, per_page=1000)

    def rows(self) -> Counter[Row]:
        return Counter(_row(item) for item in self.items())

    def tasks(self) -> list[dict[str, Any]]:
        response = self.server.http.get("/api/v0/tasks", params={"all": "true"})
        response.raise_for_status()
        return list(response.json().values())

    def state_dump(self) -> list[tuple[Any, ...]]:
        """What the state knows of the datasets (run history excluded: every run adds one)."""
        if not self.state.exists():
            return []
        con = sqlite3.connect(self.state)
        try:
            return [*con.execute("SELECT * FROM datasets ORDER BY target, dataset"),
                    *con.execute("SELECT * FROM snapshot_chunks ORDER BY target, dataset, chunk"),
                    *con.execute("SELECT batch_id, status FROM journal ORDER BY id")]
        finally:
            con.close()


def _row(item: dict[str, Any]) -> Row:
    price = item.get("price")
    return (item.get("sku") or "", item.get("name") or "", None if price is None else float(price))


def _typed(rows: Sequence[Sequence[Any]]) -> list[Row]:
    return [(str(s), str(n), float(p)) for s, n, p in rows]


@contextmanager
def hexabase_project(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                     monkeypatch: pytest.MonkeyPatch, queue_delay: float = QUEUE_DELAY
                     ) -> Iterator[Project]:
    """A project in ``tmp_path`` and the emulator it applies into (``queue_delay`` seconds
    before each queued import runs)."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("SYNCER_STATE", raising=False)
    monkeypatch.delenv("SYNCER_DEBUG", raising=False)
    with hexabase_emulator(tmp_path / "emulator", schema=SCHEMA, token=TOKEN,
                           queue_delay=queue_delay) as server:
        monkeypatch.setenv("HEXABASE_URL", server.url)
        monkeypatch.setenv("HEXABASE_TOKEN", TOKEN)
        yield Project(tmp_path, server, capsys, monkeypatch)


@pytest.fixture
def hx(tmp_path: Path, capsys: pytest.CaptureFixture[str],
       monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    with hexabase_project(tmp_path, capsys, monkeypatch) as project:
        yield project


def _products(n: int, start: int = 1, price: float = 1.0) -> list[list[Any]]:
    return [[f"s{i:05d}", f"name {i}", f"{price + i / 4:.2f}"] for i in range(start, start + n)]


# -- 1. modes over several source versions -------------------------------------------------------

V1 = _products(10)
V2 = [r for r in V1 if r[0] not in ("s00003", "s00007")]  # remove two rows
V2[1] = ["s00002", "name 2", "99.50"]  # edit a price
V2[3] = ["s00005", "renamed five", V2[3][2]]  # edit a name
V2 += _products(2, start=11)  # add two rows
V3 = [*V2[:6], ["s00003", "back again", "3.00"], *V2[6:], V2[0]]  # re-add a key; a duplicate row
V3_KEYED = V3[:-1]  # upsert needs unique keys


def _expected(mode: str, versions: Sequence[Sequence[Sequence[Any]]]) -> Counter[Row]:
    typed = [_typed(v) for v in versions]
    if mode == "replace":
        return Counter(typed[-1])
    if mode == "append":  # identity = content + occurrence: a row held as often as at most delivered
        held: Counter[Row] = Counter()
        for version in typed:
            held |= Counter(version)
        return held
    return Counter({row[0]: row for row in typed[-1]}.values())


@pytest.mark.parametrize("mode", ["replace", "append", "upsert"])
def test_each_mode_holds_what_it_defines_over_versions(hx: Project, mode: str) -> None:
    hx.manifest(mode=mode, target="  token: ${HEXABASE_TOKEN}\n  max_rows_per_import: 4")
    versions = [V1, V2, V3_KEYED if mode == "upsert" else V3]
    for number in range(1, len(versions) + 1):
        hx.write(versions[number - 1])
        hx.apply_ok()
        expected = _expected(mode, versions[:number])
        assert hx.rows() == expected, f"after version {number}"
        hx.assert_no_changes()
        # the same file saved again: nothing to do, and applying it sends and adds nothing
        hx.write(versions[number - 1])
        hx.recorder.clear()
        hx.apply_ok()
        assert hx.recorder.uploads() == []
        assert hx.rows() == expected, f"after re-applying version {number}"
        hx.assert_no_changes()


# -- 2. no_queue for small changes, the queue for large ones ------------------------------------

def test_small_change_goes_no_queue_and_large_change_is_queued_and_followed(hx: Project) -> None:
    hx.manifest(mode="upsert")
    small = _products(30)
    hx.write(small)
    hx.apply_ok()
    (upload,) = hx.recorder.uploads()
    assert (upload.rows, upload.form.get("no_queue")) == (30, "true")
    assert hx.tasks() == []  # nothing went through the queue
    assert hx.rows() == Counter(_typed(small))
    hx.assert_no_changes()

    hx.recorder.clear()
    large = small + _products(5000, start=31)
    hx.write(large)
    hx.apply_ok()
    polls = [r for r in hx.recorder.requests if r.method == "GET" and r.path == "/api/v0/tasks"]
    assert polls, "the queued import was never followed through GetQueueList"
    (upload,) = hx.recorder.uploads()
    assert upload.rows == 5000 and upload.form.get("no_queue", "false") == "false"
    # the apply followed the queued import to its end: everything is there once it returns
    assert hx.rows() == Counter(_typed(large))
    (task,) = hx.tasks()
    assert task["status"]["id"] == 2
    assert task["metadata"]["imported"] == 5000
    hx.assert_no_changes()


# -- 3. per-row errors -----------------------------------------------------------------------------

@pytest.mark.parametrize(("mode", "n"), [("upsert", 6), ("upsert", 150), ("append", 150)],
                         ids=["no_queue", "queued-key-field", "queued-append"])
def test_row_errors_name_file_and_line_and_stay_pending(hx: Project, mode: str, n: int) -> None:
    # `price` is a number field; declared a string here, so syncer passes "abc" through
    hx.manifest(mode=mode, columns="{sku: string, name: string, price: string}")
    rows = _products(n)
    rows[0][1] = "spans\ntwo lines"  # so source line != row number + 2 from here on
    bad = {2: 5, n - 2: n + 1}  # row index -> its line in products.csv
    for index in bad:
        rows[index][2] = "abc"
    hx.write(rows)

    result = hx.apply()
    assert result.code == 1, str(result)
    assert "Traceback" not in result.output
    for line in bad.values():  # each rejected row: its source line and the server's reason
        assert f"products.csv:{line}: " in result.err, str(result)
    assert result.err.count("not a number: price='abc'") == len(bad), str(result)
    assert result.output.count("products.csv:") == len(bad), str(result)
    good = [r for i, r in enumerate(rows) if i not in bad]
    assert hx.rows() == Counter(_typed(good))

    plan = hx.plan()  # the rejected rows are still pending, the good ones recorded
    assert plan["changes"] is True
    (item,) = plan["datasets"]
    assert (item["inserts"], item["updates"], item["deletes"]) == (len(bad), 0, 0), item

    for index in bad:
        rows[index][2] = "1.5"
    hx.write(rows)
    hx.apply_ok()
    assert hx.rows() == Counter(_typed(rows))
    hx.assert_no_changes()


# -- 4. credentials, unknown datastore, unknown columns --------------------------------------------

def test_bad_token_fails_cleanly_and_changes_nothing(hx: Project,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    hx.manifest(mode="upsert")
    hx.write(_products(5))
    hx.apply_ok()
    before_state, before_rows = hx.state_dump(), hx.rows()

    hx.write(_products(8, price=3.0))
    monkeypatch.setenv("HEXABASE_TOKEN", "not-the-token-0b1e")
    hx.recorder.clear()
    result = hx.apply()
    assert result.code == 1, str(result)
    assert "Traceback" not in result.output
    assert "unauthorized" in result.err and "token" in result.err, str(result)
    assert "not-the-token-0b1e" not in result.output  # a secret is never echoed
    assert hx.recorder.uploads() == []
    assert hx.state_dump() == before_state
    assert hx.rows() == before_rows


def _nothing_recorded(hx: Project, rows: int) -> None:
    """No snapshot, no journal entry, no generation: the next plan still has every row pending."""
    con = sqlite3.connect(hx.state)
    try:
        assert con.execute("SELECT count(*) FROM snapshot_chunks").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM journal").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM datasets WHERE generation > 0 OR rows > 0 "
                           "OR applied_at IS NOT NULL").fetchone() == (0,)
    finally:
        con.close()
    # against the state alone: the target may refuse the look (issue 16), the state is the point
    result = hx.run("plan", "-m", hx.manifests, "--state", hx.state, "--json",
                    "--no-target-check")
    (item,) = result.json()["datasets"]
    assert (item["inserts"], item["updates"], item["deletes"]) == (rows, 0, 0)


def test_unknown_datastore_fails_cleanly_and_changes_nothing(hx: Project) -> None:
    hx.manifest(mode="upsert", datastore="no_such_store")
    hx.write(_products(5))
    result = hx.apply()
    assert result.code == 1, str(result)
    assert "Traceback" not in result.output
    assert "'no_such_store' not found" in result.err, str(result)
    assert hx.recorder.uploads() == []
    _nothing_recorded(hx, 5)


def test_unknown_columns_fail_before_anything_is_sent(hx: Project) -> None:
    hx.manifest(mode="upsert", columns="{sku: string, name: string, price: float, "
                                       "colour: string, weight: float}")
    hx.write([["s1", "one", "1.0", "red", "2"]], header=("sku", "name", "price", "colour", "weight"))
    result = hx.apply()
    assert result.code == 1, str(result)
    assert "Traceback" not in result.output
    assert "colour, weight" in result.err, str(result)
    assert hx.recorder.uploads() == []  # refused before any upload
    assert hx.items() == [] and hx.tasks() == []
    _nothing_recorded(hx, 1)


def test_failed_first_apply_leaves_no_dataset_entry(hx: Project) -> None:
    hx.manifest(mode="upsert", datastore="no_such_store")
    hx.write(_products(5))
    assert hx.apply().code == 1
    assert hx.state_dump() == []


# -- 5. re-login ---------------------------------------------------------------------------------

LOGIN = "  email: ${HEXABASE_EMAIL}\n  password: ${HEXABASE_PASSWORD}\n  max_rows_per_import: 5"


def test_relogin_after_the_token_expired(hx: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEXABASE_EMAIL", "ops@example.com")
    monkeypatch.setenv("HEXABASE_PASSWORD", TOKEN)
    hx.manifest(mode="upsert", target=LOGIN)
    hx.write(_products(15))
    hx.apply_ok()
    hx.server.emulator.expire_token()  # between runs
    hx.write(_products(15, price=3.0))
    hx.apply_ok()

    # and within a run: the token expires after every import, so each next call meets a 401
    emulator = hx.server.emulator
    apply_import = emulator.store.apply_import

    def apply_then_expire(*args: Any, **kwargs: Any) -> Any:
        try:
            return apply_import(*args, **kwargs)
        finally:
            emulator.expire_token()

    monkeypatch.setattr(emulator.store, "apply_import", apply_then_expire)
    final = _products(15, price=7.0)
    hx.write(final)
    hx.recorder.clear()
    hx.apply_ok()
    logins = [r for r in hx.recorder.requests if r.path == "/api/v0/login"]
    # the plan's look at the target (issue 16) logs in once, then the driver's first call, then
    # one per expiry (after imports 1 and 2)
    assert len(logins) == 4
    monkeypatch.setattr(emulator.store, "apply_import", apply_import)
    hx.server.http.post("/api/v0/login", json={"email": "x@example.com", "password": TOKEN})
    assert hx.rows() == Counter(_typed(final))
    hx.assert_no_changes()


def test_without_credentials_an_expired_token_is_a_clean_error(hx: Project) -> None:
    hx.manifest(mode="upsert")
    hx.write(_products(3))
    hx.server.emulator.expire_token()
    result = hx.apply()
    assert result.code == 1, str(result)
    assert "Traceback" not in result.output
    assert "unauthorized" in result.err, str(result)
    _nothing_recorded(hx, 3)


# -- 6. faults -----------------------------------------------------------------------------------

FAULTY = "  token: ${HEXABASE_TOKEN}\n  retries: 8\n  max_rows_per_import: 5"


def _converge(hx: Project, faults: FaultConfig, versions: Sequence[list[list[Any]]],
              attempts: int = 4) -> list[Result]:
    """Apply each version under ``faults`` until it went through; then switch faults off."""
    hx.server.emulator.faults.configure(faults)
    results = []
    for version in versions:
        hx.write(version)
        results += hx.apply_until_ok(attempts)
        hx.assert_no_changes()
    stats = hx.server.emulator.stats()
    hx.server.emulator.faults.configure(FaultConfig())
    injected = stats["faults"]
    assert injected["429"] + injected["500"] + injected["drop_after"] > 0, stats
    return results


@pytest.mark.parametrize("seed", [1, 9])
def test_upsert_converges_under_faults(hx: Project, seed: int) -> None:
    hx.manifest(mode="upsert", target=FAULTY)
    v1 = _products(30)
    v2 = [r for r in v1 if r[0] not in ("s00004", "s00020")] + _products(12, start=31)
    v2[0] = ["s00001", "edited", "42.00"]
    _converge(hx, FaultConfig(rate_429=0.1, rate_500=0.1, seed=seed), [v1, v2])
    assert hx.rows() == Counter(_typed(v2))


@pytest.mark.parametrize("seed", [4, 9])
def test_append_converges_under_faults_without_duplicates(hx: Project, seed: int) -> None:
    hx.manifest(mode="append", target=FAULTY)
    v1 = _products(30)
    v2 = v1 + _products(15, start=31)
    v2[0] = ["s00001", "edited", "42.00"]
    _converge(hx, FaultConfig(rate_429=0.1, rate_500=0.1, seed=seed), [v1, v2])
    delivered = set(_typed(v1)) | set(_typed(v2))
    items = hx.items()
    assert len(items) == len(delivered)
    assert Counter(_row(i) for i in items) == Counter(delivered)


def test_append_that_ran_out_of_retries_converges_when_run_again(hx: Project) -> None:
    hx.manifest(mode="append", target="  token: ${HEXABASE_TOKEN}\n  retries: 1\n"
                                      "  max_rows_per_import: 5")
    v1 = _products(30)
    v2 = v1[3:] + _products(20, start=31)
    faults = FaultConfig(rate_429=0.1, rate_500=0.1, rate_drop=0.1, seed=5)
    results = _converge(hx, faults, [v1, v2], attempts=12)
    assert any(r.code == 1 for r in results), "no apply ran out of retries: pick another seed"
    items = hx.items()
    assert len(items) == 50
    assert Counter(_row(i) for i in items) == _expected("append", [v1, v2])


@pytest.mark.parametrize("mode", ["append", "replace"])
def test_dropped_connections_deliver_every_row_once(hx: Project, mode: str) -> None:
    hx.manifest(mode=mode, target=FAULTY)
    v1 = _products(30)
    v2 = v1[3:] + _products(20, start=31)
    _converge(hx, FaultConfig(rate_drop=0.3, drop_after_apply=0.5, seed=1), [v1, v2])
    expected = _expected(mode, [v1, v2])
    items = hx.items()
    assert len(items) == sum(expected.values())
    assert Counter(_row(i) for i in items) == expected


# -- 7. cp932 --------------------------------------------------------------------------------------

CP932 = "  token: ${HEXABASE_TOKEN}\n  encoding: cp932"
CP932_SOURCE = "{path: ../data/products.csv, encoding: cp932}"


def test_cp932_upload_round_trips_japanese_text(hx: Project) -> None:
    hx.manifest(mode="upsert", target=CP932, source=CP932_SOURCE)
    rows = [["jp-1", "りんごジュース", "120"], ["jp-2", "東京都千代田区～丸の内", "980.5"],
            ["jp-3", "ｶﾀｶﾅ・髙橋・①", "7"]]
    hx.write(rows, encoding="cp932")
    hx.apply_ok()
    (upload,) = hx.recorder.uploads()
    with pytest.raises(UnicodeDecodeError):
        upload.file.decode("utf-8")  # really sent as cp932
    assert "東京都千代田区～丸の内" in upload.file.decode("cp932")
    assert hx.rows() == Counter(_typed(rows))
    hx.assert_no_changes()


def test_text_cp932_cannot_encode_is_a_row_error_with_its_line(hx: Project) -> None:
    hx.manifest(mode="upsert", target=CP932)  # a UTF-8 source, uploaded as cp932
    rows = [["a", "りんご", "1"], ["b", "smile 😀", "2"], ["c", "ok", "3"]]
    hx.write(rows)
    result = hx.apply()
    assert result.code == 1, str(result)
    assert "Traceback" not in result.output
    assert "products.csv:3:" in result.err and "cp932" in result.err, str(result)
    assert hx.rows() == Counter(_typed([rows[0], rows[2]]))
    (item,) = hx.plan()["datasets"]
    assert item["inserts"] == 1
