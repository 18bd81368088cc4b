"""Crash torture: kill `syncer apply` with SIGKILL at random moments, apply again, and check that
the target holds exactly the declared rows (no row lost, none duplicated, append included), that
the state agrees with the target, and that the next plan is empty.

    python bench/torture.py --sqlite 50 --hexabase 20        # writes bench/TORTURE_RESULTS.md
    python bench/torture.py --sqlite 3 --rows 500 --no-write # a quick look

Each trial declares a new version of three datasets (`items`: upsert by key with edits,
inserts and deletes; `log`: append, keyless, grows; `snap`: replace), starts `syncer apply` as a
subprocess, kills it with SIGKILL after a random delay within the time an apply takes, then runs
`syncer apply` again (exit 0 expected) and compares.  The hexabase trials run against the bundled
emulator (in this process, on a real socket) with small imports, so a change is several batches.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DATASETS = """\
datasets:
  - name: items
    source: ../data/items.csv
    mode: upsert
    key: [id]
    allow_deletes: true
    columns: {id: string, name: string, price: string}
  - name: log
    source: ../data/log.csv
    mode: append
    columns: {id: string, name: string, price: string}
  - name: snap
    source: ../data/snap.csv
    mode: replace
    allow_deletes: true
    columns: {id: string, name: string, price: string}
"""
TARGETS = {
    "sqlite": "version: 1\ntarget:\n  name: t\n  type: sqlite\n  path: ../build/target.db\n",
    "milvus": "version: 1\ntarget:\n  name: t\n  type: milvus\n  uri: ../build/vectors.db\n",
    "hexabase": ("version: 1\ntarget:\n  name: t\n  type: hexabase\n  url: ${HEXABASE_URL}\n"
                 "  application: torture\n  token: ${HEXABASE_TOKEN}\n  poll_interval: 0.02\n"
                 "  max_rows_per_import: 400\n"),
}
MILVUS_DATASETS = """\
datasets:
  - name: items
    source: ../data/items.csv
    mode: upsert
    key: id
    allow_deletes: true
    columns: {id: string, name: string, price: string, vec: {type: vector, dim: 2}}
  - name: log
    source: ../data/log.csv
    mode: append
    key: id
    columns: {id: string, name: string, price: string, vec: {type: vector, dim: 2}}
  - name: snap
    source: ../data/snap.csv
    mode: replace
    key: id
    allow_deletes: true
    columns: {id: string, name: string, price: string, vec: {type: vector, dim: 2}}
"""
FIELDS = ["id", "name", "price"]
HEXABASE_SCHEMA = {"applications": [{"id": "torture", "datastores": [
    {"id": name, "fields": [{"display_id": f} for f in FIELDS]} for name in ("items", "log", "snap")]}]}


def write_csv(path: Path, rows: list[tuple[str, ...]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*FIELDS, "vec"])
    writer.writerows((*row, f"[{len(row[1]) % 7}, {row[2]}]") for row in rows)
    path.write_text(buffer.getvalue())


class Versions:
    """The declared rows, version after version (deterministic from the seed)."""

    def __init__(self, rows: int, rng: random.Random, keyless_duplicates: bool = True) -> None:
        self.rng, self.rows, self.next_id = rng, rows, 0
        self.keyless_duplicates = keyless_duplicates
        self.items: dict[str, tuple[str, ...]] = {}
        self.log: list[tuple[str, ...]] = []
        self.snap: list[tuple[str, ...]] = []
        self.step()

    def _new(self, tag: str) -> tuple[str, str, str]:
        self.next_id += 1
        return (f"{tag}{self.next_id:07d}", f"name {self.rng.random():.6f}", f"{self.rng.randint(1, 999)}")

    def step(self) -> None:
        rng = self.rng
        for key in rng.sample(sorted(self.items), k=len(self.items) // 10):  # delete 10 %
            del self.items[key]
        for key in rng.sample(sorted(self.items), k=len(self.items) // 5):  # edit 20 %
            self.items[key] = (key, f"edited {rng.random():.6f}", self.items[key][2])
        while len(self.items) < self.rows:
            row = self._new("i")
            self.items[row[0]] = row
        fresh = [self._new("l") for _ in range(self.rows // 3)]
        if self.keyless_duplicates:  # keyless append: duplicates count too
            fresh += rng.sample(fresh, k=len(fresh) // 20)
        self.log += fresh
        self.snap = [self._new("s") for _ in range(self.rows // 2)]

    def write(self, data: Path) -> None:
        write_csv(data / "items.csv", sorted(self.items.values()))
        write_csv(data / "log.csv", self.log)
        write_csv(data / "snap.csv", self.snap)

    def expected(self) -> dict[str, Counter[tuple[str, ...]]]:
        # log only grows, so "every row delivered once" is the latest version's multiset
        return {"items": Counter(self.items.values()), "log": Counter(self.log),
                "snap": Counter(self.snap)}


def syncer(root: Path, *args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "syncer", *args], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def run(root: Path, *args: str, env: dict[str, str]) -> tuple[int, str]:
    proc = syncer(root, *args, env=env)
    out, err = proc.communicate(timeout=600)
    return proc.returncode, (out + err).decode(errors="replace")


def held_sqlite(root: Path, _: Any) -> dict[str, Counter[tuple[str, ...]]]:
    con = sqlite3.connect(root / "build" / "target.db")
    try:
        return {t: Counter(tuple(r) for r in con.execute(f'SELECT id, name, price FROM "{t}"'))
                for t in ("items", "log", "snap")}
    finally:
        con.close()


MILVUS_READ = """
import json, sys
from pymilvus import MilvusClient
client = MilvusClient(uri=sys.argv[1])
out = {}
for name in ("items", "log", "snap"):
    rows = []
    if client.has_collection(name):
        client.load_collection(name)
        rows = client.query(name, filter='id != ""', output_fields=["id", "name", "price"],
                            limit=16384)
    out[name] = [[r["id"], r["name"], r["price"]] for r in rows]
