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
* ``pg plain``: ``serve --storage`` over one such database (no router: a
  one-backend PostgreSQL server, its requests on storage threads);
* ``pg 1 cell``, ``pg 2 cells``: the same over PostgreSQL cells, each a fresh
  database of one throwaway cluster on loopback (tests/pg_cluster.py, which
  installs Debian's postgresql if it is missing; ``--no-postgres`` skips
  them).  One cluster, so ``pg 2 cells`` are two writers (two databases, two
  advisory locks) sharing one server's WAL and CPU.  Server CPU counts
  cellstore's processes only, not PostgreSQL's backends: compare req/s.

``plain`` against ``1 cell`` is the router's cost (the bulkhead's thread
hop per request), in server CPU per request; ``N cells`` against ``1 cell``
is what more writers buy (``pg N cells`` against ``pg 1 cell`` too, in the
last column); ``pg 1 cell`` against ``pg plain`` is the router's cost on
PostgreSQL, in req/s.  Rounds run every configuration one after the other;
the table shows each one's median round and the spread of its req/s, and
the ratios below it are taken within each round (the machine's noise is
shared by the two sides of a ratio), median and spread over the rounds;
every other round runs the configurations in reverse order.

``--baseline SRC`` also runs every PostgreSQL configuration with another
checkout's ``src/`` (named ``... @base``) in the same rounds: a change
measured before and after in the same conditions.  ``--workload get_item``
measures GetItem of items preloaded in each tenant instead of PutItem.

    python3 bench/cells.py                      # ~1 min
    python3 bench/cells.py --duration 5 --rounds 3 --workers 2
    python3 bench/cells.py --no-postgres        # SQLite only
    python3 bench/cells.py --only "pg plain,pg 1 cell,pg 2 cells" --baseline /tmp/before/src --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
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
GET_LUA = Path(__file__).resolve().parent / "lua" / "get_item_tenants.lua"
#: Partitions of 10 items each preloaded in every tenant for ``--workload get_item``.
PARTITIONS = 10
#: name -> (backend, cells); 0 cells: plain ``--data-dir`` (or ``--storage``).
CONFIGURATIONS = {
    "plain": ("sqlite", 0), "1 cell": ("sqlite", 1), "2 cells": ("sqlite", 2), "4 cells": ("sqlite", 4),
    "pg plain": ("postgres", 0), "pg 1 cell": ("postgres", 1), "pg 2 cells": ("postgres", 2),
}
#: Ratios within a round, printed under the table: (numerator, denominator).
RATIOS = [("pg 1 cell", "pg plain"), ("pg 2 cells", "pg 1 cell"), ("pg 1 cell", "1 cell")]


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
        elif self.postgres:
            where = ["--storage", self.postgres[0]]
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


