"""The knobs of DynamoDB Streams: retention, shard roll-over, iterator lifetime, the clock.

Module state so tests can shorten them; ``CELLSTORE_STREAM_*`` environment
variables set them for a served process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field


def _env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return default if raw is None else float(raw)


@dataclass(slots=True)
class Settings:
    retention_seconds: float = field(default_factory=lambda: _env("CELLSTORE_STREAM_RETENTION_SECONDS", 24 * 3600))
    shard_max_age_seconds: float = field(default_factory=lambda: _env("CELLSTORE_STREAM_SHARD_SECONDS", 4 * 3600))
    shard_max_records: int = field(default_factory=lambda: int(_env("CELLSTORE_STREAM_SHARD_RECORDS", 10_000)))
    iterator_ttl_seconds: float = field(default_factory=lambda: _env("CELLSTORE_STREAM_ITERATOR_SECONDS", 15 * 60))
    clock: Callable[[], float] = time.time


SETTINGS = Settings()
