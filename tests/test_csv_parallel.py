"""A large CSV is parsed in segments on every core (sources/csv_parallel.py): the rows and the
errors must be exactly those of the serial reader, whatever the cuts fall on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from syncer.errors import SourceError
from syncer.model.manifest import SourceSpec
from syncer.sources import csv_parallel
from syncer.sources.readers import read_file

SOURCE = SourceSpec(path="rows.csv")


def _read(path: Path) -> pl.DataFrame | str:
    """Every row of ``path`` (as text columns), or the error's message and line."""
    try:
        raw = read_file(path, "csv", SOURCE)
        frames = list(raw.batches)
    except SourceError as exc:
        return "; ".join(f"{p.line}: {p.message}" for p in exc.problems)
    return pl.concat(frames) if frames else pl.DataFrame(schema={c: pl.String for c in raw.columns})


def _both(path: Path, monkeypatch: pytest.MonkeyPatch, segment: int
          ) -> tuple[pl.DataFrame | str, pl.DataFrame | str, list[str]]:
    """The file read serially and in segments of ``segment`` bytes; and the segments' fate."""
    with monkeypatch.context() as patched:
        patched.setattr(csv_parallel, "MIN_BYTES", 1 << 60)
        serial = _read(path)
    fates: list[str] = []
    real = csv_parallel.parallel_blocks

    def watched(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        try:
            yield from real(*args, **kwargs)  # type: ignore[arg-type]
            fates.append("parallel")
        except csv_parallel.Unsafe:
            fates.append("unsafe")
            raise
        except Exception:
            fates.append("error")
            raise

    with monkeypatch.context() as patched:
        patched.setattr(csv_parallel, "SEGMENT", segment)
        patched.setattr(csv_parallel, "MIN_BYTES", 0)
        patched.setattr("syncer.sources.readers.parallel_blocks", watched)
        parallel = _read(path)
    return serial, parallel, fates


def _same(a: pl.DataFrame | str, b: pl.DataFrame | str) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return a.equals(b)


def test_a_plain_file_is_read_in_segments_and_gives_the_serial_rows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("id,name,note\n" + "".join(
        f'{i},name {i},"{"a, quoted" if i % 3 else ""}"\n' for i in range(5000)))
    serial, parallel, fates = _both(path, monkeypatch, 1024)
    assert fates == ["parallel"]
    assert isinstance(parallel, pl.DataFrame) and parallel.height == 5000
    assert _same(serial, parallel)
    assert parallel.get_column("id").to_list() == [str(i) for i in range(5000)]


def test_a_cut_inside_a_quoted_value_is_found_and_read_serially(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # every row's last value spans lines: most cuts fall inside one
    path = tmp_path / "rows.csv"
    path.write_text("id,note\n" + "".join(f'{i},"line one\nline two {i}"\n' for i in range(3000)))
    serial, parallel, fates = _both(path, monkeypatch, 512)
    assert fates == ["unsafe"]
    assert _same(serial, parallel)
    assert isinstance(parallel, pl.DataFrame) and parallel.height == 3000


def test_a_stray_quote_does_not_fool_the_cut(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # a quote inside an unquoted value (5" disk) is text; a quote-counting cutter would take
    # the newline inside the next quoted value for a row end.  One column, so a wrong cut
    # would still give rows of the right width: only the trailing-newline proof catches it.
    body = "".join(f'5" disk {i}\n"two\nlines, {i}"\n' for i in range(2000))
    path = tmp_path / "rows.csv"
    path.write_text("note\n" + body)
    for segment in (97, 256, 1000, 4096):
        serial, parallel, _ = _both(path, monkeypatch, segment)
        assert _same(serial, parallel), segment
        assert isinstance(parallel, pl.DataFrame) and parallel.height == 4000


def test_an_error_in_a_later_segment_names_its_line(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [f"{i},{i * 2}" for i in range(4000)]
    lines[3500] = "3500,7000,extra"
    path = tmp_path / "rows.csv"
    path.write_text("a,b\n" + "\n".join(lines) + "\n")
    serial, parallel, fates = _both(path, monkeypatch, 1024)
    assert fates == ["error"]
    assert isinstance(parallel, str) and parallel == serial
    assert parallel.startswith("3502: row has 3 fields")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(cells=st.lists(st.lists(st.text('ab"\n\r, ', max_size=6), min_size=2, max_size=2),
                      min_size=1, max_size=60),
       quoted=st.lists(st.booleans(), min_size=2, max_size=2),
       raw_tail=st.text('ab"\n\r, ', max_size=20),
       segment=st.integers(4, 64))
def test_segments_agree_with_the_serial_reader_on_any_text(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cells: list[list[str]],
        quoted: list[bool], raw_tail: str, segment: int) -> None:
    """Well-formed rows, rows with raw quotes and newlines, and junk: the same rows, or the
    same error, as the serial reader."""
    def cell(value: str, quote: bool) -> str:
        return '"' + value.replace('"', '""') + '"' if quote else value

    text = "x,y\n" + "".join(",".join(cell(v, q) for v, q in zip(row, quoted)) + "\n"
                             for row in cells) + raw_tail
    path = tmp_path / "fuzz.csv"
    path.write_bytes(text.encode())
    serial, parallel, _ = _both(path, monkeypatch, segment)
    assert _same(serial, parallel)


def test_a_big_file_is_read_in_segments_by_the_cli(tmp_path: Path) -> None:
    """Through the whole command: a file over the threshold plans the same rows."""
    (tmp_path / "manifests").mkdir()
    rows = 30_000
    (tmp_path / "rows.csv").write_text("id,name,note\n" + "".join(
        f'{i},n{i},"x, {i}\ny"\n' if i == 12_345 else f"{i},n{i},x{i}\n" for i in range(rows)))
    assert (tmp_path / "rows.csv").stat().st_size > 3 * 64 << 10
    (tmp_path / "manifests" / "m.yaml").write_text(
        "version: 1\ntarget: {name: t, type: sqlite, path: ../t.db}\ndatasets:\n"
        "  - {name: rows, source: ../rows.csv, key: [id], columns: {id: integer, name: string, "
        "note: string}}\n")
    code = ("import sys; from syncer.sources import csv_parallel as c; c.SEGMENT = 64 << 10; "
            "c.MIN_BYTES = 3 * c.SEGMENT; from syncer.cli import run; sys.argv = sys.argv[1:]; "
            "run()")
    done = subprocess.run([sys.executable, "-c", code, "syncer", "apply", "--auto-approve",
                           "-m", str(tmp_path / "manifests"), "--state",
                           str(tmp_path / "state.db")], capture_output=True, text=True,
                          cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    import sqlite3

    with sqlite3.connect(tmp_path / "t.db") as db:
        assert db.execute("SELECT count(*), count(DISTINCT id) FROM rows").fetchone() == (rows, rows)
        assert db.execute("SELECT note FROM rows WHERE id = 12345").fetchone() == ("x, 12345\ny",)


def test_a_file_without_newlines_is_not_read_as_one_segment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines ended by a carriage return alone (no \\n to cut at): the serial reader streams
    them, and the rows are the same."""
    path = tmp_path / "rows.csv"
    path.write_bytes(b"a,b\r" + b"".join(b"%d,x%d\r" % (i, i) for i in range(3000)))
    serial, parallel, fates = _both(path, monkeypatch, 256)
    assert fates == ["unsafe"]
    assert _same(serial, parallel)
    assert isinstance(parallel, pl.DataFrame) and parallel.height == 3000
