"""The read-through item cache (serve --cache), through boto3 on a served app and real memcached.

Two front ends share one database: ``cached`` has the item cache in front of
DynamoDB, ``plain`` has none and stands for another server (or process)
writing without it.  What a read through ``cached`` returns tells where it
came from: a value written behind its back through ``plain`` is invisible
until the cache learns of the write.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from cellstore.cache.config import Server
from cellstore.cache.items import TOMBSTONE, ItemCacheSettings, ServiceCache, TableCaching
from cellstore.embedded.clients import new_client
from cellstore.engine.wiring import open_database
from cellstore.protocol import server as protocol_server
from cellstore.protocol.server import BackgroundServer, build_app
from cellstore.storage import open_store
from memcached_cluster import Memcached, config_for

pytestmark = pytest.mark.server

#: Seconds a write's tombstone keeps reads on the table (and refuses fills); memcached counts whole seconds.
HOLD = 1.0


def settle() -> None:
    """Let the tombstones of the writes just made expire (memcached's clock ticks in seconds)."""
    time.sleep(HOLD + 1.1)


class Fronts:
    def __init__(self, cached: Any, plain: Any, service_cache: ServiceCache) -> None:
        self.cached, self.plain, self.service_cache = cached, plain, service_cache

    @property
    def cache(self) -> Any:
        return self.service_cache.caches[0]


@pytest.fixture
def fronts(live: dict[str, list[Memcached]]) -> Iterator[Fronts]:
    config = config_for(live)
    service_cache = ServiceCache(config, "a")
    service_cache.settings = ItemCacheSettings({"users": TableCaching(60.0), "streamed": TableCaching(60.0)}, hold=HOLD, follow=0.1)
    db = open_database(open_store(None))
    protocol_server.DISPATCH_WRAPPERS.append(service_cache)
    try:
        cached_app = build_app(db)
    finally:
        protocol_server.DISPATCH_WRAPPERS.remove(service_cache)
    for zone in service_cache.caches[0].client.zones.values():
        for node in zone.nodes.values():
            node.flush_all()
    with BackgroundServer(cached_app) as cached, BackgroundServer(build_app(db)) as plain:
        fronts = Fronts(new_client("dynamodb", cached.url), new_client("dynamodb", plain.url), service_cache)
        for table, stream in (("users", False), ("streamed", True), ("uncached", False)):
            extra = {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}} if stream else {}
            fronts.plain.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "N"},
                ],
                BillingMode="PAY_PER_REQUEST",
                **extra,
            )
        yield fronts
    service_cache.close()
    db.close()


def key(pk: str, sk: int = 1) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"N": str(sk)}}


def item(pk: str, value: str, sk: int = 1) -> dict[str, Any]:
    return {**key(pk, sk), "v": {"S": value}}


def get(client: Any, pk: str, table: str = "users", **options: Any) -> Any:
    return client.get_item(TableName=table, Key=key(pk), **options).get("Item", {}).get("v", {}).get("S")


def test_a_read_is_served_from_the_cache_after_the_first(fronts: Fronts) -> None:
    fronts.plain.put_item(TableName="users", Item=item("u1", "one"))
    assert get(fronts.cached, "u1") == "one"  # a miss: read from the table, cached
    fronts.plain.put_item(TableName="users", Item=item("u1", "two"))  # behind the cache's back
    assert get(fronts.cached, "u1") == "one"  # the cached copy
    assert get(fronts.cached, "u1", ConsistentRead=True) == "two"  # strongly consistent: never the cache
    assert get(fronts.cached, "u1", ProjectionExpression="v") == "two"  # a projection: never the cache
    assert fronts.cache.client.metrics()["zones"]["a"]["hits"] >= 1


def test_numbers_that_are_equal_are_one_key(fronts: Fronts) -> None:
    fronts.plain.put_item(TableName="users", Item=item("n", "x"))
    fronts.cached.get_item(TableName="users", Key={"pk": {"S": "n"}, "sk": {"N": "1.0"}})
    fronts.cached.put_item(TableName="users", Item={**item("n", "y"), "sk": {"N": "1.00"}})
    assert get(fronts.cached, "n") == "y"


