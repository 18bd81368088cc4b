"""A full disk under the state, the spool (TMPDIR) or the target (issue 18): apply ends in exit 1
naming the full location and what was and was not applied, never exit 3; the next apply, with
space again, converges.  Each placement runs on a small tmpfs mounted for the test (skipped, with
the reason, where the test cannot mount one: it needs root, or CAP_SYS_ADMIN)."""

from __future__ import annotations

import errno
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Project, Result, csv_text

MANIFEST = """\
version: 1
target:
  name: shop
  type: sqlite
  path: {target}
datasets:
  - name: products
    source: ../data/products.csv
    mode: upsert
    key: [sku]
    columns:
      sku: string
      name: string
      qty: integer
"""


def rows(version: int, count: int) -> str:
    return csv_text(["sku", "name", "qty"],
                    [[f"S-{i:06d}", f"item {i} v{version} " + "x" * 40, str(i + version)]
                     for i in range(count)])


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "small"
    where.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(where)],
                              capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a tmpfs for the disk-full test: {exc}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the disk-full test: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=20)


def fill(where: Path, room: int = 0) -> Path:
    """Fill the filesystem at ``where`` to the last byte (then free ``room`` bytes); the filler
    is returned to free it."""
    filler = where / "filler"
    block = b"\0" * 65536
    with filler.open("wb", buffering=0) as handle:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    handle.write(block[:size])
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    if room:
        with filler.open("r+b") as handle:
            handle.truncate(max(filler.stat().st_size - room, 0))
    return filler


def failed_cleanly(result: Result, location: Path) -> None:
    assert "Traceback" not in result.output, str(result)
    assert "Internal error" not in result.output, str(result)
    assert result.code == 1, str(result)
    assert str(location) in result.err, str(result)
    assert "no space left" in result.err.lower() or "disk is full" in result.err.lower(), str(result)
    assert "nothing was applied" in result.err or "(0 applied)" in result.err, str(result)


def converges(project: Project, count: int) -> None:
    project.apply_ok()
    assert project.plan_json()["changes"] is False
    assert project.plan_json("--refresh")["changes"] is False
    assert sum(project.table("products").values()) == count


def scenario(project: Project, full: Path, location: Path, room: int = 0) -> None:
    project.write("products.csv", rows(1, 50))
    project.apply_ok()
    filler = fill(full, room)
    project.write("products.csv", rows(2, 40_000))
    failed_cleanly(project.apply(), location)
    filler.unlink()
    converges(project, 40_000)


@pytest.mark.parametrize("room", [0, 256 << 10], ids=["full", "fills-up-mid-apply"])
def test_state_on_a_full_disk(project: Project, small_fs: Path, room: int) -> None:
    project.state = small_fs / "syncer.db"
    project.manifest(MANIFEST.format(target="../build/target.db"))
    scenario(project, small_fs, project.state, room)


@pytest.mark.parametrize("room", [0, 256 << 10], ids=["full", "fills-up-mid-plan"])
def test_spool_on_a_full_disk(project: Project, small_fs: Path, monkeypatch: pytest.MonkeyPatch,
                              room: int) -> None:
    project.manifest(MANIFEST.format(target="../build/target.db"))
    monkeypatch.setenv("TMPDIR", str(small_fs))
    monkeypatch.setattr(tempfile, "tempdir", str(small_fs))
    scenario(project, small_fs, small_fs, room)


@pytest.mark.parametrize("room", [0, 256 << 10], ids=["full", "fills-up-mid-apply"])
def test_target_on_a_full_disk(project: Project, small_fs: Path, room: int) -> None:
    project.manifest(MANIFEST.format(target=str(small_fs / "target.db")))
    project.target_db = small_fs / "target.db"
    scenario(project, small_fs, small_fs / "target.db", room)


def test_the_compaction_spill_on_a_full_disk(small_fs: Path) -> None:
    """A compaction larger than one range spills to TMPDIR: full, it says so (exit 1 in the CLI,
    the commit's transaction rolled back), not an OSError taken for a bug."""
    import polars as pl

    from syncer.errors import DiskFull
    from syncer.state.compact import Spill

    filler = fill(small_fs)
    spill = Spill(small_fs)
    with pytest.raises(DiskFull) as raised:
        spill.put(1, 0, "puts", pl.DataFrame({"__k": [str(i) for i in range(100_000)]}))
    assert str(small_fs) in str(raised.value) and "compaction" in str(raised.value)
    filler.unlink()
