"""``ServiceCache.metrics``: what ``GET /_cellstore/cache`` answers — every account's client of this process, summed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from cellstore.cache import CacheConfig
from cellstore.cache.items import ServiceCache


def client_metrics(hits: int, misses: int, calls: int, latency_avg: float, latency_max: float) -> dict[str, Any]:
    node = {"hits": hits, "misses": misses, "errors": 0, "calls": calls, "latency_avg": latency_avg,
            "latency_max": latency_max}
    zone = {"fallbacks": 1, "repairs": 0, "queued": 0, "replayed": 0, "hits": hits, "misses": misses, "errors": 0,
            "nodes": {"127.0.0.1:1": node}}
    return {"zone": "a", "zones": {"a": zone}, "retry_pending": 2}


def test_two_accounts_clients_are_summed_per_zone_and_node() -> None:
    config = CacheConfig.from_servers({"a": ["127.0.0.1:1"], "b": ["127.0.0.1:2"]}, zone="a")
    config.extra["tables"] = {"users": {"ttl": 30}}
    service = ServiceCache(config, None)
    for found in (client_metrics(6, 2, 8, 0.001, 0.004), client_metrics(2, 0, 2, 0.002, 0.003)):
        service.caches.append(SimpleNamespace(client=SimpleNamespace(metrics=lambda found=found: found)))  # type: ignore[arg-type]
    metrics = service.metrics()
    assert metrics["zone"] == "a" and metrics["clients"] == 2 and metrics["retry_pending"] == 4
    assert metrics["tables"] == {"users": {"ttl": 30.0}}  # the file's [tables.NAME]
    zone = metrics["zones"]["a"]
    assert (zone["hits"], zone["misses"], zone["fallbacks"]) == (8, 2, 2)
    node = zone["nodes"]["127.0.0.1:1"]
    assert (node["hits"], node["misses"], node["calls"], node["latency_max"]) == (8, 2, 10, 0.004)
    assert abs(node["latency_avg"] - (8 * 0.001 + 2 * 0.002) / 10) < 1e-12  # weighted by calls


def test_a_process_that_served_nobody_yet_has_no_zones_and_names_its_own() -> None:
    service = ServiceCache(CacheConfig.from_servers({"east": ["127.0.0.1:1"]}), None)
    assert service.metrics() == {"zone": "east", "zones": {}, "retry_pending": 0, "tables": {}, "clients": 0}
