"""Settling a zilliz batch that only deletes: rebuilt from the journal, it has no value columns
(the journal keeps only the keys of deleted rows), and the settle must still answer."""

from __future__ import annotations

import pytest

from tests.targets.test_zilliz_e2e import (  # noqa: F401  (zc is a fixture)
    V1,
    Project,
    _crash_after_target_commit,
    _expected,
    zc,
)


@pytest.mark.parametrize("send", [True, False], ids=["deleted", "not-sent"])
def test_a_crash_during_a_batch_of_deletes_is_settled(zc: Project, send: bool) -> None:  # noqa: F811
    zc.manifest(mode="upsert")
    zc.write(V1)
    zc.apply_ok()
    fewer = [row for row in V1 if row["id"] not in (3, 7)]  # deletes only, no row to write
    zc.write(fewer)
    batch_id = _crash_after_target_commit(zc, send=send)
    result = zc.apply_ok()
    landed = "it had landed" if send else "it had not landed"
    assert f"settled batch {batch_id} of zc/docs: {landed}" in result.err, str(result)
    assert zc.rows() == _expected("upsert", [V1, fewer])
    zc.assert_no_changes()
