"""The state is bound to its target (issue 16), on the Hexabase emulator, through the CLI: the
emulator restarted without its data, the datastore changed in the manifest, a second state, an
append into a datastore that already holds items, the emulator down at plan time.  None ends with
"No changes" or a duplicated item.  A datastore keeps no marker: it is judged by its item count."""

from __future__ import annotations

import json
import socket
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from syncer.emulators.base import running
from syncer.emulators.hexabase import HexabaseEmulator
from tests.conftest import TargetProject
from tests.fixtures.hexabase import HexabaseServer
from tests.targets.test_hexabase_e2e import APP, TOKEN, _products, _row, _typed

GOODS = "goods"
FIELDS = [{"display_id": "sku", "dataType": "text", "unique": True},
          {"display_id": "name", "dataType": "text"},
          {"display_id": "price", "dataType": "number"}]
SCHEMA: dict[str, Any] = {"applications": [{"id": APP, "datastores": [
    {"id": "products", "fields": FIELDS}, {"id": GOODS, "fields": FIELDS}]}]}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Env(TargetProject):
    """A project whose emulator can be stopped and started again on the same port."""

    def __init__(self, root: Path, capsys: pytest.CaptureFixture[str],
                 monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__(root, capsys, monkeypatch)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._stack: ExitStack | None = None
        self.emulator: HexabaseEmulator | None = None
        monkeypatch.setenv("HEXABASE_URL", self.url)
        monkeypatch.setenv("HEXABASE_TOKEN", TOKEN)

    def start(self) -> None:
        """Start the emulator afresh: no data (as `syncer emulate hexabase` without --data)."""
        stack = ExitStack()
        self.emulator = stack.enter_context(HexabaseEmulator(None, TOKEN, SCHEMA, None, 0.05))
        stack.enter_context(running(self.emulator, port=self.port))
        self._stack = stack

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    def manifest(self, *, mode: str = "append", datastore: str = "products") -> None:
        key = "    key: [sku]\n" if mode == "upsert" else ""
        (self.manifests / "hexabase.yaml").write_text(f"""\
version: 1
target:
  name: hx
  type: hexabase
  url: ${{HEXABASE_URL}}
  application: {APP}
  token: ${{HEXABASE_TOKEN}}
  poll_interval: 0.05
  retries: 1
datasets:
  - name: products
    source: ../data/products.csv
    datastore: {datastore}
    mode: {mode}
{key}    columns: {{sku: string, name: string, price: float}}
""", encoding="utf-8")

    def write(self, rows: list[list[Any]]) -> None:
        lines = ["sku,name,price", *(",".join(map(str, r)) for r in rows)]
        (self.data / "products.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def server(self) -> HexabaseServer:
        import httpx

        assert self.emulator is not None
        return HexabaseServer(self.url, TOKEN, self.emulator, httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10))

    def rows(self, datastore: str = "products") -> Counter[tuple[str, str, float | None]]:
        server = self.server()
        try:
            return Counter(_row(i) for i in server.all_items(APP, datastore, per_page=1000))
        finally:
            server.http.close()

    def plan_text(self, *args: object) -> Any:
        return self.run("plan", "-m", self.manifests, "--state", self.state, *args)


@pytest.fixture
def env(tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("SYNCER_STATE", raising=False)
    project = Env(tmp_path, capsys, monkeypatch)
    project.start()
    try:
        yield project
    finally:
        project.stop()


ROWS = _products(5)


def test_a_restarted_emulator_without_its_data_is_drift(env: Env) -> None:
    """The issue's report: apply said in sync while the datastore held 1 of 5 rows."""
    env.manifest(mode="upsert")
    env.write(ROWS)
    env.apply_ok()
    env.stop()
    env.start()
    env.write([[*ROWS[0][:2], "9.99"], *ROWS[1:]])
    result = env.plan_text()
    assert "No changes" not in result.out
    assert "holds 0 row(s), the state says 5" in result.out, str(result)
    assert env.apply().code == 1
    assert env.rows() == Counter()
    refreshed = env.apply("--refresh")
    assert refreshed.code == 0, str(refreshed)
    assert env.rows() == Counter(_typed([[*ROWS[0][:2], "9.99"], *ROWS[1:]]))
    assert "No changes." in env.plan_text().out


def test_a_changed_datastore_is_a_move_and_a_full_load_there(env: Env) -> None:
    env.manifest()
    env.write(ROWS)
    env.apply_ok()
    env.manifest(datastore=GOODS)
    result = env.plan_text()
    assert f"/{APP}:products, now " in result.out and f"/{APP}:{GOODS}" in result.out, str(result)
    assert "+5 ~0 -0" in result.out
    env.apply_ok()
    assert env.rows(GOODS) == Counter(_typed(ROWS))
    assert env.rows() == Counter(_typed(ROWS))  # the old datastore is left alone
    assert "No changes." in env.plan_text().out


def test_a_second_state_never_appends_again(env: Env) -> None:
    env.manifest()
    env.write(ROWS)
    env.apply_ok()
    other = env.root / "state" / "other.db"
    applied = env.run("apply", "-m", env.manifests, "--state", other, "--auto-approve")
    assert applied.code == 1, str(applied)
    assert "already holds 5 row(s)" in applied.output and "syncer adopt" in applied.output
    assert env.rows() == Counter(_typed(ROWS))  # not 10
    adopted = env.run("adopt", "hx/products", "-m", env.manifests, "--state", other)
    assert adopted.code == 0, str(adopted)
    again = env.run("plan", "-m", env.manifests, "--state", other)
    assert "No changes." in again.out, str(again)


def test_an_append_into_a_datastore_holding_items_is_blocked(env: Env) -> None:
    env.manifest()
    env.write(ROWS)
    server = env.server()
    try:
        response = server.import_csv(APP, "products", "sku,name,price\nx1,stranger,1\n",
                                     append=True, no_queue=True)
        assert response.status_code == 200, response.text
    finally:
        server.http.close()
    data = json.loads(env.plan_text("--json").out)
    check = data["datasets"][0]["target_check"]
    assert (check["status"], check["rows"]) == ("existing", 1)
    assert env.apply().code == 1
    assert sum(env.rows().values()) == 1
    assert env.apply("--allow-existing").code == 0
    assert sum(env.rows().values()) == 6


def test_an_emulator_down_at_plan_time_is_said_and_exits_1(env: Env) -> None:
    env.manifest()
    env.write(ROWS)
    env.apply_ok()
    env.stop()
    result = env.plan_text()
    assert result.code == 1, str(result)
    assert "No changes" not in result.output and "Traceback" not in result.output
    assert "unreachable:" in result.out and "hx/products" in result.err
    assert TOKEN not in result.output
    offline = env.plan_text("--no-target-check")
    assert offline.code == 0 and "not checked" in offline.out, str(offline)
