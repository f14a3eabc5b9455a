"""A quorum cell under a writer and a reader, losing copies: nothing acknowledged is lost, nothing applied twice.

Each test starts a six-copy cell (three zones, ``ANY 3`` replicas: four of six
copies per write, tests/quorum_cell.py), serves cellstore on its multi-host
URL, writes under load, kills processes with SIGKILL (a zone is its two
PostgreSQL nodes, their Patroni, and its etcd member), restores them, and
checks the invariants: every acknowledged write is there, the counter says
no retried write was applied twice.  Figures go to stdout (``-s``) and
docs/QUORUM.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from cellstore.quorum.cluster import Cell
from quorum_cell import (
    Writer,
    cell,
    check_invariants,
    create_table,
    primary,
    promoted_at,
    zone_members,
    zone_of,
)

__all__ = ["cell"]

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.quorum]


class Served:
    """A front end on the cell (``--zone zone``), its clients and the table's stream."""

    def __init__(self, server_process: Callable[..., Any], cell: Cell, zone: str) -> None:
        import boto3
        from botocore.config import Config

        server = server_process("--storage", cell.topology.storage_url(), "--workers", "1", "--zone", zone)
        # One attempt per call: the writer retries itself, so every failed attempt is seen and counted.
        settings: dict[str, Any] = {
            "endpoint_url": server.endpoint_url,
            "region_name": "us-east-1",
            "aws_access_key_id": "test",
            "aws_secret_access_key": "test",
            "config": Config(retries={"max_attempts": 1}, read_timeout=30),
        }
        self.server = server
        self.client = boto3.client("dynamodb", **settings)
        self.streams = boto3.client("dynamodbstreams", **settings)
        self.arn = create_table(self.client)

    def check(self, writer: Writer) -> dict[str, int]:
        figures = check_invariants(self.client, writer, self.streams, self.arn)
        assert writer.stale_read_errors == 0, "an eventually consistent read failed"
        figures["stale_reads"] = len(writer.stale_read_times)
        return figures


def _restore(cell: Cell) -> float:
    started = time.monotonic()
    cell.restore()
    cell.wait_healthy(120)
    return time.monotonic() - started


def test_losing_a_replica_loses_nothing(server_process: Callable[..., Any], cell: Cell) -> None:
    served = Served(server_process, cell, cell.topology.zones[0])
    writer = Writer(served.client)
    writer.start()
    writer.wait_for(100, 60)
    leader = primary(cell)
    replica = next(n.name for n in cell.topology.nodes if n.name != leader)
    killed = time.monotonic()
    cell.kill([replica])
    writer.wait_for(100, 60)
    stalled = writer.first_ack_after(killed)
    rejoin = _restore(cell)
    writer.wait_for(50, 60)
    writer.join()
    figures = served.check(writer)
    print(f"\nkill a replica ({replica}): first ack {(stalled or killed) - killed:.3f} s after; rejoin {rejoin:.1f} s; {figures}")
    assert [code for _, code in writer.errors] == []  # four copies remain: writes never noticed


def test_losing_a_replica_zone_loses_nothing(server_process: Callable[..., Any], cell: Cell) -> None:
    zone = next(z for z in cell.topology.zones if z != zone_of(cell, primary(cell)))
    served = Served(server_process, cell, zone)  # its own zone's replicas die: stale reads move to another zone
    writer = Writer(served.client)
    writer.start()
    writer.wait_for(100, 60)
    killed = time.monotonic()
    cell.kill(zone_members(cell, zone))
    writer.wait_for(100, 60)  # primary + three replicas left: exactly the four copies a write needs
    first = writer.first_ack_after(killed)
    rejoin = _restore(cell)
    writer.wait_for(50, 60)
    writer.join()
    figures = served.check(writer)
    print(f"\nkill replica zone {zone}: first ack {(first or killed) - killed:.3f} s after; rejoin {rejoin:.1f} s; {figures}")


def test_losing_the_primarys_zone_fails_over(server_process: Callable[..., Any], cell: Cell) -> None:
    old = primary(cell)
    zone = zone_of(cell, old)
    served = Served(server_process, cell, next(z for z in cell.topology.zones if z != zone))
    writer = Writer(served.client)
    writer.start()
    writer.wait_for(100, 60)
    killed, killed_wall = time.monotonic(), time.time()
    cell.kill(zone_members(cell, zone))
    dead = time.monotonic()  # every process of the zone is gone: no acknowledgement can come from it now
    writer.wait_for(50, 90)  # Patroni promotes a replica once the leader key expires (ttl)
    first = writer.first_ack_after(dead)
    assert first is not None
    gap = writer.longest_gap(killed - 1)
    new = primary(cell)
    assert zone_of(cell, new) != zone
    promoted = promoted_at(cell, new)
    assert promoted is not None
    promotion = promoted - killed_wall  # kill → Patroni takes the leader lock
    found = first - killed - promotion  # Patroni promoting → cellstore's first acknowledged write on it
    # With no primary at all, eventually consistent reads went on (replicas answer them).
    stale_meanwhile = len([t for t in writer.stale_read_times if dead < t < killed + promotion])
    assert stale_meanwhile > 0
    rejoin = _restore(cell)  # the old primary comes back as a replica (pg_rewind if it had diverged)
    writer.wait_for(50, 60)
    writer.join()
    figures = served.check(writer)
    codes = sorted({code for _, code in writer.errors})
    print(
        f"\nkill the primary's zone {zone} ({old}): first acknowledged write {first - killed:.2f} s after the kill "
        f"(Patroni promoted {new} {promotion:.2f} s after the kill, cellstore's first write on it {found:.2f} s later; "
        f"longest gap {gap:.2f} s); eventually consistent reads with no primary: {stale_meanwhile}; "
        f"rejoin {rejoin:.1f} s; errors {codes}; strongly consistent reads {writer.reads}, "
        f"read errors {writer.read_errors}; {figures}"
    )
    assert first - killed < 60
    assert found < 2.0  # the front end finds the new primary by itself, within about a second (slack for a loaded CI)


