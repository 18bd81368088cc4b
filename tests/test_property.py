"""Property: over random sequences of source versions, after every apply the target holds exactly
what the mode defines and the next plan is empty.

Rows have a composite key, unicode text, and in JSON Lines both empty strings and nulls (kept apart);
in CSV an empty field and ``""`` are both null by design.  Runs through the Python API (the same
``runner`` the CLI uses) for speed, against real SQLite files.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import (api_apply, api_plan, csv_text, expected_rows, state_record,
                            table_exists, table_rows)

COLUMNS = ["k1", "k2", "a", "n", "f"]
KEY = (0, 1)

# Text as people put it in data files: any unicode except surrogates and NUL (which no text file
# format here can carry), with the characters that stress quoting and line splitting made common.
TRICKY = [",", '"', "'", "\n", "\r\n", "\t", " ", ";", "\\", "\u2028", "\u0085", "NA", "null",
          "é", "日本語", "🙂", "\ufeff"]
text = st.lists(st.one_of(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
                          st.sampled_from(TRICKY)), max_size=6).map("".join)
# key parts: no control characters (the composite key joins its parts with \x1f)
key_part = st.one_of(st.sampled_from(["a", "b", "é", "日本", "x y", " "]),
                     st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc")),
                             min_size=1, max_size=4))
number = st.one_of(st.none(), st.integers(-10**6, 10**6))
cents = st.one_of(st.none(), st.integers(-10**6, 10**6).map(lambda i: i / 100))


@st.composite
def rows(draw: st.DrawFn, keyed: bool) -> list[tuple[Any, ...]]:
    pool = draw(st.lists(st.tuples(key_part, st.sampled_from(["1", "2"]),
                                   st.one_of(st.none(), st.just(""), text), number, cents),
                         min_size=1, max_size=6))
    if keyed:
        chosen = draw(st.lists(st.sampled_from(pool), max_size=6, unique_by=lambda r: r[:2]))
    else:  # duplicates of identical rows happen
        chosen = draw(st.lists(st.sampled_from(pool), max_size=7))
    return chosen


def versions(keyed: bool) -> st.SearchStrategy[list[list[tuple[Any, ...]]]]:
    return st.lists(rows(keyed), min_size=1, max_size=4)


def number_forms(value: int | None, fmt: str) -> st.SearchStrategy[Any]:
    """Ways to write one integer that all mean it: 7, "7", "7.0", 7.0."""
    if value is None:
        return st.just(None)
    forms: list[Any] = [str(value), f"{value}.0"]
    if fmt == "jsonl":
        forms += [value, float(value)]
    return st.sampled_from(forms)


def float_forms(value: float | None, fmt: str) -> st.SearchStrategy[Any]:
    """Ways to write one float that all mean it: 0.1, "0.10", "0.1000", "1e-01"."""
    if value is None:
        return st.just(None)
    forms: list[Any] = [repr(value), f"{value:.2f}", f"{value:.4f}", f"{value:e}"]
    if fmt == "jsonl":
        forms.append(value)
    return st.sampled_from(forms)


def write_source(path: Path, fmt: str, version: list[tuple[Any, ...]], data: st.DataObject) -> None:
    written = [(k1, k2, a, data.draw(number_forms(n, fmt)), data.draw(float_forms(f, fmt)))
               for k1, k2, a, n, f in version]
    if fmt == "csv":
        quote_all, crlf = data.draw(st.booleans()), data.draw(st.booleans())
        path.write_text(csv_text(COLUMNS, written, quote_all=quote_all, crlf=crlf),
                        encoding="utf-8", newline="")
    else:
        lines = [json.dumps(dict(zip(COLUMNS, row)), ensure_ascii=data.draw(st.booleans()))
                 for row in written]
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8", newline="")


def as_stored(row: tuple[Any, ...], fmt: str) -> tuple[Any, ...]:
    k1, k2, a, n, f = row
    if fmt == "csv" and a == "":
        a = None  # CSV cannot tell an empty field from "" from a missing value
    return (k1, k2, a, n, f)


def manifest(mode: str, keyed: bool, delete_missing: bool, fmt: str) -> str:
    key = "    key: [k1, k2]\n" if keyed else ""
    extra = "" if delete_missing else "    delete_missing: false\n"
    return f"""\
version: 1
target: {{name: prop, type: sqlite, path: target.db}}
datasets:
  - name: rows
    source: rows.{fmt}
    mode: {mode}
{key}{extra}    columns:
      k1: string
      k2: string
      a: string
      n: integer
      f: float
