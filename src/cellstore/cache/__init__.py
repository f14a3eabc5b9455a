"""cellstore.cache: an EVCache-style cache tier on memcached, usable without a cellstore server.

A copy of the cache in every zone, ketama placement inside a zone, writes to
every zone with a latch policy and a durable retry queue, zone-local reads
that fall back to other zones and repair the local copy, chunking of large
values, warming a replaced node from another zone, and a cross-region relay
through a cellstore FIFO queue.  See docs/CACHE.md.
"""

from __future__ import annotations

from cellstore.cache.client import CacheClient as CacheClient
from cellstore.cache.client import WriteResult as WriteResult
from cellstore.cache.config import CacheConfig as CacheConfig
from cellstore.cache.config import load_config as load_config
from cellstore.cache.errors import CacheConfigError as CacheConfigError
from cellstore.cache.errors import CacheError as CacheError
from cellstore.cache.errors import CacheUnavailable as CacheUnavailable
from cellstore.cache.errors import InvalidCacheKey as InvalidCacheKey
from cellstore.cache.latch import Latch as Latch
from cellstore.cache.warming import auto_warm as auto_warm


def open_client(config: CacheConfig, zone: str | None = None) -> CacheClient:
    """A ``CacheClient`` for ``config`` that also warms rejoining empty nodes when ``config.auto_warm`` says so."""
    client = CacheClient(config, zone=zone)
    if config.auto_warm:
        auto_warm(client, config.warm_rate)
    return client