def test_losing_a_zone_and_one_more_copy_stops_writes_fast_and_loses_nothing(
    server_process: Callable[..., Any], cell: Cell
) -> None:
    leader = primary(cell)
    zone = next(z for z in cell.topology.zones if z != zone_of(cell, leader))
    served = Served(server_process, cell, zone)
    client = served.client
    writer = Writer(client)
    writer.start()
    writer.wait_for(100, 60)
    other = next(n.name for n in cell.topology.nodes if n.zone != zone and n.name != leader)
    killed = time.monotonic()
    cell.kill([*zone_members(cell, zone), other])  # primary + two replicas: three copies, four needed
    dead = time.monotonic()
    reads_before, read_errors_before = writer.reads, writer.read_errors
    stale_before = len(writer.stale_read_times)
    time.sleep(4)  # the writer keeps trying; Patroni lowers ANY 3 to ANY 2 meanwhile, and cellstore refuses that
    # Not one write acknowledged with three copies, and strongly consistent reads kept working (the primary is up).
    # (A commit the dying replicas confirmed just before the kill may still be answered a moment after it.)
    assert [t for t in writer.ack_times if t > dead + 0.5] == []
    assert {code for _, code in writer.errors} == {"InternalServerError"}
    assert writer.reads > reads_before
    assert writer.read_errors == read_errors_before
    reads_during = writer.reads - reads_before
    stale_during = len(writer.stale_read_times) - stale_before
    assert stale_during > 0
    writer.stop.set()
    for thread in writer.threads:
        thread.join(30)
    # A write now fails at once, retryably: no hang.
    started = time.monotonic()
    with pytest.raises(Exception) as raised:  # botocore's ClientError, checked below
        client.put_item(TableName="quorum", Item={"pk": {"S": "after-zone-plus-one"}})
    failed_after = time.monotonic() - started
    assert raised.value.response["Error"]["Code"] == "InternalServerError"  # type: ignore[attr-defined]
    assert "Too few replicas" in raised.value.response["Error"]["Message"]  # type: ignore[attr-defined]
    assert failed_after < 1
    attempts = len(writer.errors)
    rejoin = _restore(cell)
    writer.stop.clear()
    writer.start()
    writer.wait_for(50, 60)
    writer.join()
    figures = served.check(writer)
    print(
        f"\nkill zone {zone} + {other}: {attempts} write attempts failed in 4 s, none acknowledged; "
        f"a write then failed after {failed_after:.3f} s ({time.monotonic() - killed:.0f} s since the kill); "
        f"reads meanwhile: {reads_during} strongly and {stale_during} eventually consistent, none failed; rejoin {rejoin:.1f} s; {figures}"
    )


def test_connections_cut_during_commit_again_and_again(server_process: Callable[..., Any], cell: Cell) -> None:
    """The primary ends cellstore's connections every few milliseconds, many of them inside COMMIT.

    A backend ended while its COMMIT waits for the replicas has committed on
    the primary ("canceling the wait for synchronous replication and
    terminating connection"), and the store cannot know whether the replicas
    have it: each such write is answered as an unknown outcome and retried
    with its token; none may be applied twice or lost.
    """
    import psycopg

    served = Served(server_process, cell, cell.topology.zones[0])
    writer = Writer(served.client)
    writer.start()
    writer.wait_for(50, 60)
    node = next(n for n in cell.topology.nodes if n.name == primary(cell))
    cuts = 0
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{node.port}/postgres", autocommit=True) as conn:
        started = time.monotonic()
        while time.monotonic() - started < 8:
            row = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() "
                "AND application_name <> 'cellstore-stale-read' AND datname = 'postgres' "
                "AND usename = 'postgres' AND application_name NOT LIKE 'Patroni%'"
            ).fetchone()
            cuts += 0 if row is None else int(row[0])
            time.sleep(0.02)
    writer.wait_for(50, 60)
    writer.join()
    figures = served.check(writer)
    codes = sorted({code for _, code in writer.errors})
    log = served.server.log_path.read_text()
    in_commit = log.count("connection lost during COMMIT") + log.count("lost the connection checking the quorum")
    print(
        f"\n{cuts} connections cut in 8 s, {in_commit} of them in or just after a COMMIT: "
        f"{len(writer.errors)} failed attempts {codes}, all retried; {figures}"
    )
    assert cuts > 50 and in_commit > 0

