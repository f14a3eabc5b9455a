"""One memcached server as the client sees it: a pymemcache connection pool, its health and its counters.

The memcached protocol is pymemcache's; this module adds what a replicated
cache needs around it: every failure becomes one exception type
(:class:`NodeFailed`), counted, and a node that just failed is skipped for
``down_for`` seconds, so that a dead or stopped server costs one timeout, not
one per request, while the other zones answer for it.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheError, MemcacheUnexpectedCloseError

from cellstore.cache.config import Server
from cellstore.cache.metrics import NodeStats

_FAILURES = (MemcacheError, OSError, socket.timeout)
#: What a pooled connection to a restarted node fails with (the node itself may well be up).
_STALE = (MemcacheUnexpectedCloseError, BrokenPipeError, ConnectionResetError)


class NodeFailed(Exception):
    """A call to a node failed (refused, timed out, closed, or the node is marked down)."""


class Node:
    def __init__(self, server: Server, timeout: float, connect_timeout: float, down_for: float) -> None:
        self.server = server
        self.name = server.name
        self.stats = NodeStats()
        self.down_for = down_for
        self._down_until = 0.0
        #: Unix time the current outage began (the first failure after a success), None while healthy.
        self.failed_at: float | None = None
        #: Set when a node answers again after an outage: (outage start, rejoin time); taken by whoever warms.
        self.rejoined: tuple[float, float] | None = None
        self._lock = threading.Lock()
        self._settings = {"connect_timeout": connect_timeout, "timeout": timeout}
        self._local = threading.local()
        # Every thread's connection, closed by close(); those of threads that ended are closed when
        # another thread connects.
        self._clients: dict[threading.Thread, Client] = {}

    @property
    def _client(self) -> Client:
        """This thread's connection to the node (pymemcache's ``Client`` is one socket, not thread-safe).

        One per thread rather than a pool: a pool's checkout and return cost
        more than the rest of a hit, and the threads that call are few (the
        application's and the client's lanes).
        """
        try:
            return self._local.client
        except AttributeError:
            client = Client(
                (self.server.host, self.server.port), no_delay=True, default_noreply=False, **self._settings
            )
            self._local.client = client
            with self._lock:
                for thread in [t for t in self._clients if not t.is_alive()]:
                    self._clients.pop(thread).close()
                self._clients[threading.current_thread()] = client
            return client

    @property
    def up(self) -> bool:
        return time.monotonic() >= self._down_until

    def _check(self) -> None:
        if self._down_until:  # a healthy node (0.0) costs no clock read
            if time.monotonic() < self._down_until:
                self.stats.error()
                raise NodeFailed(f"{self.name} is marked down")
            self._down_until = 0.0

    def _failed(self, started: float, exc: BaseException) -> NodeFailed:
        now = time.monotonic()
        self.stats.error(now - started)
        with self._lock:
            self._down_until = now + self.down_for
            if self.failed_at is None:
                self.failed_at = time.time()
        return NodeFailed(f"{self.name}: {type(exc).__name__}: {exc}")

    def _call(self, command: str, *args: Any, **kwargs: Any) -> tuple[Any, float]:
        """pymemcache's ``command`` and its latency; one retry when a pooled connection turns out dead.

        A pooled connection to a node that restarted is closed under us; the
        first call on it fails without the node being down.  pymemcache drops
        that connection, so one retry on a fresh one tells the two apart.  A
        timeout is not retried: it is what a slow node looks like.
        """
        self._check()
        call = getattr(self._client, command)
        started = time.perf_counter()
        try:
            try:
                result = call(*args, **kwargs)
            except _STALE:
                result = call(*args, **kwargs)
        except _FAILURES as exc:
            raise self._failed(started, exc) from exc
        if self.failed_at is not None:
            self._back()
        return result, time.perf_counter() - started

    def _back(self) -> None:
        """The node answered after an outage: note when it was away, for warming."""
        with self._lock:
            if self.failed_at is not None:
                self.rejoined = (self.failed_at, time.time())
                self.failed_at = None

    def probe(self) -> bool:
        """Ask a node that failed whether it is back (``version``); True if it answered."""
        try:
            self._call("version")
        except NodeFailed:
            return False
        return True

    def uptime(self) -> float:
        """Seconds the memcached process has been running (a node that restarted has lost what it held)."""
        stats, _ = self._call("stats")
        return float(stats[b"uptime"])

    def get(self, key: str) -> bytes | None:
        # _call written out: this is the hit path, the one whose cost over pymemcache bench/cache.py measures.
        if self._down_until:
            self._check()
        client = self._client
        started = time.perf_counter()
        try:
            try:
                value: bytes | None = client.get(key)
            except _STALE:
                value = client.get(key)
        except _FAILURES as exc:
            raise self._failed(started, exc) from exc
        if self.failed_at is not None:
            self._back()
        self.stats.call(time.perf_counter() - started, value is not None)
        return value

    def get_many(self, keys: list[str], count: bool = True) -> dict[str, bytes]:
        """The keys found; ``count=False`` for chunk fetches, which are not hits or misses of their own."""
        found, seconds = self._call("get_many", keys)
        if count:
            self.stats.call_many(seconds, len(found), len(keys) - len(found))
        else:
            self.stats.call_write(seconds)
        return found  # type: ignore[no-any-return]

    def _write(self, command: str, *args: Any) -> bool:
        done, seconds = self._call(command, *args)
        self.stats.call_write(seconds)
        return bool(done)

    def set_many(self, items: dict[str, bytes], expire: int) -> None:
        failed, seconds = self._call("set_many", items, expire=expire)
        self.stats.call_write(seconds)
        if failed:
            raise NodeFailed(f"{self.name}: memcached refused {len(failed)} item(s), e.g. {failed[0]!r}")

    def set(self, key: str, value: bytes, expire: int) -> None:
        if not self._write("set", key, value, expire):
            raise NodeFailed(f"{self.name}: memcached refused {key!r} (too large?)")

    def add(self, key: str, value: bytes, expire: int) -> bool:
        """Store only if the key is absent; False when it was there."""
        return self._write("add", key, value, expire)

    def delete(self, key: str) -> bool:
        return self._write("delete", key)

    def delete_many(self, keys: list[str]) -> None:
        self._write("delete_many", keys)

    def touch(self, key: str, expire: int) -> bool:
        return self._write("touch", key, expire)

    def flush_all(self) -> None:
        self._write("flush_all")

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
