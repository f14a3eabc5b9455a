"""The fault drivers: kill -9 of the server in a loop, kill -9 of one worker, PostgreSQL restarted under load.

Each driver runs the workload, injects its fault while the writers are busy,
and runs the invariant checker afterwards; the figures it returns are what
the report prints and what the tests assert on.
"""

from __future__ import annotations

import os
import random
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from procfs import children_of

from .clients import Server
from .invariants import Findings, check
from .sampler import Sampler
from .workload import Ledger, Workload, create_resources

Start = Callable[..., Server]  # starts a server with these ``serve`` arguments


@dataclass
class FaultFigures:
    """What one driver did and found."""

    fault: str
    cycles: int = 0
    acknowledged: int = 0
    unsure: int = 0
    five_xx: list[str] = field(default_factory=list)
    rejected: dict[str, int] = field(default_factory=dict)
    findings: Findings = field(default_factory=Findings)
    seconds: float = 0.0

    def take(self, ledger: Ledger) -> None:
        with ledger.lock:
            self.acknowledged = ledger.acknowledged
            self.unsure = ledger.unsure
            self.five_xx = list(ledger.five_xx)
            self.rejected = dict(ledger.rejected)


def _load(ledger: Ledger, seconds: float, least: int) -> None:
    """Let the writers run ``seconds``, and on until at least ``least`` more writes are acknowledged."""
    with ledger.lock:
        target = ledger.acknowledged + least
    deadline = time.monotonic() + seconds
    give_up = deadline + 60
    while time.monotonic() < give_up:
        with ledger.lock:
            done = ledger.acknowledged >= target
        if done and time.monotonic() >= deadline:
            return
        time.sleep(0.02)
    raise RuntimeError(f"the writers did not reach {least} acknowledged writes in a minute")


def kill_loop(start: Start, args: tuple[str, ...], cycles: int, load_seconds: float, sampler: Sampler | None = None,
              least: int = 50, seed: int = 0) -> FaultFigures:
    """``cycles`` times: load, kill -9 at a random moment, restart, check.

    Even cycles SIGKILL every server process at once; odd ones only the
    supervisor, as ``kill -9 <pid>`` by hand does, so the workers must die
    with it (``PR_SET_PDEATHSIG``) and free the port the next server takes.
    """
    rng = random.Random(seed)
    figures = FaultFigures("kill -9 of the server")
    ledger = Ledger()
    began = time.monotonic()
    server = start(*args)
    create_resources(server.endpoint_url)
    for cycle in range(cycles):
        if sampler:
            sampler.watch(server.process.pid)
        workload = Workload(server.endpoint_url, ledger).start()
        supervisor_only = cycle % 2 == 1
        try:
            _load(ledger, rng.uniform(0.5, 1.5) * load_seconds, least)
        finally:
            if supervisor_only:
                _kill_supervisor(server)
            else:
                server.kill()  # SIGKILL to the whole process group while the writers are busy
            workload.stop()
        figures.cycles += 1
        # After a kill of the supervisor alone, restart on the same port at once, as an operator would.
        port = server.port
        server = start(*args, "--port", str(port)) if supervisor_only else start(*args)
        if supervisor_only and server.port != port:
            raise RuntimeError(f"the restarted server did not get port {port} back")
        if sampler:
            sampler.watch(server.process.pid)
        figures.findings.merge(check(server.endpoint_url, ledger))
    if server.terminate() != 0:
        raise RuntimeError(f"the last server did not stop cleanly:\n{server.log_path.read_text()[-2000:]}")
    figures.take(ledger)
    figures.seconds = time.monotonic() - began
    return figures


