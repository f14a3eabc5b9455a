"""Ketama placement inside a zone: stable, spread, and moving few keys when a node is added."""

from __future__ import annotations

from collections import Counter

from uhashring import HashRing

from cellstore.cache import CacheConfig
from cellstore.cache.zone import Zone

KEYS = [f"user:{i}" for i in range(4000)]


def zone_of(servers: list[str]) -> Zone:
    config = CacheConfig.from_servers({"a": servers})
    return Zone("a", config.zones["a"], config)  # no connection is made until a call


def test_a_key_lands_on_the_same_node_every_time_and_in_every_client() -> None:
    servers = ["10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"]
    first, second = zone_of(servers), zone_of(list(reversed(servers)))
    assert [first.node_for(k).name for k in KEYS] == [second.node_for(k).name for k in KEYS]


def test_placement_is_ketama_as_other_ketama_clients_compute_it() -> None:
    servers = ["10.0.0.1:11211", "10.0.0.2:11211"]
    ring = HashRing(nodes=servers, hash_fn="ketama")
    zone = zone_of(servers)
    assert all(zone.node_for(k).name == ring.get_node(k) for k in KEYS[:500])


def test_keys_spread_over_every_node() -> None:
    counts = Counter(zone_of([f"10.0.0.{i}:11211" for i in range(1, 5)]).node_for(k).name for k in KEYS)
    assert len(counts) == 4
    assert min(counts.values()) > len(KEYS) / 4 * 0.6


def test_adding_a_node_moves_about_one_key_in_n() -> None:
    before = zone_of([f"10.0.0.{i}:11211" for i in range(1, 5)])
    after = zone_of([f"10.0.0.{i}:11211" for i in range(1, 6)])
    moved = [k for k in KEYS if before.node_for(k).name != after.node_for(k).name]
    assert all(after.node_for(k).name == "10.0.0.5:11211" for k in moved)  # only onto the new node
    assert 0.1 < len(moved) / len(KEYS) < 0.3


def test_group_puts_each_key_with_its_node() -> None:
    zone = zone_of(["10.0.0.1:11211", "10.0.0.2:11211"])
    groups = zone.group(KEYS[:100])
    assert sorted(k for keys in groups.values() for k in keys) == sorted(KEYS[:100])
    assert all(zone.node_for(k) is node for node, keys in groups.items() for k in keys)