client.close()
print(json.dumps(out))
"""


def held_milvus(root: Path, _: Any) -> dict[str, Counter[tuple[str, ...]]]:
    import json

    # in a child process: Milvus Lite lets one process at a time open the file
    done = subprocess.run([sys.executable, "-c", MILVUS_READ, str(root / "build" / "vectors.db")],
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr[-1500:])
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return {name: Counter(tuple(r) for r in rows) for name, rows in data.items()}


def held_hexabase(_: Path, server: Any) -> dict[str, Counter[tuple[str, ...]]]:
    out = {}
    for name in ("items", "log", "snap"):
        items = server.all_items("torture", name, per_page=1000)
        out[name] = Counter(tuple(str(i.get(f, "")) for f in FIELDS) for i in items)
    return out


def trials(kind: str, count: int, rows: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    results: list[dict[str, Any]] = []
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"torture-{kind}-")))
        for sub in ("manifests", "data", "build", "state"):
            (root / sub).mkdir()
        (root / "manifests" / "t.yaml").write_text(
            TARGETS[kind] + (MILVUS_DATASETS if kind == "milvus" else DATASETS))
        env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(REPO), "SYNCER_STATE": "state/s.db"}
        server = None
        if kind == "hexabase":
            from tests.fixtures.hexabase import hexabase_emulator

            server = stack.enter_context(hexabase_emulator(root / "emulator",
                                                           schema=HEXABASE_SCHEMA,
                                                           queue_delay=0.02))
            env.update(HEXABASE_URL=server.url, HEXABASE_TOKEN=server.token)
        held = {"sqlite": held_sqlite, "hexabase": held_hexabase, "milvus": held_milvus}[kind]
        versions = Versions(rows, rng, keyless_duplicates=kind != "milvus")
        versions.write(root / "data")
        started = time.monotonic()
        code, out = run(root, "apply", "--auto-approve", env=env)  # the first version, whole
        assert code == 0, out
        duration = time.monotonic() - started
        started = time.monotonic()
        run(root, "plan", env=env)  # start-up, load and plan: the part before anything is sent
        startup = 0.8 * (time.monotonic() - started)
        for number in range(1, count + 1):
            versions.step()
            versions.write(root / "data")
            delay = startup + rng.uniform(0.0, max(duration - startup, 0.1) * 1.1)
            proc = syncer(root, "apply", "--auto-approve", env=env)
            try:
                proc.wait(timeout=delay)
                killed = False
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                killed = True
            proc.communicate()
            started = time.monotonic()
            code, out = run(root, "-v", "apply", "--auto-approve", env=env)
            duration = max(duration * 0.5, time.monotonic() - started)
            problems = [] if code == 0 else [f"re-apply exit {code}: {out[-400:]}"]
            got, want = held(root, server), versions.expected()
            for name in want:
                lost = sum((want[name] - got[name]).values())
                extra = sum((got[name] - want[name]).values())
                if lost or extra:
                    problems.append(f"{name}: {lost} rows lost, {extra} extra")
            plan_code, plan_out = run(root, "plan", "--detailed-exitcode", env=env)
            if plan_code != 0:
                problems.append(f"next plan not empty (exit {plan_code}): {plan_out[-300:]}")
            code_list, listed = run(root, "state", "list", "--json", env=env)
            import json

            state_rows = {d["dataset"]: d["rows"] for d in json.loads(listed.splitlines()[-1])}
            for name in ("items", "snap"):
                if state_rows.get(name) != sum(want[name].values()):
                    problems.append(f"state holds {state_rows.get(name)} {name} rows, "
                                    f"target {sum(got[name].values())}")
            settled = out.count("it had landed") + out.count("it had not landed")
            results.append({"kind": kind, "trial": number, "kill_after": round(delay, 3),
                            "killed": killed, "settled": settled, "problems": problems})
            mark = "KILL" if killed else "done"
            print(f"{kind} #{number:3d} {mark} after {delay:6.3f}s  open batches settled={settled}  "
                  f"{'OK' if not problems else 'DIVERGED: ' + '; '.join(problems)}", flush=True)
    return results


def report(results: list[dict[str, Any]], rows: int, seed: int, seconds: float) -> str:
    lines = ["# Crash torture results", "",
             f"`python bench/torture.py` (seed {seed}, {rows} upsert rows per version, "
             f"{rows // 3}+ appended and {rows // 2} replaced rows per version; three datasets "
             "per trial), "
             f"{seconds:.0f} s on {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}.", "",
             "Each trial: a new version of the sources, `syncer apply` as a subprocess killed "
             "with SIGKILL at a random moment, `syncer apply` again, then the target is compared "
             "row for row (multisets) with the declared rows, the state's row counts with the "
             "target, and `syncer plan --detailed-exitcode` must exit 0.", "",
             "| target | trials | killed mid-apply | open batches settled on restart | divergences |",
             "|---|---|---|---|---|"]
    for kind in dict.fromkeys(r["kind"] for r in results):
        mine = [r for r in results if r["kind"] == kind]
        lines.append(f"| {kind} | {len(mine)} | {sum(r['killed'] for r in mine)} | "
                     f"{sum(r['settled'] for r in mine)} ({sum(bool(r['settled']) for r in mine)} trials) | {sum(bool(r['problems']) for r in mine)} |")
    bad = [r for r in results if r["problems"]]
    lines += ["", "Divergences:" if bad else "No divergence: no row lost, none duplicated, "
              "state and target agree, every next plan empty."]
    lines += [f"- {r['kind']} #{r['trial']}: {'; '.join(r['problems'])}" for r in bad]
    covered = {r["kind"] for r in results}
    missing = [k for k in ("sqlite", "hexabase", "milvus (Milvus Lite)", "zilliz (emulator + moto S3)")
               if k.split()[0] not in covered]
    lines += ["", f"Not covered by this run: {', '.join(missing)}." if missing else "", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sqlite", type=int, default=50, help="trials on the sqlite target")
    parser.add_argument("--hexabase", type=int, default=0, help="trials on the hexabase emulator")
    parser.add_argument("--milvus", type=int, default=0, help="trials on Milvus Lite")
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-write", action="store_true", help="do not write TORTURE_RESULTS.md")
    args = parser.parse_args()
    started = time.monotonic()
    results: list[dict[str, Any]] = []
    for kind in ("sqlite", "hexabase", "milvus"):
        if getattr(args, kind):
            results += trials(kind, getattr(args, kind), args.rows, args.seed)
    text = report(results, args.rows, args.seed, time.monotonic() - started)
    print(text)
    if not args.no_write:
        (REPO / "bench" / "TORTURE_RESULTS.md").write_text(text)
    return 1 if any(r["problems"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
