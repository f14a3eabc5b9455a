"""Plain counters per zone and per node: hits, misses, fallbacks, errors, latency.

The library keeps them itself (no metrics client needed) and hands out a
snapshot dict from :meth:`CacheClient.metrics`; a server can export that dict
however it likes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class NodeStats:
    """One memcached node, as seen by this client."""

    hits: int = 0
    misses: int = 0
    errors: int = 0
    calls: int = 0
    latency_total: float = 0.0
    latency_max: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def call(self, seconds: float, hit: bool) -> None:
        """One get: a hit or a miss."""
        with self.lock:
            self.calls += 1
            if hit:
                self.hits += 1
            else:
                self.misses += 1
            self.latency_total += seconds
            self.latency_max = max(self.latency_max, seconds)

    def call_many(self, seconds: float, hits: int, misses: int) -> None:
        with self.lock:
            self.calls += 1
            self.hits += hits
            self.misses += misses
            self.latency_total += seconds
            self.latency_max = max(self.latency_max, seconds)

    def call_write(self, seconds: float) -> None:
        with self.lock:
            self.calls += 1
            self.latency_total += seconds
            self.latency_max = max(self.latency_max, seconds)

    def error(self, seconds: float = 0.0) -> None:
        with self.lock:
            self.calls += 1
            self.errors += 1
            self.latency_total += seconds
            self.latency_max = max(self.latency_max, seconds)

    def snapshot(self) -> dict[str, float]:
        with self.lock:
            return {
                "hits": self.hits,
                "misses": self.misses,
                "errors": self.errors,
                "calls": self.calls,
                "latency_avg": self.latency_total / self.calls if self.calls else 0.0,
                "latency_max": self.latency_max,
            }


@dataclass
class ZoneStats:
    """What happened to reads and writes at the level of a whole zone."""

    #: Keys this zone was asked for first and that another zone answered (a miss or an error here).
    fallbacks: int = 0
    #: Copies written back into this zone after another zone answered for it.
    repairs: int = 0
    #: Writes to this zone that failed and went to the retry queue.
    queued: int = 0
    #: Queued writes later applied to this zone.
    replayed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, count: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + count)

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return {"fallbacks": self.fallbacks, "repairs": self.repairs, "queued": self.queued, "replayed": self.replayed}
