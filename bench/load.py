"""One benchmark cell: wrk against a running server, plus the server's CPU time.

A cell is (workload, connections, item size).  wrk's Lua ``done()`` hook
(bench/lua/common.lua) prints its counters and latency percentiles as one
JSON line; server CPU is utime+stime of the server's whole process tree
(a ``--workers N`` cellstore works in forked children) from /proc, before and
after.

A cell's rate is per *unit*: a request for the DynamoDB workloads, a whole
send+receive+delete cycle (three requests) for ``sqs_cycle``; ``http_rps``
is always HTTP requests per second, and latencies are always per request.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from dataclasses import asdict, dataclass
from typing import Any

from targets import BENCH, cpu_seconds

LUA = BENCH / "lua"

#: Workload id -> (wrk script, what the report calls it, operations per unit).
WORKLOADS: dict[str, tuple[str, str, int]] = {
    "put_item": ("put_item.lua", "PutItem", 1),
    "get_item": ("get_item.lua", "GetItem", 1),
    "query": ("query.lua", "Query (10 items)", 1),
    "update_item": ("update_item.lua", "UpdateItem (condition + ADD)", 1),
    "batch_write": ("batch_write.lua", "BatchWriteItem (25)", 25),
    "transact_write": ("transact_write.lua", "TransactWriteItems (4)", 4),
    "sqs_cycle": ("sqs_cycle.lua", "SQS send+receive+delete", 3),
}
#: Workloads on an SQS queue rather than a DynamoDB table; their unit is a cycle.
SQS_WORKLOADS = frozenset({"sqs_cycle"})


@dataclass
class Cell:
    target: str
    workload: str
    connections: int
    item_bytes: int
    duration_s: float
    requests: int  # HTTP requests completed
    rps: float  # units per second: requests, or cycles for an SQS workload
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    server_cpu_s: float
    server_cpu_pct: float  # of one core, over the cell's wall time (a multi-process server can pass 100)
    cpu_us_per_request: float  # per unit: per request, or per cycle
    wrk_cpu_pct: float  # the load generator's own CPU, of one core
    other_cpu_pct: float  # everything else on the machine meanwhile, of one core: noise
    waited_s: float  # how long the cell waited for the machine to be quiet first
    unit: str  # "request" or "cycle"
    http_rps: float  # HTTP requests per second, whatever the unit
    server_processes: int  # processes in the server's tree at the end (workers + supervisor)
    ops: dict[str, int] | None  # an SQS cycle's per-operation counters (bench/lua/sqs_cycle.lua)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def table_for(item_bytes: int) -> str:
    return f"bench{item_bytes}"


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine so far (all cores), from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def wait_quiet(max_wait: float, threshold_pct: float = 25.0) -> float:
    """Wait (up to ``max_wait`` s) until other processes use under ``threshold_pct`` of a core.

    Benchmarks share the machine with whatever else runs on it; waiting for a
    quiet moment keeps another process's burst out of a cell.  Returns the wait.
    """
    start = time.monotonic()
    while time.monotonic() - start < max_wait:
        before = machine_busy()
        time.sleep(0.5)
        if 100 * (machine_busy() - before) / 0.5 < threshold_pct:
            break
    return round(time.monotonic() - start, 1)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def script_args(workload: str, item_bytes: int, partitions: int, queue_url: str | None) -> list[str]:
    """What the workload's Lua script takes after wrk's ``--``."""
    if workload in SQS_WORKLOADS:
        if queue_url is None:
            raise ValueError(f"{workload} needs a queue URL")
        return [queue_url, str(item_bytes)]
    return [table_for(item_bytes), str(item_bytes), str(partitions)]


def run_wrk(
    workload: str,
    port: int,
    *,
    connections: int,
    item_bytes: int,
    partitions: int,
    duration: int,
    cpu: int | None,
    queue_url: str | None = None,
) -> dict[str, Any]:
    script = LUA / WORKLOADS[workload][0]
    argv = [
        "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
        "-s", str(script), f"http://127.0.0.1:{port}/",
        "--", *script_args(workload, item_bytes, partitions, queue_url),
    ]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line.removeprefix("BENCH_JSON "))
    raise RuntimeError(f"wrk printed no result: {out.stdout}\n{out.stderr}")


def measure(
    target: str,
    pid: int,
    port: int,
    workload: str,
    *,
    connections: int,
    item_bytes: int,
    partitions: int,
    duration: int,
    cpu: int | None,
    quiet_wait: float = 0.0,
    queue_url: str | None = None,
) -> Cell:
    waited = wait_quiet(quiet_wait) if quiet_wait else 0.0
    (before, _), busy_before, wrk_before = cpu_seconds(pid), machine_busy(), _children_cpu()
    raw = run_wrk(workload, port, connections=connections, item_bytes=item_bytes,
                  partitions=partitions, duration=duration, cpu=cpu, queue_url=queue_url)
    after, processes = cpu_seconds(pid)
    used = after - before
    wrk_used = _children_cpu() - wrk_before
    other = max(0.0, machine_busy() - busy_before - used - wrk_used)
    wall = raw["duration_us"] / 1e6
    requests = raw["requests"]
    units = raw.get("cycles", requests)  # the SQS script counts cycles; otherwise a unit is a request
    latency = raw["latency_us"]
    # wrk counts answers >= 400 as status errors; the SQS script counts every non-2xx.
    errors = raw["errors"]
    failed = sum(errors.values()) + max(0, raw.get("non2xx", 0) - errors["status"])
    return Cell(
        target=target,
        workload=workload,
        connections=connections,
        item_bytes=item_bytes,
        duration_s=round(wall, 3),
        requests=requests,
        rps=round(units / wall, 1),
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        max_ms=latency["max"] / 1000,
        errors=failed,
        server_cpu_s=round(used, 3),
        server_cpu_pct=round(100 * used / wall, 1),
        cpu_us_per_request=round(1e6 * used / units, 1) if units else 0.0,
        wrk_cpu_pct=round(100 * wrk_used / wall, 1),
        other_cpu_pct=round(100 * other / wall, 1),
        waited_s=waited,
        unit="cycle" if "cycles" in raw else "request",
        http_rps=round(requests / wall, 1),
        server_processes=processes,
        ops=raw.get("ops"),
    )