"""


def check_sequence(mode: str, keyed: bool, delete_missing: bool, fmt: str,
                   sequence: list[list[tuple[Any, ...]]], data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory(prefix="syncer-prop-") as tmp:
        root = Path(tmp)
        (root / "sync.yaml").write_text(manifest(mode, keyed, delete_missing, fmt), encoding="utf-8")
        state = root / "state.db"
        applied: list[list[tuple[Any, ...]]] = []
        for number, version in enumerate(sequence):
            write_source(root / f"rows.{fmt}", fmt, version, data)
            api_apply(root, state, allow_deletes=True)
            applied.append([as_stored(r, fmt) for r in version])
            want = expected_rows(mode, applied, KEY if keyed else None, delete_missing)
            target = root / "target.db"
            # a first version without rows has nothing to create the table for
            got = table_rows(target, "rows", COLUMNS) if table_exists(target, "rows") else Counter()
            assert got == want, f"version {number}"
            # the row count the state records (kept without recounting) matches the target
            record = state_record(state, "prop", "rows")
            assert record is None or record["rows"] == sum(got.values()), f"version {number}"
            plan = api_plan(root, state)
            assert not plan.has_changes, f"version {number}: the plan after apply is not empty"


# SYNCER_PROPERTY_EXAMPLES=500 for a longer hunt; the default keeps the suite fast
PROPERTY = settings(max_examples=int(os.environ.get("SYNCER_PROPERTY_EXAMPLES", "12")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FORMATS = pytest.mark.parametrize("fmt", ["csv", "jsonl"])


@FORMATS
@pytest.mark.parametrize("keyed", [False, True], ids=["by-content", "composite-key"])
@PROPERTY
@given(data=st.data())
def test_replace(fmt: str, keyed: bool, data: st.DataObject) -> None:
    check_sequence("replace", keyed, True, fmt, data.draw(versions(keyed)), data)


@FORMATS
@pytest.mark.parametrize("keyed", [False, True], ids=["by-content", "composite-key"])
@PROPERTY
@given(data=st.data())
def test_append(fmt: str, keyed: bool, data: st.DataObject) -> None:
    check_sequence("append", keyed, True, fmt, data.draw(versions(keyed)), data)


@FORMATS
@pytest.mark.parametrize("delete_missing", [True, False], ids=["delete-missing", "keep-missing"])
@PROPERTY
@given(data=st.data())
def test_upsert(fmt: str, delete_missing: bool, data: st.DataObject) -> None:
    check_sequence("upsert", True, delete_missing, fmt, data.draw(versions(True)), data)


# -- datetimes ---------------------------------------------------------------------------------------

PARIS = ZoneInfo("Europe/Paris")
instants = st.datetimes(min_value=dt.datetime(1950, 1, 1), max_value=dt.datetime(2100, 1, 1),
                        timezones=st.just(dt.timezone.utc))
OFFSETS = [dt.timedelta(0), dt.timedelta(hours=9), dt.timedelta(hours=-5, minutes=-30),
           dt.timedelta(hours=1), dt.timedelta(hours=14)]


def canonical(instant: dt.datetime) -> str:
    """What syncer stores: UTC, seconds always, a fraction only when there is one."""
    text = instant.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if instant.microsecond:
        text += "." + f"{instant.microsecond:06d}".rstrip("0")
    return text + "Z"


@st.composite
def written(draw: st.DrawFn, instant: dt.datetime) -> str:
    """One of the ways a file may write ``instant``: with Z or an offset (+09:00, +0900, +09),
    or naive in Europe/Paris (the dataset's timezone) when that names one instant."""
    sep = draw(st.sampled_from(["T", " "]))
    local = instant.astimezone(PARIS).replace(tzinfo=None)
    naive_ok = (local.replace(tzinfo=PARIS, fold=0).astimezone(dt.timezone.utc) == instant
                and local.replace(tzinfo=PARIS, fold=1).astimezone(dt.timezone.utc) == instant)
    form = draw(st.sampled_from(["z", "offset", "naive"] if naive_ok else ["z", "offset"]))
    if form == "z":
        moment, suffix = instant, "Z"
    elif form == "naive":
        moment, suffix = local, ""
    else:
        offset = draw(st.sampled_from(OFFSETS))
        moment = instant.astimezone(dt.timezone(offset)).replace(tzinfo=None)
        minutes = int(offset.total_seconds()) // 60
        sign, minutes = ("-" if minutes < 0 else "+"), abs(minutes)
        hh, mm = divmod(minutes, 60)
        suffix = draw(st.sampled_from([f"{sign}{hh:02d}:{mm:02d}", f"{sign}{hh:02d}{mm:02d}"]
                                      + ([f"{sign}{hh:02d}"] if not mm else [])))
    text = moment.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    if moment.microsecond or draw(st.booleans()):
        digits = f"{moment.microsecond:06d}"
        text += "." + draw(st.sampled_from([digits, digits.rstrip("0") or "0", digits + "000"]))
    return text + suffix


DATETIME_MANIFEST = """\
version: 1
target: {name: prop, type: sqlite, path: target.db}
datasets:
  - name: readings
    source: readings.FMT
    mode: upsert
    key: [t]
    timezone: Europe/Paris
    columns: {t: datetime, v: integer}
"""


@FORMATS
@PROPERTY
@given(data=st.data())
def test_datetimes_round_trip_in_any_form(fmt: str, data: st.DataObject) -> None:
    """Instants written in any ISO 8601 form key and hash as the instant: the target holds
    canonical UTC text, and the same instants written otherwise are no change."""
    sequence = data.draw(st.lists(st.dictionaries(instants, st.integers(-100, 100), max_size=5),
                                  min_size=1, max_size=3))
    with tempfile.TemporaryDirectory(prefix="syncer-prop-") as tmp:
        root = Path(tmp)
        (root / "sync.yaml").write_text(DATETIME_MANIFEST.replace("FMT", fmt), encoding="utf-8")
        state, source = root / "state.db", root / f"readings.{fmt}"

        def write(version: dict[dt.datetime, int]) -> None:
            rows = [(data.draw(written(t)), v) for t, v in version.items()]
            if fmt == "csv":
                source.write_text(csv_text(["t", "v"], rows), encoding="utf-8", newline="")
            else:
                source.write_text("".join(json.dumps({"t": t, "v": v}) + "\n" for t, v in rows),
                                  encoding="utf-8")

        for number, version in enumerate(sequence):
            write(version)
            api_apply(root, state, allow_deletes=True)
            target = root / "target.db"
            got = table_rows(target, "readings", ["t", "v"]) if table_exists(target, "readings") \
                else Counter()
            assert got == Counter((canonical(t), v) for t, v in version.items()), f"version {number}"
            write(version)  # the same instants, written in other forms
            assert not api_plan(root, state).has_changes, f"version {number}"
