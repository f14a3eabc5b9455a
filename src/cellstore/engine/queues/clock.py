"""The queue engine's sense of time, injectable so tests never sleep.

Every time the engine stores or compares — when a message becomes visible,
when it expires, when a deduplication id is forgotten, when a purge may be
repeated — comes from one ``Clock`` in epoch milliseconds.  Long-poll waits
are the exception: they measure real elapsed time (``time.monotonic``),
because a client waiting 20 seconds waits 20 real seconds.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""
        ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that moves only when told to: ``advance(31)`` skips a visibility timeout."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now = start_ms
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += round(seconds * 1000)
