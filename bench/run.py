"""Benchmark cellstore against its peers in one run, and write docs/BENCHMARKS.md.

Served workloads (bench/lua/*.lua, driven by wrk) run against cellstore and
every peer on the same machine, one server at a time, the server pinned to
core 0 and wrk to core 1.  Then the storage ceiling (raw SQLite), a profile
of cellstore's hot path (py-spy) and the in-process comparison (boto3 on
cellstore's in_process vs moto's mock_aws).  Results go to
bench/results/latest.json and from there to docs/BENCHMARKS.md + PNG.

    python3 bench/run.py                 # everything, ~14 minutes
    python3 bench/run.py --quick         # 16 connections, 200-byte items only
    python3 bench/run.py --render-only   # re-render the doc from latest.json

Needs wrk (apt-get install -y wrk), node and npm; installs moto, dynalite,
matplotlib and py-spy under bench/.peers/ on first use.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dynamo  # noqa: E402
import hotspots  # noqa: E402
import load  # noqa: E402
from targets import BENCH, MAIN_PYTHON, PEERS_PYTHON, Target, all_targets, ensure_peers, require_wrk  # noqa: E402

RESULTS = BENCH / "results"
SERVER_CPU, LOAD_CPU = 0, 1
PARTITIONS = 200  # preloaded partitions of 10 items each

#: (connections, item bytes) combinations: 200-byte items at every connection
#: count, 4 KB items at 16 connections only, to keep a full run short.
FULL_SHAPES = [(1, 200), (16, 200), (64, 200), (16, 4096)]
QUICK_SHAPES = [(16, 200)]
PROFILED = ["put_item", "get_item", "query"]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def shapes_for(target: Target, shapes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    if target.name == "cellstore-mem":  # a storage comparison point, not a full matrix
        return [s for s in shapes if s == (16, 200)]
    return shapes


def workloads_for(target: Target, workloads: list[str]) -> list[str]:
    if not target.dynamodb:
        return ["put_item"]  # the bare app ignores the body: one workload is enough
    return workloads


def prepare(target: Target, sizes: set[int]) -> None:
    if not target.dynamodb:
        return
    client = dynamo.Client(target.port)
    try:
        for size in sorted(sizes):
            dynamo.create_table(client, load.table_for(size))
            dynamo.preload(client, load.table_for(size), size, PARTITIONS)
    finally:
        client.close()


def bench_all(targets: list[Target], args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every cell against every target, targets interleaved cell by cell.

    All servers run at once (an idle server costs nothing), and each cell is
    measured on every target back to back, ``--rounds`` times, keeping each
    target's best round: on a machine shared with other work, a burst of
    someone else's CPU then hits one short round of one target rather than a
    whole target's results.
    """
    cells: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    cpu = LOAD_CPU if args.pin else None
    running: list[Target] = []
    try:
        for target in targets:
            try:
                target.start(SERVER_CPU if args.pin else None)
                t = time.monotonic()
                prepare(target, {size for _, size in shapes_for(target, args.shapes)})
                log(f"{target.label}: started, preloaded in {time.monotonic() - t:.1f}s")
                load.run_wrk("get_item" if target.dynamodb else "put_item", target.port, connections=16,
                             item_bytes=200, partitions=PARTITIONS, duration=1, cpu=cpu)
                running.append(target)
            except Exception as exc:  # a peer that cannot start is reported, not fatal
                log(f"{target.name} failed to start: {exc}")
                target.stop()
                failures.append({"target": target.name, "workload": "*", "error": str(exc)})
        failures += [{"target": t.name, "workload": w, "error": "not implemented"}
                     for t in running for w in args.workloads if w in t.unsupported]
        for workload, connections, size in [(w, c, b) for w in args.workloads for c, b in args.shapes]:
            takers = [t for t in running if workload in workloads_for(t, args.workloads)
                      and workload not in t.unsupported and (connections, size) in shapes_for(t, args.shapes)]
            best: dict[str, dict[str, Any]] = {}
            rounds: dict[str, list[float]] = {t.name: [] for t in takers}
            for _ in range(args.rounds):
                for target in takers:
                    cell = load.measure(
                        target.name, target.pid, target.port, workload,
                        connections=connections, item_bytes=size, partitions=PARTITIONS,
                        duration=args.duration, cpu=cpu, quiet_wait=args.quiet_wait,
                    ).as_dict()
                    rounds[target.name].append(cell["rps"])
                    if target.name not in best or cell["rps"] > best[target.name]["rps"]:
                        best[target.name] = cell
            for target in takers:
                cell = best[target.name]
                cell["rounds_rps"] = rounds[target.name]
                log(f"{target.name:17} {workload:15} c={connections:<3} {size:>5}B "
                    f"{cell['rps']:>9.0f} req/s  p50 {cell['p50_ms']:7.2f} ms  p99 {cell['p99_ms']:7.2f} ms  "
                    f"cpu {cell['server_cpu_pct']:5.1f}%  other {cell['other_cpu_pct']:5.1f}%  errors {cell['errors']}")
                if cell["requests"] == 0:
                    failures.append({"target": target.name, "workload": workload,
                                     "error": f"no request completed in {args.duration} s ({connections} conn, {size} B)"})
                elif cell["errors"] > 0.01 * cell["requests"]:
                    failures.append({"target": target.name, "workload": workload,
                                     "error": f"{cell['errors']} of {cell['requests']} requests failed "
                                              f"({connections} conn, {size} B)"})
                cells.append(cell)
    finally:
        for target in running:
            target.stop()
    return cells, failures


