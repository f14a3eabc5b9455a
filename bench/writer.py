"""The write path under ``--workers``: one worker, workers sharing the flock, workers with the writer process.

Not a test: it prints numbers and never fails on them.  For each
configuration it starts ``cellstore serve --data-dir`` and runs wrk on
PutItem and on the SQS send → receive → delete cycle, then prints
throughput, latency and server CPU (the whole process tree) per request.
Configurations are run ``--rounds`` times, interleaved, so a noisy
neighbour spreads over all of them rather than spoiling one.

    python3 bench/writer.py                       # 1 worker, 2 workers (flock), 2 workers (writer)
    python3 bench/writer.py --duration 5 --rounds 3
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dynamo
import load
import sqs
from targets import MAIN_PYTHON, Cellstore

PARTITIONS = 50
WORKLOADS = ("put_item", "sqs_cycle")


@dataclass
class Configured(Cellstore):
    """``cellstore serve --data-dir`` with ``--workers`` and extra flags (``--no-writer``)."""

    count: int = 1
    extra: tuple[str, ...] = ()

    def argv(self, data_dir: str) -> list[str]:
        return [*super().argv(data_dir), "--workers", str(self.count), *self.extra]


CONFIGURATIONS = {
    "1 worker": (1, ()),
    "2 workers, flock": (2, ("--no-writer",)),
    "2 workers, writer": (2, ()),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=3, help="seconds of wrk per cell")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--only", nargs="*", choices=list(CONFIGURATIONS), help="configurations to run")
    parser.add_argument("--port", type=int, default=18060,
                        help="first of the ports the configurations listen on, one each (default: 18060)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench writer: wrk is not installed (apt-get install -y wrk); nothing measured")
        return 0
    shape = {"connections": args.connections, "item_bytes": 200, "partitions": PARTITIONS,
             "duration": args.duration, "cpu": None}
    names = args.only or list(CONFIGURATIONS)
    results: dict[tuple[str, str], list[load.Cell]] = {}
    for _ in range(args.rounds):
        for port, name in enumerate(names, start=args.port):
            workers, extra = CONFIGURATIONS[name]
            with Configured("cellstore", name, port, count=workers, extra=extra) as server:
                server.start(None)
                client = dynamo.Client(server.port)
                dynamo.create_table(client, load.table_for(200))
                dynamo.preload(client, load.table_for(200), 200, PARTITIONS)
                client.close()
                queue_client = sqs.Client(server.port)
                queue_url = sqs.create_queue(queue_client, sqs.queue_for(200), 200)
                queue_client.close()
                for workload in WORKLOADS:
                    cell = load.measure("cellstore", server.pid, server.port, workload,
                                        queue_url=queue_url if workload == "sqs_cycle" else None, **shape)
                    results.setdefault((name, workload), []).append(cell)
    print(f"write path: {args.connections} connections, 200-byte items, {args.duration} s × {args.rounds} "
          f"round(s); python {MAIN_PYTHON}")
    print(f"{'':22}{'workload':>11}{'req/s':>9}{'÷ 1 worker':>11}{'p50 ms':>9}{'p99 ms':>9}{'CPU µs/req':>12}"
          f"{'others %':>10}{'errors':>8}")
    best = {key: max(cells, key=lambda cell: cell.rps) for key, cells in results.items()}  # least disturbed round
    for (name, workload), cell in best.items():
        one = best.get(("1 worker", workload))
        ratio = f"{cell.rps / one.rps:.2f}×" if one is not None else "-"
        print(f"{name:22}{workload:>11}{cell.rps:>9.0f}{ratio:>11}{cell.p50_ms:>9.2f}{cell.p99_ms:>9.2f}"
              f"{cell.cpu_us_per_request:>12.0f}{cell.other_cpu_pct:>10.0f}{cell.errors:>8}")
    print("Each configuration's best round.  sqs_cycle counts complete send+receive+delete cycles; CPU is per "
          "cycle.  others %: CPU other processes on the machine used meanwhile (of one core): noise.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
