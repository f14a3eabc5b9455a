"""What the quorum fault tests share: a local quorum cell per test, and a writer that keeps count.

``cell`` starts ``cellstore quorum up``'s cell (``cellstore.quorum.cluster``)
in a fresh directory under /tmp (the postgres user must reach it, which it
cannot under pytest's 0700 tmp_path), skipping the test when etcd, Patroni
or PostgreSQL are missing — except with ``CI=true``, where that fails, since
``make test`` installs them (``make quorum-tools``).

``Writer`` is the load: each write is a TransactWriteItems with an
idempotency token that puts item ``n`` and ADDs 1 to a counter item, retried
with the same token until acknowledged.  So at the end every acknowledged
``n`` must be there (none lost), the counter must equal the number of items
(no retried write applied twice), and the table's stream must hold exactly
one INSERT per item and one record per ADD (none missing, none doubled).  A
reader does strongly consistent GetItems of acknowledged items meanwhile,
and another eventually consistent ones (served by a replica).
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cellstore.quorum import cluster

ROOT = Path(__file__).resolve().parents[1]
TABLE = "quorum"
COUNTER = "counter"


def tools() -> cluster.Tools:
    patroni = ROOT / ".quorum-venv" / "bin" / "patroni"
    try:
        return cluster.Tools.find(str(patroni) if patroni.exists() else None)
    except cluster.QuorumError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the quorum tools are required in CI (make quorum-tools): {exc}", pytrace=False)
        pytest.skip(str(exc))


@pytest.fixture
def cell(pytestconfig: pytest.Config) -> Iterator[cluster.Cell]:
    if pytestconfig.getoption("--postgres") == "off":
        pytest.skip("--postgres=off")
    found = tools()
    directory = Path(tempfile.mkdtemp(prefix="cellstore-quorum-"))
    os.chmod(directory, 0o755)
    started = cluster.up(directory / "cell", patroni_path=str(found.patroni))
    try:
        yield started
    finally:
        started.kill([*started.pids])  # no clean shutdown needed: the files go too
        shutil.rmtree(directory, ignore_errors=True)


def primary(cell: cluster.Cell) -> str:
    """The node Patroni reports as leader now."""
    for _ in range(100):
        leaders = [m["name"] for m in cell.members() if m.get("role") == "leader" and m.get("state") == "running"]
        if leaders:
            return str(leaders[0])
        time.sleep(0.1)
    raise AssertionError("no leader")


def promoted_at(cell: cluster.Cell, name: str) -> float | None:
    """When Patroni on ``name`` logged taking the leader lock, as time.time(); None if it did not."""
    node = next(node for node in cell.topology.nodes if node.name == name)
    for line in (cell.node_dir(node) / "patroni.log").read_text(errors="replace").splitlines():
        if "promoted self to leader" in line:
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            return stamp.timestamp()
    return None


def zone_of(cell: cluster.Cell, name: str) -> str:
    return next(node.zone for node in cell.topology.nodes if node.name == name)


def zone_members(cell: cluster.Cell, zone: str) -> list[str]:
    """Every process of a zone: its PostgreSQL nodes and its etcd member."""
    return [n.name for n in cell.topology.nodes if n.zone == zone] + [m.name for m in cell.topology.etcd if m.zone == zone]


def create_table(client: Any) -> str:
    """The table the writer writes, with a stream; its stream ARN."""
    return str(
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
        )["TableDescription"]["LatestStreamArn"]
    )


def stream_records(client: Any, arn: str) -> list[dict[str, Any]]:
    """Every record of the stream, shard by shard, from the start."""
    records: list[dict[str, Any]] = []
    shards: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"StreamArn": arn}
    while True:
        description = client.describe_stream(**kwargs)["StreamDescription"]
        shards += description["Shards"]
        if "LastEvaluatedShardId" not in description:
            break
        kwargs["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]
    for shard in shards:
        iterator = client.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
        iterator = iterator["ShardIterator"]
        while iterator:
            page = client.get_records(ShardIterator=iterator)
            records.extend(page["Records"])
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return records


@dataclass
class Writer:
    """Writes ``n`` = 0, 1, 2, ... one at a time, each retried with its token until acknowledged."""

    client: Any
    acknowledged: list[int] = field(default_factory=list)
    ack_times: list[float] = field(default_factory=list)
    errors: list[tuple[float, str]] = field(default_factory=list)  # (when, error code) of failed attempts
    reads: int = 0
    read_errors: int = 0
    stale_read_times: list[float] = field(default_factory=list)  # eventually consistent reads answered
    stale_read_errors: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    failure: BaseException | None = None
    next_n: int = 0  # kept across restarts of the threads: a token is never reused for another write

    def start(self) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self._write, daemon=True),
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._read_stale, daemon=True),
        ]
        for thread in threads:
            thread.start()
        self.threads = threads
        return threads

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)
        if self.failure is not None:
            raise self.failure

    def _write(self) -> None:
        try:
            while not self.stop.is_set():
                n = self.next_n
                try:
                    self.client.transact_write_items(
                        ClientRequestToken=f"write-{n}",
                        TransactItems=[
                            {
                                "Put": {
                                    "TableName": TABLE,
                                    "Item": {"pk": {"S": f"item-{n}"}},
                                    # Applied twice, it would fail: a retry must find its token instead.
                                    "ConditionExpression": "attribute_not_exists(pk)",
                                }
                            },
                            {
                                "Update": {
                                    "TableName": TABLE,
                                    "Key": {"pk": {"S": COUNTER}},
                                    "UpdateExpression": "ADD n :one",
                                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                                }
                            },
                        ],
                    )
                except Exception as exc:
                    code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
                    if code == "TransactionCanceledException":
                        raise AssertionError(f"write {n} was applied before, yet its retry did not find its token") from exc
                    self.errors.append((time.monotonic(), code))
                    time.sleep(0.02)
                    continue
                self.acknowledged.append(n)
                self.ack_times.append(time.monotonic())
                self.next_n = n + 1
        except BaseException as exc:  # noqa: BLE001 - re-raised by join()
            self.failure = exc

    def _read(self) -> None:
        while not self.stop.is_set():
            if not self.acknowledged:
                time.sleep(0.01)
                continue
            n = self.acknowledged[-1]
            try:
                item = self.client.get_item(TableName=TABLE, Key={"pk": {"S": f"item-{n}"}}, ConsistentRead=True)
            except Exception:  # noqa: BLE001 - counted
                self.read_errors += 1
                time.sleep(0.02)
                continue
            self.reads += 1
            if "Item" not in item:
                self.failure = AssertionError(f"acknowledged item-{n} not found by a strongly consistent read")
                return

    def _read_stale(self) -> None:
        """Eventually consistent reads: a replica may answer, and may not have the latest item yet."""
        while not self.stop.is_set():
            if not self.acknowledged:
                time.sleep(0.01)
                continue
            n = self.acknowledged[max(0, len(self.acknowledged) - 20)]
            try:
                self.client.get_item(TableName=TABLE, Key={"pk": {"S": f"item-{n}"}})
            except Exception:  # noqa: BLE001 - counted
                self.stale_read_errors += 1
                time.sleep(0.02)
                continue
            self.stale_read_times.append(time.monotonic())

    def wait_for(self, count: int, timeout: float) -> None:
        """Until ``count`` more writes are acknowledged."""
        target = len(self.acknowledged) + count
        deadline = time.monotonic() + timeout
        while len(self.acknowledged) < target:
            if self.failure is not None:
                raise self.failure
            assert time.monotonic() < deadline, f"only {len(self.acknowledged)} of {target} writes acknowledged"
            time.sleep(0.05)

    def first_ack_after(self, moment: float) -> float | None:
        return next((t for t in self.ack_times if t > moment), None)

    def longest_gap(self, since: float) -> float:
        """The longest time between two acknowledgements after ``since``: how long writes were unavailable."""
        times = [t for t in self.ack_times if t >= since]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def check_invariants(client: Any, writer: Writer, streams: Any = None, arn: str | None = None) -> dict[str, int]:
    """Every acknowledged write is there, the counter says each was applied once, the stream has each once."""
    items: set[str] = set()
    counter = None
    kwargs: dict[str, Any] = {"TableName": TABLE, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        for item in page["Items"]:
            if item["pk"]["S"] == COUNTER:
                counter = int(item["n"]["N"])
            else:
                items.add(item["pk"]["S"])
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    lost = [n for n in writer.acknowledged if f"item-{n}" not in items]
    assert lost == [], f"{len(lost)} acknowledged writes lost: {lost[:10]}"
    assert counter == len(items), f"counter {counter} != {len(items)} items: a retried write was applied twice"
    figures = {"acknowledged": len(writer.acknowledged), "items": len(items), "failed_attempts": len(writer.errors)}
    if streams is not None and arn is not None:
        records = stream_records(streams, arn)
        per_key: dict[str, list[str]] = {}
        for record in records:
            per_key.setdefault(record["dynamodb"]["Keys"]["pk"]["S"], []).append(record["eventName"])
        counter_events = per_key.pop(COUNTER, [])
        assert len(counter_events) == counter and counter_events[:1] == ["INSERT"], "a counter ADD missing or doubled"
        assert set(per_key) == items, "stream records and items differ"
        doubled = {key: events for key, events in per_key.items() if events != ["INSERT"]}
        assert doubled == {}, f"items with other than one INSERT record: {list(doubled.items())[:5]}"
        figures["stream_records"] = len(records)
    return figures
