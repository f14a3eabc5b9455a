"""Benchmark cellstore against its peers in one run, and write docs/BENCHMARKS.md.

Served workloads (bench/lua/*.lua, driven by wrk: DynamoDB operations and an
SQS send+receive+delete cycle) run against cellstore and every peer on the
same machine, in two groups.  The headline group is every server in its
default configuration (cellstore: as many workers as cores, with a data dir)
with nothing pinned, since a multi-process server cannot be held to one core
and every server must get the same conditions.  The one-core group is
cellstore with ``--workers 1`` and dynalite on LevelDB (and the bare
ceiling), each pinned to core 0 with wrk on core 1.  Then the storage ceiling
(raw SQLite), a profile of cellstore's hot path (py-spy, one worker) and the
in-process comparison (boto3 on cellstore's in_process vs moto's mock_aws).
Results go to bench/results/latest.json and from there to
docs/BENCHMARKS.md + PNG.

    python3 bench/run.py                 # everything, ~18 minutes
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

import dynamo
import history
import hotspots
import load
import sqs
from targets import BENCH, MAIN_PYTHON, PEERS_PYTHON, REPO, Target, all_targets, ensure_peers, require_wrk

RESULTS = BENCH / "results"
SERVER_CPU, LOAD_CPU = 0, 1
PARTITIONS = 200  # preloaded partitions of 10 items each

#: (connections, item bytes) combinations: 200-byte items at every connection
#: count, 4 KB items at 16 connections only, to keep a full run short.
HEADLINE = (16, 200)
FULL_SHAPES = [(1, 200), HEADLINE, (64, 200), (16, 4096)]
QUICK_SHAPES = [HEADLINE]
PROFILED = ["put_item", "get_item", "query"]
#: The one-core targets whose PutItem runs at every shape: the HTTP ceiling and what it is compared with.
CEILING_PAIR = ("cellstore-1w", "bare-http", "bare-asgi")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def shapes_for(target: Target, workload: str, shapes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The (connections, item bytes) shapes a target runs a workload at.

    The full matrix only for the headline group's DynamoDB workloads; the
    in-memory cellstore (a storage comparison point), the SQS cycle (its
    target is at 16 connections) and the one-core group run at the headline
    shape only, except one worker's and the bare apps' PutItem, at every
    shape: the HTTP ceiling is compared with it.  Keeps a full run under
    20 minutes.
    """
    ceiling = workload == "put_item" and target.name in CEILING_PAIR
    if target.name == "cellstore-mem" or workload in load.SQS_WORKLOADS or (target.pinned and not ceiling):
        return [s for s in shapes if s == HEADLINE]
    return shapes


def workloads_for(target: Target, workloads: list[str]) -> list[str]:
    if not target.dynamodb:
        return ["put_item"] if "put_item" in workloads else []  # the bare app ignores the body: one is enough
    return [w for w in workloads if w not in target.unsupported]


def prepare(target: Target, workloads: list[str], shapes: list[tuple[int, int]]) -> dict[int, str]:
    """Tables (preloaded) and queues (with a backlog) for what the target will run; the queue URLs by body size."""
    if not target.dynamodb:
        return {}
    mine = workloads_for(target, workloads)
    table_sizes = {size for w in mine if w not in load.SQS_WORKLOADS for _, size in shapes_for(target, w, shapes)}
    queue_sizes = {size for w in mine if w in load.SQS_WORKLOADS for _, size in shapes_for(target, w, shapes)}
    client = dynamo.Client(target.port)
    try:
        for size in sorted(table_sizes):
            dynamo.create_table(client, load.table_for(size))
            dynamo.preload(client, load.table_for(size), size, PARTITIONS)
    finally:
        client.close()
    queues: dict[int, str] = {}
    queue_client = sqs.Client(target.port)
    try:
        for size in sorted(queue_sizes):
            queues[size] = sqs.create_queue(queue_client, sqs.queue_for(size), size)
    finally:
        queue_client.close()
    return queues


def warm_up(target: Target, workloads: list[str], queues: dict[int, str], cpu: int | None) -> None:
    """One second of wrk per kind of workload (a DynamoDB read, the SQS cycle) before any cell counts."""
    mine = workloads_for(target, workloads)
    dynamodb = [w for w in mine if w not in load.SQS_WORKLOADS]
    first = ["get_item" if "get_item" in dynamodb else dynamodb[0]] if dynamodb else []
    for workload in first + [w for w in mine if w in load.SQS_WORKLOADS]:
        load.run_wrk(workload, target.port, connections=16, item_bytes=200, partitions=PARTITIONS, duration=1,
                     cpu=cpu, queue_url=queues.get(200))


