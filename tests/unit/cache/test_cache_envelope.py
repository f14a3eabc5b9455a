"""Chunking: values over the item size are split and joined transparently; a lost chunk is a miss."""

from __future__ import annotations

import os

import pytest

from cellstore.cache import CacheClient, InvalidCacheKey, Latch, envelope
from cellstore.cache.envelope import MANIFEST, VALUE
from memcached_cluster import Memcached, config_for


def test_a_small_value_is_one_item_with_its_expiry() -> None:
    head, chunks = envelope.split("k", b"abc", 1234, 100)
    assert chunks == {}
    assert envelope.decode(head) == envelope.Item(VALUE, 1234, b"abc")


def test_a_large_value_is_chunks_and_a_manifest() -> None:
    value = os.urandom(250)
    head, chunks = envelope.split("k", value, 0, 100)
    item = envelope.decode(head)
    assert item is not None and item.kind == MANIFEST
    manifest = item.manifest()
    assert manifest.count == 3 == len(chunks)
    assert all(key.startswith("k:") for key in chunks)
    assert envelope.join(manifest, "k", chunks) == value
    del chunks[manifest.chunk_keys("k")[1]]
    assert envelope.join(manifest, "k", chunks) is None


def test_bytes_that_are_not_ours_read_as_a_miss() -> None:
    assert envelope.decode(b"plain memcached value") is None


@pytest.mark.parametrize("key", ["", "has space", "tab\t", "é", "x" * 221])
def test_keys_memcached_cannot_carry_are_refused(key: str) -> None:
    with pytest.raises(InvalidCacheKey):
        envelope.check_key(key)


def test_a_value_over_memcached_item_size_round_trips(client: CacheClient) -> None:
    value = os.urandom(3 * 1024 * 1024 + 17)  # memcached's default item size is 1 MiB
    assert client.set("big", value, latch=Latch.ALL).ok
    assert client.get("big") == value
    assert client.get_many(["big", "small"]) == {"big": value}
    client.delete("big", latch=Latch.ALL)
    assert client.get("big") is None


def test_an_evicted_chunk_makes_a_miss_not_garbage(servers: dict[str, list[Memcached]]) -> None:
    with CacheClient(config_for({"a": servers["a"]}, chunk_size=1000)) as cache:
        value = os.urandom(5000)
        cache.set("chunky", value, latch=Latch.ALL)
        node = cache.local.node_for("chunky")
        raw = node.get("chunky")
        assert raw is not None
        item = envelope.decode(raw)
        assert item is not None
        node.delete(item.manifest().chunk_keys("chunky")[2])
        assert cache.get("chunky") is None


def test_overwriting_a_chunked_value_never_mixes_versions(servers: dict[str, list[Memcached]]) -> None:
    with CacheClient(config_for({"a": servers["a"]}, chunk_size=1000)) as cache:
        for size in (5000, 2500, 7000):
            value = os.urandom(size)
            cache.set("chunky", value, latch=Latch.ALL)
            assert cache.get("chunky") == value
