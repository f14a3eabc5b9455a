"""A throwaway PostgreSQL cluster on loopback for the test suite's PostgreSQL half.

``Cluster.start()`` finds PostgreSQL's server binaries (installing Debian's
``postgresql`` package with apt-get when they are missing and we are root),
runs ``initdb`` into a fresh temporary directory, starts the server on a free
loopback port below 32768 (the ephemeral range above it is crowded) and
``stop()`` removes it all.  PostgreSQL refuses to run as root, so as root the
server runs as the ``postgres`` user (``runuser``); as anyone else, as them.

Settings trade durability against power loss for speed (``fsync=off``): the
suite only ever stops the server cleanly or restarts it (``-m fast``, or
``-m immediate``, which kills the server processes but not the machine, so
what they wrote to the kernel survives).

Run directly (``python tests/pg_cluster.py``) it starts a cluster, prints its
DSN and waits for Ctrl-C or SIGTERM — handy for poking at a PostgresStore by hand.
"""

from __future__ import annotations

import glob
import os
import random
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


class Unavailable(RuntimeError):
    """PostgreSQL's server binaries are not installed and could not be installed."""


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return None if initdb is None else Path(initdb).parent


def find_or_install() -> Path:
    """The directory holding initdb and pg_ctl, installing Debian's package if needed."""
    bindir = _bindir()
    if bindir is not None:
        return bindir
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "postgresql"]):
            result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise Unavailable(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
        bindir = _bindir()
        if bindir is not None:
            return bindir
    raise Unavailable("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")


def free_port() -> int:
    """A loopback port below the ephemeral range that nothing listens on right now."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 32000)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port in 20000-32000")


class Cluster:
    def __init__(self) -> None:
        self.bindir = find_or_install()
        self.root = Path(tempfile.mkdtemp(prefix="cellstore-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *command: str) -> None:
        argv = [str(self.bindir / command[0]), *command[1:]]
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        result = subprocess.run(argv, capture_output=True, text=True, cwd=self.root, check=False)
        if result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}{log}")

    def start(self) -> Cluster:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        for _ in range(5):  # another process may take the port between the probe and the start
            self.port = free_port()
            try:
                self._pg_ctl("start")
                return self
            except RuntimeError:
                if "could not bind" not in (self.log.read_text() if self.log.exists() else ""):
                    raise
        raise RuntimeError(f"PostgreSQL did not start:\n{self.log.read_text()}")

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c full_page_writes=off -c max_connections=200 -c shared_buffers=128MB"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", *extra, action)

    def restart(self, mode: str = "fast") -> None:
        """``pg_ctl restart -m fast``: every connection is cut, committed work survives.

        ``mode="immediate"`` is a crash: no shutdown checkpoint, WAL still in
        shared memory is lost and the server recovers from what was written.
        """
        self._pg_ctl("restart", "-m", mode)

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._pg_ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; its DSN."""
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)


if __name__ == "__main__":
    import signal
    import sys

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    cluster = Cluster().start()
    print(cluster.dsn(), flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
