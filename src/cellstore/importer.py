"""``cellstore import``: copy a live table from any DynamoDB-compatible endpoint, then follow its stream.

The migration in from outside that issue 17 asks for (Oracle → DynamoDB
live, RDS → DynamoDB with parallel scan and BatchWriteItem), done the way
AWS's own guidance does it, entirely through the public API so the source
can be AWS itself, DynamoDB Local, dynalite or another cellstore:

1. **Create** the target table with the source's key schema, attribute
   definitions, secondary indexes and stream setting (an existing target
   must have the same key schema).
2. **Copy**: a parallel Scan of the source (``--segments`` workers, each a
   segment) written with BatchWriteItem, unprocessed items retried with
   back-off.
3. **Catch up** (when the source has a stream): every shard is read from
   TRIM_HORIZON, parents before children, and each record applied in order —
   INSERT/MODIFY as a PutItem of the new image (or, for a KEYS_ONLY stream,
   of the item read again from the source), REMOVE as a DeleteItem.

Why replaying from the horizon is right: within a shard a key's records are
in order, so after the replay each key holds its last record's image, and a
key with no record after the scan began holds what the scan read, which is
that same state.  Writes are idempotent puts and deletes, so an interrupted
import is simply run again.  ``--follow`` keeps applying new records until
SIGINT (the cut-over: stop the source's writers, wait for "caught up", point
clients at the target); without it the import stops once a pass over every
shard finds nothing new.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cellstore.progress import StatusLine

#: What ``import_table`` tells its caller as it goes: a phase name and a counter.
Progress = Callable[[str, int], None]

BATCH = 25  # BatchWriteItem's limit
_BACKOFF = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)


class ImportFailed(Exception):
    """The import cannot proceed (say why in one line)."""


@dataclass
class ImportStats:
    copied: int = 0
    applied: int = 0
    passes: int = 0
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def _index_spec(index: dict[str, Any]) -> dict[str, Any]:
    return {"IndexName": index["IndexName"], "KeySchema": index["KeySchema"], "Projection": index["Projection"]}


def target_spec(source: dict[str, Any], name: str) -> dict[str, Any]:
    """CreateTable parameters for a copy of the described ``source`` table named ``name`` (on-demand)."""
    spec: dict[str, Any] = {
        "TableName": name,
        "KeySchema": source["KeySchema"],
        "AttributeDefinitions": source["AttributeDefinitions"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if source.get("GlobalSecondaryIndexes"):
        spec["GlobalSecondaryIndexes"] = [_index_spec(i) for i in source["GlobalSecondaryIndexes"]]
    if source.get("LocalSecondaryIndexes"):
        spec["LocalSecondaryIndexes"] = [_index_spec(i) for i in source["LocalSecondaryIndexes"]]
    stream = source.get("StreamSpecification")
    if stream and stream.get("StreamEnabled"):
        spec["StreamSpecification"] = stream
    return spec


def ensure_target(target: Any, source: dict[str, Any], name: str) -> None:
    """Create the target table, or check that an existing one has the source's key schema."""
    try:
        existing = target.describe_table(TableName=name)["Table"]
    except target.exceptions.ResourceNotFoundException:
        target.create_table(**target_spec(source, name))
        target.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        return
    if existing["KeySchema"] != source["KeySchema"]:
        raise ImportFailed(f"target table {name} exists with another key schema: {existing['KeySchema']}")


def _write_batch(target: Any, name: str, items: list[dict[str, Any]]) -> None:
    requests: dict[str, Any] = {name: [{"PutRequest": {"Item": item}} for item in items]}
    for pause in (0.0, *_BACKOFF):
        if pause:
            time.sleep(pause)
        unprocessed = target.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}
        if not unprocessed:
            return
        requests = unprocessed
    raise ImportFailed(f"the target kept {sum(len(v) for v in requests.values())} items unprocessed")


def copy_table(
    source: Any, target: Any, source_name: str, target_name: str, segments: int, stats: ImportStats,
    progress: Progress,
) -> None:
    """Parallel Scan of the source (consistent reads), BatchWriteItem into the target."""

    def segment(number: int) -> None:
        start: dict[str, Any] | None = None
        while True:
            params: dict[str, Any] = {
                "TableName": source_name, "Segment": number, "TotalSegments": segments, "ConsistentRead": True,
            }
            if start:
                params["ExclusiveStartKey"] = start
            page = source.scan(**params)
            items = page.get("Items", [])
            for i in range(0, len(items), BATCH):
                _write_batch(target, target_name, items[i:i + BATCH])
            with stats.lock:
                stats.copied += len(items)
                copied = stats.copied
            progress("copy", copied)
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    with ThreadPoolExecutor(max_workers=segments, thread_name_prefix="cellstore-import") as pool:
        for future in [pool.submit(segment, n) for n in range(segments)]:
            future.result()


