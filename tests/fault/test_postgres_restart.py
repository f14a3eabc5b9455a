"""PostgreSQL restarting under load: clients' retries succeed and no acknowledged write is lost.

``pg_ctl restart -m fast`` cuts every connection of two front ends while
writers are busy.  A request caught by the cut is either carried over to a
fresh connection (a transaction that had not begun) or answered with AWS's
retryable 500, which botocore retries; either way each writer's calls must
all return, and every write they acknowledged must be there afterwards.

``-m immediate`` is a crash, repeated: writers ``ADD`` to one counter, and a
crash may land on a COMMIT.  The store settles each such COMMIT (committed:
success; not: a 500 botocore retries safely), so the counter must equal the
number of acknowledged ADDs exactly — no ADD applied twice, none lost.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from killing import make_table

WRITERS = 4
BEFORE_RESTART = 200  # acknowledged writes before the restart
AFTER_RESTART = 200  # and after it


@pytest.mark.slow
@pytest.mark.server
def test_acknowledged_writes_survive_a_postgres_restart(
    server_process: Callable[..., Any], postgres_cluster: Any, new_postgres_database: Callable[[], str]
) -> None:
    dsn = new_postgres_database()
    servers = [server_process("--storage", dsn), server_process("--storage", dsn, "--workers", "2")]
    client = servers[0].client()
    make_table(client, "acked")

    acknowledged: list[str] = []
    errors: list[BaseException] = []
    retried = 0
    lock = threading.Lock()
    restarted = threading.Event()
    reached_target = threading.Event()
    done = threading.Event()

    def writer(number: int) -> None:
        nonlocal retried
        own = servers[number % len(servers)].client()  # botocore's default retries (standard mode: 4 attempts)
        i = 0
        try:
            while not done.is_set():
                key = f"w{number}-{i}"
                response = own.put_item(TableName="acked", Item={"pk": {"S": key}, "n": {"N": str(i)}})
                i += 1
                with lock:
                    acknowledged.append(key)
                    retried += response["ResponseMetadata"]["RetryAttempts"] > 0
                    if len(acknowledged) >= WRITERS * BEFORE_RESTART:
                        reached_target.set()
                    if restarted.is_set() and len(acknowledged) >= WRITERS * (BEFORE_RESTART + AFTER_RESTART):
                        done.set()
        except BaseException as exc:  # noqa: BLE001 - reported below
            with lock:
                errors.append(exc)
            done.set()

    threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    assert reached_target.wait(120), "writers did not reach their target"
    postgres_cluster.restart()  # every connection of both servers is cut mid-load
    restarted.set()
    for thread in threads:
        thread.join(180)
    assert errors == [], f"a client call failed despite retries: {errors[0]!r}"
    assert done.is_set()

    with lock:
        expected = set(acknowledged)
    found: set[str] = set()
    for page in servers[1].client().get_paginator("scan").paginate(TableName="acked", ConsistentRead=True):
        found.update(item["pk"]["S"] for item in page["Items"])
    missing = expected - found
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {sorted(missing)[:5]}"
    print(f"{len(expected)} acknowledged writes, {retried} needed a client retry")
    for server in servers:
        assert server.terminate() == 0


CRASHES = 8
ADDS_BETWEEN_CRASHES = 10  # per writer


def _configure(cluster: Any, *statements: str) -> None:
    import psycopg

    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]
        conn.execute("SELECT pg_reload_conf()")


def _stall_commits(cluster: Any, stall: bool) -> None:
    """Make every COMMIT in the test's database wait for a standby that never comes, or stop.

    The commit record is written first, so a crash then lands exactly between
    "committed" and "the client heard": the ADD is applied but unanswered, the
    case a blind retry applies twice.  Only databases whose sessions have
    ``synchronous_commit = on`` wait (the test's own; see the test).
    """
    if stall:
        _configure(cluster, "ALTER SYSTEM SET synchronous_standby_names = 'nobody'")
    else:
        _configure(cluster, "ALTER SYSTEM RESET synchronous_standby_names")


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.parametrize("crash_in_commit", [False, True], ids=["crashes-anywhere", "crashes-in-commit"])
def test_a_counter_counts_every_acknowledged_add_exactly_across_crashes(
    server_process: Callable[..., Any],
    postgres_cluster: Any,
    new_postgres_database: Callable[[], str],
    crash_in_commit: bool,
) -> None:
    dsn = new_postgres_database()
    servers = [server_process("--storage", dsn), server_process("--storage", dsn, "--workers", "2")]
    client = servers[0].client()
    make_table(client, "counter")

    acknowledged = 0
    per_writer = [0] * WRITERS
    retried = 0
    errors: list[BaseException] = []
    progress = threading.Condition()
    done = threading.Event()

    def writer(number: int) -> None:
        nonlocal acknowledged, retried
        own = servers[number % len(servers)].client()  # botocore's default retries (standard mode: 4 attempts)
        try:
            while not done.is_set():
                response = own.update_item(
                    TableName="counter",
                    Key={"pk": {"S": "c"}},
                    UpdateExpression="ADD n :one",
                    ExpressionAttributeValues={":one": {"N": "1"}},
                )
                with progress:
                    acknowledged += 1
                    per_writer[number] += 1
                    retried += response["ResponseMetadata"]["RetryAttempts"] > 0
                    progress.notify_all()
        except BaseException as exc:  # noqa: BLE001 - reported below
            with progress:
                errors.append(exc)
                progress.notify_all()
            done.set()

    def wait_for_adds(count: int) -> None:
        """Until every writer has had ``count`` more ADDs acknowledged (so none is cut twice in a row)."""
        with progress:
            targets = [done_so_far + count for done_so_far in per_writer]
            assert progress.wait_for(
                lambda: all(n >= t for n, t in zip(per_writer, targets, strict=True)) or bool(errors), 120
            ), "writers stalled"

    if crash_in_commit:  # other databases of the shared cluster commit as usual
        database = dsn.rsplit("/", 1)[1]
        _configure(
            postgres_cluster,
            "ALTER SYSTEM SET synchronous_commit = local",
            f'ALTER DATABASE "{database}" SET synchronous_commit = on',
        )
    threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(WRITERS)]
    try:
        for thread in threads:
            thread.start()
        for _ in range(CRASHES):
            wait_for_adds(ADDS_BETWEEN_CRASHES)
            if crash_in_commit:
                _stall_commits(postgres_cluster, True)
                time.sleep(0.5)  # a COMMIT (an ADD's or a background task's) is waiting by now
            postgres_cluster.restart(mode="immediate")
            if crash_in_commit:
                _stall_commits(postgres_cluster, False)
        wait_for_adds(ADDS_BETWEEN_CRASHES)
    finally:
        if crash_in_commit:
            _configure(
                postgres_cluster,
                "ALTER SYSTEM RESET synchronous_standby_names",
                "ALTER SYSTEM RESET synchronous_commit",
            )
        done.set()
        for thread in threads:
            thread.join(180)
    assert errors == [], f"a client call failed despite retries: {errors[0]!r}"

    item = servers[1].client().get_item(TableName="counter", Key={"pk": {"S": "c"}}, ConsistentRead=True)["Item"]
    logs = "".join(server.log_path.read_text() for server in servers)
    settled = {
        outcome: len(re.findall(rf"during COMMIT of transaction \d+, {outcome}", logs))
        for outcome in ("which did commit", "which did not commit", "outcome unknown")
    }
    print(f"{CRASHES} crashes, {acknowledged} acknowledged ADDs, {retried} needed a client retry; lost COMMITs: {settled}")
    assert settled["outcome unknown"] == 0, "a COMMIT was not settled within commit_check_timeout"
    assert int(item["n"]["N"]) == acknowledged, "an ADD was applied twice or an acknowledged ADD was lost"
    if crash_in_commit:
        assert settled["which did commit"] >= CRASHES // 2, "too few crashes landed in a COMMIT"
    for server in servers:
        assert server.terminate() == 0