@pytest.mark.parametrize("write", ["put", "update", "delete", "batch", "transaction"])
def test_every_write_through_the_cache_invalidates(fronts: Fronts, write: str) -> None:
    client = fronts.cached
    fronts.plain.put_item(TableName="users", Item=item("w", "old"))
    assert get(client, "w") == "old"
    assert fronts.cache.client.get(fronts.cache.cache_key("users", key("w"))) is not None  # cached
    if write == "put":
        client.put_item(TableName="users", Item=item("w", "new"))
    elif write == "update":
        client.update_item(
            TableName="users", Key=key("w"), UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": {"S": "new"}}
        )
    elif write == "delete":
        client.delete_item(TableName="users", Key=key("w"))
    elif write == "batch":
        client.batch_write_item(RequestItems={"users": [{"PutRequest": {"Item": item("w", "new")}}]})
    else:
        client.transact_write_items(TransactItems=[{"Put": {"TableName": "users", "Item": item("w", "new")}}])
    expected = None if write == "delete" else "new"
    assert get(client, "w") == expected
    assert get(client, "w") == expected


@pytest.mark.slow
def test_after_the_hold_the_cache_fills_again_with_the_new_item(fronts: Fronts) -> None:
    fronts.plain.put_item(TableName="users", Item=item("h", "old"))
    assert get(fronts.cached, "h") == "old"
    fronts.cached.put_item(TableName="users", Item=item("h", "new"))
    assert get(fronts.cached, "h") == "new"  # the tombstone: from the table, and no fill
    cache_key = fronts.cache.cache_key("users", key("h"))
    settle()
    assert fronts.cache.client.get(cache_key) is None  # the tombstone expired
    assert get(fronts.cached, "h") == "new"  # a miss: filled
    fronts.plain.put_item(TableName="users", Item=item("h", "behind"))
    assert get(fronts.cached, "h") == "new"  # the cached copy


def test_absent_items_are_cached_too_and_a_write_ends_that(fronts: Fronts) -> None:
    assert get(fronts.cached, "ghost") is None
    fronts.plain.put_item(TableName="users", Item=item("ghost", "boo"))
    assert get(fronts.cached, "ghost") is None  # the negative entry
    fronts.cached.put_item(TableName="users", Item=item("ghost", "boo"))
    assert get(fronts.cached, "ghost") == "boo"


def test_batch_get_mixes_cached_and_table_reads(fronts: Fronts) -> None:
    for i in range(6):
        fronts.plain.put_item(TableName="users", Item=item(f"b{i}", f"v{i}"))
    fronts.plain.put_item(TableName="uncached", Item=item("x", "u"))
    for i in range(3):
        get(fronts.cached, f"b{i}")  # half of them cached
    fronts.plain.put_item(TableName="users", Item=item("b0", "behind"))
    request = {
        "users": {"Keys": [key(f"b{i}") for i in range(6)] + [key("missing")]},
        "uncached": {"Keys": [key("x")]},
    }
    answer = fronts.cached.batch_get_item(RequestItems=request)
    values = sorted(i["v"]["S"] for i in answer["Responses"]["users"])
    assert values == ["v0", "v1", "v2", "v3", "v4", "v5"]  # b0 from the cache: the old value
    assert answer["Responses"]["uncached"][0]["v"]["S"] == "u"
    again = fronts.cached.batch_get_item(RequestItems={"users": {"Keys": [key(f"b{i}") for i in range(6)]}})
    assert len(again["Responses"]["users"]) == 6
    plain = fronts.plain.batch_get_item(RequestItems={"users": {"Keys": [key("b0")]}})
    assert plain["Responses"]["users"][0]["v"]["S"] == "behind"


def test_writes_made_elsewhere_reach_the_cache_through_the_stream(fronts: Fronts) -> None:
    fronts.plain.put_item(TableName="streamed", Item=item("s", "old"))
    time.sleep(0.3)  # the follower has started reading the stream
    assert get(fronts.cached, "s", table="streamed") == "old"
    assert get(fronts.cached, "s", table="streamed") == "old"
    fronts.plain.put_item(TableName="streamed", Item=item("s", "new"))
    deadline = time.monotonic() + 5
    while get(fronts.cached, "s", table="streamed") != "new" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert get(fronts.cached, "s", table="streamed") == "new"


def test_tables_not_opted_in_and_transactions_never_use_the_cache(fronts: Fronts) -> None:
    fronts.cached.put_item(TableName="uncached", Item=item("t", "one"))
    assert get(fronts.cached, "t", table="uncached") == "one"
    fronts.plain.put_item(TableName="uncached", Item=item("t", "two"))
    assert get(fronts.cached, "t", table="uncached") == "two"
    fronts.plain.put_item(TableName="users", Item=item("t", "one"))
    get(fronts.cached, "t")
    fronts.plain.put_item(TableName="users", Item=item("t", "two"))
    read = fronts.cached.transact_get_items(TransactItems=[{"Get": {"TableName": "users", "Key": key("t")}}])
    assert read["Responses"][0]["Item"]["v"]["S"] == "two"


