"""The cache client: a full copy per zone, zone-local reads with fallback, writes to every zone.

:class:`CacheClient` is EVCache's client in Python over pymemcache:

* ``set``/``delete``/``touch`` go to every zone.  The call waits for as many
  zones as its :class:`Latch` asks, the others finish in the background, and
  a zone that fails gets the write later from the durable retry queue
  (``retry.py``).  Each (zone, key) has one worker thread, its *lane*
  (``lane.py``), so the writes to a key reach a zone in the order they were
  made, replays included; the own zone's write runs in the caller's thread
  when its lane is idle.
* ``get``/``get_many`` ask the client's own zone first; on a miss or an error
  they ask the other zones in the configured order, and a hit there is
  written back into the own zone (with ``add``, so a newer write that got
  there first is kept).  A caller sees an exception only when no zone could
  answer (:class:`CacheUnavailable`); a miss is an answer.
* values larger than the chunk size are chunked (``envelope.py``); every
  item carries its expiry so copies made elsewhere expire with it.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from cellstore.cache import retry
from cellstore.cache.config import CacheConfig
from cellstore.cache.envelope import VALUE, check_key
from cellstore.cache.errors import CacheConfigError, CacheUnavailable
from cellstore.cache.lane import Lane, LaneClosed
from cellstore.cache.latch import Latch
from cellstore.cache.node import Node, NodeFailed
from cellstore.cache.retry import RetryQueue
from cellstore.cache.zone import Zone

#: Worker threads per zone; a key always uses the same one.
LANES = 4

#: Called after a write was accepted locally: (op, key, value or None, expiry) — the cross-region relay's tap.
WriteListener = Callable[[str, str, bytes | None, int], None]


@dataclass(frozen=True)
class WriteResult:
    """How a write went: ``acked`` zones had it when the call returned, ``required`` were asked for."""

    acked: int
    required: int
    zones: int

    @property
    def ok(self) -> bool:
        return self.acked >= self.required


class _Acks:
    """Counts zone acknowledgements until the latch is satisfied or cannot be any more."""

    def __init__(self, required: int, total: int) -> None:
        self.required, self.total = required, total
        self.acked = self.failed = 0
        self._cond = threading.Condition()

    def record(self, ok: bool) -> None:
        with self._cond:
            if ok:
                self.acked += 1
            else:
                self.failed += 1
            self._cond.notify_all()

    def wait(self) -> int:
        with self._cond:
            self._cond.wait_for(lambda: self.acked >= self.required or self.total - self.failed < self.required)
            return self.acked


def expiry_for(ttl: float) -> int:
    """Absolute unix expiry for a TTL in seconds (0 = never expires)."""
    return 0 if ttl <= 0 else int(time.time() + ttl + 0.999)


class CacheClient:
    def __init__(self, config: CacheConfig, zone: str | None = None, replay: bool = True) -> None:
        self.config = config
        self.zones = {name: Zone(name, servers, config) for name, servers in config.zones.items()}
        self.zone = zone or config.zone or next(iter(config.zones))
        if self.zone not in self.zones:
            raise CacheConfigError(f"zone {self.zone!r} is not one of {sorted(self.zones)}")
        self.local = self.zones[self.zone]
        self._order = [self.local, *(z for z in self.zones.values() if z is not self.local)]
        self._lanes = {name: [Lane(f"cache-{name}-{i}") for i in range(LANES)] for name in self.zones}
        self.retry = RetryQueue(config.retry_queue)
        self.listeners: list[WriteListener] = []
        #: Called from the replay thread with (zone, node) when a node answers again after an outage.
        self.rejoin_listeners: list[Callable[[Zone, Node], None]] = []
        self._closed = threading.Event()
        self._replayer: threading.Thread | None = None
        if replay:
            self._replayer = threading.Thread(target=self._replay_loop, name="cache-replay", daemon=True)
            self._replayer.start()

    # -- reads -------------------------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """The value, from the own zone or (on a miss or error there) another; None if no zone has it."""
        check_key(key)
        try:
            item = self.local.read(key)
        except NodeFailed:
            return self._get_elsewhere(key, local_missed=False)
        if item is not None:
            return item.payload if item.kind == VALUE else None  # DELETED: an answer, not a miss to fall back on
        return self._get_elsewhere(key, local_missed=True)

    def _get_elsewhere(self, key: str, local_missed: bool) -> bytes | None:
        """The other zones, in order, after the own zone missed (``local_missed``) or failed."""
        answered = local_missed
        for zone in self._order[1:]:
            try:
                item = zone.read(key)
            except NodeFailed:
                continue
            answered = True
            if item is not None:
                if item.kind != VALUE:
                    return None  # deleted there
                self.local.stats.add("fallbacks")
                if local_missed:
                    self._repair(key, item.payload, item.expiry)
                return item.payload
        if not answered:
            raise CacheUnavailable(f"no zone could answer for {key!r}")
        return None

    def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        """The values found, by key; a key no zone holds is absent from the answer."""
        wanted = list(dict.fromkeys(keys))
        for key in wanted:
            check_key(key)
        result: dict[str, bytes] = {}
        unanswered = set(wanted)
        local_missed: set[str] = set()
        remaining = wanted
        for zone in self._order:
            found, failed = zone.read_many(remaining)
            failed_set = set(failed)
            unanswered -= set(remaining) - failed_set
            values = {key: item for key, item in found.items() if item.kind == VALUE}
            if zone is self.local:
                local_missed = set(remaining) - failed_set - found.keys()
            else:
                self.local.stats.add("fallbacks", len(values))
                for key, item in values.items():
                    if key in local_missed:
                        self._repair(key, item.payload, item.expiry)
            for key, item in values.items():
                result[key] = item.payload
            remaining = [k for k in remaining if k not in found]
            if not remaining:
                break
        if unanswered:
            raise CacheUnavailable(f"no zone could answer for {len(unanswered)} key(s), e.g. {min(unanswered)!r}")
        return result

    def _repair(self, key: str, value: bytes, expiry: int) -> None:
        def repair() -> bool:
            try:
                if self.local.write(key, value, expiry, only_if_absent=True):
                    self.local.stats.add("repairs")
            except NodeFailed:
                pass  # the own zone is failing: warming (or the next write) fills it, not this read
            return True

        self._lane(self.local.name, key).submit(repair)

    # -- writes ------------------------------------------------------------------------------------

    def set(self, key: str, value: bytes, ttl: float = 0, latch: Latch | None = None) -> WriteResult:
        """Store ``value`` in every zone for ``ttl`` seconds (0: until evicted)."""
        check_key(key)
        if not isinstance(value, bytes):
            raise TypeError(f"cache values are bytes, not {type(value).__name__}")
        return self._write(retry.SET, key, value, expiry_for(ttl), latch)

    def add(self, key: str, value: bytes, ttl: float = 0) -> bool:
        """Store ``value`` in the own zone only, and only if the key is absent there: a fill after a miss.

        A fill must never replace what a write put there meanwhile (a newer
        value, an item cache's tombstone), hence ``add``; the other zones fill
        on their own misses, or from this one through fallback and repair.
        False when the key was there or the zone failed.
        """
        check_key(key)
        expiry = expiry_for(ttl)

        def fill() -> bool:
            try:
                return self.local.write(key, value, expiry, only_if_absent=True)
            except NodeFailed:
                return False

        return self._lane(self.local.name, key).run(fill)

    def delete(self, key: str, latch: Latch | None = None) -> WriteResult:
        check_key(key)
        return self._write(retry.DELETE, key, None, 0, latch)

    def touch(self, key: str, ttl: float, latch: Latch | None = None) -> WriteResult:
        """Give ``key`` a new TTL in every zone that holds it."""
        check_key(key)
        return self._write(retry.TOUCH, key, None, expiry_for(ttl), latch)

    def replicate(
        self, op: str, key: str, value: bytes | None, expiry: int, latch: Latch | None = None
    ) -> WriteResult:
        """Apply a write made elsewhere (the cross-region relay): ``expiry`` is absolute, as it was there.

        Listeners are not told: a replicated write is not this region's to publish again.
        """
        check_key(key)
        if op not in (retry.SET, retry.DELETE, retry.TOUCH) or (op == retry.SET and value is None):
            raise ValueError(f"not a cache write: {op!r}")
        return self._write(op, key, value, expiry, latch, publish=False)

    def _write(
        self, op: str, key: str, value: bytes | None, expiry: int, latch: Latch | None, publish: bool = True
    ) -> WriteResult:
        policy = latch or self.config.latch
        required = policy.required(len(self._order))
        acks = _Acks(required, len(self._order))
        for zone in self._order[1:]:
            self._lane(zone.name, key).submit(self._apply, zone, op, key, value, expiry, acks)
        if required:  # the own zone's write in this thread when its lane is idle: no handoff to wait for
            self._lane(self.local.name, key).run(self._apply, self.local, op, key, value, expiry, acks)
            acked = acks.wait()
        else:
            self._lane(self.local.name, key).submit(self._apply, self.local, op, key, value, expiry, acks)
            acked = 0
        if publish:
            for listener in self.listeners:
                listener(op, key, value, expiry)
        return WriteResult(acked, required, len(self._order))

    def _apply(self, zone: Zone, op: str, key: str, value: bytes | None, expiry: int, acks: _Acks | None) -> bool:
        """One write to one zone, on the key's lane; a failure queues it for replay."""
        try:
            _apply_to(zone, op, key, value, expiry)
        except NodeFailed:
            self.retry.put(zone.name, key, op, value, expiry)
            zone.stats.add("queued")
            if acks is not None:
                acks.record(False)
            return False
        self.retry.discard(zone.name, key)
        if acks is not None:
            acks.record(True)
        return True

    def _lane(self, zone: str, key: str) -> Lane:
        return self._lanes[zone][zlib.crc32(key.encode()) % LANES]

    # -- replay ------------------------------------------------------------------------------------

    def replay(self) -> int:
        """Replay the queued writes that are due; how many reached their zone.  Runs in the background too."""
        futures: list[Future[bool]] = []
        for zone_name, key in self.retry.due():
            if zone_name in self.zones:
                futures.append(self._lane(zone_name, key).submit(self._replay_one, zone_name, key))
        return sum(1 for f in futures if f.result())

    def _replay_one(self, zone_name: str, key: str) -> bool:
        entry = self.retry.get(zone_name, key)
        if entry is None:
            return False  # a direct write got there first
        zone = self.zones[zone_name]
        try:
            _apply_to(zone, entry.op, key, entry.value, entry.expiry)
        except NodeFailed:
            self.retry.failed(entry)
            return False
        self.retry.done(entry)
        zone.stats.add("replayed")
        return True

    def _replay_loop(self) -> None:
        while not self._closed.wait(self.config.retry_interval):
            try:
                self.replay()
            except LaneClosed:
                return
            self.check_nodes()

    def check_nodes(self) -> None:
        """Probe the nodes that failed, and tell the rejoin listeners about those that came back."""
        for zone in self.zones.values():
            for node in zone.nodes.values():
                if node.failed_at is not None and node.up:
                    node.probe()
                if node.rejoined is not None:
                    # Back, and answering with what it held before the outage: the writes it missed go now,
                    # not when their backoff (which grew while it was away) says.
                    if self.retry.pending:
                        self.retry.hurry(zone.name)
                        self.replay()
                    for listener in self.rejoin_listeners:
                        listener(zone, node)
                    node.rejoined = None

    def drain(self, timeout: float = 5.0) -> None:
        """Wait until every write submitted so far has been tried (not until the retry queue is empty)."""
        deadline = time.monotonic() + timeout
        for lanes in self._lanes.values():
            for lane in lanes:
                lane.submit(lambda: None).result(max(deadline - time.monotonic(), 0.001))

    # -- the rest ----------------------------------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        """Counters per zone and per node, plus the retry queue's length."""
        zones: dict[str, Any] = {}
        for name, zone in self.zones.items():
            nodes = {node.name: node.stats.snapshot() for node in zone.nodes.values()}
            zones[name] = {
                **zone.stats.snapshot(),
                "hits": sum(int(n["hits"]) for n in nodes.values()),
                "misses": sum(int(n["misses"]) for n in nodes.values()),
                "errors": sum(int(n["errors"]) for n in nodes.values()),
                "nodes": nodes,
            }
        return {"zone": self.zone, "zones": zones, "retry_pending": self.retry.pending}

    def close(self) -> None:
        self._closed.set()
        if self._replayer is not None:
            self._replayer.join()
        for lanes in self._lanes.values():
            for lane in lanes:
                lane.shutdown()
        for zone in self.zones.values():
            zone.close()
        self.retry.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _apply_to(zone: Zone, op: str, key: str, value: bytes | None, expiry: int) -> None:
    if op == retry.SET and value is not None:
        zone.write(key, value, expiry)
    elif op == retry.DELETE:
        zone.delete(key)
    elif op == retry.TOUCH:
        zone.touch(key, expiry)
    else:
        raise ValueError(f"unknown cache write {op!r}")