def bench_all(targets: list[Target], args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every cell against every target: the headline (unpinned) group, then the one-core (pinned) group."""
    cells: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for pinned in (False, True):
        group = [t for t in targets if t.pinned == pinned]
        if group:
            log(f"{'one-core group, pinned' if pinned and args.pin else 'one-core group, unpinned (--no-pin)' if pinned else 'headline group, nothing pinned'}: "
                + ", ".join(t.name for t in group))
            more_cells, more_failures = bench_group(group, args, pin=pinned and args.pin)
            cells += more_cells
            failures += more_failures
    return cells, failures


def bench_group(
    targets: list[Target], args: argparse.Namespace, *, pin: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every cell against every target of one group, targets interleaved cell by cell.

    All the group's servers run at once (an idle server costs nothing), and
    each cell is measured on every target back to back, ``--rounds`` times,
    keeping each target's best round: on a machine shared with other work, a
    burst of someone else's CPU then hits one short round of one target rather
    than a whole target's results.  ``pin``: servers on SERVER_CPU, wrk on
    LOAD_CPU; otherwise the scheduler places everything.
    """
    cells: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    cpu = LOAD_CPU if pin else None
    running: list[Target] = []
    queues: dict[str, dict[int, str]] = {}
    try:
        for target in targets:
            try:
                target.start(SERVER_CPU if pin else None)
                t = time.monotonic()
                queues[target.name] = prepare(target, args.workloads, args.shapes)
                log(f"{target.label}: started, preloaded in {time.monotonic() - t:.1f}s")
                warm_up(target, args.workloads, queues[target.name], cpu)
                running.append(target)
            except Exception as exc:  # noqa: BLE001 - a peer that cannot start is reported, not fatal
                log(f"{target.name} failed to start: {exc}")
                target.stop()
                failures.append({"target": target.name, "workload": "*", "error": str(exc)})
        failures += [{"target": t.name, "workload": w, "error": "not implemented"}
                     for t in running for w in args.workloads if w in t.unsupported]
        # The SQS cycle first: a peer that falls behind on an earlier cell keeps working after wrk hangs up
        # (moto's TransactWriteItems deep-copies the table for every request it still holds), and that
        # leftover work would land in the next cells; the DynamoDB workloads keep their old order among
        # themselves, so their numbers stay comparable with earlier runs.
        order = sorted(args.workloads, key=lambda w: w not in load.SQS_WORKLOADS)
        plan = [(w, c, b, [t for t in running if w in workloads_for(t, args.workloads)
                           and (c, b) in shapes_for(t, w, args.shapes)]) for w in order for c, b in args.shapes]
        # Where the group is: redrawn on a terminal, a plain line every 30 s in a log (cellstore/progress.py).
        from cellstore.progress import StatusLine

        status, begun, done = StatusLine(sys.stderr, every=30.0), time.monotonic(), 0
        total = sum(len(p[3]) for p in plan) * args.rounds
        for workload, connections, size, takers in plan:
            best: dict[str, dict[str, Any]] = {}
            rounds: dict[str, list[float]] = {t.name: [] for t in takers}
            for number in range(args.rounds):
                for target in takers:
                    left = (time.monotonic() - begun) / done * (total - done) if done else None
                    status.show(f"measured {done} of {total} ({100 * done // total}%): now {target.name} {workload} "
                                f"c={connections} {size}B round {number + 1}/{args.rounds}"
                                + ("" if left is None else f", about {left / 60:.0f} min left"))
                    done += 1
                    cell = load.measure(
                        target.name, target.pid, target.port, workload,
                        connections=connections, item_bytes=size, partitions=PARTITIONS,
                        duration=args.duration, cpu=cpu, quiet_wait=args.quiet_wait,
                        queue_url=queues[target.name].get(size),
                    ).as_dict()
                    cell["pinned"] = pin
                    rounds[target.name].append(cell["rps"])
                    if target.name not in best or cell["rps"] > best[target.name]["rps"]:
                        best[target.name] = cell
            status.clear()
            for target in takers:
                cell = best[target.name]
                cell["rounds_rps"] = rounds[target.name]
                unit = "cycles/s" if cell["unit"] == "cycle" else "req/s"
                log(f"{target.name:19} {workload:15} c={connections:<3} {size:>5}B "
                    f"{cell['rps']:>9.0f} {unit:8}  p50 {cell['p50_ms']:7.2f} ms  p99 {cell['p99_ms']:7.2f} ms  "
                    f"cpu {cell['server_cpu_pct']:5.1f}% ({cell['server_processes']} proc)  "
                    f"other {cell['other_cpu_pct']:5.1f}%  errors {cell['errors']}")
                if cell["requests"] == 0:
                    failures.append({"target": target.name, "workload": workload,
                                     "error": f"no request completed in {args.duration} s ({connections} conn, {size} B)"})
                elif cell["rps"] == 0:
                    failures.append({"target": target.name, "workload": workload,
                                     "error": f"no {cell['unit']} completed in {args.duration} s "
                                              f"({connections} conn, {size} B)"})
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
    """py-spy over cellstore (SQLite file, one worker) under 16 connections, one workload at a time.

    One worker, because py-spy samples one process: the default
    configuration's requests are spread over several.
    """
    target = next(t for t in all_targets() if t.name == "cellstore-1w")
    out: dict[str, Any] = {}
    seconds = max(3, int(args.duration))
    with target:
        target.start(SERVER_CPU if pin else None)
        prepare(target, PROFILED, [HEADLINE])
        for workload in PROFILED:
            argv = ["wrk", "-t1", "-c16", f"-d{seconds + 2}s", "-s", str(load.LUA / load.WORKLOADS[workload][0]),
                    f"http://127.0.0.1:{target.port}/", "--", load.table_for(200), "200", str(PARTITIONS)]
            if pin:
                argv = ["taskset", "-c", str(LOAD_CPU), *argv]
            wrk = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
            time.sleep(1)
            folded = args.results.parent / f"profile-{workload}.folded"  # beside its results: a trial keeps the real ones
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
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
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
    """The trend plot from bench/history.jsonl, then the doc (which shows it) and its chart, with matplotlib."""
    python = PEERS_PYTHON if PEERS_PYTHON.exists() else Path(sys.executable)
    subprocess.run([str(python), str(BENCH / "history.py"), "--plot"], check=True)
    subprocess.run([str(python), str(BENCH / "report.py"), str(results_path)], check=True)


def _from_repo(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def _command() -> str:
    """This run's command line as typed from the repository root: interpreter, script, arguments."""
    python = Path(sys.executable)
    shown = _from_repo(python) if python.is_relative_to(REPO) else python.name
    return shlex.join([shown, "bench/run.py", *sys.argv[1:]])


def _usage() -> list[str]:
    """The docstring from its usage examples on, for --help."""
    lines = __doc__.splitlines()
    return lines[next(i for i, line in enumerate(lines) if line.lstrip().startswith("python3 ")):]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(_usage()))
    parser.add_argument("--duration", type=int, default=2, help="seconds of wrk per round (default: 2)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per cell; the best counts (default: 3)")
    parser.add_argument("--quick", action="store_true", help="16 connections and 200-byte items only")
    parser.add_argument("--targets", nargs="+", help="only these targets (default: all)",
                        choices=[t.name for t in all_targets()])
    parser.add_argument("--workloads", nargs="+", default=list(load.WORKLOADS), choices=list(load.WORKLOADS))
    parser.add_argument("--repeat", type=int, default=2, help="in-process runs per implementation; the best counts")
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    parser.add_argument("--no-inprocess", dest="inprocess", action="store_false")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="do not pin the one-core group (nor raw SQLite, the profile, in-process) to cores")
    parser.add_argument("--quiet-wait", type=float, default=0.5,
                        help="before each cell, wait up to this many seconds for other processes to go quiet")
    parser.add_argument("--results", type=Path, default=RESULTS / "latest.json")
    parser.add_argument("--render-only", action="store_true", help="re-render the doc from --results")
    parser.add_argument("--no-history", dest="history", action="store_false",
                        help=f"do not append this run to {history.HISTORY.relative_to(REPO)} (a trial run)")
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
        "command": _command(),
        "results_file": _from_repo(args.results.resolve()),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "duration_s": args.duration,
        "rounds": args.rounds,
        "pinned": args.pin,  # the one-core group; the headline group is never pinned
        "write_path": "writer",  # serve --workers N on SQLite: one writer process (the flock before 2026-12-04)
        # What is measured: the checkout as the servers start (bench/history.py records it, not HEAD at the end).
        "git": dict(zip(("commit", "dirty"), history.git_commit(), strict=True)),
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
    if args.history:  # the trend (bench/history.py): one line per run, redrawn by report.py below
        line = history.record(results)
        log(f"appended {line['commit'][:7]}{' (dirty worktree)' if line['dirty'] else ''} to {history.HISTORY}")
    render(args.results)


if __name__ == "__main__":
    main()
