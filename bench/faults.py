"""Fault report: apply changing versions through the hexabase and zilliz emulators while they
inject five kinds of fault at stated rates, and count faults injected, retries made, outcomes
that were unknown and settled, rows lost and rows duplicated.

    python bench/faults.py --target hexabase --target zilliz --out faults.md

The five kinds (rates per faultable request, except slow queues: per queued import or job):

* 429 (``Retry-After: 0``) and 500;
* a dropped connection, before or after the request took effect (half each);
* a timeout: the answer is stalled longer than the client's timeout (``timeout:`` in the
  manifest), the request having taken effect or not (half each);
* a slow queue: a queued Hexabase import or a Zilliz import job stays pending for an extra
  1/4 to 1 x ``--slow-queue-ms``, longer than the driver's ``import_timeout`` for some of them,
  so the driver gives up following it and the next run settles it before sending anything new.

A run that gives up (a dataset failed after its bounded retries) is run again, at most
``--runs`` times per version; after each version the target must hold exactly the declared rows
and the next plan must be empty.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from torture import HELD, Versions, start_servers  # noqa: E402

from syncer.emulators.base import FaultConfig  # noqa: E402
from syncer.errors import SyncError  # noqa: E402
from syncer.targets import http  # noqa: E402
from syncer.targets.hexabase.driver import HexabaseDriver  # noqa: E402
from syncer.targets.zilliz.driver import ZillizDriver  # noqa: E402
from tests.conftest import api_apply, api_plan  # noqa: E402

#: manifest settings of the fault runs: small imports, a short client timeout and import timeout
SETTINGS = {
    "hexabase": {"max_rows_per_import: 400": "max_rows_per_import: 300"},
    "zilliz": {"max_rows_per_import: 400": "max_rows_per_import: 300"},
}


class Counts:
    """Retries (a request sent again after a 429, 5xx or connection failure), unknown outcomes
    (a request that may have taken effect) and settles (a driver asked whether a batch landed),
    counted by wrapping the HTTP client and the drivers."""

    def __init__(self) -> None:
        self.counts = Counter[str]()
        self._undo: list[tuple[Any, str, Any]] = []

    def install(self) -> None:
        counts = self.counts

        def sleep(_self: http.Http, attempt: int, retry_after: str | None = None) -> None:
            counts["retries"] += 1
            time.sleep(0.001)

        unknown_init = http.OutcomeUnknown.__init__

        def unknown(self: http.OutcomeUnknown, message: str) -> None:
            counts["unknown"] += 1
            unknown_init(self, message)

        self._patch(http.Http, "sleep", sleep)
        self._patch(http.OutcomeUnknown, "__init__", unknown)
        for driver in (HexabaseDriver, ZillizDriver):
            settle = driver.settle

            def settling(self: Any, batch: Any, known: int, _settle: Any = settle) -> bool:
                try:
                    landed = bool(_settle(self, batch, known))
                except SyncError:
                    counts["settle_unknown"] += 1
                    raise
                counts["settled_landed" if landed else "settled_not_landed"] += 1
                return landed

            self._patch(driver, "settle", settling)

    def _patch(self, owner: Any, name: str, value: Any) -> None:
        self._undo.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, value)

    def uninstall(self) -> None:
        for owner, name, value in reversed(self._undo):
            setattr(owner, name, value)
        self._undo.clear()


def faults_of(args: argparse.Namespace, seed: int) -> FaultConfig:
    return FaultConfig(rate_429=args.rate_429, rate_500=args.rate_500, rate_drop=args.rate_drop,
                       rate_timeout=args.rate_timeout, stall_ms=args.stall_ms,
                       rate_slow_queue=args.rate_slow_queue, slow_queue_ms=args.slow_queue_ms,
                       seed=seed)


def run_target(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    counts = Counts()
    lost = extra = gave_up = not_empty = 0
    most_runs = 0
    started = time.monotonic()
    requests = 0
    with ExitStack() as stack:
        work = Path(os.environ.get("TORTURE_TMP") or tempfile.gettempdir())
        work.mkdir(parents=True, exist_ok=True)
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"faults-{kind}-",
                                                                    dir=work)))
        for sub in ("manifests", "data", "build", "state"):
            (root / sub).mkdir()
        server = start_servers(kind, root, stack, os.environ, faults_of(args, args.seed))
        manifest = root / "manifests" / "t.yaml"
        text = manifest.read_text()
        for old, new in SETTINGS[kind].items():
            text = text.replace(old, new)
        text = text.replace("  poll_interval: 0.02\n", f"  poll_interval: 0.02\n  retries: "
                            f"{args.retries}\n  timeout: {args.client_timeout}\n  "
                            f"import_timeout: {args.import_timeout}\n")
        manifest.write_text(text)
        state = root / "state" / "s.db"
        emulator = server.emulator
        versions = Versions(args.rows, random.Random(args.seed), keyless_duplicates=kind == "hexabase")
        counts.install()
        try:
            for number in range(args.versions):
                if number:
                    versions.step()
                versions.write(root / "data")
                emulator.faults.configure(faults_of(args, args.seed + number))
                before = emulator.stats()["requests"]
                for attempt in range(1, args.runs + 1):
                    try:
                        api_apply(root / "manifests", state, allow_deletes=True)
                        most_runs = max(most_runs, attempt)
                        break
                    except SyncError as exc:
                        gave_up += 1
                        if args.verbose:
                            print(f"  run {attempt} gave up: {str(exc)[:300]}", flush=True)
                else:
                    raise SystemExit(f"{kind}: version {number} did not converge in {args.runs} runs")
                requests += emulator.stats()["requests"] - before
                emulator.faults.configure(FaultConfig())  # read back and plan without faults
                time.sleep(args.stall_ms / 1000)  # stalled answers of the last run finish
                got, want = HELD[kind](root, server), versions.expected()
                for name in want:
                    lost += sum((want[name] - got[name]).values())
                    extra += sum((got[name] - want[name]).values())
                changes = any(d.has_changes for d in api_plan(root / "manifests", state).datasets)
                not_empty += changes
                print(f"{kind} version {number}: runs {attempt}, lost {lost}, duplicated {extra}, "
                      f"next plan {'HAS CHANGES' if changes else 'empty'}", flush=True)
        finally:
            counts.uninstall()
        stats = emulator.stats()
    return {"kind": kind, "seconds": time.monotonic() - started, "requests": requests,
            "faults": stats["faults"], "counts": dict(counts.counts), "gave_up": gave_up,
            "most_runs": most_runs, "lost": lost, "extra": extra, "not_empty": not_empty}


def report(results: list[dict[str, Any]], args: argparse.Namespace, command: str) -> str:
    lines = [
        "## Faults at the target", "",
        f"`{command}`: {args.versions} versions of the three datasets ({args.rows} upsert rows, "
        f"imports of 300 rows), faults at these rates per request: {args.rate_429:.0%} 429, "
        f"{args.rate_500:.0%} 500, {args.rate_drop:.0%} dropped connections and "
        f"{args.rate_timeout:.0%} timeouts (answer stalled {args.stall_ms} ms, the client's "
        f"timeout is {args.client_timeout} s), half of each after the request took effect; "
        f"{args.rate_slow_queue:.0%} of queued imports / import jobs slowed by "
        f"{args.slow_queue_ms // 4}-{args.slow_queue_ms} ms (the driver's import_timeout is "
        f"{args.import_timeout} s); {args.retries} retries per request; seed {args.seed}.", "",
        "| target | requests | 429 | 500 | dropped (before / after) | timeouts (before / after) "
        "| slow queues | retries made | outcomes unknown | batches settled (landed / not / "
        "still unknown) | runs that gave up (re-run) | most runs for a version | rows lost "
        "| rows duplicated | next plan not empty | time |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        f, c = r["faults"], r["counts"]
        lines.append(
            f"| {r['kind']} | {r['requests']} | {f['429']} | {f['500']} | "
            f"{f['drop_before'] + f['drop_after']} ({f['drop_before']} / {f['drop_after']}) | "
            f"{f['timeout_before'] + f['timeout_after']} ({f['timeout_before']} / "
            f"{f['timeout_after']}) | {f['slow_queue']} | {c.get('retries', 0)} | "
            f"{c.get('unknown', 0)} | {c.get('settled_landed', 0)} / "
            f"{c.get('settled_not_landed', 0)} / {c.get('settle_unknown', 0)} | {r['gave_up']} | "
            f"{r['most_runs']} | {r['lost']} | {r['extra']} | {r['not_empty']} | "
            f"{r['seconds']:.0f} s |")
    lines += ["", "\"Outcomes unknown\": a dropped connection, a timeout or a 5xx on a request "
              "that is not idempotent (creating an import job, a Hexabase append), which the "
              "driver settles by asking the target before it sends anything again. \"Batches "
              "settled\": a driver asked whether a whole batch landed, after a run gave up on it "
              "(an import still queued at import_timeout) or at the start of the next run; "
              "\"still unknown\" leaves the journal entry open for the run after.", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", action="append", choices=("hexabase", "zilliz"),
                        help="repeat for both (default: both)")
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--rate-429", type=float, default=0.10)
    parser.add_argument("--rate-500", type=float, default=0.10)
    parser.add_argument("--rate-drop", type=float, default=0.05)
    parser.add_argument("--rate-timeout", type=float, default=0.05)
    parser.add_argument("--stall-ms", type=int, default=1500)
    parser.add_argument("--client-timeout", type=float, default=1.0)
    parser.add_argument("--rate-slow-queue", type=float, default=0.20)
    parser.add_argument("--slow-queue-ms", type=int, default=3000)
    parser.add_argument("--import-timeout", type=float, default=1.5)
    parser.add_argument("--retries", type=int, default=8)
    parser.add_argument("--runs", type=int, default=6, help="runs per version, at most")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--out", type=Path, help="also write the report to this markdown file")
    parser.add_argument("-v", "--verbose", action="store_true", help="print why runs gave up")
    args = parser.parse_args()
    if args.stall_ms / 1000 <= args.client_timeout:
        parser.error("--stall-ms must be longer than --client-timeout, or nothing times out")
    command = "python bench/faults.py " + " ".join(sys.argv[1:])
    results = [run_target(kind, args) for kind in args.target or ("hexabase", "zilliz")]
    text = report(results, args, command)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 1 if any(r["lost"] or r["extra"] or r["not_empty"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
