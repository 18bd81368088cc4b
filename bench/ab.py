#!/usr/bin/env python3
"""Whole ``syncer`` commands of two checkouts, interleaved: a before/after of a change.

Usage::

    python bench/ab.py --before /path/to/old/checkout [--after .] [--rows 100000] [--runs 5]

Both checkouts run with this Python and its packages (``PYTHONPATH`` set to each checkout), on
the same generated data (bench/run.py's generator: v1, then v2 with 1 % of rows changed, 0.5 %
removed, 0.5 % added).  Each measurement is one command from process start to exit, taken
alternately (before, after, before, after ...) so a noisy machine hurts both alike; the medians,
their ratio and each side's spread are printed as a markdown table.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from run import generate, manifest_text  # noqa: E402


def project(root: Path, source: Path) -> Path:
    (root / "manifests").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "manifests" / "bench.yaml").write_text(manifest_text())
    shutil.copy(source, root / "data" / "rows.csv")
    return root


def syncer(tree: Path, root: Path, *args: str) -> float:
    env = {"PYTHONPATH": str(tree), "NO_COLOR": "1", "PATH": "/usr/bin:/bin"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "syncer", *args, "-m", "manifests", "--state",
                           "state/syncer.db"], cwd=root, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 2):
        raise SystemExit(f"{tree}: syncer {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, default=BENCH.parent)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    data = generate(args.rows, BENCH / "data")
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    steps: dict[str, Callable[[Path, Path], float]] = {
        "first load (apply v1)": lambda t, r: syncer(t, r, "apply", "--auto-approve"),
        "no-change plan": lambda t, r: syncer(t, r, "plan"),
        "plan of the change (v2)": lambda t, r: (shutil.copy(data.v2, r / "data" / "rows.csv"),
                                                 syncer(t, r, "plan"))[1],
        "incremental apply (v2)": lambda t, r: syncer(t, r, "apply", "--auto-approve",
                                                     "--allow-deletes"),
    }
    times: dict[tuple[str, str], list[float]] = {}
    for run in range(args.runs):
        for side in (("before", "after") if run % 2 == 0 else ("after", "before")):
            with tempfile.TemporaryDirectory() as tmp:
                root = project(Path(tmp), data.v1)
                for name, step in steps.items():
                    times.setdefault((name, side), []).append(step(trees[side], root))
    print(f"{args.rows:,} rows, {args.runs} runs each, interleaved; whole commands (seconds)\n")
    print("| command | before (median, min-max) | after (median, min-max) | after / before |")
    print("|---|---|---|---|")
    for name in steps:
        b, a = times[(name, "before")], times[(name, "after")]
        print(f"| {name} | {statistics.median(b):.3f} ({min(b):.3f}-{max(b):.3f}) | "
              f"{statistics.median(a):.3f} ({min(a):.3f}-{max(a):.3f}) | "
              f"{statistics.median(a) / statistics.median(b):.2f} |")


if __name__ == "__main__":
    main()
