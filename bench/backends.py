"""SQLite against PostgreSQL (and a local quorum cell) behind the same cellstore server, interleaved in one run.

Starts a throwaway PostgreSQL cluster (the test suite's tests/pg_cluster.py,
which installs Debian's postgresql if it is missing) and, with ``--quorum``,
a local six-copy quorum cell (``cellstore quorum up``: needs ``make
quorum-tools``).  Every backend gets its own ``cellstore serve`` with one
worker (``--workers 1``: the default would be a worker per core), all
running at once; then each round drives PutItem, GetItem and Query with wrk
against each server in turn (each round starting with another), so the
backends share whatever else the machine is doing in that moment.  It prints, per workload, the median
req/s over the rounds and the median of the per-round ratios with their
spread: PostgreSQL ÷ SQLite, and quorum ÷ PostgreSQL.  Server CPU counts
cellstore's process only (PostgreSQL's backends are separate processes).

``--baseline DIR`` adds one more front end on the same PostgreSQL cluster
(a database of its own), run from the source tree ``DIR/src`` — e.g. ``git
archive <commit> src | tar -x -C DIR`` — and driven in the same rounds, so
a change is compared with its base under the same conditions: the report
gains a "baseline ÷ SQLite" column beside PostgreSQL ÷ SQLite.

    .venv/bin/python bench/backends.py [--duration 3] [--connections 16] [--rounds 3] [--quorum] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "tests"))

import dynamo  # noqa: E402
import load  # noqa: E402
from pg_cluster import Cluster  # noqa: E402
from targets import MAIN_PYTHON, CellstoreOneWorker  # noqa: E402

PARTITIONS = 50
WORKLOADS = ["put_item", "get_item", "query"]


class CellstorePostgres(CellstoreOneWorker):
    dsn: str = ""
    source: str = ""  # another source tree's src directory (``--baseline``); empty: this one's

    def argv(self, data_dir: str) -> list[str]:
        serve = [str(MAIN_PYTHON), "-m", "cellstore", "serve", "--port", str(self.port), "--storage", self.dsn,
                 "--workers", "1"]
        return ["env", f"PYTHONPATH={self.source}", *serve] if self.source else serve  # env execs: the pid is the server's


def _prepared(target: CellstoreOneWorker) -> CellstoreOneWorker:
    target.start(None)
    client = dynamo.Client(target.port)
    dynamo.create_table(client, load.table_for(200))
    dynamo.preload(client, load.table_for(200), 200, PARTITIONS)
    client.close()
    return target


def _quorum_up(directory: Path) -> str:
    """A local quorum cell in ``directory``; its storage URL (the last line ``quorum up`` prints)."""
    out = subprocess.run([str(MAIN_PYTHON), "-m", "cellstore", "quorum", "up", str(directory)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"bench backends: cellstore quorum up failed:\n{out.stdout}{out.stderr}")
    return out.stdout.strip().splitlines()[-1]


def _ratios(numerator: list[load.Cell], denominator: list[load.Cell]) -> str:
    ratios = sorted(n.rps / d.rps for n, d in zip(numerator, denominator, strict=True))
    return f"{statistics.median(ratios):.2f}× ({ratios[0]:.2f}–{ratios[-1]:.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=3, help="seconds of wrk per workload and backend")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every workload and backend (median reported)")
    parser.add_argument("--quorum", action="store_true", help="also a local quorum cell (cellstore quorum up; make quorum-tools)")
    parser.add_argument("--baseline", metavar="DIR", help="also a PostgreSQL front end run from DIR/src, in the same rounds")
    parser.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=WORKLOADS, help="a subset of the workloads")
    args = parser.parse_args()
    workloads = args.workloads
    if shutil.which("wrk") is None:
        print("bench backends: wrk is not installed (apt-get install -y wrk); nothing measured")
        return 0
    shape = {"connections": args.connections, "item_bytes": 200, "partitions": PARTITIONS,
             "duration": args.duration, "cpu": None}
    names = ["SQLite", "PostgreSQL"] + (["baseline"] if args.baseline else []) + (["quorum"] if args.quorum else [])
    cells: dict[str, dict[str, list[load.Cell]]] = {name: {w: [] for w in workloads} for name in names}
    with ExitStack() as stack:
        targets = {"SQLite": CellstoreOneWorker("cellstore-sqlite", "cellstore on SQLite", 18060)}
        cluster = Cluster().start()
        stack.callback(cluster.stop)
        postgres = CellstorePostgres("cellstore-postgres", "cellstore on PostgreSQL", 18061)
        postgres.dsn = cluster.create_database("bench")
        targets["PostgreSQL"] = postgres
        if args.baseline:
            baseline = CellstorePostgres("cellstore-baseline", f"cellstore on PostgreSQL from {args.baseline}", 18063)
            baseline.dsn = cluster.create_database("baseline")
            baseline.source = str(Path(args.baseline).resolve() / "src")
            targets["baseline"] = baseline
        if args.quorum:
            directory = Path(tempfile.mkdtemp(prefix="cellstore-bench-quorum-"))
            stack.callback(shutil.rmtree, directory, True)
            stack.callback(subprocess.run, [str(MAIN_PYTHON), "-m", "cellstore", "quorum", "down", str(directory)],
                           capture_output=True, check=False)
            quorum = CellstorePostgres("cellstore-quorum", "cellstore on a local quorum cell", 18062)
            quorum.dsn = _quorum_up(directory)
            targets["quorum"] = quorum
        for target in targets.values():
            stack.enter_context(target)
            _prepared(target)
        for round_number in range(args.rounds):
            # Each round starts with another backend, so that none always follows the same one.
            order = list(targets.items())
            order = order[round_number % len(order):] + order[:round_number % len(order)]
            for workload in workloads:
                for name, target in order:
                    cells[name][workload].append(load.measure(target.name, target.pid, target.port, workload, **shape))  # type: ignore[arg-type]
    print(f"{args.connections} connections, 200-byte items, {args.duration} s per cell, one server process each, "
          f"{args.rounds} interleaved rounds (median req/s; median ratio of the rounds, and its range)\n")
    header = "| workload | SQLite req/s | PostgreSQL req/s | PG ÷ SQLite |"
    rule = "|---|---:|---:|---:|"
    if args.baseline:
        header += " baseline req/s | baseline ÷ SQLite |"
        rule += "---:|---:|"
    if args.quorum:
        header += " quorum req/s | quorum ÷ PG |"
        rule += "---:|---:|"
    print(header + " SQLite p50/p99 ms | PostgreSQL p50/p99 ms |" + (" baseline p50/p99 ms |" if args.baseline else ""))
    print(rule + "---:|---:|" + ("---:|" if args.baseline else ""))
    for workload in workloads:
        s, p = cells["SQLite"][workload], cells["PostgreSQL"][workload]
        line = (f"| {load.WORKLOADS[workload][1]} | {statistics.median(c.rps for c in s):,.0f} "
                f"| {statistics.median(c.rps for c in p):,.0f} | {_ratios(p, s)} |")
        if args.baseline:
            b = cells["baseline"][workload]
            line += f" {statistics.median(c.rps for c in b):,.0f} | {_ratios(b, s)} |"
        if args.quorum:
            q = cells["quorum"][workload]
            line += f" {statistics.median(c.rps for c in q):,.0f} | {_ratios(q, p)} |"
        line += (f" {statistics.median(c.p50_ms for c in s):.1f} / {statistics.median(c.p99_ms for c in s):.1f} "
                 f"| {statistics.median(c.p50_ms for c in p):.1f} / {statistics.median(c.p99_ms for c in p):.1f} |")
        if args.baseline:
            b = cells["baseline"][workload]
            line += f" {statistics.median(c.p50_ms for c in b):.1f} / {statistics.median(c.p99_ms for c in b):.1f} |"
        print(line)
    errors = sum(c.errors for per in cells.values() for runs in per.values() for c in runs)
    if errors:
        print(f"\n{errors} requests failed (see the servers' logs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
