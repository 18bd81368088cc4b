"""The Zilliz emulator's filters by primary key: ``<pk> in [...]`` answered through the key's
index (and ``count(*)`` without a filter by SQL) gives what testing every entity gives; ``in``
lists are looked up in a set, with values that cannot be hashed still compared."""

from __future__ import annotations

from typing import Any

import pytest

from syncer.emulators.zilliz.filters import keys_in, parse_filter
from tests.fixtures.zilliz import ZillizServer


@pytest.mark.parametrize(("text", "keys"), [
    ("id in [3, 1, 2]", [3, 1, 2]),
    ("id in []", []),
    ('id in ["a", \'b\']', ["a", "b"]),
    ("id in [1] or id > 5", None),        # more than the list
    ("id in [1.5]", None),                # a float: not how keys are written
    ("id in [true]", None),
    ("other in [1]", None),               # not the primary key
    ("id not in [1]", None),
    ("id in [1", None),                   # malformed: the generic path refuses it
])
def test_keys_in_takes_only_a_plain_key_list(text: str, keys: list[Any] | None) -> None:
    assert keys_in(text, "id") == keys


def test_in_lists_keep_their_meaning() -> None:
    matches = parse_filter("v in [1, \"x\", true]")
    assert [matches({"v": v}) for v in (1, 1.0, "x", True, 2, "y")] == \
        [True, True, True, True, False, False]
    assert not matches({"v": [1]}) and not matches({})  # a list value is compared, not hashed
    assert parse_filter("v not in [1]")({"v": [1]})


def test_key_filters_through_the_index_match_a_scan(zilliz_server: ZillizServer) -> None:
    z = zilliz_server
    z.ok("collections/create", {"collectionName": "c", "dimension": 2})
    z.ok("partitions/create", {"collectionName": "c", "partitionName": "p"})
    rows = [{"id": i, "vector": [0.0, 1.0], "g": i % 3} for i in range(1, 31)]
    z.ok("entities/insert", {"collectionName": "c", "data": rows[:20]})
    z.ok("entities/insert", {"collectionName": "c", "data": rows[20:], "partitionName": "p"})
    z.ok("entities/insert", {"collectionName": "c", "data": [rows[4]]})  # a duplicate key

    def ids(text: str, **extra: Any) -> list[int]:
        return [e["id"] for e in z.ok("entities/query", {
            "collectionName": "c", "filter": text, "outputFields": ["id"], "limit": 100,
            **extra})]

    def count(text: str, **extra: Any) -> int:
        answer = z.ok("entities/query", {"collectionName": "c", "filter": text,
                                         "outputFields": ["count(*)"], **extra})
        return int(answer[0]["count(*)"])

    wanted = "[25, 5, 3, 99, 5, 21]"
    # the same keys through the index and through a scan (a filter that is not a plain list)
    assert ids(f"id in {wanted}") == ids(f"id in {wanted} and id >= 0") == [3, 5, 21, 25, 5]
    assert ids(f"id in {wanted}", partitionNames=["p"]) == [21, 25]
    assert count("") == count("id >= 0") == 31
    assert count("", partitionNames=["p"]) == 10
    assert count(f"id in {wanted}") == 5
    z.ok("entities/delete", {"collectionName": "c", "filter": "id in [21, 2]",
                             "partitionName": "p"})
    assert ids("id in [21, 2, 22]") == [2, 22]
    z.ok("entities/delete", {"collectionName": "c", "filter": f"id in {wanted}"})
    assert ids("id <= 6") == [1, 2, 4, 6]
    assert count("") == 26  # 31 less 21, 3, 25 and both 5s