def create_tables(port: int, *, preload: bool = False) -> None:
    """Each tenant's table; with ``preload``, its ``PARTITIONS`` partitions of sort keys "0".."9" (GetItem's)."""
    table = load.table_for(ITEM_BYTES)
    for k in range(1, TENANTS + 1):
        _call(port, account(k), "CreateTable", {
            "TableName": table,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                     {"AttributeName": "sk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        })
        if not preload:
            continue
        items = [{"pk": {"S": f"q{p}"}, "sk": {"S": str(s)}, "n": {"N": "1"}, "data": {"S": "x" * (ITEM_BYTES - 30)}}
                 for p in range(PARTITIONS) for s in range(10)]
        for start in range(0, len(items), 25):
            _call(port, account(k), "BatchWriteItem", {"RequestItems": {
                table: [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]}})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=3, help="seconds of wrk per configuration")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite configurations only")
    parser.add_argument("--port", type=int, default=18160, help="the first of the ports the servers take, one each")
    parser.add_argument("--only", help="comma-separated configurations to run (default: all): " + ", ".join(CONFIGURATIONS))
    parser.add_argument("--baseline", metavar="SRC", help="another checkout's src/: its PostgreSQL configurations too, "
                        "each round")
    parser.add_argument("--workload", choices=("put_item", "get_item"), default="put_item")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every round's figures to FILE (JSON)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench cells: wrk is not installed (apt-get install -y wrk); nothing measured")
        return 0
    workload = args.workload
    original = load.WORKLOADS[workload]
    load.WORKLOADS[workload] = ((LUA if workload == "put_item" else GET_LUA).name,
                                f"{'PutItem' if workload == 'put_item' else 'GetItem'} across tenants", 1)
    script_args = load.script_args
    load.script_args = lambda *a: [*script_args(*a), str(TENANTS)]  # type: ignore[assignment]
    results: dict[str, list[load.Cell]] = {}
    wanted = None if args.only is None else {name.strip() for name in args.only.split(",")}
    configurations: dict[str, tuple[str, int, str | None]] = {}
    for name, (backend, cells) in CONFIGURATIONS.items():
        if (args.no_postgres and backend == "postgres") or (wanted is not None and name not in wanted):
            continue
        configurations[name] = (backend, cells, None)
        if args.baseline and backend == "postgres":
            configurations[f"{name} @base"] = (backend, cells, str(Path(args.baseline).resolve()))
    rounds: list[dict[str, load.Cell]] = []
    databases = 0
    stack = ExitStack()
    try:
        needs_postgres = any(backend == "postgres" for backend, _, _ in configurations.values())
        cluster = Cluster().start() if needs_postgres else None
        if cluster is not None:
            stack.callback(cluster.stop)
        for number in range(args.rounds):
            measured: dict[str, load.Cell] = {}
            ordered = list(enumerate(configurations.items(), start=args.port))
            if number % 2:  # every other round in reverse: neither side of a ratio always runs first
                ordered.reverse()
            for port, (name, (backend, cells, src)) in ordered:
                dsns = []
                if backend == "postgres" and cluster is not None:
                    for _ in range(max(cells, 1)):  # fresh databases each round: every round starts empty
                        databases += 1
                        dsns.append(cluster.create_database(f"bench{databases}"))
                with Deployment("cellstore", name, port, cells=cells, count=args.workers, postgres=dsns) as server:
                    _start(server, src)
                    create_tables(server.port, preload=workload == "get_item")
                    cell = load.measure("cellstore", server.pid, server.port, workload, connections=args.connections,
                                        item_bytes=ITEM_BYTES, partitions=PARTITIONS, duration=args.duration, cpu=None)
                    measured[name] = cell
                    results.setdefault(name, []).append(cell)
            rounds.append(measured)
    finally:
        stack.close()
        load.WORKLOADS[workload] = original
        load.script_args = script_args
    print(f"{'PutItem' if workload == 'put_item' else 'GetItem'} across {TENANTS} tenants: {args.connections} "
          f"connections, {ITEM_BYTES}-byte items, --workers {args.workers}, {args.duration} s x {args.rounds} round(s)")
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
    for suffix in ("", " @base") if args.baseline else ("",):
        for top, bottom in RATIOS:
            over, under = _named(top, suffix), _named(bottom, suffix)
            ratios = sorted(r[over].rps / r[under].rps for r in rounds if over in r and under in r)
            if ratios:
                print(f"req/s {over} ÷ {under}, within each round: median {ratios[(len(ratios) - 1) // 2]:.2f}× "
                      f"({ratios[0]:.2f} .. {ratios[-1]:.2f}), {len(ratios)} round(s)")
    if args.json is not None:
        args.json.write_text(json.dumps([{name: {"rps": cell.rps, "cpu_us": cell.cpu_us_per_request, "p50_ms": cell.p50_ms,
                                                 "p99_ms": cell.p99_ms, "others_pct": cell.other_cpu_pct,
                                                 "errors": cell.errors}
                                          for name, cell in measured.items()} for measured in rounds], indent=1))
    if args.baseline:
        for name in CONFIGURATIONS:
            pairs = [(r[name], r[f"{name} @base"]) for r in rounds if name in r and f"{name} @base" in r]
            if pairs:
                ratios = sorted(a.rps / b.rps for a, b in pairs)
                print(f"req/s {name} ÷ {name} @base, within each round: median {ratios[(len(ratios) - 1) // 2]:.2f}× "
                      f"({ratios[0]:.2f} .. {ratios[-1]:.2f})")
    return 0


def _named(name: str, suffix: str) -> str:
    """A configuration's name in the baseline's runs (``suffix``): only PostgreSQL ones have a baseline."""
    return name + suffix if name.startswith("pg") else name


def _start(server: Deployment, src: str | None) -> None:
    """Start ``server``, with ``src`` (another checkout's ``src/``) first on its PYTHONPATH if given."""
    saved = os.environ.get("PYTHONPATH")
    if src is not None:
        os.environ["PYTHONPATH"] = src
    try:
        server.start(None)
    finally:
        if src is not None:
            os.environ.pop("PYTHONPATH", None)
            if saved is not None:
                os.environ["PYTHONPATH"] = saved


def _median(cells: list[load.Cell]) -> load.Cell:
    """The round whose req/s is the median (the lower middle one of an even count)."""
    ordered = sorted(cells, key=lambda cell: cell.rps)
    return ordered[(len(ordered) - 1) // 2]


if __name__ == "__main__":
    sys.exit(main())
