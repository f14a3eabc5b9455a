"""Real memcached processes for the cache library's tests: two zones of two nodes, started once per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cellstore.cache import CacheClient
from memcached_cluster import Memcached, config_for, start_zones, stop_all


@pytest.fixture(scope="module")
def servers(memcached_binary: str) -> Iterator[dict[str, list[Memcached]]]:
    zones = start_zones({"a": 2, "b": 2})
    yield zones
    stop_all(zones)


@pytest.fixture
def live(servers: dict[str, list[Memcached]]) -> dict[str, list[Memcached]]:
    """The module's servers, each running (an earlier test may have killed or frozen some)."""
    for zone in servers.values():
        for server in zone:
            if server.process is None or server.process.poll() is not None:
                server.start()
            server.thaw()
    return servers


@pytest.fixture
def client(live: dict[str, list[Memcached]]) -> Iterator[CacheClient]:
    """A client in zone a over emptied servers."""
    with CacheClient(config_for(live), zone="a") as cache:
        for zone in cache.zones.values():
            for node in zone.nodes.values():
                node.flush_all()
        yield cache
