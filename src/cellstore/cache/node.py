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

from pymemcache.client.base import PooledClient
from pymemcache.exceptions import MemcacheError, MemcacheUnexpectedCloseError

from cellstore.cache.config import Server
from cellstore.cache.metrics import NodeStats

_FAILURES = (MemcacheError, OSError, socket.timeout)
#: What a pooled connection to a restarted node fails with (the node itself may well be up).
_STALE = (MemcacheUnexpectedCloseError, BrokenPipeError, ConnectionResetError)


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
        return result, time.perf_counter() - started

    def get(self, key: str) -> bytes | None:
        value, seconds = self._call("get", key)
        self.stats.call(seconds, hits=value is not None, misses=value is None)
        return value  # type: ignore[no-any-return]

    def get_many(self, keys: list[str], count: bool = True) -> dict[str, bytes]:
        """The keys found; ``count=False`` for chunk fetches, which are not hits or misses of their own."""
        found, seconds = self._call("get_many", keys)
        hits = len(found) if count else 0
        self.stats.call(seconds, hits=hits, misses=len(keys) - hits if count else 0)
        return found  # type: ignore[no-any-return]

    def _write(self, command: str, *args: Any) -> bool:
        done, seconds = self._call(command, *args)
        self.stats.call(seconds)
        return bool(done)

    def set_many(self, items: dict[str, bytes], expire: int) -> None:
        failed, seconds = self._call("set_many", items, expire=expire)
        self.stats.call(seconds)
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
        self._client.close()
