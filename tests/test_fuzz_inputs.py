"""Fuzzing the readers and the manifest loader with Hypothesis: arbitrary bytes as CSV, TSV,
JSON, JSON Lines and YAML.  Reading may succeed or fail, but only with syncer's own SyncError
family (a message for a person), never with any other exception (a bug, exit 3).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from syncer.errors import SyncError
from syncer.model.manifest import DatasetSpec
from syncer.model.project import Dataset, load_project
from syncer.sources import load_rows
from syncer.sources.readers import read_file

FUZZ = settings(max_examples=int(os.environ.get("SYNCER_FUZZ_EXAMPLES", "80")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# bytes that look like the formats often enough to get past the first check
CSV_ALPHABET = st.sampled_from([b",", b"\n", b"\r\n", b'"', b"a", b"1", b"\x00", b"\xef\xbb\xbf",
                                b"\xff", b"\xe9", b"\t", b" ", b"sku", b"qty", b"\xe3\x81\x82"])
JSON_ALPHABET = st.sampled_from([b"[", b"]", b"{", b"}", b'"sku"', b'"qty"', b":", b",", b"1",
                                 b"1.5", b"null", b"true", b'"a"', b"\n", b"\x00", b"\xff",
                                 b"NaN", b"1e999", b"[1,2,3]", b" "])
YAML_ALPHABET = st.sampled_from([b"version: 1\n", b"target:\n", b"  name: t\n", b"  type: sqlite\n",
                                 b"  path: x.db\n", b"datasets:\n", b"  - name: d\n",
                                 b"    source: d.csv\n", b"    key: [", b"]", b"&a ", b"*a",
                                 b"${X}", b"\t", b":", b"- ", b"\x00", b"\xff", b"!!python/x ",
                                 b"columns: {a: vector}\n", b"mode: upsert\n", b"\n", b"  ",
                                 # issue 18: nesting, malformed ${, reserved names
                                 b"[" * 200, b"{a: " * 100, b"${", b"${UNTERM", b"$$",
                                 b"    table: _syncer_batches\n", b"    columns: {__k: string}\n",
                                 b"    source: {path: d.csv, delimiter: ',', quotechar: ','}\n"])


def chunks(alphabet: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=200),
                     st.lists(alphabet, max_size=40).map(b"".join))


def _dataset(path: Path, fmt: str, **spec: object) -> Dataset:
    ds = DatasetSpec.model_validate({"name": "d", "source": str(path), **spec})
    return Dataset(None, ds, path.parent / "m.yaml", 1, (path,), fmt)  # type: ignore[arg-type]


def _read(data: bytes, fmt: str, **spec: object) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"d.{fmt}"
        path.write_bytes(data)
        try:
            load_rows(_dataset(path, fmt, **spec))
        except SyncError:
            pass
        try:  # the raw reader too, as a glob's later file is read
            for _ in read_file(path, fmt, _dataset(path, fmt, **spec).spec.source).batches:
                pass
        except SyncError:
            pass


@FUZZ
@given(data=chunks(CSV_ALPHABET), fmt=st.sampled_from(["csv", "tsv"]))
def test_csv_bytes(data: bytes, fmt: str) -> None:
    _read(data, fmt)


@FUZZ
@given(data=chunks(CSV_ALPHABET))
def test_csv_bytes_with_typed_key(data: bytes) -> None:
    _read(data, "csv", mode="upsert", key=["sku"],
          columns={"sku": "string", "qty": "integer", "a": "float"})


@FUZZ
@given(data=chunks(JSON_ALPHABET), fmt=st.sampled_from(["json", "jsonl"]))
def test_json_bytes(data: bytes, fmt: str) -> None:
    _read(data, fmt)


@FUZZ
@given(data=chunks(JSON_ALPHABET), fmt=st.sampled_from(["json", "jsonl"]))
def test_json_bytes_with_types(data: bytes, fmt: str) -> None:
    _read(data, fmt, mode="upsert", key="sku",
          columns={"sku": "string", "qty": {"type": "vector", "dim": 3}, "b": "json",
                   "c": "date", "d": "boolean"})


@FUZZ
@given(data=chunks(YAML_ALPHABET))
def test_manifest_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "m").mkdir()
        (root / "d.csv").write_text("a\n1\n")
        (root / "m" / "d.csv").write_text("a\n1\n")
        (root / "m" / "x.yaml").write_bytes(data)
        try:
            load_project(root / "m", env={})
        except SyncError:
            pass


# -- issue 18: hostile classes ---------------------------------------------------------------------

@FUZZ
@given(depth=st.integers(0, 150_000), fmt=st.sampled_from(["json", "jsonl"]),
       closed=st.booleans(), opener=st.sampled_from(["[", "{\"a\":"]))
def test_nesting_depth(depth: int, fmt: str, closed: bool, opener: str) -> None:
    inner = opener * depth + "1" + ("]" if opener == "[" else "}") * (depth if closed else 0)
    row = f'{{"sku": "A", "v": {inner}}}'
    _read((f"[{row}]" if fmt == "json" else row).encode(), fmt)


NAMES = st.sampled_from(["sku", "__k", "__h", "__src", "__row", "__op", "__kh", "Name", "name",
                         "NAME", "", " ", "x" * 2000, "a\x00b", "\ufeffsku", "qty"])


@FUZZ
@given(names=st.lists(NAMES, min_size=1, max_size=8), width=st.integers(0, 2100),
       typed=st.booleans())
def test_header_names(names: list[str], width: int, typed: bool) -> None:
    """Reserved, case-duplicate, empty, long and too many column names."""
    header = names + [f"c{i}" for i in range(width if width > 1990 else 0)]
    data = (",".join(header) + "\n" + ",".join("1" for _ in header) + "\n").encode()
    spec: dict[str, object] = {"columns": {"sku": "string"}} if typed else {}
    _read(data, "csv", **spec)


@FUZZ
@given(text=st.text(st.sampled_from("sku,qty\n1a\u00e9\u3042"), max_size=60),
       written=st.sampled_from(["utf-16-le", "utf-16-be", "utf-32-le", "utf-8", "utf-16"]),
       declared=st.sampled_from(["utf-16", "utf-32", "utf-16-le", "utf-8"]),
       fmt=st.sampled_from(["csv", "json", "jsonl"]))
def test_encodings_without_a_byte_order_mark(text: str, written: str, declared: str,
                                             fmt: str) -> None:
    _read(text.encode(written), fmt, source={"path": "x", "encoding": declared})


FLOATS = st.sampled_from(["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "-Infinity", "1e999",
                          "-1e999", "1.5", "", "0", "1e308", "NAN", "+inf"])


@FUZZ
@given(values=st.lists(FLOATS, min_size=1, max_size=6), fmt=st.sampled_from(["csv", "jsonl"]))
def test_non_finite_floats(values: list[str], fmt: str) -> None:
    """A float column never holds NaN or an infinity: refused, or every value finite."""
    import math

    if fmt == "csv":
        data = ("sku,price\n" + "".join(f"k{i},{v}\n" for i, v in enumerate(values))).encode()
    else:
        data = "".join(f'{{"sku": "k{i}", "price": {v or "null"}}}\n'
                       for i, v in enumerate(values)).encode()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"d.{fmt}"
        path.write_bytes(data)
        try:
            rows = load_rows(_dataset(path, fmt, columns={"sku": "string", "price": "float"}))
        except SyncError:
            return
        assert all(math.isfinite(v) for v in rows.frame.get_column("price").drop_nulls())
