"""cellstore.cache: an EVCache-style cache tier on memcached, usable without a cellstore server.

A copy of the cache in every zone, ketama placement inside a zone, writes to
every zone with a latch policy and a durable retry queue, zone-local reads
that fall back to other zones and repair the local copy, chunking of large
values, warming a replaced node from another zone, and a cross-region relay
through a cellstore FIFO queue.  See docs/CACHE.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cellstore.cache.client import CacheClient, WriteResult
    from cellstore.cache.config import CacheConfig, load_config
    from cellstore.cache.errors import CacheConfigError, CacheError, CacheUnavailable, InvalidCacheKey
    from cellstore.cache.latch import Latch
    from cellstore.cache.warming import auto_warm, open_client

__all__ = [
    "CacheClient",
    "CacheConfig",
    "CacheConfigError",
    "CacheError",
    "CacheUnavailable",
    "InvalidCacheKey",
    "Latch",
    "WriteResult",
    "auto_warm",
    "load_config",
    "open_client",
]

#: Each public name and the module that defines it.  They are imported on first use (PEP 562), as
#: cellstore.embedded's are: every ``cellstore`` command imports this package (for ``cache warm`` and
#: ``serve --cache``'s options), and pymemcache, the ring and the engine need not load for ``--help``.
_HOMES = {
    "CacheClient": "cellstore.cache.client",
    "WriteResult": "cellstore.cache.client",
    "CacheConfig": "cellstore.cache.config",
    "load_config": "cellstore.cache.config",
    "CacheConfigError": "cellstore.cache.errors",
    "CacheError": "cellstore.cache.errors",
    "CacheUnavailable": "cellstore.cache.errors",
    "InvalidCacheKey": "cellstore.cache.errors",
    "Latch": "cellstore.cache.latch",
    "auto_warm": "cellstore.cache.warming",
    "open_client": "cellstore.cache.warming",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
