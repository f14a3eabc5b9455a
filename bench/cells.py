"""Cells on one machine: PutItem across tenants on 1, 2 and 4 SQLite cells, 1 and 2 PostgreSQL cells, and the router's cost.

Not a test: it prints numbers and never fails on them.  SQLite has one
writer per database, so N SQLite cells are N writers; with tenants spread
over them, writes that one file serialises can run side by side.  Every
configuration serves the same 8 tenants (access key ids 100000000001..8,
``--auth none``) with the same ``--workers``; wrk rotates its requests over
the tenants (``lua/put_item_tenants.lua``).  Configurations:

* ``plain``: ``serve --data-dir`` (no router: every tenant in one backend);
* ``1 cell``, ``2 cells``, ``4 cells``: ``serve --cells`` over that many SQLite
  cells, tenants placed by the policy (least loaded: evenly);
* ``pg 1 cell``, ``pg 2 cells``: the same over PostgreSQL cells, each a fresh
  database of one throwaway cluster on loopback (tests/pg_cluster.py, which
  installs Debian's postgresql if it is missing; ``--no-postgres`` skips
  them).  One cluster, so ``pg 2 cells`` are two writers (two databases, two
  advisory locks) sharing one server's WAL and CPU.  Server CPU counts
  cellstore's processes only, not PostgreSQL's backends: compare req/s.

``plain`` against ``1 cell`` is the router's cost (the bulkhead's thread
hop per request), in server CPU per request; ``N cells`` against ``1 cell``
is what more writers buy (``pg N cells`` against ``pg 1 cell`` too, in the
last column).  Rounds run every configuration one after the other; the
table shows each one's median round and the spread of its req/s.

    python3 bench/cells.py                      # ~1 min
    python3 bench/cells.py --duration 5 --rounds 3 --workers 2
    python3 bench/cells.py --no-postgres        # SQLite only
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "tests"))

import load  # noqa: E402
from pg_cluster import Cluster  # noqa: E402
from targets import Cellstore  # noqa: E402

TENANTS = 8
ITEM_BYTES = 200
LUA = Path(__file__).resolve().parent / "lua" / "put_item_tenants.lua"
#: name -> (backend, cells); 0 cells: plain ``--data-dir``.
CONFIGURATIONS = {
    "plain": ("sqlite", 0), "1 cell": ("sqlite", 1), "2 cells": ("sqlite", 2), "4 cells": ("sqlite", 4),
    "pg 1 cell": ("postgres", 1), "pg 2 cells": ("postgres", 2),
}


def account(k: int) -> str:
    return f"10000000000{k}"


@dataclass
class Deployment(Cellstore):
    """``cellstore serve`` (this interpreter) over a data dir, or over ``cells`` SQLite cells, or PostgreSQL cells."""

    cells: int = 0
    count: int = 2
    postgres: list[str] = field(default_factory=list)  # one DSN per cell: PostgreSQL cells

    def argv(self, data_dir: str) -> list[str]:
        if self.cells:
            storage = self.postgres or [f"c{n}" for n in range(self.cells)]
            text = "".join(f'[cells.c{n}]\nstorage = "{where}"\n' for n, where in enumerate(storage))
            (Path(data_dir) / "cells.toml").write_text(text)
            where = ["--cells", str(Path(data_dir) / "cells.toml")]
        else:
            where = ["--data-dir", data_dir]
        return [sys.executable, "-m", "cellstore", "serve", "--port", str(self.port), "--auth", "none",
                "--workers", str(self.count), *where]


def _call(port: int, tenant: str, operation: str, payload: dict[str, object]) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/", data=json.dumps(payload).encode(), method="POST",
        headers={
            "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"DynamoDB_20120810.{operation}",
            "X-Amz-Date": "20260101T000000Z",
            "Authorization": f"AWS4-HMAC-SHA256 Credential={tenant}/20260101/us-east-1/dynamodb/aws4_request, "
                             "SignedHeaders=host;x-amz-date, Signature=00",
        },
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()


def create_tables(port: int) -> None:
    for k in range(1, TENANTS + 1):
        _call(port, account(k), "CreateTable", {
            "TableName": load.table_for(ITEM_BYTES),
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                     {"AttributeName": "sk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        })


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=3, help="seconds of wrk per configuration")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite configurations only")
    parser.add_argument("--port", type=int, default=18160, help="the first of the ports the servers take, one each")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench cells: wrk is not installed (apt-get install -y wrk); nothing measured")
        return 0
    original = load.WORKLOADS["put_item"]
    load.WORKLOADS["put_item"] = (LUA.name, "PutItem across tenants", 1)
    script_args = load.script_args
    load.script_args = lambda *a: [*script_args(*a), str(TENANTS)]  # type: ignore[assignment]
    results: dict[str, list[load.Cell]] = {}
    configurations = {name: shape for name, shape in CONFIGURATIONS.items()
                      if not (args.no_postgres and shape[0] == "postgres")}
    databases = 0
    stack = ExitStack()
    try:
        cluster = None if args.no_postgres else Cluster().start()
        if cluster is not None:
            stack.callback(cluster.stop)
        for _ in range(args.rounds):
            for port, (name, (backend, cells)) in enumerate(configurations.items(), start=args.port):
                dsns = []
                if backend == "postgres" and cluster is not None:
                    for _ in range(cells):  # fresh databases each round: every round starts empty
                        databases += 1
                        dsns.append(cluster.create_database(f"bench{databases}"))
                with Deployment("cellstore", name, port, cells=cells, count=args.workers, postgres=dsns) as server:
                    server.start(None)
                    create_tables(server.port)
                    cell = load.measure("cellstore", server.pid, server.port, "put_item", connections=args.connections,
                                        item_bytes=ITEM_BYTES, partitions=1, duration=args.duration, cpu=None)
                    results.setdefault(name, []).append(cell)
    finally:
        stack.close()
        load.WORKLOADS["put_item"] = original
        load.script_args = script_args
    print(f"PutItem across {TENANTS} tenants: {args.connections} connections, {ITEM_BYTES}-byte items, "
          f"--workers {args.workers}, {args.duration} s x {args.rounds} round(s)")
    print(f"{'':12}{'req/s':>9}{'spread':>13}{'÷ 1 cell':>10}{'÷ pg 1':>8}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'CPU µs/req':>12}{'others %':>10}{'errors':>8}")
    median = {name: _median(cells) for name, cells in results.items()}
    one, pg_one = median.get("1 cell"), median.get("pg 1 cell")
    for name, cell in median.items():
        rates = [c.rps for c in results[name]]
        spread = f"{min(rates):.0f}-{max(rates):.0f}"
        ratio = f"{cell.rps / one.rps:.2f}×" if one is not None else "-"
        pg_ratio = f"{cell.rps / pg_one.rps:.2f}×" if pg_one is not None and name.startswith("pg") else "-"
        print(f"{name:12}{cell.rps:>9.0f}{spread:>13}{ratio:>10}{pg_ratio:>8}{cell.p50_ms:>9.2f}{cell.p99_ms:>9.2f}"
              f"{cell.cpu_us_per_request:>12.0f}{cell.other_cpu_pct:>10.0f}{cell.errors:>8}")
    plain = median.get("plain")
    if plain is not None and one is not None:
        extra = one.cpu_us_per_request / plain.cpu_us_per_request - 1
        print(f"router's cost (1 cell vs plain): {extra * 100:+.0f}% server CPU per request")
    print("Each configuration's median round by req/s (spread: all rounds' req/s).  others %: CPU other processes on "
          "the machine used meanwhile: noise.  PostgreSQL's own CPU is not in CPU µs/req.")
    return 0


def _median(cells: list[load.Cell]) -> load.Cell:
    """The round whose req/s is the median (the lower middle one of an even count)."""
    ordered = sorted(cells, key=lambda cell: cell.rps)
    return ordered[(len(ordered) - 1) // 2]


if __name__ == "__main__":
    sys.exit(main())
