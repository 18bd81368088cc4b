"""Fault report: apply changing versions through the hexabase emulator while it answers a
stated fraction of requests with 429, 500 or a dropped connection (half of the drops after the
import took effect), and count faults injected, retries made, rows lost and rows duplicated.

    python bench/faults.py --versions 10 --rows 2000      # appends to bench/TORTURE_RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from torture import DATASETS, HEXABASE_SCHEMA, TARGETS, Versions, held_hexabase  # noqa: E402

from syncer.emulators.base import FaultConfig  # noqa: E402
from syncer.errors import SyncError  # noqa: E402
from syncer.targets import http  # noqa: E402
from tests.conftest import api_apply, api_plan  # noqa: E402
from tests.fixtures.hexabase import hexabase_emulator  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--rate-429", type=float, default=0.10)
    parser.add_argument("--rate-500", type=float, default=0.10)
    parser.add_argument("--rate-drop", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    retries = Counter[str]()
    real_sleep = http.Http.sleep

    def counting_sleep(self: http.Http, attempt: int, retry_after: str | None = None) -> None:
        retries["retries"] += 1
        time.sleep(0.001)

    http.Http.sleep = counting_sleep  # type: ignore[method-assign]
    faults = FaultConfig(rate_429=args.rate_429, rate_500=args.rate_500, rate_drop=args.rate_drop,
                         seed=args.seed)
    lost = extra = failed_runs = 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for sub in ("manifests", "data"):
            (root / sub).mkdir()
        target = TARGETS["hexabase"].replace("max_rows_per_import: 400", "max_rows_per_import: 300\n  retries: 8")
        (root / "manifests" / "t.yaml").write_text(target + DATASETS)
        with hexabase_emulator(root / "emulator", schema=HEXABASE_SCHEMA, faults=faults,
                               queue_delay=0.02) as server:
            os.environ.update(HEXABASE_URL=server.url, HEXABASE_TOKEN=server.token)
            versions = Versions(args.rows, random.Random(args.seed))
            for number in range(args.versions):
                if number:
                    versions.step()
                versions.write(root / "data")
                for _attempt in range(5):  # a run may give up after 8 retries: run it again
                    try:
                        api_apply(root / "manifests", root / "state.db", allow_deletes=True)
                        break
                    except SyncError:
                        failed_runs += 1
                server.emulator.faults.configure(FaultConfig())  # read back without faults
                got, want = held_hexabase(root, server), versions.expected()
                server.emulator.faults.configure(FaultConfig(
                    rate_429=args.rate_429, rate_500=args.rate_500, rate_drop=args.rate_drop,
                    seed=args.seed + number + 1))
                for name in want:
                    lost += sum((want[name] - got[name]).values())
                    extra += sum((got[name] - want[name]).values())
                changes = any(d.has_changes for d in
                              api_plan(root / "manifests", root / "state.db").datasets)
                print(f"version {number}: lost {lost}, duplicated {extra}, next plan "
                      f"{'has changes' if changes else 'empty'}", flush=True)
            stats = server.emulator.stats()
    http.Http.sleep = real_sleep  # type: ignore[method-assign]
    injected = stats["faults"]
    text = "\n".join([
        "", "## Fault injection (hexabase emulator)", "",
        f"`python bench/faults.py` ({args.versions} versions of the three datasets, {args.rows} "
        f"upsert rows, imports of 300 rows; faults: {args.rate_429:.0%} 429, {args.rate_500:.0%} "
        f"500, {args.rate_drop:.0%} dropped connections, half of them after the import took "
        f"effect; seed {args.seed}; {time.monotonic() - started:.0f} s):", "",
        "| requests | 429 | 500 | dropped before | dropped after | retries made | runs that gave up "
        "(re-run) | rows lost | rows duplicated |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {stats['requests']} | {injected['429']} | {injected['500']} | {injected['drop_before']} "
        f"| {injected['drop_after']} | {retries['retries']} | {failed_runs} | {lost} | {extra} |", ""])
    print(text)
    if not args.no_write:
        out = REPO / "bench" / "TORTURE_RESULTS.md"
        out.write_text((out.read_text() if out.exists() else "# Crash torture results\n") + text)
    return 1 if lost or extra else 0


if __name__ == "__main__":
    sys.exit(main())
