"""The cell router's own cost: server CPU per PutItem with one cell (``--cells``) against none (``--data-dir``).

Not a test: it prints numbers and never fails on them.  Both servers run
``--workers 1``, so the only difference is the router: without cells the
event loop runs each storage call itself; with one cell the router looks the
account up in its cached map and runs the call on the cell's bulkhead
thread, handing the loop a ``Wait`` (docs/CELLS.md, "Bulkheads").  The two
configurations alternate round by round (``plain``, ``1 cell``, ``plain``,
...) so both see the same machine; the figure is the ratio of CPU per
request within each round, reported as the median over the rounds and
their spread.  The issue's target is +5% at most.

    python3 bench/cells_router.py                   # ~1 min
    python3 bench/cells_router.py --rounds 5 --duration 5 --connections 16
    git archive <commit> src | tar -x -C /tmp/before
    python3 bench/cells_router.py --baseline /tmp/before/src   # also "1 cell" as of <commit>, same rounds
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import load
from cells import ITEM_BYTES, LUA, TENANTS, Deployment, create_tables


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=4, help="seconds of wrk per configuration and round")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1,
                        help="server processes (above 1, plain hands its writes to the writer process: "
                             "compare 1 cell with --baseline then)")
    parser.add_argument("--baseline", metavar="SRC", help="another checkout's src/: measure its 1 cell too, each round")
    args = parser.parse_args()
    configurations: list[tuple[str, int, str | None]] = [("plain", 0, None), ("1 cell", 1, None)]
    if args.baseline:
        configurations.append(("baseline", 1, str(Path(args.baseline).resolve())))
    if shutil.which("wrk") is None:
        print("bench cells_router: wrk is not installed (apt-get install -y wrk); nothing measured")
        return 0
    original = load.WORKLOADS["put_item"]
    load.WORKLOADS["put_item"] = (LUA.name, "PutItem across tenants", 1)
    script_args = load.script_args
    load.script_args = lambda *a: [*script_args(*a), str(TENANTS)]  # type: ignore[assignment]
    rounds: list[dict[str, load.Cell]] = []
    try:
        for _ in range(args.rounds):
            measured: dict[str, load.Cell] = {}
            for port, (name, cells, src) in enumerate(configurations, start=18170):
                with Deployment("cellstore", name, port, cells=cells, count=args.workers) as server:
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
                    create_tables(server.port)
                    measured[name] = load.measure(
                        "cellstore", server.pid, server.port, "put_item", connections=args.connections,
                        item_bytes=ITEM_BYTES, partitions=1, duration=args.duration, cpu=None,
                    )
            rounds.append(measured)
    finally:
        load.WORKLOADS["put_item"] = original
        load.script_args = script_args
    print(f"PutItem across {TENANTS} tenants, --workers {args.workers}: {args.connections} connections, {ITEM_BYTES}-byte items, "
          f"{args.duration} s per configuration, {args.rounds} interleaved round(s)")
    print(f"{'round':>5}{'plain req/s':>13}{'1 cell req/s':>14}{'plain µs/req':>14}{'1 cell µs/req':>15}"
          f"{'router':>9}{'p99 plain':>11}{'p99 cell':>10}{'errors':>8}")
    costs, baseline_costs = [], []
    for number, measured in enumerate(rounds, start=1):
        plain, one = measured["plain"], measured["1 cell"]
        cost = one.cpu_us_per_request / plain.cpu_us_per_request - 1
        costs.append(cost)
        print(f"{number:>5}{plain.rps:>13.0f}{one.rps:>14.0f}{plain.cpu_us_per_request:>14.0f}"
              f"{one.cpu_us_per_request:>15.0f}{cost * 100:>+8.0f}%{plain.p99_ms:>11.2f}{one.p99_ms:>10.2f}"
              f"{plain.errors + one.errors:>8}")
        base = measured.get("baseline")
        if base is not None:
            baseline_costs.append(base.cpu_us_per_request / plain.cpu_us_per_request - 1)
            print(f"{'':>5}{'baseline:':>13}{base.rps:>14.0f}{'':>14}{base.cpu_us_per_request:>15.0f}"
                  f"{baseline_costs[-1] * 100:>+8.0f}%{'':>11}{base.p99_ms:>10.2f}{base.errors:>8}")
    print(f"router's cost: {_summary(costs)}")
    if baseline_costs:
        print(f"baseline's router cost: {_summary(baseline_costs)}")
    print("others %, the machine's other load meanwhile, per round: "
          + ", ".join("/".join(f"{cell.other_cpu_pct:.0f}" for cell in measured.values()) for measured in rounds))
    return 0


def _summary(costs: list[float]) -> str:
    return (f"{statistics.median(costs) * 100:+.1f}% server CPU per request (median of {len(costs)}; "
            f"spread {min(costs) * 100:+.1f}% .. {max(costs) * 100:+.1f}%)")


if __name__ == "__main__":
    sys.exit(main())
