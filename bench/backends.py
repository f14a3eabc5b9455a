"""SQLite against PostgreSQL behind the same cellstore server, in one run.

Starts a throwaway PostgreSQL cluster (the test suite's tests/pg_cluster.py,
which installs Debian's postgresql if it is missing), then drives PutItem,
GetItem and Query with wrk against `cellstore serve --data-dir` and
`cellstore serve --storage postgresql://...` in turn, one worker each
(`--workers 1`: the default would be a worker per core), and prints a Markdown
table with the PostgreSQL/SQLite ratios. Server CPU counts cellstore's
process only (PostgreSQL's backends are separate processes), so compare
req/s and latency for the backends, and CPU for cellstore's own share.

    .venv/bin/python bench/backends.py [--duration 3] [--connections 16]
"""

from __future__ import annotations

import argparse
import shutil
import sys
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

    def argv(self, data_dir: str) -> list[str]:
        return [str(MAIN_PYTHON), "-m", "cellstore", "serve", "--port", str(self.port), "--storage", self.dsn,
                "--workers", "1"]


def run(target: CellstoreOneWorker, shape: dict[str, object]) -> dict[str, load.Cell]:
    with target:
        target.start(None)
        client = dynamo.Client(target.port)
        dynamo.create_table(client, load.table_for(200))
        dynamo.preload(client, load.table_for(200), 200, PARTITIONS)
        client.close()
        return {w: load.measure(target.name, target.pid, target.port, w, **shape) for w in WORKLOADS}  # type: ignore[arg-type]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=3, help="seconds of wrk per workload")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench backends: wrk is not installed (apt-get install -y wrk); nothing measured")
        return 0
    shape = {"connections": args.connections, "item_bytes": 200, "partitions": PARTITIONS,
             "duration": args.duration, "cpu": None}
    sqlite = run(CellstoreOneWorker("cellstore-sqlite", "cellstore on SQLite", 18060), shape)
    cluster = Cluster().start()
    try:
        postgres_target = CellstorePostgres("cellstore-postgres", "cellstore on PostgreSQL", 18061)
        postgres_target.dsn = cluster.create_database("bench")
        postgres = run(postgres_target, shape)
    finally:
        cluster.stop()
    print(f"{args.connections} connections, 200-byte items, {args.duration} s per cell, one server process each\n")
    print("| workload | SQLite req/s | PostgreSQL req/s | PG ÷ SQLite | SQLite p50/p99 ms | PostgreSQL p50/p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for workload in WORKLOADS:
        s, p = sqlite[workload], postgres[workload]
        print(f"| {load.WORKLOADS[workload][1]} | {s.rps:,.0f} | {p.rps:,.0f} | {p.rps / s.rps:.2f}× "
              f"| {s.p50_ms:.1f} / {s.p99_ms:.1f} | {p.p50_ms:.1f} / {p.p99_ms:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
