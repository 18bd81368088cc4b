"""The Hexabase emulator, exercised over a real socket with httpx."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from syncer.emulators.base import (
    EmulatorApp,
    FaultConfig,
    Request,
    Response,
    json_response,
    parse_multipart,
    running,
)
from syncer.emulators.hexabase import DEFAULT_TOKEN, HexabaseEmulator, load_schema
from tests.fixtures.hexabase import SAMPLE_SCHEMA, HexabaseServer, hexabase_emulator

PRODUCTS = "/api/v0/applications/shop/datastores/products"


def rows_csv(n: int, start: int = 0) -> str:
    return "sku,name\n" + "".join(f"s{i},item {i}\n" for i in range(start, start + n))


def skus(items: list[dict[str, Any]]) -> list[str]:
    return [item["sku"] for item in items]


def queue_import(
    server: HexabaseServer, app: str, ds: str, csv: str | bytes, **flags: Any
) -> dict[str, Any]:
    """Queue an import, wait for it, return its GetQueueList task."""
    response = server.import_csv(app, ds, csv, **flags)
    assert response.status_code == 200, response.text
    return server.wait_for_stream(response.json()["stream_id"])


# --------------------------------------------------------------------------- auth


def test_login_with_token_as_password(hexabase_server: HexabaseServer) -> None:
    with hexabase_server.client(authenticated=False) as client:
        ok = client.post(
            "/api/v0/login", json={"email": "me@example.com", "password": DEFAULT_TOKEN}
        )
        wrong = client.post("/api/v0/login", json={"email": "me@example.com", "password": "nope"})
    assert ok.status_code == 200
    assert ok.json() == {"token": DEFAULT_TOKEN}
    assert wrong.status_code == 401
    assert set(wrong.json()) == {"error", "error_code"}


def test_api_calls_need_the_bearer_token(hexabase_server: HexabaseServer) -> None:
    hexabase_server.import_csv("app", "ds", rows_csv(1), no_queue=True)
    with hexabase_server.client(authenticated=False) as client:
        missing = client.get("/api/v0/applications/app/datastores/ds/fields")
        wrong = client.get(
            "/api/v0/applications/app/datastores/ds/fields", headers={"Authorization": "Bearer x"}
        )
    assert missing.status_code == wrong.status_code == 401
    assert missing.json()["error_code"] == "NO_PRIVILEGES"


def test_expired_token_is_refused_until_the_next_login(hexabase_server: HexabaseServer) -> None:
    hexabase_server.import_csv("app", "ds", rows_csv(1), no_queue=True)
    fields = "/api/v0/applications/app/datastores/ds/fields"
    client = hexabase_server.http
    assert client.get(fields).status_code == 200
    assert client.post("/_emulator/expire-token").status_code == 200
    assert client.get(fields).status_code == 401
    assert client.get(fields).status_code == 401
    client.post(
        "/api/v0/login", json={"email": "a@b.c", "password": DEFAULT_TOKEN}
    ).raise_for_status()
    assert client.get(fields).status_code == 200


# --------------------------------------------------------------------------- import modes


def test_plain_import_inserts_and_creates_a_schemaless_datastore(
    hexabase_server: HexabaseServer,
) -> None:
    answer = hexabase_server.import_csv("app", "ds", rows_csv(3), no_queue=True).json()
    assert answer == {"errors": [], "has_error": False, "result": {"imported": 3, "item_count": 3}}
    items = hexabase_server.all_items("app", "ds")
    assert [(i["sku"], i["name"]) for i in items] == [
        ("s0", "item 0"),
        ("s1", "item 1"),
        ("s2", "item 2"),
    ]
    assert all(len(i["i_id"]) == 24 for i in items)


def test_replace_all_deletes_everything_first(hexabase_server: HexabaseServer) -> None:
    hexabase_server.import_csv("app", "ds", rows_csv(5), no_queue=True)
    hexabase_server.import_csv("app", "ds", rows_csv(2, start=10), no_queue=True, replace_all=True)
    assert skus(hexabase_server.all_items("app", "ds")) == ["s10", "s11"]


def test_queued_replace_all_is_a_replace_task_without_import_results(
    hexabase_server: HexabaseServer,
) -> None:
    hexabase_server.import_csv("app", "ds", rows_csv(5), no_queue=True)
    response = hexabase_server.import_csv("app", "ds", rows_csv(1, start=7), replace_all=True)
    task = hexabase_server.wait_for_stream(response.json()["stream_id"])
    assert task["category"] == "ReplaceImportData"
    assert task["status"] == {"id": 2, "name": "done"}
    assert skus(hexabase_server.all_items("app", "ds")) == ["s7"]
    client = hexabase_server.http
    results = client.get(f"/api/v0/datastores/ds/import/{response.json()['temp_datastore_id']}")
    assert results.status_code == 400
    assert results.json()["error_code"] == "INVALID_PARAMS"


def test_append_keeps_existing_items_and_duplicates(hexabase_server: HexabaseServer) -> None:
    hexabase_server.import_csv("app", "ds", rows_csv(2), no_queue=True)
    hexabase_server.import_csv(
        "app", "ds", rows_csv(2), no_queue=True, append=True, key_field_displayid="sku"
    )
    assert skus(hexabase_server.all_items("app", "ds")) == ["s0", "s1", "s0", "s1"]


def test_key_field_updates_present_columns_or_creates(
    hexabase_server_with_schema: HexabaseServer,
) -> None:
    server = hexabase_server_with_schema
    server.import_csv(
        "shop", "products", "sku,name,price\na,Apple,10\nb,Banana,20\n", no_queue=True
    )
    answer = server.import_csv(
        "shop", "products", "sku,price\nb,25\nc,30\n", no_queue=True, key_field_displayid="sku"
    )
    assert answer.json()["result"] == {"imported": 2, "item_count": 2}
    items = {i["sku"]: i for i in server.all_items("shop", "products")}
    assert [(k, v.get("name"), v["price"]) for k, v in items.items()] == [
        ("a", "Apple", 10),
        ("b", "Banana", 25),  # name untouched: the column was not in the file
        ("c", None, 30),
    ]


def test_delete_column_deletes_by_key(hexabase_server: HexabaseServer) -> None:
    hexabase_server.import_csv("app", "ds", rows_csv(3), no_queue=True)
    csv = "sku,name,_delete_\ns0,,1\ns2,,true\ns9,,1\ns1,renamed,0\n"
    answer = hexabase_server.import_csv(
        "app", "ds", csv, no_queue=True, key_field_displayid="sku"
    ).json()
    assert answer["has_error"] is False
    items = hexabase_server.all_items("app", "ds")
    assert [(i["sku"], i["name"]) for i in items] == [("s1", "renamed")]


def test_delete_column_without_key_field_is_a_row_error(hexabase_server: HexabaseServer) -> None:
    answer = hexabase_server.import_csv(
        "app", "ds", "sku,_delete_\na,1\nb,0\n", no_queue=True
    ).json()
    assert answer["result"] == {"imported": 1, "item_count": 2}
    assert answer["errors"][0]["line"] == 2


def test_status_column_stores_names_and_rejects_unknown_ones(
    hexabase_server_with_schema: HexabaseServer,
) -> None:
    server = hexabase_server_with_schema
    csv = "sku,_status_\na,Draft\nb,Bogus\nc,\n"
    answer = server.import_csv("shop", "products", csv, no_queue=True).json()
    assert answer["has_error"] is True
    assert [(e["line"], e["error_level"]) for e in answer["errors"]] == [(3, "ERROR")]
    assert "Bogus" in answer["errors"][0]["description"]
    items = server.all_items("shop", "products")
    assert [(i["sku"], i.get("status")) for i in items] == [("a", "Draft"), ("c", None)]
    server.import_csv(
        "shop", "products", "sku,_status_\na,Published\n", no_queue=True, key_field_displayid="sku"
    )
    assert server.all_items("shop", "products")[0]["status"] == "Published"


def test_group_id_column_is_stored(hexabase_server: HexabaseServer) -> None:
    hexabase_server.import_csv("app", "ds", "sku,_group_id_\na,G1\nb,\n", no_queue=True)
    items = hexabase_server.all_items("app", "ds")
    assert [(i["sku"], i.get("group_id")) for i in items] == [("a", "G1"), ("b", None)]
    fields = hexabase_server.http.get("/api/v0/applications/app/datastores/ds/fields").json()[
        "fields"
    ]
    assert [f["display_id"] for f in fields.values()] == ["sku"]  # special columns are no fields


def test_conflicting_flags_and_bad_booleans_are_refused(hexabase_server: HexabaseServer) -> None:
    both = hexabase_server.import_csv("app", "ds", rows_csv(1), replace_all=True, append=True)
    bad = hexabase_server.import_csv("app", "ds", rows_csv(1), no_queue="yes")
    assert both.status_code == bad.status_code == 400
    client = hexabase_server.http  # a refused import creates nothing, not even the datastore
    assert client.get("/api/v0/applications/app/datastores/ds/fields").status_code == 404


# --------------------------------------------------------------------------- no_queue and the queue


def test_no_queue_with_30_rows_applies_immediately(hexabase_server: HexabaseServer) -> None:
    answer = hexabase_server.import_csv("app", "ds", rows_csv(30), no_queue=True).json()
    assert answer == {
        "errors": [],
        "has_error": False,
        "result": {"imported": 30, "item_count": 30},
    }
    assert len(hexabase_server.all_items("app", "ds")) == 30


def test_no_queue_with_101_rows_is_refused_whole(hexabase_server: HexabaseServer) -> None:
    hexabase_server.import_csv("app", "ds", rows_csv(100), no_queue=True)  # exactly the limit: fine
    answer = hexabase_server.import_csv(
        "app", "ds", rows_csv(101, start=500), no_queue=True, replace_all=True
    )
    assert answer.json() == {
        "errors": [
            {
                "description": "the number of imports exceeds the limit. please set the no_queue flag to false.",
                "error": "too many items",
                "error_level": "ERROR",
            }
        ],
        "has_error": True,
        "result": {"imported": 0, "item_count": 101},
    }
    assert skus(hexabase_server.all_items("app", "ds")) == [f"s{i}" for i in range(100)]


def test_queued_import_of_5000_rows_finishes_and_reports(hexabase_server: HexabaseServer) -> None:
    response = hexabase_server.import_csv("app", "ds", rows_csv(5000), key_field_displayid="sku")
    ids = response.json()
    assert set(ids) == {"temp_datastore_id", "stream_id"}
    assert len(ids["temp_datastore_id"]) == 24 and int(ids["temp_datastore_id"], 16) >= 0
    assert len(ids["stream_id"]) >= 64
    task = hexabase_server.wait_for_stream(ids["stream_id"])
    assert task["category"] == "ImportItems"
    assert task["status"] == {"id": 2, "name": "done"}
    assert task["started_at"] and task["finished_at"]
    assert task["metadata"]["imported"] == task["metadata"]["item_count"] == 5000
    client = hexabase_server.http
    results = client.get(f"/api/v0/datastores/ds/import/{ids['temp_datastore_id']}")
    assert results.status_code == 200 and results.content == b""
    # A second key-field import with a bad row: GetImportResults lists it.
    task = queue_import(
        hexabase_server, "app", "ds", "sku,name\ns1,one\n,nameless\n", key_field_displayid="sku"
    )
    results = client.get(f"/api/v0/datastores/ds/import/{task['metadata']['temp_datastore_id']}")
    assert results.json()["errors"] == [
        {"description": "Insert ERROR", "line": 3, "error": "key field sku is empty"}
    ]
    assert task["metadata"]["errors"][0]["line"] == 3
    items = hexabase_server.all_items("app", "ds", per_page=1000)
    assert len(items) == 5000 and items[1]["name"] == "one"


def test_unfinished_imports_answer_processing_and_resume_after_restart(tmp_path: Path) -> None:
    with hexabase_emulator(tmp_path, queue_delay=60) as server:
        ids = server.import_csv("app", "ds", rows_csv(3), key_field_displayid="sku").json()
        client = server.http
        pending = client.get("/api/v0/tasks", params={"stream_id": ids["stream_id"]}).json()
        results = client.get(f"/api/v0/datastores/ds/import/{ids['temp_datastore_id']}")
        assert [t["status"]["id"] for t in pending.values()] == [0]
        assert (results.status_code, results.json()) == (202, {"status": "processing"})
    with hexabase_emulator(tmp_path) as server:
        assert server.wait_for_stream(ids["stream_id"])["status"]["id"] == 2
        assert len(server.all_items("app", "ds")) == 3
        client = server.http
        unfinished = client.get("/api/v0/tasks").json()
        assert unfinished == {}  # without all=true only unfinished tasks are listed


def test_queued_imports_run_in_order(hexabase_server: HexabaseServer) -> None:
    first = hexabase_server.import_csv("app", "ds", rows_csv(3), replace_all=True).json()
    second = hexabase_server.import_csv("app", "ds", rows_csv(1, start=9), append=True).json()
    hexabase_server.wait_for_stream(second["stream_id"])
    assert hexabase_server.wait_for_stream(first["stream_id"])["status"]["id"] == 2
    assert skus(hexabase_server.all_items("app", "ds")) == ["s0", "s1", "s2", "s9"]


# --------------------------------------------------------------------------- validation and encodings


def test_row_errors_name_the_csv_line_across_quoted_newlines(
    hexabase_server_with_schema: HexabaseServer,
) -> None:
    csv = 'sku,name,price\na,"two\nlines",1\nb,x,cheap\n,"three\nmore\nlines",2\nd,ok,4\n'
    answer = hexabase_server_with_schema.import_csv(
        "shop", "products", csv, no_queue=True, key_field_displayid="sku"
    ).json()
    assert [(e["line"], e["error_level"]) for e in answer["errors"]] == [(4, "ERROR"), (5, "ERROR")]
    assert "price" in answer["errors"][0]["description"]
    assert answer["result"] == {"imported": 2, "item_count": 4}
    items = hexabase_server_with_schema.all_items("shop", "products")
    assert [(i["sku"], i["name"]) for i in items] == [("a", "two\nlines"), ("d", "ok")]


def test_validate_false_skips_value_checks(hexabase_server_with_schema: HexabaseServer) -> None:
    server = hexabase_server_with_schema
    answer = server.import_csv(
        "shop", "products", "sku,price\na,cheap\n", no_queue=True, validate=False
    ).json()
    assert answer["has_error"] is False
    assert server.all_items("shop", "products")[0]["price"] == "cheap"


def test_unknown_column_fails_the_whole_import(hexabase_server_with_schema: HexabaseServer) -> None:
    server = hexabase_server_with_schema
    server.import_csv("shop", "products", "sku,price\na,1\n", no_queue=True)
    answer = server.import_csv(
        "shop", "products", "sku,colour,size\nb,red,L\n", no_queue=True, replace_all=True
    ).json()
    assert answer["has_error"] is True and answer["result"]["imported"] == 0
    assert (
        "colour" in answer["errors"][0]["description"]
        and "size" in answer["errors"][0]["description"]
    )
    task = queue_import(server, "shop", "products", "sku,colour\nb,red\n", replace_all=True)
    assert task["status"] == {"id": 3, "name": "error"}
    assert "colour" in task["metadata"]["errors"][0]["description"]
    assert skus(server.all_items("shop", "products")) == ["a"]


def test_schemaless_datastores_grow_new_columns(hexabase_server: HexabaseServer) -> None:
    hexabase_server.import_csv("app", "ds", "sku\na\n", no_queue=True)
    hexabase_server.import_csv("app", "ds", "sku,colour\nb,red\n", no_queue=True)
    assert hexabase_server.all_items("app", "ds")[1]["colour"] == "red"


def test_cp932_upload_is_decoded(hexabase_server: HexabaseServer) -> None:
    csv = "sku,名前\r\na,テスト商品\r\n".encode("cp932")
    answer = hexabase_server.import_csv("app", "ds", csv, no_queue=True).json()
    assert answer["has_error"] is False
    assert hexabase_server.all_items("app", "ds")[0]["名前"] == "テスト商品"


def test_utf8_bom_is_stripped(hexabase_server: HexabaseServer) -> None:
    hexabase_server.import_csv("app", "ds", "\ufeffsku,name\na,b\n".encode(), no_queue=True)
    assert hexabase_server.all_items("app", "ds")[0]["sku"] == "a"


# --------------------------------------------------------------------------- reading and deleting


def test_search_pages_in_insertion_order(hexabase_server: HexabaseServer) -> None:
    queue_import(hexabase_server, "app", "ds", rows_csv(250))
    client = hexabase_server.http
    pages = [
        client.post(
            "/api/v0/applications/app/datastores/ds/items/search",
            json={"page": p, "per_page": 100, "use_display_id": True},
        ).json()
        for p in (1, 2, 3, 4)
    ]
    assert [len(p["items"]) for p in pages] == [100, 100, 50, 0]
    assert {p["totalItems"] for p in pages} == {250}
    assert [i["sku"] for p in pages for i in p["items"]] == [f"s{i}" for i in range(250)]


def test_search_conditions_and_number_values(hexabase_server_with_schema: HexabaseServer) -> None:
    server = hexabase_server_with_schema
    server.import_csv("shop", "products", "sku,price\na,10\nb,2.5\nc,\nd,10.0\n", no_queue=True)
    found = server.all_items(
        "shop", "products", conditions=[{"id": "sku", "search_value": ["a", "c", "zz"]}]
    )
    assert [(i["sku"], i["price"]) for i in found] == [("a", 10), ("c", None)]
    by_price = server.all_items(
        "shop", "products", conditions=[{"id": "price", "search_value": [10]}]
    )
    assert skus(by_price) == ["a", "d"]
    as_text = server.all_items("shop", "products", return_number_value=False)
    assert [i["price"] for i in as_text] == ["10", "2.5", "", "10.0"]
    fields = server.http.get(f"{PRODUCTS}/fields").json()["fields"]
    by_f_id = server.all_items("shop", "products", use_display_id=False)
    price_id = next(f_id for f_id, f in fields.items() if f["display_id"] == "price")
    assert by_f_id[1][price_id] == 2.5
    client = server.http
    bad = client.post(
        f"{PRODUCTS}/items/search", json={"conditions": [{"id": "nope", "search_value": ["x"]}]}
    )
    assert bad.status_code == 400


def test_fields_endpoint_reports_the_schema(hexabase_server_with_schema: HexabaseServer) -> None:
    client = hexabase_server_with_schema.http
    answer = client.get(f"{PRODUCTS}/fields").json()
    assert list(answer["fields"].values()) == [
        {"display_id": "sku", "name": "SKU", "dataType": "text", "unique": True},
        {"display_id": "name", "name": "Name", "dataType": "text", "unique": False},
        {"display_id": "price", "name": "Price", "dataType": "number", "unique": False},
    ]
    assert all(len(f_id) == 24 for f_id in answer["fields"])


def test_delete_by_conditions(hexabase_server: HexabaseServer) -> None:
    hexabase_server.import_csv("app", "ds", rows_csv(4), no_queue=True)
    url = "/api/v0/applications/app/datastores/ds/items/delete"
    client = hexabase_server.http
    deleted = client.request(
        "DELETE",
        url,
        json={"conditions": [{"id": "sku", "search_value": ["s1", "s3"]}], "use_display_id": True},
    )
    everything = client.request("DELETE", url, json={"conditions": []})
    assert deleted.json() == {"deleted": 2}
    assert everything.status_code == 400
    assert skus(hexabase_server.all_items("app", "ds")) == ["s0", "s2"]


def test_ids_and_display_ids_both_address_a_datastore(
    hexabase_server_with_schema: HexabaseServer,
) -> None:
    app, ds = (
        SAMPLE_SCHEMA["applications"][0]["p_id"],
        SAMPLE_SCHEMA["applications"][0]["datastores"][0]["d_id"],
    )
    hexabase_server_with_schema.import_csv(app, ds, "sku\na\n", no_queue=True)
    assert skus(hexabase_server_with_schema.all_items("shop", "products")) == ["a"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v0/applications/nope/datastores/products/fields",
        "/api/v0/applications/shop/datastores/nope/fields",
        "/api/v0/applications/shop/datastores/nope/items/search",
        "/api/v0/applications/shop/datastores/nope/import",
    ],
)
def test_unknown_application_or_datastore_is_404(
    hexabase_server_with_schema: HexabaseServer, path: str
) -> None:
    client = hexabase_server_with_schema.http
    if path.endswith("/fields"):
        response = client.get(path)
    elif path.endswith("/search"):
        response = client.post(path, json={})
    else:
        response = client.post(path, files={"file": ("a.csv", b"sku\na\n")})
    assert response.status_code == 404
    assert response.json()["error_code"] == "NOT_FOUND"


def test_schemaless_datastore_is_404_until_first_import(hexabase_server: HexabaseServer) -> None:
    client = hexabase_server.http
    assert client.get("/api/v0/applications/app/datastores/ds/fields").status_code == 404


# --------------------------------------------------------------------------- faults


def set_faults(client: httpx.Client, **config: Any) -> None:
    client.post("/_emulator/faults", json=config).raise_for_status()


def test_each_fault_kind(hexabase_server: HexabaseServer) -> None:
    server = hexabase_server
    server.import_csv("app", "ds", rows_csv(1), no_queue=True)
    fields = "/api/v0/applications/app/datastores/ds/fields"
    client = server.http
    set_faults(client, rate_429=1)
    limited = client.get(fields)
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "0")
    set_faults(client, rate_500=1)
    failed = client.get(fields)
    assert failed.status_code == 500 and failed.json()["error_code"] == "SYSTEM_ERROR"
    login = client.post("/api/v0/login", json={"email": "a@b.c", "password": DEFAULT_TOKEN})
    assert login.status_code == 200  # login is never faulted
    set_faults(client, rate_drop=1, drop_after_apply=0)
    with pytest.raises(httpx.RemoteProtocolError):
        server.import_csv("app", "ds", rows_csv(1, start=1), no_queue=True)
    set_faults(client, rate_drop=1, drop_after_apply=1)
    with pytest.raises(httpx.RemoteProtocolError):
        server.import_csv("app", "ds", rows_csv(1, start=2), no_queue=True)
    set_faults(client)
    assert client.get("/_emulator/stats").json() == {
        "requests": 6,
        "faults": {"429": 1, "500": 1, "drop_before": 1, "drop_after": 1,
                   "timeout_before": 0, "timeout_after": 0, "slow_queue": 0},
    }
    # Dropped before: never applied. Dropped after: applied although the client saw no answer.
    assert skus(server.all_items("app", "ds")) == ["s0", "s2"]


def test_seeded_faults_are_reproducible_and_counted(hexabase_server: HexabaseServer) -> None:
    server = hexabase_server
    server.import_csv("app", "ds", rows_csv(1), no_queue=True)

    def outcomes() -> list[str]:
        seen = []
        client = server.http
        client.post("/_emulator/reset")
        set_faults(client, rate_429=0.2, rate_500=0.2, rate_drop=0.2, seed=42)
        for i in range(60):
            try:
                seen.append(
                    str(
                        server.import_csv(
                            "app", "ds", rows_csv(1, start=i), no_queue=True
                        ).status_code
                    )
                )
            except httpx.RemoteProtocolError:
                seen.append("drop")
        stats = client.get("/_emulator/stats").json()
        set_faults(client)
        assert stats["requests"] == 60
        faults = stats["faults"]
        assert seen.count("429") == faults["429"] > 0
        assert seen.count("500") == faults["500"] > 0
        assert seen.count("drop") == faults["drop_before"] + faults["drop_after"]
        assert faults["drop_before"] > 0 and faults["drop_after"] > 0
        applied = seen.count("200") + faults["drop_after"]
        assert len(server.all_items("app", "ds")) == applied
        return seen

    assert outcomes() == outcomes()


def test_latency_and_invalid_fault_settings(hexabase_server: HexabaseServer) -> None:
    client = hexabase_server.http
    set_faults(client, latency_ms=100)
    started = time.monotonic()
    client.post("/api/v0/login", json={"email": "a@b.c", "password": DEFAULT_TOKEN})
    assert time.monotonic() - started >= 0.1
    assert client.post("/_emulator/faults", json={"rate_429": 2}).status_code == 400
    assert client.post("/_emulator/faults", json={"rate_nope": 0}).status_code == 400
    with pytest.raises(ValueError):
        FaultConfig(rate_429=0.6, rate_500=0.6)


# --------------------------------------------------------------------------- lifecycle


def test_data_persists_across_restarts(tmp_path: Path) -> None:
    with hexabase_emulator(tmp_path, schema=SAMPLE_SCHEMA) as server:
        server.import_csv("shop", "products", "sku,price\na,1\n", no_queue=True)
        before = server.all_items("shop", "products")
    with hexabase_emulator(tmp_path, schema=SAMPLE_SCHEMA) as server:
        assert server.all_items("shop", "products") == before
    with hexabase_emulator(tmp_path) as server:  # schema-less: the stored definitions still serve
        assert server.all_items("shop", "products") == before


def test_reset_clears_data(hexabase_server: HexabaseServer) -> None:
    hexabase_server.import_csv("app", "ds", rows_csv(2), no_queue=True)
    client = hexabase_server.http
    client.post("/_emulator/reset").raise_for_status()
    assert client.get("/api/v0/applications/app/datastores/ds/fields").status_code == 404
    assert client.get("/_emulator/stats").json()["requests"] == 1


def test_load_schema_reads_yaml_and_json(tmp_path: Path) -> None:
    yaml_file = tmp_path / "schema.yaml"
    yaml_file.write_text(
        "applications:\n  - id: shop\n    datastores:\n      - id: products\n        statuses: [Draft]\n"
        "        fields:\n          - {display_id: sku, dataType: text, unique: true}\n"
    )
    json_file = tmp_path / "schema.json"
    json_file.write_text(json.dumps(SAMPLE_SCHEMA))
    assert (
        load_schema(yaml_file)["applications"][0]["datastores"][0]["fields"][0]["display_id"]
        == "sku"
    )
    assert load_schema(json_file) == SAMPLE_SCHEMA
    (tmp_path / "bad.yaml").write_text("applications:\n  - datastores: []\n")
    with pytest.raises(ValueError, match=r"applications\[0\]"):
        load_schema(tmp_path / "bad.yaml")


def test_serve_prints_where_it_listens_and_stops_on_sigterm(tmp_path: Path) -> None:
    code = "from syncer.emulators.hexabase import serve; serve('127.0.0.1', 0, data_dir=__import__('pathlib').Path(r'%s'))"
    process = subprocess.Popen(
        [sys.executable, "-c", code % tmp_path],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("Hexabase emulator listening on http://127.0.0.1:")
        url = line.split()[4]
        login = httpx.post(
            f"{url}/api/v0/login", json={"email": "a@b.c", "password": DEFAULT_TOKEN}
        )
        assert login.json() == {"token": DEFAULT_TOKEN}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert (tmp_path / "hexabase.sqlite3").exists()


# --------------------------------------------------------------------------- the base framework


class _Broken(EmulatorApp):
    def __init__(self) -> None:
        super().__init__()
        self.add_route("GET", "/boom", self._boom)
        self.add_route(
            "GET",
            "/echo/{name}",
            lambda r: json_response({"name": r.params["name"], "q": r.query_value("q")}),
        )

    def _boom(self, _request: Request) -> Response:
        raise RuntimeError("secret detail")


def test_base_answers_json_errors_and_routes_params(caplog: pytest.LogCaptureFixture) -> None:
    with _Broken() as app, running(app) as url, httpx.Client(base_url=url) as client:
        boom = client.get("/boom")
        echo = client.get("/echo/a%20b", params={"q": "x"})
        missing = client.get("/nowhere")
    assert boom.status_code == 500 and "secret detail" not in boom.text
    assert boom.json() == {"error": "internal emulator error", "error_code": "SYSTEM_ERROR"}
    assert echo.json() == {"name": "a b", "q": "x"}
    assert missing.status_code == 404


def test_parse_multipart_keeps_bytes_exact() -> None:
    payload = 'a,b\r\nテスト,"x\r\n"\r\n'.encode("cp932")
    request = httpx.Request(
        "POST", "http://x/", data={"flag": "true"}, files={"file": ("d.csv", payload, "text/csv")}
    )
    body = request.read()
    parts = {p.name: p for p in parse_multipart(body, request.headers["Content-Type"])}
    assert parts["flag"].text == "true"
    assert parts["file"].content == payload and parts["file"].filename == "d.csv"
    with pytest.raises(ValueError):
        parse_multipart(body, "application/json")


def test_emulator_without_data_dir_cleans_up() -> None:
    emulator = HexabaseEmulator()
    data_dir = emulator.data_dir
    assert data_dir.exists()
    emulator.close()
    assert not data_dir.exists()
