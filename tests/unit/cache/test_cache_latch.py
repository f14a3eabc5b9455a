"""Latch policies: what a write waits for, and that the zones it did not wait for still get it."""

from __future__ import annotations

import pytest

from cellstore.cache import CacheClient, Latch
from memcached_cluster import Memcached


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (Latch.NONE, [0, 0, 0, 0]),
        (Latch.ONE, [1, 1, 1, 1]),
        (Latch.QUORUM, [1, 2, 2, 3]),
        (Latch.ALL_MINUS_1, [1, 1, 2, 3]),
        (Latch.ALL, [1, 2, 3, 4]),
    ],
)
def test_how_many_zones_each_policy_waits_for(policy: Latch, expected: list[int]) -> None:
    assert [policy.required(zones) for zones in (1, 2, 3, 4)] == expected


@pytest.mark.parametrize("policy", list(Latch))
def test_every_policy_writes_every_zone(client: CacheClient, policy: Latch) -> None:
    result = client.set("latched", b"v", latch=policy)
    assert result.ok
    assert result.acked >= result.required == policy.required(2)
    client.drain()
    for zone in client.zones.values():
        assert zone.read("latched") is not None


def test_all_is_not_met_with_a_zone_down_but_one_is(client: CacheClient, servers: dict[str, list[Memcached]]) -> None:
    for server in servers["b"]:
        server.kill()
    everywhere = client.set("k", b"v", latch=Latch.ALL)
    assert not everywhere.ok  # returned as soon as zone b failed: ALL could no longer be met
    client.drain()
    assert client.local.read("k") is not None  # zone a has it all the same
    assert client.set("k", b"v2", latch=Latch.ONE).ok
    assert client.get("k") == b"v2"