def profile(args: argparse.Namespace, pin: bool) -> dict[str, Any]:
    """py-spy over cellstore (SQLite file) under 16 connections, one workload at a time."""
    target = next(t for t in all_targets() if t.name == "cellstore")
    out: dict[str, Any] = {}
    seconds = max(3, int(args.duration))
    with target:
        target.start(SERVER_CPU if pin else None)
        prepare(target, {200})
        for workload in PROFILED:
            argv = ["wrk", "-t1", "-c16", f"-d{seconds + 2}s", "-s", str(load.LUA / load.WORKLOADS[workload][0]),
                    f"http://127.0.0.1:{target.port}/", "--", load.table_for(200), "200", str(PARTITIONS)]
            if pin:
                argv = ["taskset", "-c", str(LOAD_CPU), *argv]
            wrk = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
            time.sleep(1)
            folded = RESULTS / f"profile-{workload}.folded"
            hotspots.record(target.pid, seconds, folded)
            wrk.wait()
            out[workload] = hotspots.summarize(folded, top=20)
            log(f"profiled {workload}: {out[workload]['samples']} samples")
    return out


def raw_sqlite(args: argparse.Namespace) -> list[dict[str, Any]]:
    sizes = sorted({size for _, size in args.shapes})
    argv = [str(MAIN_PYTHON), str(BENCH / "rawsqlite.py"), "--seconds", str(min(2.0, args.duration)),
            "--item-bytes", *map(str, sizes)]
    if args.pin:
        argv = ["taskset", "-c", str(SERVER_CPU), *argv]
    return json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)


def in_process(args: argparse.Namespace) -> dict[str, Any]:
    out = {}
    for impl in ("cellstore", "cellstore-wire", "moto"):
        argv = [str(PEERS_PYTHON), str(BENCH / "inprocess.py"), "--impl", impl, "--repeat", str(args.repeat)]
        if args.pin:
            argv = ["taskset", "-c", str(SERVER_CPU), *argv]
        result = json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)
        out[impl] = result["seconds"]
        log(f"in-process {impl}: {result['seconds']['total']:.2f}s")
    return out


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def machine() -> dict[str, Any]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "os": platform.platform(),
        "python": _version([str(MAIN_PYTHON), "--version"]),
        "sqlite": sqlite3.sqlite_version,
        "node": _version(["node", "--version"]),
        "wrk": _version(["wrk", "-v"]),
        "cellstore": _version([str(MAIN_PYTHON), "-m", "cellstore", "--version"]),
        "moto": _version([str(PEERS_PYTHON), "-c", "import moto; print(moto.__version__)"]),
    }


def render(results_path: Path) -> None:
    python = PEERS_PYTHON if PEERS_PYTHON.exists() else Path(sys.executable)
    subprocess.run([str(python), str(BENCH / "report.py"), str(results_path)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[9:]))
    parser.add_argument("--duration", type=int, default=2, help="seconds of wrk per round (default: 2)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per cell; the best counts (default: 3)")
    parser.add_argument("--quick", action="store_true", help="16 connections and 200-byte items only")
    parser.add_argument("--targets", nargs="+", help="only these targets (default: all)",
                        choices=[t.name for t in all_targets()])
    parser.add_argument("--workloads", nargs="+", default=list(load.WORKLOADS), choices=list(load.WORKLOADS))
    parser.add_argument("--repeat", type=int, default=2, help="in-process runs per implementation; the best counts")
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    parser.add_argument("--no-inprocess", dest="inprocess", action="store_false")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin server and wrk to cores")
    parser.add_argument("--quiet-wait", type=float, default=0.5,
                        help="before each cell, wait up to this many seconds for other processes to go quiet")
    parser.add_argument("--results", type=Path, default=RESULTS / "latest.json")
    parser.add_argument("--render-only", action="store_true", help="re-render the doc from --results")
    args = parser.parse_args()
    args.shapes = QUICK_SHAPES if args.quick else FULL_SHAPES

    if args.render_only:
        render(args.results)
        return
    require_wrk()
    ensure_peers()
    RESULTS.mkdir(exist_ok=True)
    started = time.monotonic()
    results: dict[str, Any] = {
        "command": "python3 bench/run.py" + "".join(f" {shlex.quote(a)}" for a in sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "duration_s": args.duration,
        "rounds": args.rounds,
        "pinned": args.pin,
        "partitions": PARTITIONS,
        "machine": machine(),
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
        "cells": [],
        "failures": [],
    }
    log("raw SQLite")
    results["raw_sqlite"] = raw_sqlite(args)
    targets = [t for t in all_targets() if not args.targets or t.name in args.targets]
    results["cells"], results["failures"] = bench_all(targets, args)
    if args.profile:
        results["hotspots"] = profile(args, args.pin)
    if args.inprocess:
        results["inprocess"] = in_process(args)
    results["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    results["elapsed_s"] = round(time.monotonic() - started)
    args.results.write_text(json.dumps(results, indent=1))
    log(f"done in {results['elapsed_s']}s; results in {args.results}")
    render(args.results)


if __name__ == "__main__":
    main()
