"""``serve --cells --cache``: the item cache in front of every cell, its keys scoped by cell and account."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from cellstore.cache import CacheClient, load_config
from cellstore.cache.config import Server
from cellstore.cache.items import TOMBSTONE, ItemCache, ItemCacheSettings, TableCaching
from cellstore.cache.metadump import metadump
from memcached_cluster import Memcached

ALICE, BOB = "111111111111", "222222222222"


def test_the_cell_is_part_of_every_key_and_no_scope_keeps_the_old_keys() -> None:
    def dispatch(operation: str, payload: dict[str, Any]) -> Any:
        assert operation == "DescribeTable"
        return {"Table": {"KeySchema": [{"AttributeName": "pk"}], "CreationDateTime": 1.0}}

    def key(account: str, scope: str) -> str:
        cache = ItemCache(None, ItemCacheSettings({"users": TableCaching(60.0)}), account, scope)  # type: ignore[arg-type]
        cache.wrap(dispatch)
        return cache.cache_key("users", {"pk": {"S": "p"}})

    keys = {key(ALICE, "a"), key(ALICE, "b"), key(BOB, "a"), key(ALICE, ""), key(BOB, "")}
    assert len(keys) == 5  # every cell and account its own key
    assert key(ALICE, "") == key(ALICE, "")  # stable: a server without cells keeps the keys it had


def client(endpoint: str, account: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=account,
                        aws_secret_access_key="secret")


@pytest.mark.slow
@pytest.mark.server
def test_serve_cells_with_cache_reads_each_tenants_items_from_memcached(
    live: dict[str, list[Memcached]], server_process: Any, tmp_path: Path
) -> None:
    cache_file = tmp_path / "cache.toml"
    cache_file.write_text(
        "".join(f'[zones.{n}]\nservers = ["{z[0].address}", "{z[1].address}"]\n' for n, z in live.items())
        + "[tables.users]\nttl = 60\n[item_cache]\nhold = 1\n"
    )
    cells = tmp_path / "cells.toml"
    cells.write_text(f'[cells.a]\nstorage = "a"\n[cells.b]\nstorage = "b"\n[tenants]\n"{ALICE}" = "a"\n"{BOB}" = "b"\n')
    server = server_process("--cells", str(cells), "--workers", "2", "--auth", "none", "--cache", str(cache_file),
                            "--zone", "a")
    tenants = {ALICE: client(server.endpoint_url, ALICE), BOB: client(server.endpoint_url, BOB)}
    for account, ddb in tenants.items():  # the same table and key in each account, each in its own cell
        ddb.create_table(TableName="users", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        ddb.put_item(TableName="users", Item={"pk": {"S": "p"}, "v": {"S": f"of {account}"}})

    def read(account: str) -> str:
        return str(tenants[account].get_item(TableName="users", Key={"pk": {"S": "p"}})["Item"]["v"]["S"])

    def cached_values(cache: CacheClient) -> list[bytes]:
        keys = [k for zone in live.values() for s in zone for k, _ in metadump(Server.parse(s.address))]
        values = [cache.get(k) for k in keys if k.startswith("ddb:")]
        return sorted(v for v in values if v is not None and v != TOMBSTONE)

    with CacheClient(load_config(cache_file), zone="a") as cache:
        deadline = time.monotonic() + 10  # the puts' tombstones last their hold (1 s, memcached's whole seconds)
        while len(cached_values(cache)) < 2 and time.monotonic() < deadline:
            for _ in range(4):  # both workers fill or hit
                assert read(ALICE) == f"of {ALICE}" and read(BOB) == f"of {BOB}"
            time.sleep(0.2)
        values = cached_values(cache)
        assert len(values) == 2 and f"of {ALICE}".encode() in values[0] + values[1]
        assert f"of {BOB}".encode() in values[0] + values[1]  # one entry per tenant: the same key never shared
    tenants[ALICE].put_item(TableName="users", Item={"pk": {"S": "p"}, "v": {"S": "changed"}})
    assert read(ALICE) == "changed"  # the write's tombstone: never the cached old item
    assert read(BOB) == f"of {BOB}"
    assert server.terminate() == 0


def test_an_accounts_cache_closes_with_its_database(live: dict[str, list[Memcached]], tmp_path: Path) -> None:
    """A cell forgets an account that moved away by stopping its database: its cache client goes with it."""
    from cellstore.cache.items import ServiceCache
    from cellstore.engine.wiring import open_database
    from cellstore.protocol.server import services_for
    from cellstore.storage import open_store
    from memcached_cluster import config_for

    service_cache = ServiceCache(config_for(live), "a")
    db = open_database(open_store(None), background=False)
    try:
        wrapped = service_cache(db, {name: s.dispatch for name, s in services_for(db).items()}, scope="a")
        assert set(wrapped) >= {"dynamodb", "streams"} and len(service_cache.caches) == 1
        db.stop()  # as Tenants.forget does
        assert service_cache.caches == []
    finally:
        service_cache.close()
        db.close()
