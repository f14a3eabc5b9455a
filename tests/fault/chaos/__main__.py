"""The long chaos run: ``python -m tests.fault.chaos`` (``make chaos``), minutes of faults and abuse, then a report.

Phases, in order: kill -9 of the server in a loop; kill -9 of one of two
workers; PostgreSQL crashed and restarted under load (when PostgreSQL can be
had); protocol abuse; the wire fuzzer with auth off and on; a mixed soak
with memory sampled.  The report (JSON and markdown) goes to ``--out``;
the exit status is 1 when the run breaks a promise of docs/RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# The drivers share tests/conftest.py's ServerProcess and tests/procfs.py with the pytest suite.
_TESTS = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(_TESTS), str(_TESTS / "fault")]

from conftest import ServerProcess

from . import abuse, faults, fuzz
from .clients import client
from .invariants import check
from .report import SOAK, Run
from .sampler import Sampler
from .workload import Ledger, Workload, create_resources

MAX_BODY_BYTES = 16 * 1024 * 1024  # protocol/wire.py's limit, which the oversized bodies exceed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fault.chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=70, help="kill -9 cycles of the server (default: 70)")
    parser.add_argument("--load-seconds", type=float, default=1.5,
                        help="mean seconds of load before each kill (default: 1.5)")
    parser.add_argument("--worker-kills", type=int, default=10, help="kill -9 of one worker (default: 10)")
    parser.add_argument("--postgres", choices=("auto", "on", "off"), default="auto",
                        help="the PostgreSQL phase: when PostgreSQL can be had (auto), required (on), or skipped")
    parser.add_argument("--pg-restarts", type=int, default=5, help="PostgreSQL crash-restarts (default: 5)")
    parser.add_argument("--hold", type=float, default=15.0,
                        help="seconds each slowloris and idle-connection pressure is held (default: 15)")
    parser.add_argument("--idle", type=int, default=2000, help="idle connections (default: 2000)")
    parser.add_argument("--slowloris", type=int, default=500, help="slowloris connections (default: 500)")
    parser.add_argument("--uploads", type=int, default=16, help="concurrent unsigned 15 MiB uploads (default: 16)")
    parser.add_argument("--fuzz", type=int, default=20000, help="fuzzed requests per auth mode (default: 20000)")
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of the mixed soak (default: 180)")
    parser.add_argument("--rss-limit-mib", type=float, default=256.0,
                        help="peak RSS of a server's process tree the run allows (default: 256)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("chaos-report"), help="report directory (default: chaos-report)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, args.idle + args.slowloris + 1024)), hard))
    run = Run(parameters={k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "out"})
    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="cellstore-chaos-"))
    servers: list[ServerProcess] = []

    def start(*serve_args: str) -> ServerProcess:
        server = ServerProcess(work / f"server-{len(servers)}.log", *serve_args)
        servers.append(server)
        return server

    def say(text: str) -> None:
        print(f"[{time.monotonic() - began:7.1f}s] {text}", flush=True)

    try:
        with Sampler() as sampler:
            say(f"kill -9 of the server, {args.cycles} cycles")
            with sampler.phase("kill -9 of the server"):
                run.faults.append(faults.kill_loop(start, ("--data-dir", str(work / "kill9"), "--workers", "2"),
                                                   args.cycles, args.load_seconds, sampler, seed=args.seed))
            if args.worker_kills:
                say(f"kill -9 of one worker, {args.worker_kills} times")
                with sampler.phase("kill -9 of one worker"):
                    run.faults.append(faults.worker_kills(start, ("--data-dir", str(work / "workers")),
                                                          args.worker_kills, args.load_seconds, sampler))
            else:
                run.skipped.append("kill -9 of one worker (--worker-kills 0)")
            postgres_phase(args, run, start, sampler, say)
            say("protocol abuse")
            abuse_phases(args, run, start, sampler, work)
            for signed in (False, True):
                say(f"fuzz, auth {'sigv4' if signed else 'none'}: {args.fuzz} requests")
                fuzz_phase(args, run, start, sampler, work, signed)
            say(f"mixed soak, {args.duration:.0f} s")
            soak(args, run, start, sampler, work)
            run.peaks = sampler.phases
    finally:
        for server in servers:
            if server.process.poll() is None:
                server.kill()
    run.seconds = time.monotonic() - began
    json_path, md_path = run.write(args.out)
    print(md_path.read_text())
    say(f"report: {md_path} and {json_path}")
    if run.failures():
        say(f"the servers' logs and data are kept in {work}")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


def postgres_phase(args: argparse.Namespace, run: Run, start: faults.Start, sampler: Sampler,
                   say: Callable[[str], None]) -> None:
    if args.postgres == "off" or args.pg_restarts == 0:
        run.skipped.append("PostgreSQL phase (--postgres off)")
        return
    from pg_cluster import Cluster, Unavailable

    try:
        cluster = Cluster().start()
    except Unavailable as exc:
        if args.postgres == "on":
            raise
        run.skipped.append(f"PostgreSQL phase ({exc})")
        return
    try:
        say(f"PostgreSQL crash-restarts, {args.pg_restarts}")
        with sampler.phase("PostgreSQL crash and restart"):
            run.faults.append(faults.postgres_restarts(start, cluster.create_database("chaos"), cluster,
                                                       args.pg_restarts, args.load_seconds * 2, sampler))
    finally:
        cluster.stop()


def abuse_phases(args: argparse.Namespace, run: Run, start: faults.Start, sampler: Sampler, work: Path) -> None:
    """Each pressure against a two-worker server on SQLite, the unsigned uploads against ``--auth sigv4``."""
    server = start("--data-dir", str(work / "abuse"), "--workers", "2")
    sampler.watch(server.process.pid)

    def probe() -> None:
        client("dynamodb", server.endpoint_url).list_tables()

    pressures = [
        ("slowloris", lambda: abuse.slowloris(server.port, probe, args.slowloris, args.hold)),
        ("idle connections", lambda: abuse.idle_crowd(server.port, probe, args.idle, args.hold)),
        ("pipelining", lambda: abuse.pipelining(server.port, probe, 1000, 2)),
        ("malformed HTTP", lambda: abuse.malformed(server.port, probe)),
        ("oversized bodies", lambda: abuse.oversized(server.port, probe, MAX_BODY_BYTES)),
    ]
    for name, pressure in pressures:
        with sampler.phase(name):
            run.abuse.append(pressure())
    server.terminate()
    credentials = fuzz.credentials_file(work)
    signed = start("--data-dir", str(work / "signed"), "--workers", "2", "--auth", "sigv4",
                   "--credentials", str(credentials))
    sampler.watch(signed.process.pid)

    def signed_probe() -> None:
        client("dynamodb", signed.endpoint_url, *fuzz.ADMIN).list_tables()

    with sampler.phase("unauthenticated uploads"):
        run.abuse.append(abuse.unsigned_uploads(signed.port, signed_probe, args.uploads, 15 * 2**20))
    signed.terminate()


def fuzz_phase(args: argparse.Namespace, run: Run, start: faults.Start, sampler: Sampler, work: Path,
               signed: bool) -> None:
    extra = ("--auth", "sigv4", "--credentials", str(fuzz.credentials_file(work))) if signed else ()
    server = start("--data-dir", str(work / f"fuzz-{signed}"), "--workers", "1", *extra)
    sampler.watch(server.process.pid)
    with sampler.phase(f"fuzz, auth {'sigv4' if signed else 'none'}"):
        run.fuzz.append(fuzz.run(server.endpoint_url, server.port, args.fuzz, signed, seed=args.seed + signed))
    server.terminate()


def soak(args: argparse.Namespace, run: Run, start: faults.Start, sampler: Sampler, work: Path) -> None:
    """The eight writers at a steady pace for ``--duration`` seconds, memory sampled; checked at the end."""
    server = start("--data-dir", str(work / "soak"), "--workers", "2")
    sampler.watch(server.process.pid)
    create_resources(server.endpoint_url)
    ledger = Ledger()
    with sampler.phase(SOAK):
        workload = Workload(server.endpoint_url, ledger, pause=0.002).start()
        time.sleep(args.duration)
        workload.stop()
    figures = faults.FaultFigures(SOAK, cycles=0)
    figures.findings.merge(check(server.endpoint_url, ledger))
    figures.take(ledger)
    figures.seconds = args.duration
    run.faults.append(figures)
    server.terminate()


if __name__ == "__main__":
    sys.exit(main())
