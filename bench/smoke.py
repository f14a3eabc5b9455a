"""A few seconds of benchmark: cellstore's served PutItem/GetItem/Query as ratios to its ceilings.

Not a test: it prints numbers and never fails on them.  The ceilings are the
bare app on cellstore's own HTTP server (bench/bare_http.py) and raw
SQLite point operations from Python (bench/rawsqlite.py); both are one
process, so cellstore runs with ``--workers 1`` here.  Then one SQS
send+receive+delete cycle workload, in cycles per second (no ceiling).
Needs wrk and the project's .venv; no peers.  The full comparison is
bench/run.py.

    python3 bench/smoke.py
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dynamo
import load
import sqs
from targets import BENCH, MAIN_PYTHON, BareHttp, CellstoreOneWorker

PARTITIONS = 50
WORKLOADS = ["put_item", "get_item", "query"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=1, help="seconds of wrk per workload")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench smoke: wrk is not installed (apt-get install -y wrk); nothing measured")
        return 0
    shape = {"connections": args.connections, "item_bytes": 200, "partitions": PARTITIONS,
             "duration": args.duration, "cpu": None}

    raw = {r["workload"]: r for r in json.loads(subprocess.run(
        [str(MAIN_PYTHON), str(BENCH / "rawsqlite.py"), "--seconds", "0.5"],
        check=True, capture_output=True, text=True).stdout)}
    with BareHttp("bare-http", "bare app", 18051, dynamodb=False) as bare:
        bare.start(None)
        ceiling = load.measure("bare-http", bare.pid, bare.port, "put_item", **shape)
    cells = {}
    with CellstoreOneWorker("cellstore", "cellstore", 18050) as cellstore:
        cellstore.start(None)
        client = dynamo.Client(cellstore.port)
        dynamo.create_table(client, load.table_for(200))
        dynamo.preload(client, load.table_for(200), 200, PARTITIONS)
        client.close()
        queue_client = sqs.Client(cellstore.port)
        queue_url = sqs.create_queue(queue_client, sqs.queue_for(200), 200)
        queue_client.close()
        for workload in WORKLOADS:
            cells[workload] = load.measure("cellstore", cellstore.pid, cellstore.port, workload, **shape)
        cycle = load.measure("cellstore", cellstore.pid, cellstore.port, "sqs_cycle", queue_url=queue_url, **shape)

    print(f"cellstore smoke benchmark (one worker): {args.connections} connections, 200-byte items, "
          f"{args.duration} s each")
    print(f"{'':18}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'CPU µs/req':>12}"
          f"{'÷ bare app':>13}{'CPU ÷ raw SQLite':>18}")
    print(f"{'bare app':18}{ceiling.rps:>9.0f}{ceiling.p50_ms:>9.2f}{ceiling.p99_ms:>9.2f}"
          f"{ceiling.cpu_us_per_request:>12.0f}")
    for workload, cell in cells.items():
        storage = raw[workload]["cpu_us_per_request"]
        print(f"{load.WORKLOADS[workload][1]:18}{cell.rps:>9.0f}{cell.p50_ms:>9.2f}{cell.p99_ms:>9.2f}"
              f"{cell.cpu_us_per_request:>12.0f}{cell.rps / ceiling.rps:>12.2f}×"
              f"{cell.cpu_us_per_request / storage:>17.1f}×")
    print(f"{'SQS cycle':18}{cycle.rps:>9.0f}{cycle.p50_ms:>9.2f}{cycle.p99_ms:>9.2f}"
          f"{cycle.cpu_us_per_request:>12.0f}   cycles/s: send+receive+delete, {cycle.errors} errors")
    print("÷ bare app: share of the HTTP stack's ceiling (1× = no cost beyond HTTP). "
          "CPU ÷ raw SQLite: server CPU per request over SQLite's own (1× = storage-bound). "
          "SQS cycle: latency per request, CPU per cycle.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
