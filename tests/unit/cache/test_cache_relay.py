"""Cross-region replication: one region's writes go through a cellstore FIFO queue (boto3 SQS against
the embedded server) and a relay applies them, in order per key, to another region's cache."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cellstore.cache import CacheClient, Latch
from cellstore.cache.relay import MAX_RELAYED_VALUE, RegionPublisher, Relay
from memcached_cluster import Memcached, config_for

pytestmark = pytest.mark.server

_queues = itertools.count()


@pytest.fixture
def regions(live: dict[str, list[Memcached]], cellstore_server: Any) -> Iterator[tuple[CacheClient, CacheClient, Any, str]]:
    """Region east (zone a's servers) and region west (zone b's), and a FIFO queue between them."""
    sqs = cellstore_server.client("sqs")
    url = sqs.create_queue(QueueName=f"cache-relay-{next(_queues)}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    with CacheClient(config_for({"a": live["a"]})) as east, CacheClient(config_for({"b": live["b"]})) as west:
        for cache in (east, west):
            for node in cache.local.nodes.values():
                node.flush_all()
        yield east, west, sqs, url


def relay_all(relay: Relay) -> None:
    while relay.run_once():
        pass
    relay.cache.drain()


def test_writes_reach_the_other_region_in_order(regions: tuple[CacheClient, CacheClient, Any, str]) -> None:
    east, west, sqs, url = regions
    publisher = RegionPublisher(sqs, url, region="east")
    east.listeners.append(publisher)
    for i in range(5):
        east.set("counter", str(i).encode(), latch=Latch.ALL)  # one key, five updates: the last must win
    east.set("ttl", b"v", ttl=300)
    east.set("gone", b"v")
    east.delete("gone")
    assert publisher.flush()
    assert publisher.sent == 8
    assert west.get("counter") is None  # nothing reaches west but through the relay

    relay = Relay(sqs, url, west, region="west", wait=0)
    relay_all(relay)
    assert relay.applied == 8
    assert west.get("counter") == b"4"
    assert west.get("gone") is None
    item = west.local.read("ttl")
    assert item is not None and item.expiry > 0  # the TTL crossed the region with the value
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", []) == []
    publisher.close()


def test_a_value_too_large_for_a_message_invalidates_instead(regions: tuple[CacheClient, CacheClient, Any, str]) -> None:
    east, west, sqs, url = regions
    west.set("big", b"old", latch=Latch.ALL)
    publisher = RegionPublisher(sqs, url, region="east")
    east.listeners.append(publisher)
    east.set("big", b"x" * (MAX_RELAYED_VALUE + 1))
    assert publisher.flush()
    relay_all(Relay(sqs, url, west, region="west", wait=0))
    assert west.get("big") is None  # west's stale copy is gone; it reads through to its source next
    publisher.close()


def test_a_message_that_is_not_a_write_is_dropped_not_stuck(regions: tuple[CacheClient, CacheClient, Any, str]) -> None:
    _, west, sqs, url = regions
    sqs.send_message(QueueUrl=url, MessageBody="not json", MessageGroupId="k", MessageDeduplicationId="1")
    sqs.send_message(
        QueueUrl=url,
        MessageBody='{"region": "east", "op": "set", "key": "k", "value": "dg==", "expiry": 0}',
        MessageGroupId="k",
        MessageDeduplicationId="2",
    )
    relay = Relay(sqs, url, west, region="west", wait=0)
    relay_all(relay)
    assert west.get("k") == b"v"


def test_a_region_skips_its_own_writes(regions: tuple[CacheClient, CacheClient, Any, str]) -> None:
    east, _, sqs, url = regions
    publisher = RegionPublisher(sqs, url, region="east")
    east.listeners.append(publisher)
    east.set("mine", b"v")
    assert publisher.flush()
    east.local.node_for("mine").delete("mine")
    relay = Relay(sqs, url, east, region="east", wait=0)
    relay_all(relay)
    assert relay.applied == 0 and east.get("mine") is None
    publisher.close()


@pytest.mark.slow
def test_the_relay_command_applies_writes_until_stopped(
    regions: tuple[CacheClient, CacheClient, Any, str], live: dict[str, list[Memcached]], tmp_path: Path
) -> None:
    """``cellstore cache relay`` as a process: west's cache gets east's writes; SIGTERM stops it cleanly."""
    east, west, sqs, url = regions
    config = tmp_path / "west.toml"
    config.write_text(f'[zones.b]\nservers = ["{live["b"][0].address}", "{live["b"][1].address}"]\n')
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "cellstore", "AWS_SECRET_ACCESS_KEY": "cellstore"}
    argv = [sys.executable, "-m", "cellstore", "cache", "relay", "--config", str(config), "--region", "west"]
    endpoint = url.rsplit("/", 2)[0]
    relay = subprocess.Popen(
        [*argv, "--queue-url", url, "--endpoint-url", endpoint], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        publisher = RegionPublisher(sqs, url, region="east")
        east.listeners.append(publisher)
        east.set("via-process", b"hello")
        assert publisher.flush()
        deadline = time.monotonic() + 15
        while west.get("via-process") is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert west.get("via-process") == b"hello"
        publisher.close()
    finally:
        relay.send_signal(signal.SIGTERM)
        out, _ = relay.communicate(timeout=15)
    assert relay.returncode == 0
    assert "relayed 1 writes" in out
