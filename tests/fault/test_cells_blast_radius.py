"""Blast radius: one cell's storage failing must not raise errors or latency for other cells' tenants.

A deployment of two cells behind one front end (``--workers 1``, so one
event loop serves both: the case a blocking storage call would hurt most):

* ``well``, an SQLite cell, holding tenant ``WELL``;
* ``sick``, a PostgreSQL cluster of its own, holding tenant ``SICK``.

For each failure of ``sick`` — **hung** (every process of its PostgreSQL
SIGSTOPped), **stopped** (``pg_ctl stop -m immediate``) and **slow** (its
processes stopped and continued in a 150 ms / 50 ms cycle: every query
waits) — the healthy tenant's GetItem/PutItem latency is measured before
and during the fault while the sick tenant keeps sending requests of its
own.  The healthy tenant must see no error and a p99 within 1.5× of before
(plus 5 ms of slack for this shared two-core machine's noise); the sick
tenant's requests must fail fast with a retryable 503 rather than hang.
The figures are printed (``-s``) and recorded in docs/CELLS.md.
"""

from __future__ import annotations

import os
import signal
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from procfs import children_of

WELL = "111111111111"
SICK = "222222222222"
SAMPLES = 300

pytestmark = [pytest.mark.slow, pytest.mark.server]


def client(endpoint: str, account: str, *, retries: int = 1, timeout: float = 30) -> Any:
    return boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=account,
        aws_secret_access_key="secret",
        config=Config(retries={"mode": "standard", "max_attempts": retries}, read_timeout=timeout, connect_timeout=5),
    )


@pytest.fixture
def sick_cluster() -> Iterator[Any]:
    """A PostgreSQL cluster used by the sick cell only, so it can be stopped without touching the suite's."""
    from pg_cluster import Cluster, Unavailable

    try:
        cluster = Cluster().start()
    except Unavailable as exc:
        pytest.skip(str(exc))
    yield cluster
    _signal_cluster(cluster, signal.SIGCONT)
    cluster.stop()


def _postmaster(cluster: Any) -> int:
    return int((Path(cluster.data) / "postmaster.pid").read_text().split()[0])


def _signal_cluster(cluster: Any, signum: int) -> None:
    """``signum`` to the postmaster and every backend it forked (a SIGSTOP of the postmaster alone
    would leave open connections answering)."""
    try:
        postmaster = _postmaster(cluster)
    except (OSError, ValueError):
        return
    for pid in [postmaster, *children_of(postmaster)]:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


@contextmanager
def hung(cluster: Any) -> Iterator[None]:
    _signal_cluster(cluster, signal.SIGSTOP)
    try:
        yield
    finally:
        _signal_cluster(cluster, signal.SIGCONT)


@contextmanager
def stopped(cluster: Any) -> Iterator[None]:
    cluster._pg_ctl("stop", "-m", "immediate")
    try:
        yield
    finally:
        cluster._pg_ctl("start")


@contextmanager
def slow(cluster: Any) -> Iterator[None]:
    done = threading.Event()

    def stutter() -> None:
        while not done.is_set():
            _signal_cluster(cluster, signal.SIGSTOP)
            done.wait(0.15)
            _signal_cluster(cluster, signal.SIGCONT)
            done.wait(0.05)

    thread = threading.Thread(target=stutter)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        _signal_cluster(cluster, signal.SIGCONT)


def measure(ddb: Any, samples: int = SAMPLES) -> tuple[float, float, int]:
    """(median, p99) in seconds of a GetItem + PutItem pair, and the errors, over ``samples`` pairs."""
    latencies = []
    errors = 0
    for n in range(samples):
        started = time.perf_counter()
        try:
            ddb.put_item(TableName="t", Item={"pk": {"S": f"k{n % 20}"}, "n": {"N": str(n)}})
            ddb.get_item(TableName="t", Key={"pk": {"S": f"k{n % 20}"}})
        except ClientError:
            errors += 1
        latencies.append(time.perf_counter() - started)
    latencies.sort()
    return statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1], errors


@pytest.mark.parametrize("fault", [hung, stopped, slow], ids=["hung", "stopped", "slow"])
def test_a_failing_cell_does_not_touch_the_other_cells_tenants(
    fault: Callable[[Any], Any], sick_cluster: Any, server_process: Callable[..., Any], tmp_path: Path
) -> None:
    dsn = sick_cluster.create_database("sick")
    cells_file = tmp_path / "cells.toml"
    cells_file.write_text(
        f'[cells.well]\nstorage = "well"\n[cells.sick]\nstorage = "{dsn}"\n'
        f'[tenants]\n"{WELL}" = "well"\n"{SICK}" = "sick"\n'
    )
    server = server_process("--cells", str(cells_file), "--auth", "none", "--workers", "1")
    well, sick = client(server.endpoint_url, WELL), client(server.endpoint_url, SICK, timeout=15)
    for ddb in (well, sick):
        ddb.create_table(
            TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        )
    measure(well, 50)  # warm up
    before = measure(well)

    sick_outcomes: list[tuple[str, float]] = []
    stop = threading.Event()

    def sick_load() -> None:
        own = client(server.endpoint_url, SICK, timeout=15)
        while not stop.is_set():
            started = time.perf_counter()
            try:
                own.put_item(TableName="t", Item={"pk": {"S": "x"}})
                outcome = "ok"
            except ClientError as err:
                outcome = str(err.response["ResponseMetadata"]["HTTPStatusCode"])
            except Exception as err:  # noqa: BLE001 - a client-side timeout is an outcome too
                outcome = type(err).__name__
            sick_outcomes.append((outcome, time.perf_counter() - started))

    loaders = [threading.Thread(target=sick_load) for _ in range(4)]
    with fault(sick_cluster):
        for loader in loaders:
            loader.start()
        time.sleep(1.0)  # let the sick cell's threads fill up
        during = measure(well)
        stop.set()
        for loader in loaders:
            loader.join()
    after_recovery = _recovers(sick)
    name = fault.__name__
    failed = [o for o, _ in sick_outcomes if o != "ok"]
    print(f"\n{name}: healthy tenant before median {before[0] * 1000:.1f} ms p99 {before[1] * 1000:.1f} ms; "
          f"during median {during[0] * 1000:.1f} ms p99 {during[1] * 1000:.1f} ms errors {during[2]}; "
          f"sick tenant: {len(sick_outcomes)} requests, {len(failed)} failed ({sorted(set(failed))}), "
          f"slowest {max((t for _, t in sick_outcomes), default=0):.1f} s; recovered in {after_recovery:.1f} s")
    assert during[2] == 0
    assert during[1] <= 1.5 * before[1] + 0.005
    assert before[2] == 0
    if name != "slow":
        assert failed, "the sick cell's requests should fail (fast, retryably) while it is down"
        assert set(failed) <= {"503", "500"}


def _recovers(ddb: Any, within: float = 30.0) -> float:
    """Seconds until the sick tenant's requests succeed again after the fault ends."""
    started = time.monotonic()
    while True:
        try:
            ddb.put_item(TableName="t", Item={"pk": {"S": "after"}})
            return time.monotonic() - started
        except ClientError:
            if time.monotonic() - started > within:
                raise
            time.sleep(0.2)
