"""Cache warming: fill a zone's empty (new, replaced, restarted) nodes from a healthy zone's copy.

EVCache's warmer in two halves, on memcached's own tools:

* the *dumper* lists every key a source node holds with the LRU crawler
  (``lru_crawler metadump hash``: key and expiry per item, without values);
* the *populator* keeps the keys a target node should hold (ketama in the
  target zone), reads them from the source zone in batches and writes them
  to the target with ``add``: a key a live write already put there is left
  alone, so warming never puts an older value over a newer one.

The copy is rate-limited (keys per second) so that the source nodes keep
serving live reads with their usual latency.  Chunk items are not copied on
their own: their parent key is, and the copy writes fresh chunks.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from cellstore.cache.client import CacheClient
from cellstore.cache.config import CacheConfig
from cellstore.cache.envelope import VALUE
from cellstore.cache.errors import CacheConfigError
from cellstore.cache.metadump import MetadumpFailed, metadump
from cellstore.cache.node import Node, NodeFailed
from cellstore.cache.zone import Zone

#: A chunk key is its parent's key, ":", 16 hex digits of version and ":" and its index (envelope.py).
_CHUNK_KEY = re.compile(r":[0-9a-f]{16}:\d+$")

log = logging.getLogger(__name__)

#: Keys read from the source and written to the target per round trip.
BATCH = 100

#: Tries per batch: a node that just restarted fails its first call (the pooled connection died with it).
_ATTEMPTS = 3


@dataclass
class WarmProgress:
    """How far a warm has got; handed to the progress callback after every batch."""

    listed: int = 0  # keys the source zone holds that a target node should hold
    copied: int = 0  # written into the target
    present: int = 0  # already in the target (a live write got there first)
    gone: int = 0  # listed, but expired or evicted from the source before they were read
    failed: int = 0  # a node failed while reading or writing them
    seconds: float = 0.0

    @property
    def done(self) -> int:
        return self.copied + self.present + self.gone + self.failed


Progress = Callable[[WarmProgress], None]


class Warmer:
    def __init__(
        self,
        client: CacheClient,
        target: str,
        source: str,
        nodes: list[str] | None = None,
        rate: float | None = None,
    ) -> None:
        for name in (target, source):
            if name not in client.zones:
                raise CacheConfigError(f"zone {name!r} is not one of {sorted(client.zones)}")
        if target == source:
            raise CacheConfigError("warming copies from one zone into another: --zone and --from are the same")
        self.target, self.source = client.zones[target], client.zones[source]
        wanted = nodes or list(self.target.nodes)
        unknown = [n for n in wanted if n not in self.target.nodes]
        if unknown:
            raise CacheConfigError(f"{unknown} are not nodes of zone {target!r}: {sorted(self.target.nodes)}")
        self.nodes = set(wanted)
        self.rate = rate

    def listing(self) -> Iterator[str]:
        """Every key in the source zone that one of the target nodes should hold (from a metadump of each node)."""
        for node in self.source.nodes.values():
            for key, _ in metadump(node.server):
                if not _CHUNK_KEY.search(key) and self.target.node_for(key).name in self.nodes:
                    yield key

    def run(self, progress: Progress | None = None) -> WarmProgress:
        state = WarmProgress()
        started = time.monotonic()
        keys = list(self.listing())
        state.listed = len(keys)
        if progress is not None:
            progress(state)
        for first in range(0, len(keys), BATCH):
            batch = keys[first : first + BATCH]
            self._copy(batch, state)
            state.seconds = time.monotonic() - started
            if progress is not None:
                progress(state)
            if self.rate:
                ahead = state.done / self.rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        state.seconds = time.monotonic() - started
        return state

    def _copy(self, batch: list[str], state: WarmProgress) -> None:
        """Copy one batch; keys whose node failed are tried again after the node's down period, twice."""
        for attempt in range(_ATTEMPTS):
            batch = self._copy_once(batch, state)
            if not batch:
                return
            if attempt + 1 < _ATTEMPTS:
                time.sleep(max(node.down_for for node in self.target.nodes.values()))
        state.failed += len(batch)

    def _copy_once(self, batch: list[str], state: WarmProgress) -> list[str]:
        """Copy what can be copied now; the keys to try again."""
        found, failed = self.source.read_many(batch)
        state.gone += len(batch) - len(found) - len(failed)
        for key, item in found.items():
            if item.kind != VALUE:  # deleted in the source a moment ago: nothing to copy
                state.gone += 1
                continue
            try:
                if self.target.write(key, item.payload, item.expiry, only_if_absent=True):
                    state.copied += 1
                else:
                    state.present += 1
            except NodeFailed:
                failed.append(key)
        return failed


class AutoWarm:
    """Warms a node from another zone when it answers again after an outage in which it restarted (empty).

    ``auto_warm(client)`` attaches it: the client's replay thread probes the
    nodes that failed and calls it for each that is back; if the node's
    memcached uptime is shorter than the outage, the process restarted and
    lost what it held, and a warm of that node from the first other zone
    whose nodes are all up runs on a thread of its own (one at a time), at
    ``rate`` keys a second.
    """

    def __init__(self, client: CacheClient, rate: float | None = None) -> None:
        self.client, self.rate = client, rate
        self.runs: list[WarmProgress] = []
        self._busy = threading.Lock()

    def __call__(self, zone: Zone, node: Node) -> None:
        if node.rejoined is None:
            return
        started, back = node.rejoined
        try:
            restarted = node.uptime() <= back - started + 1
        except NodeFailed:
            return
        source = next(
            (z for z in self.client.zones.values() if z is not zone and all(n.up for n in z.nodes.values())), None
        )
        if not restarted or source is None:
            return
        warmer = Warmer(self.client, zone.name, source.name, nodes=[node.name], rate=self.rate)
        threading.Thread(target=self._run, args=(warmer, node), name=f"cache-warm-{node.name}", daemon=True).start()

    def _run(self, warmer: Warmer, node: Node) -> None:
        with self._busy:
            try:
                state = warmer.run()
            except (MetadumpFailed, NodeFailed) as exc:
                log.warning("cache: warming %s failed: %s", node.name, exc)
                return
            self.runs.append(state)
            log.info("cache: warmed %s: %d keys copied", node.name, state.copied)


def auto_warm(client: CacheClient, rate: float | None = None) -> AutoWarm:
    """Make ``client`` warm each node that comes back empty; the ``AutoWarm`` (its ``runs`` say what it did)."""
    warm = AutoWarm(client, rate)
    client.rejoin_listeners.append(warm)
    return warm


def open_client(config: CacheConfig, zone: str | None = None) -> CacheClient:
    """A ``CacheClient`` for ``config`` that also warms rejoining empty nodes when ``config.auto_warm`` says so."""
    client = CacheClient(config, zone=zone)
    if config.auto_warm:
        auto_warm(client, config.warm_rate)
    return client
