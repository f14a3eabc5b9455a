"""The client on real memcached: zone-local reads, fallback and repair, deletes, touch, TTLs, the retry queue."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from cellstore.cache import CacheClient, CacheUnavailable, Latch
from cellstore.cache.envelope import DELETED
from memcached_cluster import Memcached, config_for


def test_set_then_get_from_the_own_zone(client: CacheClient) -> None:
    assert client.get("absent") is None
    client.set("k", b"v", latch=Latch.ALL)
    assert client.get("k") == b"v"
    stats = client.metrics()["zones"]
    assert stats["a"]["hits"] == 1 and stats["a"]["fallbacks"] == 0
    assert stats["b"]["hits"] == 0  # a hit in zone a never asks zone b


def test_a_local_miss_falls_back_and_repairs_the_local_copy(client: CacheClient) -> None:
    client.set("k", b"v", ttl=100, latch=Latch.ALL)
    client.local.node_for("k").delete("k")  # zone a lost it (eviction, a new node)
    assert client.get("k") == b"v"
    client.drain()
    repaired = client.local.read("k")
    assert repaired is not None and repaired.payload == b"v"
    assert 0 < repaired.expiry - time.time() <= 101  # the copy expires with the original
    zone_a = client.metrics()["zones"]["a"]
    assert (zone_a["fallbacks"], zone_a["repairs"]) == (1, 1)


def test_get_many_mixes_zones_and_repairs_what_was_missing(client: CacheClient) -> None:
    for i in range(20):
        client.set(f"k{i}", str(i).encode(), latch=Latch.ALL)
    for i in range(0, 20, 3):
        client.local.node_for(f"k{i}").delete(f"k{i}")
    wanted = [f"k{i}" for i in range(20)] + ["nope"]
    assert client.get_many(wanted) == {f"k{i}": str(i).encode() for i in range(20)}
    client.drain()
    assert len(client.local.read_many(wanted)[0]) == 20
    assert client.metrics()["zones"]["a"]["fallbacks"] == 7


def test_delete_removes_the_key_from_every_zone(client: CacheClient) -> None:
    client.set("k", b"v", latch=Latch.ALL)
    assert client.delete("k", latch=Latch.ALL).ok
    for zone in client.zones.values():
        marker = zone.read("k")
        assert marker is not None and marker.kind == DELETED  # for a few seconds, then nothing
    assert client.get("k") is None
    assert client.get_many(["k"]) == {}
    assert not client.add("k", b"old")  # a fill (or a repair) cannot bring it back


def test_a_delete_is_not_undone_by_a_zone_it_has_not_reached_yet(client: CacheClient) -> None:
    client.set("k", b"v", latch=Latch.ALL)
    hold = threading.Event()
    blocked = client._lane("b", "k").submit(hold.wait)  # zone b's writes for this key wait behind this
    client.delete("k", latch=Latch.ONE)  # zone a has it; zone b not yet
    assert client.zones["b"].read("k") is not None  # zone b still holds the value
    assert client.get("k") is None  # zone a's marker answers: no fallback to zone b's stale copy
    assert client.get_many(["k"]) == {}
    hold.set()
    blocked.result()
    client.drain()
    assert client.get("k") is None
    assert all(zone.read("k").kind == DELETED for zone in client.zones.values())  # type: ignore[union-attr]


@pytest.mark.slow
def test_ttl_expires_the_value_everywhere(client: CacheClient) -> None:
    client.set("short", b"v", ttl=1, latch=Latch.ALL)
    assert client.get("short") == b"v"
    time.sleep(2.1)
    assert client.get("short") is None


@pytest.mark.slow
def test_touch_extends_the_ttl_in_every_zone(client: CacheClient) -> None:
    client.set("t", b"v", ttl=1, latch=Latch.ALL)
    assert client.touch("t", 100, latch=Latch.ALL).ok
    time.sleep(2.1)
    assert client.get("t") == b"v"
    for zone in client.zones.values():
        item = zone.read("t")
        assert item is not None and item.expiry > time.time() + 90


def test_an_error_in_the_own_zone_is_answered_by_another(client: CacheClient, servers: dict[str, list[Memcached]]) -> None:
    client.set("k", b"v", latch=Latch.ALL)
    for server in servers["a"]:
        server.kill()
    assert client.get("k") == b"v"
    assert client.get("missing") is None  # zone b answered: a miss, not an error
    assert client.get_many(["k", "missing"]) == {"k": b"v"}
    assert client.metrics()["zones"]["a"]["errors"] >= 1


def test_no_zone_answering_is_cache_unavailable(client: CacheClient, servers: dict[str, list[Memcached]]) -> None:
    for zone in servers.values():
        for server in zone:
            server.kill()
    with pytest.raises(CacheUnavailable):
        client.get("k")
    with pytest.raises(CacheUnavailable):
        client.get_many(["k"])
    assert not client.set("k", b"v", latch=Latch.ONE).ok  # a write is queued, not raised


def test_a_write_a_zone_missed_is_replayed_when_it_returns(client: CacheClient, servers: dict[str, list[Memcached]]) -> None:
    victim = servers["b"][0]
    zone_b = client.zones["b"]
    key = next(f"k{i}" for i in range(1000) if zone_b.node_for(f"k{i}").name == victim.address)
    victim.kill()
    client.set(key, b"old", latch=Latch.ALL)
    client.set(key, b"new", latch=Latch.ALL)  # replaces the queued write, never follows it
    client.drain()
    assert client.metrics()["retry_pending"] == 1
    victim.start()
    deadline = time.monotonic() + 5
    while client.metrics()["retry_pending"] and time.monotonic() < deadline:
        time.sleep(0.05)
    item = zone_b.read(key)
    assert item is not None and item.payload == b"new"
    assert client.metrics()["zones"]["b"]["replayed"] == 1


def test_the_retry_queue_survives_the_client(servers: dict[str, list[Memcached]], tmp_path: Path) -> None:
    queue = tmp_path / "retry.db"
    victim = servers["b"][1]
    config = config_for(servers, retry_queue=queue)
    with CacheClient(config, zone="a", replay=False) as first:
        key = next(f"d{i}" for i in range(1000) if first.zones["b"].node_for(f"d{i}").name == victim.address)
        victim.kill()
        first.set(key, b"durable", latch=Latch.ALL)
        first.drain()
        assert first.retry.pending == 1
    victim.start()
    with CacheClient(config, zone="a", replay=False) as second:
        assert second.retry.pending == 1
        time.sleep(0.3)  # the replay's first backoff
        assert second.replay() == 1
        item = second.zones["b"].read(key)
        assert item is not None and item.payload == b"durable"
