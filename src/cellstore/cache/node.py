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
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from pymemcache.client.base import PooledClient
from pymemcache.exceptions import MemcacheError

from cellstore.cache.config import Server
from cellstore.cache.metrics import NodeStats

_FAILURES = (MemcacheError, OSError, socket.timeout)


class NodeFailed(Exception):
    """A call to a node failed (refused, timed out, closed, or the node is marked down)."""


class Node:
    def __init__(self, server: Server, timeout: float, connect_timeout: float, down_for: float, pool_size: int) -> None:
        self.server = server
        self.name = server.name
        self.stats = NodeStats()
        self.down_for = down_for
        self._down_until = 0.0
        self._lock = threading.Lock()
        self._client = PooledClient(
            (server.host, server.port),
            connect_timeout=connect_timeout,
            timeout=timeout,
            no_delay=True,
            max_pool_size=pool_size,
            default_noreply=False,
        )
        self._timeout = timeout

    @property
    def up(self) -> bool:
        return time.monotonic() >= self._down_until

    def _check(self) -> None:
        if time.monotonic() < self._down_until:
            self.stats.error()
            raise NodeFailed(f"{self.name} is marked down")

    def _failed(self, started: float, exc: BaseException) -> NodeFailed:
        now = time.monotonic()
        self.stats.error(now - started)
        with self._lock:
            self._down_until = now + self.down_for
        return NodeFailed(f"{self.name}: {type(exc).__name__}: {exc}")

    def get(self, key: str) -> bytes | None:
        self._check()
        started = time.perf_counter()
        try:
            value: bytes | None = self._client.get(key)
        except _FAILURES as exc:
            raise self._failed(started, exc) from exc
        self.stats.call(time.perf_counter() - started, hits=value is not None, misses=value is None)
        return value

    def get_many(self, keys: list[str], count: bool = True) -> dict[str, bytes]:
        """The keys found; ``count=False`` for chunk fetches, which are not hits or misses of their own."""
        self._check()
        started = time.perf_counter()
        try:
            found: dict[str, bytes] = self._client.get_many(keys)
        except _FAILURES as exc:
            raise self._failed(started, exc) from exc
        hits = len(found) if count else 0
        self.stats.call(time.perf_counter() - started, hits=hits, misses=len(keys) - hits if count else 0)
        return found

    def _write(self, command: str, *args: Any) -> bool:
        self._check()
        started = time.perf_counter()
        try:
            done = bool(getattr(self._client, command)(*args))
        except _FAILURES as exc:
            raise self._failed(started, exc) from exc
        self.stats.call(time.perf_counter() - started)
        return done

    def set_many(self, items: dict[str, bytes], expire: int) -> None:
        failed = self._client_set_many(items, expire)
        if failed:
            raise NodeFailed(f"{self.name}: memcached refused {len(failed)} item(s), e.g. {failed[0]!r}")

    def _client_set_many(self, items: dict[str, bytes], expire: int) -> list[str]:
        self._check()
        started = time.perf_counter()
        try:
            failed: list[str] = self._client.set_many(items, expire=expire)
        except _FAILURES as exc:
            raise self._failed(started, exc) from exc
        self.stats.call(time.perf_counter() - started)
        return failed

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

    def metadump(self) -> Iterator[tuple[str, int]]:
        """Every key the node holds with its expiry (unix seconds, 0 = none), from ``lru_crawler metadump all``.

        memcached's LRU crawler walks the items and prints a line per item
        (``key=<url-encoded> exp=<unix time or -1> ...``), then ``END``.  The
        whole dump is read with one call, so it uses a timeout of its own.
        """
        started = time.perf_counter()
        try:
            raw: bytes = self._client.raw_command(b"lru_crawler metadump all", b"END\r\n")
        except _FAILURES as exc:
            raise self._failed(started, exc) from exc
        self.stats.call(time.perf_counter() - started)
        for line in raw.split(b"\n"):
            fields = dict(part.split(b"=", 1) for part in line.strip().split(b" ") if b"=" in part)
            if b"key" not in fields:
                continue
            exp = int(fields.get(b"exp", b"-1"))
            yield unquote(fields[b"key"].decode("ascii")), max(exp, 0)

    def close(self) -> None:
        self._client.close()
