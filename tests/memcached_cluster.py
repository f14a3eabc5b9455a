"""Throwaway memcached processes on loopback for the cache tests (Debian's ``memcached`` package).

``find_or_install()`` finds the memcached binary, installing Debian's package
with apt-get when it is missing and we are root (as ``tests/pg_cluster.py``
does for PostgreSQL).  :class:`Memcached` is one server on a free loopback
port below 32768 that a test can kill, restart empty, or freeze with SIGSTOP
(a slow node: it accepts connections, the kernel queues them, and nothing
answers); :func:`start_zones` starts a few per zone.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field

from cellstore.cache import CacheConfig
from pg_cluster import free_port


class Unavailable(RuntimeError):
    """memcached is not installed and could not be installed."""


def find_or_install() -> str:
    found = shutil.which("memcached") or (os.path.exists("/usr/bin/memcached") and "/usr/bin/memcached")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "memcached"]):
            result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise Unavailable(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
        found = shutil.which("memcached") or (os.path.exists("/usr/bin/memcached") and "/usr/bin/memcached")
        if found:
            return found
    raise Unavailable("memcached is not installed (apt-get install memcached)")


@dataclass
class Memcached:
    binary: str
    port: int = 0
    memory_mb: int = 64
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Memcached:
        """Start (or restart, empty) on the same port if it has one, else on a free one."""
        for _ in range(5):
            port = self.port or free_port()
            argv = [self.binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", str(self.memory_mb), "-t", "2"]
            if os.geteuid() == 0:
                argv += ["-u", "nobody"]
            self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._wait_listening(port):
                self.port = port
                return self
            self.process.kill()
            self.process.wait()
        raise RuntimeError("memcached did not start")

    def _wait_listening(self, port: int) -> bool:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return True
            except OSError:
                time.sleep(0.02)
        return False

    def kill(self) -> None:
        """SIGKILL: the node is gone, and with it everything it held."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait()

    def restart_empty(self) -> None:
        self.kill()
        self.start()

    def freeze(self) -> None:
        """SIGSTOP: connections are accepted by the kernel, nothing answers — a slow node."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)


def start_zones(zones: dict[str, int]) -> dict[str, list[Memcached]]:
    """``{"a": 2, "b": 2}`` → that many running servers per zone."""
    binary = find_or_install()
    return {name: [Memcached(binary).start() for _ in range(count)] for name, count in zones.items()}


def stop_all(zones: dict[str, list[Memcached]]) -> None:
    for servers in zones.values():
        for server in servers:
            server.kill()


def config_for(zones: dict[str, list[Memcached]], **settings: object) -> CacheConfig:
    """A client configuration over these servers, with timeouts short enough for tests."""
    return CacheConfig.from_servers(
        {name: [s.address for s in servers] for name, servers in zones.items()},
        **{"timeout": 0.2, "connect_timeout": 0.2, "down_for": 0.3, "retry_interval": 0.1, **settings},
    )
