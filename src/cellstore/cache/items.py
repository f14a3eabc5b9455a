"""A read-through item cache for tables, as DAX is for DynamoDB, on the cache tier.

:class:`ItemCache` wraps a DynamoDB dispatcher (``dispatch(operation,
payload)``, the api layer's door as the server holds it):

* **Reads** — eventually consistent ``GetItem`` and ``BatchGetItem`` on the
  tables opted in (``[tables.NAME]`` in cache.toml) are answered from the
  cache; a miss reads the table and fills the cache with ``add`` in the own
  zone, absent items included (a negative entry, as DAX keeps).  A request
  with ``ConsistentRead``, a projection or ``ReturnConsumedCapacity`` goes to
  the table untouched, and so does every transaction and every other read.
* **Writes** — ``PutItem``, ``UpdateItem``, ``DeleteItem``,
  ``BatchWriteItem`` and ``TransactWriteItems`` first replace each item they
  touch with a *tombstone* in every zone (latch ALL), then go to the table.
  A tombstone reads as a miss and refuses fills (they use ``add``) for
  ``hold`` seconds, so a reader that read the old item just before the write
  cannot put it back after it.
* **Writes made elsewhere** (another front end without the cache, the TTL
  sweeper) are seen in the table's change records — its stream, when the
  table has one — by :class:`ChangeFollower`, which tombstones the keys it
  reads there every ``follow`` seconds.

The staleness bounds this gives are in docs/CACHE.md.  A cache failure never
fails a request: the request goes to the table as if there were no cache.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from cellstore.cache.client import CacheClient
from cellstore.cache.config import CacheConfig
from cellstore.cache.errors import CacheConfigError, CacheError
from cellstore.cache.latch import Latch
from cellstore.cache.warming import auto_warm
from cellstore.errors import CellstoreError

if TYPE_CHECKING:
    from cellstore.engine.database import Database

log = logging.getLogger(__name__)

Dispatch = Callable[..., Any]

#: What a tombstone holds: it is never a JSON response, so it cannot be taken for an item.
TOMBSTONE = b"\x00tombstone"


#: Seconds a table's key schema and creation time are kept before DescribeTable is asked again.
DESCRIBE_EVERY = 10.0


@dataclass(frozen=True)
class _TableInfo:
    key_names: tuple[str, ...]
    generation: str
    fetched: float


@dataclass(frozen=True)
class TableCaching:
    """One opted-in table: how long its items stay cached."""

    ttl: float = 300.0


@dataclass(frozen=True)
class ItemCacheSettings:
    tables: dict[str, TableCaching]
    #: Seconds a tombstone refuses fills after a write.
    hold: float = 2.0
    #: Seconds between two reads of the opted-in tables' streams (0: do not follow).
    follow: float = 1.0

    @classmethod
    def from_config(cls, config: CacheConfig) -> ItemCacheSettings:
        tables = config.extra.get("tables", {})
        options = config.extra.get("item_cache", {})
        if not isinstance(tables, dict) or not isinstance(options, dict):
            raise CacheConfigError("[tables.NAME] and [item_cache] must be tables")
        parsed = {}
        for name, table in tables.items():
            ttl = table.get("ttl", 300) if isinstance(table, dict) else None
            if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl <= 0:
                raise CacheConfigError(f"[tables.{name}] ttl must be a positive number of seconds")
            parsed[str(name)] = TableCaching(float(ttl))
        settings = {k: float(options[k]) for k in ("hold", "follow") if k in options}
        return cls(parsed, **settings)


def _canonical(value: dict[str, Any]) -> Any:
    """A key attribute's value as DynamoDB compares it: numbers by value ("1" and "1.0" are one key)."""
    (kind, raw), = value.items()
    if kind == "N":
        try:
            return ["N", str(Decimal(raw).normalize())]
        except InvalidOperation:
            return ["N", raw]
    return [kind, raw]