def worker_kills(start: Start, args: tuple[str, ...], kills: int, load_seconds: float, sampler: Sampler | None = None,
                 least: int = 50, seed: int = 0) -> FaultFigures:
    """With ``--workers 2``: kill -9 one worker under load ``kills`` times; the supervisor replaces it.

    The writers on the killed worker's connections see cut connections (unsure
    writes) and reconnect to the survivor or the replacement; nothing is restarted
    by hand, and the checker runs against the same server at the end.
    """
    rng = random.Random(seed)
    figures = FaultFigures("kill -9 of one worker")
    ledger = Ledger()
    began = time.monotonic()
    server = start(*args, "--workers", "2")
    if sampler:
        sampler.watch(server.process.pid)
    create_resources(server.endpoint_url)
    workload = Workload(server.endpoint_url, ledger).start()
    try:
        for _ in range(kills):
            _load(ledger, load_seconds, least)
            children = children_of(server.process.pid)
            workers = [pid for pid in children if pid != _writer_pid(server.log_path)]
            if len(workers) != 2:
                raise RuntimeError(f"expected 2 workers besides the writer, found {children}")
            os.kill(rng.choice(workers), signal.SIGKILL)
            figures.cycles += 1
            _wait_for_workers(server.process.pid, len(children), exclude=set(children))
        _load(ledger, load_seconds, least)
    finally:
        workload.stop()
    figures.findings.merge(check(server.endpoint_url, ledger))
    if server.terminate() != 0:
        raise RuntimeError("the server did not stop cleanly after its workers were killed")
    figures.take(ledger)
    figures.seconds = time.monotonic() - began
    return figures


def _kill_supervisor(server: Server) -> None:
    """SIGKILL the supervisor alone and wait until its workers are gone too (they must not linger)."""
    workers = children_of(server.process.pid)
    server.process.kill()
    server.process.wait()
    deadline = time.monotonic() + 5
    while any(os.path.exists(f"/proc/{pid}") and _state(pid) != "Z" for pid in workers):
        if time.monotonic() > deadline:
            raise RuntimeError(f"workers {workers} outlived their supervisor")
        time.sleep(0.01)
    server.kill()  # nothing left to signal; closes the server's log


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def _crash_restart(cluster: Any) -> None:
    """``pg_ctl restart -m immediate``: PostgreSQL exits without a checkpoint and recovers from its WAL."""
    cluster.restart(mode="immediate")


def _writer_pid(log_path: Path) -> int | None:
    """The writer process's pid, from the supervisor's log (it is a forked child like the workers).

    The writer is left alone here: killing it answers the writes in flight with
    a retryable 503, which tests/fault/test_writer_kill9.py checks on its own.
    """
    found = re.findall(r"writer process (\d+) owns the write path", log_path.read_text())
    return int(found[-1]) if found else None


def _wait_for_workers(supervisor: int, count: int, exclude: set[int], timeout: float = 15.0) -> None:
    """Until the supervisor runs ``count`` workers again, one of them new."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = set(children_of(supervisor))
        if len(workers) >= count and workers - exclude:
            return
        time.sleep(0.05)
    raise RuntimeError("the supervisor did not replace a killed worker")


def postgres_restarts(start: Start, dsn: str, cluster: Any, restarts: int, load_seconds: float,
                      sampler: Sampler | None = None, least: int = 50) -> FaultFigures:
    """PostgreSQL stopped with ``-m immediate`` (a crash: no checkpoint) and started again, under load.

    Two front ends (one with two workers) share the database.  A request cut
    by the crash is an unsure write or AWS's retryable 500
    (StorageUnavailable), which the report counts apart from other 5xx.
    """
    figures = FaultFigures("PostgreSQL crash and restart")
    ledger = Ledger()
    began = time.monotonic()
    servers = [start("--storage", dsn, "--workers", "1"), start("--storage", dsn, "--workers", "2")]
    if sampler:
        sampler.watch(servers[1].process.pid)
    create_resources(servers[0].endpoint_url)
    workloads = [Workload(servers[0].endpoint_url, ledger, kinds=("put", "add", "txn", "send")),
                 Workload(servers[1].endpoint_url, ledger, kinds=("receive", "put", "txn", "send"))]
    for workload in workloads:
        workload.start()
    try:
        for _ in range(restarts):
            _load(ledger, load_seconds, least)
            _crash_restart(cluster)
            figures.cycles += 1
        _load(ledger, load_seconds, least)
    finally:
        for workload in workloads:
            workload.stop()
    for server in servers:
        figures.findings.merge(check(server.endpoint_url, ledger))
    for server in servers:
        if server.terminate() != 0:
            raise RuntimeError("a front end did not stop cleanly after PostgreSQL restarts")
    figures.take(ledger)
    figures.seconds = time.monotonic() - began
    return figures