def _shards_in_order(streams: Any, arn: str) -> list[dict[str, Any]]:
    """Every shard of the stream, each after its parent (a parent's records come first)."""
    shards: list[dict[str, Any]] = []
    start: str | None = None
    while True:
        params: dict[str, Any] = {"StreamArn": arn}
        if start:
            params["ExclusiveStartShardId"] = start
        description = streams.describe_stream(**params)["StreamDescription"]
        shards.extend(description.get("Shards", []))
        start = description.get("LastEvaluatedShardId")
        if not start:
            break
    known = {s["ShardId"] for s in shards}
    ordered: list[dict[str, Any]] = []
    placed: set[str] = set()

    def place(shard: dict[str, Any]) -> None:
        if shard["ShardId"] in placed:
            return
        parent = shard.get("ParentShardId")
        if parent in known and parent not in placed:
            place(next(s for s in shards if s["ShardId"] == parent))
        placed.add(shard["ShardId"])
        ordered.append(shard)

    for shard in shards:
        place(shard)
    return ordered


@dataclass
class _Cursor:
    iterator: str | None
    closed: bool  # the shard has an ending sequence number: done once drained


def _records(streams: Any, cursor: _Cursor) -> Iterator[dict[str, Any]]:
    """The records of one shard available now; leaves ``cursor`` where to go on next pass."""
    while cursor.iterator is not None:
        page = streams.get_records(ShardIterator=cursor.iterator, Limit=1000)
        yield from page.get("Records", [])
        following = page.get("NextShardIterator")
        if not page.get("Records"):
            cursor.iterator = None if cursor.closed else following
            return
        cursor.iterator = following


def _apply(source: Any, target: Any, source_name: str, target_name: str, record: dict[str, Any]) -> None:
    change = record["dynamodb"]
    if record["eventName"] == "REMOVE":
        target.delete_item(TableName=target_name, Key=change["Keys"])
        return
    image = change.get("NewImage")
    if image is None:  # a KEYS_ONLY (or OLD_IMAGE) stream: read the item as it is now
        image = source.get_item(TableName=source_name, Key=change["Keys"], ConsistentRead=True).get("Item")
        if image is None:
            target.delete_item(TableName=target_name, Key=change["Keys"])
            return
    target.put_item(TableName=target_name, Item=image)


def follow_stream(
    source: Any, streams: Any, target: Any, source_name: str, target_name: str, stream_arn: str,
    stats: ImportStats, progress: Progress, *, follow: bool, stop: threading.Event,
) -> None:
    """Apply the stream's records to the target until a pass finds nothing.

    With ``follow``, go on until ``stop`` is set and then until a pass finds
    nothing: stopping means "finish catching up", so records written before
    ``stop`` are never left behind.
    """
    cursors: dict[str, _Cursor] = {}
    while True:
        found = 0
        for shard in _shards_in_order(streams, stream_arn):
            shard_id = shard["ShardId"]
            cursor = cursors.get(shard_id)
            if cursor is None:
                iterator = streams.get_shard_iterator(
                    StreamArn=stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
                closed = "EndingSequenceNumber" in shard.get("SequenceNumberRange", {})
                cursor = cursors[shard_id] = _Cursor(iterator, closed)
            for record in _records(streams, cursor):
                _apply(source, target, source_name, target_name, record)
                found += 1
        stats.passes += 1
        stats.applied += found
        progress("catch-up", stats.applied)
        if found == 0 and (not follow or stop.is_set()):
            return
        if found == 0:
            stop.wait(0.5)


def import_table(
    source: Any,
    streams: Any,
    target: Any,
    table: str,
    *,
    target_table: str | None = None,
    segments: int = 4,
    follow: bool = False,
    progress: Progress = lambda phase, count: None,
    stop: threading.Event | None = None,
) -> ImportStats:
    """Copy ``table`` from the ``source`` client to the ``target`` client, then catch up from its stream.

    ``streams`` is a DynamoDB Streams client of the source.  Returns the
    counts; raises ``ImportFailed`` when the tables do not fit.
    """
    if segments < 1:
        raise ImportFailed("--segments must be at least 1")
    started = time.monotonic()
    name = target_table or table
    try:
        description = source.describe_table(TableName=table)["Table"]
    except source.exceptions.ResourceNotFoundException:
        raise ImportFailed(f"the source has no table {table}") from None
    ensure_target(target, description, name)
    stats = ImportStats()
    copy_table(source, target, table, name, segments, stats, progress)
    arn = description.get("LatestStreamArn")
    stream_on = description.get("StreamSpecification", {}).get("StreamEnabled", False)
    if arn and stream_on:
        follow_stream(
            source, streams, target, table, name, arn, stats, progress, follow=follow,
            stop=stop if stop is not None else threading.Event(),
        )
    elif follow:
        raise ImportFailed(f"table {table} has no stream to follow: enable one (NEW_IMAGE) on the source")
    stats.seconds = time.monotonic() - started
    return stats


class ImportProgress:
    """``import_table``'s progress on a ``StatusLine``: the count of the phase running, then the summary."""

    def __init__(self, status: StatusLine) -> None:
        self._status = status
        self._phase = ""

    def __call__(self, phase: str, count: int) -> None:
        if phase != self._phase:
            if self._phase:
                self._status.end()  # the copy's last count stays on screen above the catch-up's
            self._phase = phase
        noun = "items copied" if phase == "copy" else "stream records applied"
        self._status.show(f"{phase}: {count:,} {noun}")

    def done(self, stats: ImportStats) -> None:
        self._status.say(
            f"imported: {stats.copied:,} items copied, {stats.applied:,} stream records applied "
            f"in {stats.seconds:.1f} s"
        )
