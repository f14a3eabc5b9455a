"""One zone's full copy of the cache: its memcached nodes and the ketama ring that places keys on them.

Placement is ketama (uhashring's libketama-compatible ring), so a key lives
on the same node as it would for any ketama client given the same server
list, and adding or removing a node moves only about 1/N of the keys.  A
node that is down stays on the ring: its keys are answered by another zone
(and warmed back when it returns) rather than moved to a neighbour that does
not have them.
"""

from __future__ import annotations

import time
from bisect import bisect
from collections import defaultdict
from hashlib import md5

from uhashring import HashRing

from cellstore.cache import envelope
from cellstore.cache.config import CacheConfig, Server
from cellstore.cache.envelope import CHUNK, DELETED, MANIFEST, VALUE, Item
from cellstore.cache.metrics import ZoneStats
from cellstore.cache.node import Node, NodeFailed

#: The first two bytes of a plain (unchunked) value's item.
_PLAIN = bytes((envelope.MAGIC, VALUE))

#: Seconds a delete's marker stays (envelope.py): longer than a delete takes to reach every zone
#: that is up, and memcached counts whole seconds.  A zone that is down gets the delete from the retry queue.
DELETE_HOLD = 3

#: memcached reads an expire time above 30 days as an absolute unix time.
_RELATIVE_LIMIT = 30 * 24 * 3600


def expire_for(expiry: int, now: float | None = None) -> int | None:
    """memcached's ``exptime`` for an absolute ``expiry`` (0 = never), or None if it has passed."""
    if expiry == 0:
        return 0
    remaining = expiry - int(now if now is not None else time.time())
    if remaining <= 0:
        return None
    return remaining if remaining <= _RELATIVE_LIMIT else expiry


class Zone:
    def __init__(self, name: str, servers: tuple[Server, ...], config: CacheConfig) -> None:
        self.name = name
        self.stats = ZoneStats()
        self.chunk_size = config.chunk_size
        self.nodes = {
            s.name: Node(s, config.timeout, config.connect_timeout, config.down_for) for s in servers
        }
        # uhashring builds the libketama continuum; the lookup is done here, on its points, because
        # it is on every call's path and uhashring's generic getter costs several times md5 + bisect.
        points = HashRing(nodes=list(self.nodes), hash_fn="ketama").get_points()
        self._positions = [position for position, _ in points]
        self._owners = [self.nodes[name] for _, name in points]
        self._only = self._owners[0] if len(self.nodes) == 1 else None

    def node_for(self, key: str) -> Node:
        """The node that holds ``key``: the first point on the continuum at or after the key's ketama hash."""
        if self._only is not None:  # one node holds every key: no hash to compute
            return self._only
        digest = md5(key.encode(), usedforsecurity=False).digest()
        index = bisect(self._positions, int.from_bytes(digest[:4], "little"))
        return self._owners[index if index < len(self._owners) else 0]

    def group(self, keys: list[str]) -> dict[Node, list[str]]:
        by_node: dict[Node, list[str]] = defaultdict(list)
        for key in keys:
            by_node[self.node_for(key)].append(key)
        return by_node

    # -- reads -------------------------------------------------------------------------------------

    def read(self, key: str) -> Item | None:
        """The value item under ``key`` (chunks joined), or None on a miss.  Raises NodeFailed."""
        node = self.node_for(key)
        raw = node.get(key)
        if raw is not None and raw[:2] == _PLAIN and len(raw) >= envelope.HEADER_SIZE:  # the common case, inline
            return Item(VALUE, int.from_bytes(raw[2 : envelope.HEADER_SIZE]), raw[envelope.HEADER_SIZE :])
        return self._resolve(node, key, raw)

    def read_many(self, keys: list[str]) -> tuple[dict[str, Item], list[str]]:
        """(found items, keys whose node failed); a key in neither was a miss."""
        found: dict[str, Item] = {}
        failed: list[str] = []
        for node, node_keys in self.group(keys).items():
            try:
                raws = node.get_many(node_keys)
                for key, raw in raws.items():
                    item = self._resolve(node, key, raw)
                    if item is not None:
                        found[key] = item
            except NodeFailed:
                failed.extend(k for k in node_keys if k not in found)
        return found, failed

    def _resolve(self, node: Node, key: str, raw: bytes | None) -> Item | None:
        """The item ``raw`` holds: a value (chunks joined), a ``DELETED`` marker, or None (a miss)."""
        if raw is None:
            return None
        item = envelope.decode(raw)
        if item is None or item.kind == CHUNK:
            return None
        if item.kind == MANIFEST:
            manifest = item.manifest()
            value = envelope.join(manifest, key, node.get_many(manifest.chunk_keys(key), count=False))
            return None if value is None else Item(VALUE, item.expiry, value)
        return item

    # -- writes ------------------------------------------------------------------------------------

    def write(self, key: str, value: bytes, expiry: int, only_if_absent: bool = False) -> bool:
        """Store ``value`` (chunked if large); False only when ``only_if_absent`` and the key was there."""
        expire = expire_for(expiry)
        if expire is None:
            return True  # already expired: storing it would be storing nothing
        node = self.node_for(key)
        head, chunks = envelope.split(key, value, expiry, self.chunk_size)
        if chunks:
            node.set_many(chunks, expire)
        if only_if_absent:
            return node.add(key, head, expire)
        node.set(key, head, expire)
        return True

    def delete(self, key: str) -> None:
        """Replace the key with a ``DELETED`` marker for ``DELETE_HOLD`` seconds (and drop its chunks)."""
        node = self.node_for(key)
        raw = node.get_many([key], count=False).get(key)  # a look at what is there: not a read's hit or miss
        item = envelope.decode(raw) if raw is not None else None
        node.set(key, envelope.encode(DELETED, int(time.time()) + DELETE_HOLD, b""), DELETE_HOLD)
        if item is not None and item.kind == MANIFEST:
            node.delete_many(item.manifest().chunk_keys(key))

    def touch(self, key: str, expiry: int) -> bool:
        """Give ``key`` (and its chunks) a new expiry; False if it is not in this zone."""
        expire = expire_for(expiry)
        if expire is None:
            self.delete(key)
            return True
        node = self.node_for(key)
        raw = node.get_many([key], count=False).get(key)  # a look at what is there: not a read's hit or miss
        item = envelope.decode(raw) if raw is not None else None
        if item is None or item.kind not in (VALUE, MANIFEST):
            return False
        if item.kind == MANIFEST:
            for chunk_key in item.manifest().chunk_keys(key):
                node.touch(chunk_key, expire)
        # The header carries the expiry (for repairs and warming), so the head item is rewritten, not touched.
        node.set(key, envelope.encode(item.kind, expiry, item.payload), expire)
        return True

    def close(self) -> None:
        for node in self.nodes.values():
            node.close()
