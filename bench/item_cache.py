"""Eventually consistent GetItem with and without the item cache (serve --cache), on SQLite and PostgreSQL.

In-process: the request goes through the same DynamoDB dispatcher the server
calls (``api.dispatch``, validation, engine, storage), and with the cache
through the ``ItemCache`` wrapper ``serve --cache`` puts in front of it, so the
figure is the server's own time per GetItem without HTTP (the HTTP layer costs
the same with or without the cache).  Starts a throwaway memcached (zone a,
one node) and a throwaway PostgreSQL cluster (tests/pg_cluster.py; skipped if
PostgreSQL cannot be had), loads 1,000 items of about 200 bytes, warms the
cache with one read of each, then times interleaved rounds of GetItem on
random keys (all hits), and reports GetItem/s and the ratio.

    PYTHONPATH=src python bench/item_cache.py [rounds] [reads-per-round]
"""

from __future__ import annotations

import functools
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from cellstore.api import dispatch
from cellstore.cache import CacheClient
from cellstore.cache.items import ItemCache, ItemCacheSettings, TableCaching
from cellstore.engine.wiring import open_database
from cellstore.storage import open_store
from memcached_cluster import config_for, start_zones, stop_all
from pg_cluster import Cluster, Unavailable

ITEMS = 1000


def rate(get: Callable[[str, dict[str, Any]], Any], payloads: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    for payload in payloads:
        get("GetItem", payload)
    return len(payloads) / (time.perf_counter() - started)


def measure(location: str | None, cache_config: Any, rounds: int, per_round: int) -> tuple[float, float]:
    db = open_database(open_store(location), background=False)
    plain = functools.partial(dispatch, db)
    plain("CreateTable", {
        "TableName": "bench", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST",
    })
    for i in range(ITEMS):
        plain("PutItem", {"TableName": "bench", "Item": {"pk": {"S": f"k{i}"}, "v": {"S": "x" * 200}, "n": {"N": str(i)}}})
    client = CacheClient(cache_config, replay=False)
    for zone in client.zones.values():
        for node in zone.nodes.values():
            node.flush_all()
    cached = ItemCache(client, ItemCacheSettings({"bench": TableCaching(600)})).wrap(plain)
    rng = random.Random(7)
    payloads = [{"TableName": "bench", "Key": {"pk": {"S": f"k{rng.randrange(ITEMS)}"}}} for _ in range(per_round)]
    for i in range(ITEMS):
        cached("GetItem", {"TableName": "bench", "Key": {"pk": {"S": f"k{i}"}}})  # fill
    without, with_cache = [], []
    for _ in range(rounds):
        without.append(rate(plain, payloads))
        with_cache.append(rate(cached, payloads))
    assert cached("GetItem", payloads[0]) == plain("GetItem", payloads[0])
    client.close()
    db.close()
    return statistics.median(without), statistics.median(with_cache)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    per_round = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    zones = start_zones({"a": 1})
    rows = []
    try:
        config = config_for(zones, timeout=1.0, connect_timeout=1.0)
        with tempfile.TemporaryDirectory() as directory:
            rows.append(("SQLite (file)", *measure(str(Path(directory) / "bench.db"), config, rounds, per_round)))
        try:
            cluster = Cluster().start()
        except Unavailable as exc:
            print(f"PostgreSQL skipped: {exc}")
        else:
            try:
                rows.append(("PostgreSQL", *measure(cluster.create_database("bench"), config, rounds, per_round)))
            finally:
                cluster.stop()
    finally:
        stop_all(zones)
    print(f"eventually consistent GetItem, in-process dispatch, {rounds} rounds x {per_round} reads (all hits)")
    print(f"{'storage':<15} {'without cache /s':>17} {'with cache /s':>14} {'ratio':>6}")
    for name, without, with_cache in rows:
        print(f"{name:<15} {without:>17,.0f} {with_cache:>14,.0f} {with_cache / without:>5.1f}x")


if __name__ == "__main__":
    main()
