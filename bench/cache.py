"""The cache library's cost over pymemcache alone: get and set of a hit against one local memcached.

Starts a throwaway memcached (the test suite's tests/memcached_cluster.py,
Debian's package) and times, in interleaved rounds so that machine drift
falls on both alike:

* ``pymemcache``: ``pymemcache.Client.get`` / ``.set`` on one connection, the floor;
* ``cellstore.cache``: ``CacheClient.get`` / ``.set`` with one zone of that
  one server (the same memcached round trip, plus key checks, ketama
  placement, the envelope, node health and counters; a set also hands the
  write to its zone's lane thread and waits for the latch).

Reports operations per second (median of rounds) and the ratio.  The issue's
target is an overhead of at most 25 % for a hit (get).

    PYTHONPATH=src python bench/cache.py [rounds] [ops-per-round]
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pymemcache.client.base import Client

from cellstore.cache import CacheClient, Latch
from memcached_cluster import config_for, start_zones, stop_all

VALUE = b"v" * 200


def rate(operation: Callable[[str], object], keys: list[str]) -> tuple[float, float]:
    """(operations per second, CPU microseconds of this process per operation)."""
    started, cpu = time.perf_counter(), time.process_time()
    for key in keys:
        operation(key)
    return len(keys) / (time.perf_counter() - started), (time.process_time() - cpu) / len(keys) * 1e6


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    per_round = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    zones = start_zones({"a": 1})
    try:
        server = zones["a"][0]
        plain = Client(("127.0.0.1", server.port), no_delay=True, default_noreply=False)
        cache = CacheClient(config_for(zones, timeout=1.0, connect_timeout=1.0), replay=False)
        keys = [f"bench:{i % 1000}" for i in range(per_round)]
        for key in set(keys):
            plain.set(key + ":p", VALUE)
            cache.set(key, VALUE, latch=Latch.ALL)
        plain_keys = [key + ":p" for key in keys]
        runs: dict[str, Callable[[], tuple[float, float]]] = {
            "get pymemcache": lambda: rate(plain.get, plain_keys),
            "get cache": lambda: rate(cache.get, keys),
            "set pymemcache": lambda: rate(lambda k: plain.set(k, VALUE), plain_keys),
            "set cache": lambda: rate(lambda k: cache.set(k, VALUE, latch=Latch.ONE), keys),
        }
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
        for round_number in range(rounds):
            order = list(runs) if round_number % 2 == 0 else list(reversed(runs))
            for name in order:
                results[name].append(runs[name]())
        assert cache.get(keys[0]) == VALUE
        ops = {name: statistics.median(r[0] for r in values) for name, values in results.items()}
        cpu = {name: statistics.median(r[1] for r in values) for name, values in results.items()}
        print(f"cellstore.cache vs pymemcache alone, one local memcached, {rounds} rounds x {per_round} ops, 200-byte values")
        print(f"{'operation':<10} {'pymemcache ops/s':>17} {'cellstore.cache ops/s':>22} {'overhead':>9}"
              f" {'CPU us/op pymemcache':>21} {'CPU us/op cache':>16}")
        for op in ("get", "set"):
            base, ours = ops[f"{op} pymemcache"], ops[f"{op} cache"]
            print(f"{op:<10} {base:>17,.0f} {ours:>22,.0f} {base / ours - 1:>8.0%}"
                  f" {cpu[f'{op} pymemcache']:>21.1f} {cpu[f'{op} cache']:>16.1f}")
        cache.close()
        plain.close()
    finally:
        stop_all(zones)


if __name__ == "__main__":
    main()
