"""What a cache client is pointed at: zones, each a list of memcached servers, and the client's knobs.

Read from a TOML file (``cache.toml``) by :func:`load_config` or built in
Python; the same structure serves the library, ``cellstore cache warm`` and
``serve --cache``::

    zone = "a"                     # optional: the zone this client lives in
    timeout = 0.25                 # seconds for a read or write on one node
    auto_warm = true               # warm a node that comes back empty (open_client, serve --cache)
    [zones.a]
    servers = ["127.0.0.1:11211", "127.0.0.1:11212"]
    [zones.b]
    servers = ["127.0.0.1:11213", "127.0.0.1:11214"]
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cellstore.cache.errors import CacheConfigError
from cellstore.cache.latch import Latch

#: memcached's default item size limit is 1 MiB including the key and the item
#: header; a chunk of this many bytes plus our envelope and the longest key fits.
DEFAULT_CHUNK_SIZE = 1024 * 1024 - 1024


@dataclass(frozen=True)
class Server:
    """One memcached process, ``host:port``."""

    host: str
    port: int

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> Server:
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise CacheConfigError(f"server {text!r} is not host:port")
        return cls(host, int(port))


@dataclass(frozen=True)
class CacheConfig:
    """Zones and settings; ``zones`` keeps the file's order, which is the order of fallback."""

    zones: dict[str, tuple[Server, ...]]
    zone: str | None = None
    timeout: float = 0.25
    connect_timeout: float = 0.25
    #: After a node fails, calls skip it (as an error) for this long instead of each paying a timeout.
    down_for: float = 1.0
    chunk_size: int = DEFAULT_CHUNK_SIZE
    latch: Latch = Latch.ONE
    #: The durable queue of writes a zone missed; None keeps it in memory (lost with the process).
    retry_queue: Path | None = None
    retry_interval: float = 0.5
    #: Warm a node that comes back empty from another zone (``open_client`` and ``serve --cache`` honour it).
    auto_warm: bool = False
    #: Keys a second for automatic warming; None: no limit.
    warm_rate: float | None = None
    #: The [tables.*] and [item_cache] tables, for the item cache (items.py).
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.zones:
            raise CacheConfigError("a cache needs at least one zone")
        for name, servers in self.zones.items():
            if not servers:
                raise CacheConfigError(f"zone {name!r} has no servers")
        if self.zone is not None and self.zone not in self.zones:
            raise CacheConfigError(f"zone {self.zone!r} is not one of {sorted(self.zones)}")
        if self.chunk_size < 64:
            raise CacheConfigError("chunk_size must be at least 64 bytes")

    @classmethod
    def from_servers(cls, zones: dict[str, list[str]], **settings: Any) -> CacheConfig:
        """``{"a": ["127.0.0.1:11211"], ...}`` with any other field as a keyword."""
        return cls({name: tuple(Server.parse(s) for s in servers) for name, servers in zones.items()}, **settings)


#: Tables read by other parts of the cache (items.py: ``serve --cache``), kept in ``CacheConfig.extra``.
_SECTIONS = {"tables", "item_cache"}

_FLOATS = ("timeout", "connect_timeout", "down_for", "retry_interval", "warm_rate")
_INTS = ("chunk_size",)


def load_config(path: Path, zone: str | None = None) -> CacheConfig:
    """Read ``cache.toml``; ``zone`` (e.g. ``--zone``) overrides the file's ``zone``."""
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CacheConfigError(f"cannot read {path}: {exc}") from exc
    return parse_config(document, zone, base=path.parent)


def parse_config(document: dict[str, Any], zone: str | None = None, base: Path = Path()) -> CacheConfig:
    zones = document.get("zones")
    if not isinstance(zones, dict) or not zones:
        raise CacheConfigError("the configuration has no [zones.NAME] table")
    parsed: dict[str, tuple[Server, ...]] = {}
    for name, table in zones.items():
        servers = table.get("servers") if isinstance(table, dict) else None
        if not isinstance(servers, list) or not all(isinstance(s, str) for s in servers):
            raise CacheConfigError(f"[zones.{name}] needs servers = [\"host:port\", ...]")
        parsed[name] = tuple(Server.parse(s) for s in servers)
    settings: dict[str, Any] = {}
    for key in _FLOATS:
        if key in document:
            settings[key] = _number(document, key, float)
    for key in _INTS:
        if key in document:
            settings[key] = _number(document, key, int)
    if "latch" in document:
        try:
            settings["latch"] = Latch[str(document["latch"]).upper()]
        except KeyError:
            raise CacheConfigError(f"latch must be one of {[m.name for m in Latch]}") from None
    if "auto_warm" in document:
        if not isinstance(document["auto_warm"], bool):
            raise CacheConfigError("auto_warm must be true or false")
        settings["auto_warm"] = document["auto_warm"]
    if "retry_queue" in document:
        settings["retry_queue"] = base / str(document["retry_queue"])
    known = {"zones", "zone", "latch", "retry_queue", "auto_warm", *_FLOATS, *_INTS}
    extra = {k: v for k, v in document.items() if k not in known}
    unknown = sorted(set(extra) - _SECTIONS)
    if unknown:
        raise CacheConfigError(f"unknown setting(s) {unknown}: see docs/CACHE.md for what cache.toml holds")
    return CacheConfig(parsed, zone=zone or document.get("zone"), extra=extra, **settings)


def _number(document: dict[str, Any], key: str, kind: type[float | int]) -> float | int:
    value = document[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise CacheConfigError(f"{key} must be a positive number, not {value!r}")
    return kind(value)
