"""A local quorum cell as one cell of a cells file, beside an SQLite cell: its failover is its tenant's alone.

``serve --cells`` with cell a on SQLite and cell b on a six-copy quorum cell
(``cellstore quorum up``'s, tests/quorum_cell.py), one account pinned in each.
Both tenants write and read through boto3; then the quorum cell's primary is
killed (SIGKILL: Patroni, the postmaster, every backend).  The SQLite cell's
tenant must see no error at all meanwhile — the quorum cell's stall holds
only cell b's bulkhead — and the quorum cell's tenant must recover by itself
once Patroni promotes a replica, with the quorum invariants intact: nothing
acknowledged lost, no retried write applied twice, its stream gap-free.
Figures go to stdout (``-s``) and docs/QUORUM.md.
"""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from cellstore.quorum.cluster import Cell
from quorum_cell import Writer, cell, check_invariants, create_table, primary, promoted_at

__all__ = ["cell"]

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.quorum]

SQLITE_TENANT = "111111111111"
QUORUM_TENANT = "222222222222"


def client(endpoint: str, account: str, service: str, attempts: int) -> Any:
    return boto3.client(
        service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=account,
        aws_secret_access_key="secret", config=Config(retries={"mode": "standard", "max_attempts": attempts},
                                                      read_timeout=30),
    )


class Steady:
    """The SQLite cell's tenant: a PutItem then a consistent GetItem of it, over and over; every error and latency kept."""

    def __init__(self, ddb: Any) -> None:
        self.ddb = ddb
        self.latencies: list[tuple[float, float]] = []  # (when, seconds) per PutItem+GetItem pair
        self.errors: list[tuple[float, str]] = []
        self.stop = threading.Event()
        ddb.create_table(TableName="steady", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        n = 0
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                self.ddb.put_item(TableName="steady", Item={"pk": {"S": f"k{n}"}, "n": {"N": str(n)}})
                got = self.ddb.get_item(TableName="steady", Key={"pk": {"S": f"k{n}"}}, ConsistentRead=True)
                if got.get("Item", {}).get("n") != {"N": str(n)}:
                    self.errors.append((started, f"k{n} read back wrong: {got.get('Item')}"))
            except Exception as exc:  # noqa: BLE001 - counted: there must be none
                self.errors.append((started, getattr(exc, "response", {}).get("Error", {}).get("Code", repr(exc))))
            self.latencies.append((started, time.monotonic() - started))
            n += 1
            time.sleep(0.01)

    def between(self, start: float, end: float) -> list[float]:
        return [seconds for when, seconds in self.latencies if start <= when < end]

    def join(self) -> None:
        self.stop.set()
        self.thread.join(60)


def outage_end(writer: Writer, since: float) -> float:
    """When the quorum tenant's writes came back: the acknowledgement that ended the longest gap after ``since``."""
    times = [t for t in writer.ack_times if t >= since]
    gaps = [(b - a, b) for a, b in itertools.pairwise(times)]
    assert gaps, "no writes acknowledged after the kill"
    return max(gaps)[1]


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98] if len(samples) >= 2 else (samples or [0.0])[0]


def test_a_quorum_cell_fails_over_inside_a_cells_deployment(
    server_process: Callable[..., Any], cell: Cell, tmp_path: Path
) -> None:
    cells_file = tmp_path / "cells.toml"
    cells_file.write_text(
        f'[cells.a]\nstorage = "{tmp_path / "a"}"\n'
        f'[cells.b]\nstorage = "{cell.topology.storage_url()}"\nzone = "quorum"\n'
        f'[tenants]\n"{SQLITE_TENANT}" = "a"\n"{QUORUM_TENANT}" = "b"\n'
    )
    server = server_process("--cells", str(cells_file), "--auth", "none", "--workers", "1",
                            "--zone", cell.topology.zones[1])
    endpoint = server.endpoint_url
    # The quorum tenant: the quorum suite's writer (idempotency tokens, its own retries, one attempt per call).
    quorum = client(endpoint, QUORUM_TENANT, "dynamodb", 1)
    quorum_streams = client(endpoint, QUORUM_TENANT, "dynamodbstreams", 1)
    arn = create_table(quorum)
    assert arn.startswith(f"arn:aws:dynamodb:us-east-1:{QUORUM_TENANT}:table/")
    writer = Writer(quorum)
    # The SQLite tenant: one attempt per call too, so any error the fault caused would be seen.
    steady = Steady(client(endpoint, SQLITE_TENANT, "dynamodb", 1))
    writer.start()
    writer.wait_for(100, 60)
    before = time.monotonic()
    time.sleep(2)

    old = primary(cell)
    killed, killed_wall = time.monotonic(), time.time()
    cell.kill([old])
    writer.wait_for(50, 120)  # Patroni promotes a replica once the leader key expires; the front end finds it
    recovered = outage_end(writer, killed)  # an acknowledgement in flight at the kill may come just after it
    new = primary(cell)
    assert new != old
    promoted = promoted_at(cell, new)
    time.sleep(2)
    after = time.monotonic()
    writer.join()
    steady.join()

    figures = check_invariants(quorum, writer, quorum_streams, arn)
    quiet, during = steady.between(before - 2, killed), steady.between(killed, recovered)
    codes = sorted({code for _, code in writer.errors})
    print(
        f"\nquorum cell b's primary {old} killed; Patroni promoted {new} "
        f"{(promoted - killed_wall) if promoted else float('nan'):.2f} s after the kill; the quorum tenant's first "
        f"acknowledged write after the outage {recovered - killed:.2f} s after it (longest gap {writer.longest_gap(killed - 1):.2f} s, "
        f"failed attempts {len(writer.errors)}: {codes}); {figures}.  SQLite cell a's tenant: "
        f"{len(steady.latencies)} put+get pairs, {len(steady.errors)} errors; p99 {p99(quiet) * 1000:.1f} ms before "
        f"({len(quiet)} pairs) vs {p99(during) * 1000:.1f} ms during the failover ({len(during)} pairs), "
        f"median {statistics.median(quiet) * 1000:.1f} vs {statistics.median(during) * 1000:.1f} ms"
    )
    assert steady.errors == [], f"the SQLite cell's tenant saw errors during the quorum cell's failover: {steady.errors[:5]}"
    assert len(during) > 20  # it kept being served throughout
    # A blocked front end would show seconds; the SQLite tenant's latency stays in the same range (this box is noisy).
    assert statistics.median(during) < 3 * statistics.median(quiet) + 0.05
    assert p99(during) < 3 * p99(quiet) + 0.25
    # Afterwards both tenants are served, each from its own cell.
    assert quorum.get_item(TableName="quorum", Key={"pk": {"S": "counter"}}, ConsistentRead=True)["Item"]
    assert "Item" in steady.ddb.get_item(TableName="steady", Key={"pk": {"S": "k0"}})
    assert after > recovered
