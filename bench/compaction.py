#!/usr/bin/env python3
"""Time and peak memory of a state compaction (syncer/state/compact.py) of a load made of many
batches, at several range sizes: what ``compact.RANGE_BYTES`` trades.

Usage::

    python bench/compaction.py [--rows 3000000] [--batches 100] [--range-mb 32 16 8] [--runs 2]
                               [--work DIR]

Builds (once, seeded) a SQLite state holding a keyed first load folded as ``--batches`` batches
(integer ``id``, a ``title``, an 8-dim ``embedding``: the rows of a zilliz load), then, for
each run and each range size in turn (interleaved), compacts a copy of it in a fresh process
(polars' allocator set as the ``syncer`` executable sets it) and prints the seconds and the
process's peak RSS.  The compacted snapshot is checked against the one before, every time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent

#: a child process: ``build STATE BATCHES PER`` or ``run STATE RANGE_MB``
CHILD = r"""
import resource, sys, time
import numpy as np, polars as pl
from syncer.model.manifest import DatasetSpec
from syncer.model.schema import KEY, Schema
from syncer.state import chunks as snap, compact, open_state

spec = DatasetSpec.model_validate({
    "name": "docs", "source": "x.parquet", "mode": "upsert", "key": ["id"],
    "columns": {"id": "integer", "title": "string", "embedding": {"type": "vector", "dim": 8}}})
schema = Schema.declared(spec, ["id", "title", "embedding"])
mode, path = sys.argv[1], sys.argv[2]
if mode == "build":
    batches, per = int(sys.argv[3]), int(sys.argv[4])
    rng = np.random.default_rng(22)
    no_dels = schema.key_columns(pl.DataFrame({KEY: []}, schema={KEY: pl.String}))
    with open_state(path) as store:
        store.ensure_dataset("t", "docs", "zilliz", "docs", "upsert")
        for b in range(batches):
            ids = np.arange(b * per + 1, (b + 1) * per + 1)
            frame = pl.DataFrame({
                "id": ids, "title": pl.Series(["doc"] * per) + pl.Series(ids).cast(pl.String),
                "embedding": pl.Series(rng.random((per, 8), dtype=np.float32)).cast(
                    pl.List(pl.Float32))})
            store.open_batch("run", f"b{b}", "t", "docs", schema, False,
                             iter([schema.digest(frame)]), no_dels)
            store.fold_batch(f"b{b}")
        before = store.snapshot("t", "docs")
        assert before is not None
        before.sort(KEY).write_ipc(path + ".expected.arrow")
else:
    compact.RANGE_BYTES = int(float(sys.argv[3]) * (1 << 20))
    snap.needs_compaction = lambda *_: True
    started = time.perf_counter()
    with open_state(path) as store:
        store.commit_dataset("t", "docs", schema=schema, fingerprint=None, spec_hash=None)
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        after = store.snapshot("t", "docs")
        assert store.storage.folded("t", "docs") == []
    expected = pl.read_ipc(path.replace(".run.db", ".db") + ".expected.arrow")
    assert after is not None and after.sort(KEY).equals(expected), "the compaction changed rows"
    print(f"{seconds:.2f} {peak:.0f}")
"""


def child(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO_DIR)}
    env.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")  # as syncer.launch
    done = subprocess.run([sys.executable, "-c", CHILD, *args], env=env, capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--range-mb", type=float, nargs="+", default=[32, 16, 8])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "syncer-compaction")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    state = args.work / f"state-{args.rows}-{args.batches}.db"
    if not state.is_file():
        child("build", str(state), str(args.batches), str(args.rows // args.batches))
    found: dict[float, list[tuple[float, float]]] = {mb: [] for mb in args.range_mb}
    for _ in range(args.runs):
        for mb in args.range_mb:
            copy = state.with_suffix(".run.db")
            shutil.copyfile(state, copy)
            seconds, peak = child("run", str(copy), str(mb)).split()
            found[mb].append((float(seconds), float(peak)))
            print(f"range {mb:g} MB: {seconds} s, peak {peak} MB", file=sys.stderr, flush=True)
    print(f"| range | runs: seconds | runs: peak MB |  ({args.rows:,} rows in {args.batches} batches)")
    print("|---:|---|---|")
    for mb, runs in found.items():
        print(f"| {mb:g} MB | {', '.join(f'{s:.1f}' for s, _ in runs)} | "
              f"{', '.join(f'{p:.0f}' for _, p in runs)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
