"""Eventually consistent reads on a quorum cell: a replica in the front end's zone serves them, a little behind.

``serve --zone Z`` sends GetItem/Query/Scan without ConsistentRead to a
standby in zone Z (each node carries ``cellstore.zone``); strongly
consistent reads stay on the primary.  The staleness is measured: after each
acknowledged write, how long until an eventually consistent read sees it.
(That they go on with the primary's zone gone, before Patroni has promoted
anyone, is checked in test_quorum_faults.py's failover test.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from cellstore.quorum.cluster import Cell
from quorum_cell import TABLE, cell, create_table, primary, zone_of

__all__ = ["cell"]

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.quorum]


def _client(endpoint_url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, read_timeout=30),
    )


def _stale_readers(cell: Cell, name: str) -> int:
    """Connections cellstore's eventually consistent reads hold on node ``name``."""
    import psycopg

    node = next(n for n in cell.topology.nodes if n.name == name)
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{node.port}/postgres", autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cellstore-stale-read'").fetchone()
    return 0 if row is None else int(row[0])


def test_eventually_consistent_reads_come_from_the_front_ends_zone(server_process: Callable[..., Any], cell: Cell) -> None:
    leader = primary(cell)
    zone = next(z for z in cell.topology.zones if z != zone_of(cell, leader))
    server = server_process("--storage", cell.topology.storage_url(), "--workers", "1", "--zone", zone)
    client = _client(server.endpoint_url)
    create_table(client)
    delays = []
    first_try = 0
    for n in range(300):
        client.put_item(TableName=TABLE, Item={"pk": {"S": f"item-{n}"}})
        acked = time.monotonic()
        tries = 0
        while "Item" not in client.get_item(TableName=TABLE, Key={"pk": {"S": f"item-{n}"}}):
            tries += 1
            assert time.monotonic() - acked < 5, f"item-{n} not on the replica 5 s after it was acknowledged"
        delays.append(time.monotonic() - acked)
        first_try += tries == 0
    # Query and Scan without ConsistentRead read the replica too, and see what it has.
    scanned = client.scan(TableName=TABLE)["Count"]
    assert 290 <= scanned <= 300
    in_zone = [n.name for n in cell.topology.nodes if n.zone == zone]
    elsewhere = [n.name for n in cell.topology.nodes if n.zone != zone]
    assert sum(_stale_readers(cell, name) for name in in_zone) >= 1
    assert sum(_stale_readers(cell, name) for name in elsewhere) == 0
    delays.sort()
    print(
        f"\nstaleness from {zone}: {first_try}/300 writes visible to the first eventually consistent read; "
        f"write ack → visible: median {delays[150] * 1000:.1f} ms, p99 {delays[296] * 1000:.1f} ms, "
        f"max {delays[-1] * 1000:.1f} ms"
    )