class ItemCache:
    def __init__(
        self, client: CacheClient, settings: ItemCacheSettings, account: str = "000000000000", scope: str = ""
    ) -> None:
        self.client = client
        self.settings = settings
        self.account = account
        #: Where the account's data is (a server of cells: the cell's name), part of every key when set.
        self.scope = scope
        self._dispatch: Dispatch | None = None
        self._tables: dict[str, _TableInfo] = {}

    # -- keys ----------------------------------------------------------------------------------

    def cache_key(self, table: str, key: dict[str, Any]) -> str:
        """The memcached key of one item: a digest of the scope (a cell), the account, the table (and its
        creation), the canonical key.

        The table's creation time is part of it, so items cached before a
        table was deleted and created again are never read as the new
        table's; another front end's recreation is noticed within
        ``DESCRIBE_EVERY`` seconds.
        """
        canonical = orjson.dumps(
            [*([self.scope] if self.scope else []), self.account, table, self._table(table).generation,
             sorted((n, _canonical(v)) for n, v in key.items())]
        )
        return "ddb:" + hashlib.blake2b(canonical, digest_size=20).hexdigest()

    def _table(self, table: str) -> _TableInfo:
        info = self._tables.get(table)
        if info is None or time.monotonic() - info.fetched > DESCRIBE_EVERY:
            if self._dispatch is None:
                raise CacheConfigError("an ItemCache needs wrap(dispatch) before use")
            described = self._dispatch("DescribeTable", {"TableName": table})["Table"]
            info = self._tables[table] = _TableInfo(
                tuple(k["AttributeName"] for k in described["KeySchema"]),
                str(described.get("CreationDateTime", "")),
                time.monotonic(),
            )
        return info

    def _key_names(self, dispatch: Dispatch, table: str) -> tuple[str, ...]:
        return self._table(table).key_names

    def _item_key(self, dispatch: Dispatch, table: str, item: dict[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in self._key_names(dispatch, table) if name in item}

    # -- the wrapper ---------------------------------------------------------------------------

    def wrap(self, dispatch: Dispatch) -> Dispatch:
        """``dispatch`` with the cache in front of it."""
        self._dispatch = dispatch

        def cached(operation: str, payload: dict[str, Any], *rest: Any) -> Any:
            handler = self._handlers.get(operation)
            if handler is None:
                if operation in ("CreateTable", "DeleteTable"):
                    self._tables.pop(str(payload.get("TableName")), None)
                return dispatch(operation, payload, *rest)
            return handler(self, dispatch, operation, payload, rest)

        return cached

    def _get_item(self, dispatch: Dispatch, operation: str, payload: dict[str, Any], rest: tuple[Any, ...]) -> Any:
        table = payload.get("TableName")
        key = payload.get("Key")
        if not isinstance(table, str) or not isinstance(key, dict) or not key or not _cacheable(payload):
            return dispatch(operation, payload, *rest)
        caching = self.settings.tables.get(table)
        if caching is None:
            return dispatch(operation, payload, *rest)
        try:
            cache_key = self.cache_key(table, key)
        except (CellstoreError, KeyError, TypeError, ValueError):
            return dispatch(operation, payload, *rest)  # no such table, a malformed key: the table's answer
        try:
            cached = self.client.get(cache_key)
        except CacheError:
            cached = None
        if cached is not None and cached != TOMBSTONE:
            return orjson.loads(cached)
        answer = dispatch(operation, payload, *rest)
        if cached is None and isinstance(answer, dict):
            self._fill({cache_key: orjson.dumps(answer)}, caching.ttl)
        return answer

    def _batch_get_item(
        self, dispatch: Dispatch, operation: str, payload: dict[str, Any], rest: tuple[Any, ...]
    ) -> Any:
        requests = payload.get("RequestItems")
        if not isinstance(requests, dict) or not _cacheable(payload) or not _plain_batch(requests):
            return dispatch(operation, payload, *rest)  # and a request DynamoDB refuses is refused there
        found: dict[str, list[Any]] = {}
        remaining: dict[str, Any] = {}
        wanted: dict[str, dict[str, tuple[str, bool]]] = {}  # table -> canonical key -> (cache key, fillable)
        for table, request in requests.items():
            caching = self.settings.tables.get(table)
            keys = request.get("Keys") if isinstance(request, dict) else None
            if caching is None or not _cacheable(request) or not isinstance(keys, list) or not all(
                isinstance(k, dict) and k for k in keys
            ):
                remaining[table] = request
                continue
            try:
                by_cache_key = {self.cache_key(table, k): k for k in keys}
            except (CellstoreError, KeyError, TypeError, ValueError):
                return dispatch(operation, payload, *rest)  # no such table, a malformed key: the table's answer
            try:
                hits = self.client.get_many(by_cache_key)
            except CacheError:
                hits = {}
            missing = []
            for cache_key, key in by_cache_key.items():
                cached = hits.get(cache_key)
                if cached is not None and cached != TOMBSTONE:
                    item = orjson.loads(cached).get("Item")
                    if item is not None:
                        found.setdefault(table, []).append(item)
                else:
                    missing.append(key)
                    wanted.setdefault(table, {})[self.ident(key)] = (cache_key, cached is None)
            if missing:
                remaining[table] = {**request, "Keys": missing}
        if not remaining:
            return {"Responses": found, "UnprocessedKeys": {}}
        answer = dispatch(operation, {**payload, "RequestItems": remaining}, *rest)
        if not isinstance(answer, dict):
            return answer
        for table, items in answer.get("Responses", {}).items():
            found.setdefault(table, []).extend(items)
        self._fill_batch(dispatch, wanted, answer)
        return {**answer, "Responses": found}

    def _fill_batch(self, dispatch: Dispatch, wanted: dict[str, dict[str, tuple[str, bool]]], answer: Any) -> None:
        unprocessed = {
            table: {self.ident(k) for k in request.get("Keys", [])}
            for table, request in answer.get("UnprocessedKeys", {}).items()
        }
        for table, keys in wanted.items():
            caching = self.settings.tables[table]
            returned = {
                self.ident(self._item_key(dispatch, table, item)): item for item in answer.get("Responses", {}).get(table, [])
            }
            values = {}
            for ident, (cache_key, fillable) in keys.items():
                if not fillable or ident in unprocessed.get(table, ()):
                    continue
                item = returned.get(ident)
                values[cache_key] = orjson.dumps({"Item": item} if item is not None else {})
            self._fill(values, caching.ttl)

    @staticmethod
    def ident(key: dict[str, Any]) -> str:
        return orjson.dumps(sorted((name, _canonical(value)) for name, value in key.items())).decode()

    def _fill(self, values: dict[str, bytes], ttl: float) -> None:
        for cache_key, value in values.items():
            try:
                self.client.add(cache_key, value, ttl)
            except CacheError as exc:
                log.debug("item cache: fill of %s failed: %s", cache_key, exc)

    def _write(self, dispatch: Dispatch, operation: str, payload: dict[str, Any], rest: tuple[Any, ...]) -> Any:
        try:
            keys = list(self._written_keys(dispatch, operation, payload))
        except (CellstoreError, KeyError, TypeError, AttributeError) as exc:  # a request the table will refuse
            log.debug("item cache: no keys in %s: %s", operation, exc)
            keys = []
        self.invalidate(keys)
        return dispatch(operation, payload, *rest)

    def invalidate(self, keys: list[tuple[str, dict[str, Any]]]) -> None:
        """Tombstone these (table, key) items in every zone: a write to them is about to happen (or happened)."""
        for table, key in keys:
            if table in self.settings.tables:
                self.client.set(self.cache_key(table, key), TOMBSTONE, ttl=self.settings.hold, latch=Latch.ALL)

    def _written_keys(self, dispatch: Dispatch, operation: str, payload: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        if operation in ("UpdateItem", "DeleteItem"):
            yield payload["TableName"], payload["Key"]
        elif operation == "PutItem":
            yield payload["TableName"], self._item_key(dispatch, payload["TableName"], payload["Item"])
        elif operation == "BatchWriteItem":
            for table, requests in payload["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        yield table, self._item_key(dispatch, table, request["PutRequest"]["Item"])
                    elif "DeleteRequest" in request:
                        yield table, request["DeleteRequest"]["Key"]
        elif operation == "TransactWriteItems":
            for entry in payload["TransactItems"]:
                if "Put" in entry:
                    yield entry["Put"]["TableName"], self._item_key(dispatch, entry["Put"]["TableName"], entry["Put"]["Item"])
                for kind in ("Update", "Delete"):
                    if kind in entry:
                        yield entry[kind]["TableName"], entry[kind]["Key"]

    _handlers: ClassVar[dict[str, Callable[[ItemCache, Dispatch, str, dict[str, Any], tuple[Any, ...]], Any]]] = {
        "GetItem": _get_item,
        "BatchGetItem": _batch_get_item,
        "PutItem": _write,
        "UpdateItem": _write,
        "DeleteItem": _write,
        "BatchWriteItem": _write,
        "TransactWriteItems": _write,
    }


def _plain_batch(requests: dict[str, Any]) -> bool:
    """A BatchGetItem the cache may answer: at most 100 keys, none twice (the table validates the rest)."""
    seen: set[str] = set()
    for table, request in requests.items():
        keys = request.get("Keys") if isinstance(request, dict) else None
        if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
            return False
        for k in keys:
            ident = f"{table}\x00{ItemCache.ident(k)}"
            if ident in seen:
                return False
            seen.add(ident)
    return 0 < len(seen) <= 100


def _cacheable(request: dict[str, Any]) -> bool:
    """Only eventually consistent whole-item reads that do not ask for consumed capacity use the cache."""
    return not (
        request.get("ConsistentRead")
        or request.get("ProjectionExpression")
        or request.get("AttributesToGet")
        or request.get("ReturnConsumedCapacity") not in (None, "NONE")
    )


class ChangeFollower:
    """Tombstones the items that the opted-in tables' streams say changed: writes made without this cache.

    Reads each table's stream through the Streams dispatcher (DescribeStream,
    GetShardIterator, GetRecords), from the latest record when it starts;
    a table without a stream is skipped (logged once).
    """

    def __init__(self, cache: ItemCache, dynamodb: Dispatch, streams: Dispatch) -> None:
        self.cache, self.dynamodb, self.streams = cache, dynamodb, streams
        self._iterators: dict[tuple[str, str], str | None] = {}  # (table, shard) -> next iterator
        self._skipped: set[str] = set()
        self._started: set[str] = set()  # tables polled once: a shard found later is read from its start
        self.invalidated = 0

    def poll(self) -> int:
        """Read every followed stream once; how many items were tombstoned."""
        count = 0
        for table in self.cache.settings.tables:
            try:
                count += self._poll_table(table)
            except Exception as exc:  # noqa: BLE001 - a table dropped or not yet created: try again next time
                log.debug("item cache: cannot follow %s: %s", table, exc)
        self.invalidated += count
        return count

    def _poll_table(self, table: str) -> int:
        described = self.dynamodb("DescribeTable", {"TableName": table})["Table"]
        arn = described.get("LatestStreamArn")
        if not arn or not described.get("StreamSpecification", {}).get("StreamEnabled"):
            if table not in self._skipped:
                self._skipped.add(table)
                log.warning("item cache: table %s has no stream; writes made elsewhere are bounded by its ttl", table)
            return 0
        shards = self.streams("DescribeStream", {"StreamArn": arn})["StreamDescription"]["Shards"]
        count = 0
        for shard in shards:
            ident = (table, shard["ShardId"])
            if ident not in self._iterators:
                start = "TRIM_HORIZON" if table in self._started else "LATEST"
                self._iterators[ident] = self.streams(
                    "GetShardIterator", {"StreamArn": arn, "ShardId": shard["ShardId"], "ShardIteratorType": start}
                )["ShardIterator"]
            iterator = self._iterators[ident]
            while iterator:
                page = self.streams("GetRecords", {"ShardIterator": iterator, "Limit": 1000})
                records = page.get("Records", [])
                keys = [(table, r["dynamodb"]["Keys"]) for r in records if "Keys" in r.get("dynamodb", {})]
                self.cache.invalidate(keys)
                count += len(keys)
                iterator = page.get("NextShardIterator")
                self._iterators[ident] = iterator
                if not records:
                    break
        self._started.add(table)
        return count

    def run(self, stop: threading.Event, every: float) -> None:
        while not stop.wait(every):
            self.poll()


class ServiceCache:
    """What ``serve --cache`` plugs into the server: the item cache over each process's DynamoDB dispatcher.

    Built once in the supervisor from cache.toml; the client (its threads and
    connections) is made in each process when the server builds its app,
    after ``--workers`` forked, never shared across a fork.
    """

    def __init__(self, config: CacheConfig, zone: str | None) -> None:
        self.config, self.zone = config, zone
        self.settings = ItemCacheSettings.from_config(config)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.caches: list[ItemCache] = []

    def __call__(self, db: Database, dispatchers: dict[str, Dispatch], scope: str = "") -> dict[str, Dispatch]:
        """The services' dispatchers with the item cache in front of DynamoDB's (and its stream follower running).

        ``scope`` (a server of cells: the cell's name) goes into every key, so
        an account's items cached from one cell are never read in another.
        The follower runs with ``db``'s background work and the client is
        closed once ``db`` is gone: an account that moved to another cell
        leaves nothing running here.
        """
        dynamodb = dispatchers.get("dynamodb")
        if dynamodb is None:
            return dispatchers
        client = CacheClient(self.config, zone=self.zone)
        if self.config.auto_warm:
            auto_warm(client, self.config.warm_rate)
        cache = ItemCache(client, self.settings, db.account, scope)
        with self._lock:
            self.caches.append(cache)
        streams = dispatchers.get("streams")
        follower = None
        if streams is not None and self.settings.follow > 0:
            follower = ChangeFollower(cache, dynamodb, streams)
        # One run that lasts as long as ``db``'s background work (the interval only matters once it returned).
        db.every("item-cache-follower", lambda: 1.0, functools.partial(self._follow, cache, follower))
        return {**dispatchers, "dynamodb": cache.wrap(dynamodb)}

    def metrics(self) -> dict[str, Any]:
        """This process's cache counters (``CacheClient.metrics``) summed over its accounts' clients, and the tables cached.

        For ``GET /_cellstore/cache`` (the console's Cache page): each account
        the process served has a client of its own, all on the same zones.
        """
        zones: dict[str, Any] = {}
        retry_pending = 0
        with self._lock:
            caches = list(self.caches)
        for cache in caches:
            found = cache.client.metrics()
            retry_pending += int(found["retry_pending"])
            for name, zone in found["zones"].items():
                into = zones.setdefault(name, {"nodes": {}})
                for key, value in zone.items():
                    if key != "nodes":
                        into[key] = into.get(key, 0) + value
                for node, stats in zone["nodes"].items():
                    _add_node(into["nodes"].setdefault(node, {}), stats)
        return {
            "zone": self.zone or self.config.zone or next(iter(self.config.zones)), "zones": zones, "retry_pending": retry_pending,
            "tables": {name: {"ttl": table.ttl} for name, table in self.settings.tables.items()},
            "clients": len(self.caches),
        }

    def _follow(self, cache: ItemCache, follower: ChangeFollower | None, db: Database) -> None:
        """A background task of ``db``: the follower's polls until ``db`` stops, then ``cache``'s client closed."""
        every = self.settings.follow if follower is not None else 1.0
        try:
            while not db.closing and not self._stop.is_set():
                if follower is not None:
                    follower.poll()
                deadline = time.monotonic() + every
                while not db.closing and time.monotonic() < deadline:
                    if self._stop.wait(max(0.0, min(0.05, deadline - time.monotonic()))):
                        break
        finally:
            with self._lock:
                mine = cache in self.caches
                if mine:
                    self.caches.remove(cache)
            if mine:
                cache.client.close()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            caches, self.caches = self.caches, []
        for cache in caches:
            cache.client.close()


def _add_node(into: dict[str, float], stats: dict[str, float]) -> None:
    """One client's counters of a node added to another's: sums, the latency average weighted by calls."""
    calls = into.get("calls", 0) + stats["calls"]
    weighted = into.get("latency_avg", 0.0) * into.get("calls", 0) + stats["latency_avg"] * stats["calls"]
    average = weighted / calls if calls else 0.0
    for key in ("hits", "misses", "errors"):
        into[key] = into.get(key, 0) + stats[key]
    into["calls"] = calls
    into["latency_avg"] = average
    into["latency_max"] = max(into.get("latency_max", 0.0), stats["latency_max"])
