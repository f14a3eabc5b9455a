"""Cross-region replication through a queue: EVCache's Kafka + relay, on cellstore's own SQS.

In the writing region, a :class:`RegionPublisher` is a write listener of the
region's :class:`CacheClient`: every ``set``/``delete``/``touch`` becomes a
message on a FIFO queue whose message group is the key, so one key's writes
are delivered in the order they were made while different keys flow in
parallel.  In the other region a :class:`Relay` receives those messages and
applies them to that region's cache (every zone there, through its own
client, latches and retry queue), deleting a message once its write is handed
over.

The queue is any SQS endpoint: a cellstore server (the point: no Kafka
needed) or AWS.  Clients are boto3 SQS clients, or anything with the same
three methods.  Publishing happens on a background thread so that a write's
latency in its own region does not include a cross-region HTTP call; a send
that fails is retried (in memory: what a crashed publisher had not sent is
lost, and the other region's copy expires or is overwritten by the next write).
A value too large for one message (SQS's 256 KiB) is published as an
invalidation (a delete): the other region reads through to its source instead.
"""

from __future__ import annotations

import base64
import logging
import queue
import threading
import time
import uuid
from typing import Any, Protocol

import orjson

from cellstore.cache import retry
from cellstore.cache.client import CacheClient

log = logging.getLogger(__name__)

#: Values above this many bytes travel as an invalidation (base64 and JSON must fit in 256 KiB).
MAX_RELAYED_VALUE = 180 * 1024


class SqsClient(Protocol):
    """The three SQS calls the relay uses (a boto3 ``sqs`` client has them)."""

    def send_message_batch(self, **kwargs: Any) -> Any: ...
    def receive_message(self, **kwargs: Any) -> Any: ...
    def delete_message_batch(self, **kwargs: Any) -> Any: ...


def encode(region: str, op: str, key: str, value: bytes | None, expiry: int) -> bytes:
    if op == retry.SET and value is not None and len(value) > MAX_RELAYED_VALUE:
        op, value = retry.DELETE, None
    body: dict[str, Any] = {"region": region, "op": op, "key": key, "expiry": expiry}
    if value is not None:
        body["value"] = base64.b64encode(value).decode()
    return orjson.dumps(body)


def decode(body: str) -> tuple[str, str, str, bytes | None, int]:
    """(region, op, key, value, expiry) of a relayed write."""
    message = orjson.loads(body)
    value = message.get("value")
    return (
        str(message["region"]),
        str(message["op"]),
        str(message["key"]),
        None if value is None else base64.b64decode(value),
        int(message["expiry"]),
    )


class RegionPublisher:
    """A write listener that sends each write of this region to the cross-region FIFO queue."""

    def __init__(self, sqs: SqsClient, queue_url: str, region: str) -> None:
        self.sqs, self.queue_url, self.region = sqs, queue_url, region
        self.sent = self.failures = 0
        self._pending: queue.Queue[dict[str, str] | None] = queue.Queue()
        self._outstanding = 0
        self._idle = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="cache-relay-publisher", daemon=True)
        self._thread.start()

    def __call__(self, op: str, key: str, value: bytes | None, expiry: int) -> None:
        with self._idle:
            self._outstanding += 1
        self._pending.put(
            {
                "Id": uuid.uuid4().hex,
                "MessageBody": encode(self.region, op, key, value, expiry).decode(),
                "MessageGroupId": key,
                "MessageDeduplicationId": uuid.uuid4().hex,
            }
        )

    def _run(self) -> None:
        closing = False
        while not closing:
            first = self._pending.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < 10 and not self._pending.empty():
                entry = self._pending.get()
                if entry is None:
                    closing = True
                    break
                batch.append(entry)
            self._send(batch)

    def _send(self, batch: list[dict[str, str]]) -> None:
        delay = 0.1
        while batch:
            try:
                answer = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=batch)
            except Exception as exc:  # noqa: BLE001 - any transport failure: keep the batch and retry
                log.warning("cache relay: cannot publish %d write(s): %s", len(batch), exc)
                answer = {"Failed": [{"Id": entry["Id"]} for entry in batch]}
            failed = {f["Id"] for f in answer.get("Failed", [])}
            with self._idle:
                self.sent += len(batch) - len(failed)
                self._outstanding -= len(batch) - len(failed)
                self._idle.notify_all()
            batch = [entry for entry in batch if entry["Id"] in failed]
            if batch:
                self.failures += 1
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every write published so far has been sent; False if that took longer than ``timeout``."""
        with self._idle:
            return self._idle.wait_for(lambda: self._outstanding == 0, timeout)

    def close(self) -> None:
        self._pending.put(None)
        self._thread.join()


class Relay:
    """Applies another region's writes, received from the FIFO queue, to this region's cache."""

    def __init__(self, sqs: SqsClient, queue_url: str, cache: CacheClient, region: str, wait: int = 1) -> None:
        self.sqs, self.queue_url, self.cache, self.region, self.wait = sqs, queue_url, cache, region, wait
        self.applied = 0

    def run_once(self) -> int:
        """Receive one batch (long-polling up to ``wait`` seconds), apply it in order, delete it; how many applied."""
        answer = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=self.wait)
        messages = answer.get("Messages", [])
        handled: list[dict[str, str]] = []
        applied = 0
        for message in messages:
            try:
                region, op, key, value, expiry = decode(message["Body"])
                if region != self.region:  # our own writes, if the queue is shared both ways, are already here
                    self.cache.replicate(op, key, value, expiry)
                    applied += 1
            except (ValueError, KeyError, TypeError) as exc:
                # Not a write this relay can apply (another producer, a bad key): kept, it would block its group.
                log.warning("cache relay: dropping message %s: %s", message.get("MessageId"), exc)
            handled.append({"Id": str(len(handled)), "ReceiptHandle": message["ReceiptHandle"]})
        if handled:
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=handled)
        self.applied += applied
        return applied

    def run(self, stop: threading.Event) -> None:
        """Relay until ``stop`` is set; a failed receive is logged and retried after a pause."""
        while not stop.is_set():
            try:
                self.run_once()
            except Exception as exc:  # noqa: BLE001 - the relay outlives a queue outage
                log.warning("cache relay: %s", exc)
                stop.wait(1.0)
