"""The servers a run measures: cellstore and its peers, how to install and start each.

Every peer lives under bench/.peers/ (a Python venv for moto, uvicorn,
matplotlib and py-spy; a node_modules for dynalite), never in the project's
own .venv.  cellstore and the bare app on its HTTP server run on the
project's .venv, so they use the very uvloop/httptools build cellstore ships with.

Targets come in two groups.  The unpinned group is each server as it starts
by default (cellstore's default ``--workers`` is a process per core with a
data dir), free to use the whole machine: a multi-process server cannot be
held to one core, so for a fair headline nobody is.  The pinned group
(``pinned=True``) is the one-core comparison: cellstore with ``--workers 1``
and dynalite on LevelDB, each held to one core, wrk on the other.  dynalite
on LevelDB therefore runs twice, under two names.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from dynamo import wait_ready

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PEERS = BENCH / ".peers"
PEERS_PYTHON = PEERS / "venv" / "bin" / "python"
MAIN_PYTHON = REPO / ".venv" / "bin" / "python"
DYNALITE_CLI = PEERS / "node_modules" / "dynalite" / "cli.js"

#: Pinned so that a number in docs/BENCHMARKS.md can be reproduced.
PEER_PYTHON_PACKAGES = [
    "moto[server]==5.2.5",
    "boto3==1.44.5",
    "matplotlib==3.11.2",
    "py-spy==0.4.3",
    # The reference ASGI ceiling (bench/bare_asgi.py); cellstore itself no longer uses uvicorn.
    "uvicorn[standard]==0.54.0",
]
DYNALITE_VERSION = "4.0.0"
_STAMP = PEERS / ".installed"


def _stamp_text() -> str:
    return "\n".join([*PEER_PYTHON_PACKAGES, f"dynalite@{DYNALITE_VERSION}"]) + "\n"


def ensure_peers() -> None:
    """Install the peers under bench/.peers/ unless this exact set is already there."""
    if _stamp_text() == (_STAMP.read_text() if _STAMP.exists() else "") and PEERS_PYTHON.exists():
        return
    PEERS.mkdir(exist_ok=True)
    if not PEERS_PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS / "venv")], check=True)
    pip = [str(PEERS_PYTHON), "-m", "pip", "--disable-pip-version-check", "--quiet", "install"]
    subprocess.run([*pip, *PEER_PYTHON_PACKAGES], check=True)
    # cellstore itself, for the in-process comparison with moto's mock_aws.
    subprocess.run([*pip, "-e", f"{REPO}[embedded]"], check=True)
    if shutil.which("npm") is None:
        raise SystemExit("bench: npm is needed for dynalite (apt-get install -y npm)")
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(PEERS),
         f"dynalite@{DYNALITE_VERSION}"],
        check=True,
    )
    _STAMP.write_text(_stamp_text())


def require_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("bench: wrk is not installed (apt-get install -y wrk)")
    return wrk


@dataclass
class Target:
    """One server under test."""

    name: str  # short id used in results
    label: str  # what the report calls it
    port: int
    dynamodb: bool = True  # False: answers anything with a fixed body (the bare apps)
    unsupported: frozenset[str] = frozenset()  # workloads it does not implement
    storage: str = ""  # where its data lives, for the report
    pinned: bool = False  # the one-core group: server on one core, wrk on the other
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _tmp: str | None = field(default=None, repr=False)

    def argv(self, data_dir: str) -> list[str]:
        raise NotImplementedError

    def start(self, cpu: int | None) -> None:
        self._tmp = tempfile.mkdtemp(prefix=f"bench-{self.name}-")
        argv = self.argv(self._tmp)
        if cpu is not None:
            argv = ["taskset", "-c", str(cpu), *argv]  # taskset execs: the pid stays the server's
        env = dict(os.environ, AWS_ACCESS_KEY_ID="AKID", AWS_SECRET_ACCESS_KEY="secret",
                   AWS_DEFAULT_REGION="us-east-1")
        self._log = open(Path(self._tmp) / "server.log", "wb")  # noqa: SIM115 - the server's, closed in stop()
        self._proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                      cwd=REPO, env=env, start_new_session=True)
        try:
            wait_ready(self.port)
        except Exception:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._proc.pid

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        if getattr(self, "_log", None):
            self._log.close()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Cellstore(Target):
    """``cellstore serve`` as a user starts it: no ``--workers`` unless ``workers`` is set.

    Leaving the flag out measures whatever the server's default is (with a
    data dir, a worker per core it may run on), not what the bench assumes it is.
    """

    in_memory: bool = False
    workers: int | None = None  # None: the server's default

    def argv(self, data_dir: str) -> list[str]:
        where = ["--in-memory"] if self.in_memory else ["--data-dir", data_dir]
        workers = [] if self.workers is None else ["--workers", str(self.workers)]
        return [str(MAIN_PYTHON), "-m", "cellstore", "serve", "--port", str(self.port), *where, *workers]


class CellstoreOneWorker(Cellstore):
    workers = 1


class CellstoreInMemory(Cellstore):
    in_memory = True


class Dynalite(Target):
    in_memory: bool = False

    def argv(self, data_dir: str) -> list[str]:
        where = [] if self.in_memory else ["--path", str(Path(data_dir) / "leveldb")]
        return ["node", str(DYNALITE_CLI), "--host", "127.0.0.1", "--port", str(self.port),
                "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0", *where]


class DynaliteInMemory(Dynalite):
    in_memory = True


class Moto(Target):
    def argv(self, data_dir: str) -> list[str]:
        return [str(PEERS / "venv" / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)]


class BareAsgi(Target):
    def argv(self, data_dir: str) -> list[str]:
        return [str(PEERS_PYTHON), str(BENCH / "bare_asgi.py"), "--port", str(self.port)]


class BareHttp(Target):
    def argv(self, data_dir: str) -> list[str]:
        return [str(MAIN_PYTHON), str(BENCH / "bare_http.py"), "--port", str(self.port)]


#: What dynalite does not implement: transactions and every SQS operation.
_NOT_DYNALITE = frozenset({"transact_write", "sqs_cycle"})


def all_targets() -> list[Target]:
    """Every served target, in report order: the unpinned group, then the pinned (one-core) one."""
    return [
        Cellstore("cellstore", "cellstore (default configuration, SQLite file)", 18001, storage="SQLite WAL file"),
        CellstoreInMemory("cellstore-mem", "cellstore (in memory)", 18002, storage="SQLite :memory:"),
        Dynalite("dynalite-leveldb", "dynalite (LevelDB)", 18003, unsupported=_NOT_DYNALITE,
                 storage="LevelDB directory"),
        DynaliteInMemory("dynalite-mem", "dynalite (in memory)", 18004, unsupported=_NOT_DYNALITE,
                         storage="memory-level"),
        Moto("moto", "moto server", 18005, storage="Python dicts"),
        CellstoreOneWorker("cellstore-1w", "cellstore, one worker (1 core)", 18007, storage="SQLite WAL file",
                           pinned=True),
        Dynalite("dynalite-leveldb-1c", "dynalite (LevelDB, 1 core)", 18008, unsupported=_NOT_DYNALITE,
                 storage="LevelDB directory", pinned=True),
        BareHttp("bare-http", "bare app on cellstore's HTTP server (1 core)", 18009, dynamodb=False, pinned=True),
        BareAsgi("bare-asgi", "bare ASGI app on uvicorn+uvloop+httptools (1 core)", 18006, dynamodb=False,
                 pinned=True),
    ]


def _stat(pid: int | str) -> list[str]:
    """/proc/<pid>/stat's fields after the command name (field 3, state, is index 0)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_tree(pid: int) -> list[int]:
    """``pid`` and every live descendant, from the ppid field of /proc/*/stat.

    A ``--workers N`` cellstore does its work in forked children; a
    single-process peer's tree is just itself (plus, harmlessly, anything it
    spawned).
    """
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int(_stat(entry.name)[1])
        except (OSError, IndexError, ValueError):  # gone meanwhile
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    tree: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += children.get(current, [])
    return tree


def cpu_seconds(pid: int) -> tuple[float, int]:
    """CPU seconds used so far by ``pid``'s process tree, and how many processes it has.

    Per process, utime + stime (/proc/<pid>/stat sums all of a process's
    threads) + cutime + cstime (children it has already reaped, so a worker
    that exits between two samples still counts).  Differences of two samples
    are the tree's CPU in between.
    """
    ticks, alive = 0, 0
    for member in process_tree(pid):
        try:
            fields = _stat(member)
        except OSError:  # exited between the walk and now
            continue
        ticks += sum(int(v) for v in fields[11:15])
        alive += 1
    return ticks / os.sysconf("SC_CLK_TCK"), alive


def wait_port_free(port: int, timeout: float = 10.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.1)