def test_a_dead_cache_costs_no_request(fronts: Fronts, servers: dict[str, list[Memcached]]) -> None:
    fronts.cached.put_item(TableName="users", Item=item("d", "one"))
    for zone in servers.values():
        for server in zone:
            server.kill()
    assert get(fronts.cached, "d") == "one"
    fronts.cached.put_item(TableName="users", Item=item("d", "two"))
    assert get(fronts.cached, "d") == "two"


@pytest.mark.slow
def test_serve_with_cache_serves_reads_from_memcached(
    live: dict[str, list[Memcached]], server_process: Any, tmp_path: Any
) -> None:
    """``cellstore serve --cache cache.toml --zone a``, two workers, end to end."""
    config = tmp_path / "cache.toml"
    config.write_text(
        "".join(f'[zones.{n}]\nservers = ["{z[0].address}", "{z[1].address}"]\n' for n, z in live.items())
        + "[tables.users]\nttl = 60\n[item_cache]\nhold = 1\n"
    )
    server = server_process("--data-dir", str(tmp_path / "data"), "--workers", "2", "--cache", str(config), "--zone", "a")
    client = server.client()
    client.create_table(
        TableName="users",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.put_item(TableName="users", Item=item("p", "one"))
    from cellstore.cache import CacheClient, load_config
    from cellstore.cache.metadump import metadump

    def cached_items(cache: CacheClient) -> list[bytes]:
        """What the workers put in memcached under item-cache keys, tombstones left out."""
        keys = [k for zone in live.values() for s in zone for k, _ in metadump(Server.parse(s.address))]
        values = [cache.get(k) for k in keys if k.startswith("ddb:")]
        return [v for v in values if v is not None and v != TOMBSTONE]

    with CacheClient(load_config(config), zone="a") as cache:
        deadline = time.monotonic() + 8  # the put's tombstone lasts its hold (1 s, in memcached's whole seconds)
        while not cached_items(cache) and time.monotonic() < deadline:
            for _ in range(4):  # both workers fill or hit
                assert get(client, "p") == "one"
            time.sleep(0.2)
        assert [b'"one"' in v for v in cached_items(cache)] == [True]  # the workers filled memcached
    client.put_item(TableName="users", Item=item("p", "two"))
    assert get(client, "p") == "two"
    assert server.terminate() == 0


def test_serve_refuses_a_bad_cache_file(tmp_path: Any) -> None:
    from cellstore import cli

    bad = tmp_path / "cache.toml"
    bad.write_text("[zones.a]\nservers = []\n")
    with pytest.raises(SystemExit, match="--cache: zone 'a' has no servers"):
        cli.main(["serve", "--in-memory", "--cache", str(bad)])
    bad.write_text('[zones.a]\nservers = ["h:1"]\n[tables.users]\nttl = -1\n')
    with pytest.raises(SystemExit, match=r"\[tables.users\] ttl must be a positive number"):
        cli.main(["serve", "--in-memory", "--cache", str(bad)])


def test_a_recreated_table_never_serves_the_old_tables_items(fronts: Fronts) -> None:
    fronts.plain.put_item(TableName="users", Item=item("r", "old table"))
    assert get(fronts.cached, "r") == "old table"  # cached
    fronts.cached.delete_table(TableName="users")
    fronts.cached.create_table(
        TableName="users",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )
    assert get(fronts.cached, "r") is None


def test_a_batch_dynamodb_refuses_is_refused_with_the_cache_too(fronts: Fronts) -> None:
    fronts.plain.put_item(TableName="users", Item=item("dup", "x"))
    get(fronts.cached, "dup")  # cached
    with pytest.raises(fronts.cached.exceptions.ClientError, match="duplicates"):
        fronts.cached.batch_get_item(RequestItems={"users": {"Keys": [key("dup"), key("dup")]}})


def test_errors_are_the_tables_own(fronts: Fronts) -> None:
    """A missing table or a bad key gets DynamoDB's answer, not one from the cache's DescribeTable."""
    fronts.plain.delete_table(TableName="streamed")  # opted in, and gone
    with pytest.raises(fronts.cached.exceptions.ResourceNotFoundException) as cached:
        fronts.cached.get_item(TableName="streamed", Key=key("x"))
    with pytest.raises(fronts.plain.exceptions.ResourceNotFoundException) as plain:
        fronts.plain.get_item(TableName="streamed", Key=key("x"))
    assert str(cached.value) == str(plain.value)
    with pytest.raises(fronts.cached.exceptions.ClientError, match="key element does not match"):
        fronts.cached.get_item(TableName="users", Key={"pk": {"S": "x"}})
