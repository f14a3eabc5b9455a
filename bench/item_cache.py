"""Eventually consistent GetItem with and without the item cache (serve --cache), on SQLite and PostgreSQL.

In-process: the request goes through the same DynamoDB dispatcher the server
calls (``api.dispatch``, validation, engine, storage), and with the cache
through the ``ItemCache`` wrapper ``serve --cache`` puts in front of it, so the
figure is the server's own time per GetItem without HTTP; then the same over
HTTP (a served app on a thread of this process, one keep-alive connection from
http.client), which adds what a request costs a client and the HTTP layer.  Starts a throwaway memcached (zone a,
one node) and a throwaway PostgreSQL cluster (tests/pg_cluster.py; skipped if
PostgreSQL cannot be had), loads 1,000 items of about 200 bytes, warms the
cache with one read of each, then times interleaved rounds of GetItem on
random keys (all hits), and reports GetItem/s and the ratio.

    PYTHONPATH=src python bench/item_cache.py [rounds] [reads-per-round]
"""

from __future__ import annotations

import functools
import http.client
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from cellstore.api import dispatch
from cellstore.cache import CacheClient
from cellstore.cache.items import ItemCache, ItemCacheSettings, TableCaching
from cellstore.engine.wiring import open_database
from cellstore.protocol.app import App
from cellstore.protocol.server import BackgroundServer, services_for
from cellstore.protocol.wire import Service
from cellstore.storage import open_store
from memcached_cluster import config_for, start_zones, stop_all
from pg_cluster import Cluster, Unavailable

ITEMS = 1000


def rate(get: Callable[[str, dict[str, Any]], Any], payloads: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    for payload in payloads:
        get("GetItem", payload)
    return len(payloads) / (time.perf_counter() - started)


def over_http(dispatcher: Callable[..., Any], db: Any) -> tuple[BackgroundServer, Callable[[str, dict[str, Any]], Any]]:
    """A served app whose DynamoDB dispatcher is ``dispatcher``, and a keep-alive client calling it."""
    services = services_for(db)
    services["dynamodb"] = Service(dispatcher, *services["dynamodb"][1:])
    server = BackgroundServer(App(services, region=db.region)).__enter__()
    connection = http.client.HTTPConnection("127.0.0.1", server.port)

    def call(operation: str, payload: dict[str, Any]) -> Any:
        connection.request("POST", "/", orjson.dumps(payload), {
            "X-Amz-Target": f"DynamoDB_20120810.{operation}", "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Date": "20240101T000000Z",
            "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/dynamodb/aws4_request, "
                             "SignedHeaders=host, Signature=" + "0" * 64,
        })
        return orjson.loads(connection.getresponse().read())

    return server, call


def measure(location: str | None, cache_config: Any, rounds: int, per_round: int) -> list[tuple[float, float]]:
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
    plain_server, plain_http = over_http(plain, db)
    cached_server, cached_http = over_http(cached, db)
    without, with_cache, http_without, http_with = [], [], [], []
    for _ in range(rounds):  # all four in every round: drift in the machine's load falls on each alike
        without.append(rate(plain, payloads))
        with_cache.append(rate(cached, payloads))
        http_without.append(rate(plain_http, payloads[: per_round // 4]))
        http_with.append(rate(cached_http, payloads[: per_round // 4]))
    assert cached("GetItem", payloads[0]) == plain("GetItem", payloads[0])
    answer = plain_http("GetItem", payloads[0])
    assert "Item" in answer and cached_http("GetItem", payloads[0]) == answer, answer
    plain_server.stop()
    cached_server.stop()
    client.close()
    db.close()
    return [
        (statistics.median(without), statistics.median(with_cache)),
        (statistics.median(http_without), statistics.median(http_with)),
    ]


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    per_round = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    zones = start_zones({"a": 1})
    rows = []
    try:
        config = config_for(zones, timeout=1.0, connect_timeout=1.0)
        with tempfile.TemporaryDirectory() as directory:
            inprocess, served = measure(str(Path(directory) / "bench.db"), config, rounds, per_round)
            rows += [("SQLite, in-process", *inprocess), ("SQLite, HTTP", *served)]
        try:
            cluster = Cluster().start()
        except Unavailable as exc:
            print(f"PostgreSQL skipped: {exc}")
        else:
            try:
                inprocess, served = measure(cluster.create_database("bench"), config, rounds, per_round)
                rows += [("PostgreSQL, in-process", *inprocess), ("PostgreSQL, HTTP", *served)]
            finally:
                cluster.stop()
    finally:
        stop_all(zones)
    print(f"eventually consistent GetItem, {rounds} rounds x {per_round} reads in-process, a quarter of that over HTTP"
          " (all hits)")
    print(f"{'storage, path':<24} {'without cache /s':>17} {'with cache /s':>14} {'ratio':>6}")
    for name, without, with_cache in rows:
        print(f"{name:<24} {without:>17,.0f} {with_cache:>14,.0f} {with_cache / without:>5.1f}x")


if __name__ == "__main__":
    main()
