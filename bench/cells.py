"""Cells on one machine: PutItem across tenants on 1, 2 and 4 SQLite cells, and the router's own cost.

Not a test: it prints numbers and never fails on them.  SQLite has one
writer per database, so N SQLite cells are N writers; with tenants spread
over them, writes that one file serialises can run side by side.  Every
configuration serves the same 8 tenants (access key ids 100000000001..8,
``--auth none``) with the same ``--workers``; wrk rotates its requests over
the tenants (``lua/put_item_tenants.lua``).  Configurations:

* ``plain``: ``serve --data-dir`` (no router: every tenant in one backend);
* ``1 cell``, ``2 cells``, ``4 cells``: ``serve --cells`` over that many SQLite
  cells, tenants placed by the policy (least loaded: evenly).

``plain`` against ``1 cell`` is the router's cost (the bulkhead's thread
hop per request), in server CPU per request; ``N cells`` against ``1 cell``
is what more writers buy.

    python3 bench/cells.py                      # ~1 min
    python3 bench/cells.py --duration 5 --rounds 3 --workers 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import load
from targets import Cellstore

TENANTS = 8
ITEM_BYTES = 200
LUA = Path(__file__).resolve().parent / "lua" / "put_item_tenants.lua"
CONFIGURATIONS = {"plain": 0, "1 cell": 1, "2 cells": 2, "4 cells": 4}


def account(k: int) -> str:
    return f"10000000000{k}"


@dataclass
class Deployment(Cellstore):
    """``cellstore serve`` (this interpreter) over a data dir, or over ``cells`` SQLite cells."""

    cells: int = 0
    count: int = 2

    def argv(self, data_dir: str) -> list[str]:
        if self.cells:
            text = "".join(f'[cells.c{n}]\nstorage = "c{n}"\n' for n in range(self.cells))
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
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench cells: wrk is not installed (apt-get install -y wrk); nothing measured")
        return 0
    original = load.WORKLOADS["put_item"]
    load.WORKLOADS["put_item"] = (LUA.name, "PutItem across tenants", 1)
    script_args = load.script_args
    load.script_args = lambda *a: [*script_args(*a), str(TENANTS)]  # type: ignore[assignment]
    results: dict[str, list[load.Cell]] = {}
    try:
        for _ in range(args.rounds):
            for port, (name, cells) in enumerate(CONFIGURATIONS.items(), start=18160):
                with Deployment("cellstore", name, port, cells=cells, count=args.workers) as server:
                    server.start(None)
                    create_tables(server.port)
                    cell = load.measure("cellstore", server.pid, server.port, "put_item", connections=args.connections,
                                        item_bytes=ITEM_BYTES, partitions=1, duration=args.duration, cpu=None)
                    results.setdefault(name, []).append(cell)
    finally:
        load.WORKLOADS["put_item"] = original
        load.script_args = script_args
    print(f"PutItem across {TENANTS} tenants: {args.connections} connections, {ITEM_BYTES}-byte items, "
          f"--workers {args.workers}, {args.duration} s x {args.rounds} round(s)")
    print(f"{'':10}{'req/s':>9}{'÷ 1 cell':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU µs/req':>12}{'others %':>10}{'errors':>8}")
    best = {name: max(cells, key=lambda cell: cell.rps) for name, cells in results.items()}
    one = best.get("1 cell")
    for name, cell in best.items():
        ratio = f"{cell.rps / one.rps:.2f}×" if one is not None else "-"
        print(f"{name:10}{cell.rps:>9.0f}{ratio:>10}{cell.p50_ms:>9.2f}{cell.p99_ms:>9.2f}"
              f"{cell.cpu_us_per_request:>12.0f}{cell.other_cpu_pct:>10.0f}{cell.errors:>8}")
    plain = best.get("plain")
    if plain is not None and one is not None:
        extra = one.cpu_us_per_request / plain.cpu_us_per_request - 1
        print(f"router's cost (1 cell vs plain): {extra * 100:+.0f}% server CPU per request")
    print("Each configuration's best round.  others %: CPU other processes on the machine used meanwhile: noise.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
