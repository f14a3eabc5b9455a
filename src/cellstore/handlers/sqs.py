"""SQS mappings: a queue feeding a function, as Lambda's SQS event source does it.

``MaximumConcurrency`` pollers (threads) each loop: receive up to BatchSize
messages through the queue engine (waiting up to
MaximumBatchingWindowInSeconds to fill the batch), invoke, then delete what
succeeded.  A failed invocation deletes nothing: the messages come back when
their visibility timeout runs out, and the queue's own RedrivePolicy moves
a message to its dead-letter queue once it has been received
maxReceiveCount times — Lambda relies on SQS for that too.  With
ReportBatchItemFailures only the reported messages stay.

FIFO queues keep their order by themselves: a receive never returns a
message of a group that has one in flight, so concurrent pollers work on
different groups.  Within a batch, a message after a failed one of the same
group is kept too (never deleted out of order), whatever the function said.
Messages the filter rejects are deleted, as Lambda does.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from cellstore.engine.queues import catalog, queues_for, receive, visibility
from cellstore.engine.queues.md5 import md5_of_attributes
from cellstore.errors import QueueDoesNotExist
from cellstore.handlers.filters import matches_any
from cellstore.handlers.runner import SETTINGS, Mapping
from cellstore.handlers.settings import QUEUE

_RECEIVE_MAX = 10  # ReceiveMessage's own limit


class QueueMapping(Mapping):
    kind = QUEUE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queues = queues_for(self.db)
        self.queue_name = catalog.name_of_arn(self.source_arn)

    def threads(self) -> int:
        return self.settings.maximum_concurrency

    def round(self) -> bool:
        try:
            queue = catalog.get(self.queues, self.queue_name)
        except QueueDoesNotExist:
            self.metrics.state = "waiting for queue"
            return False
        self.metrics.state = "running"
        received = self._receive(queue.id)
        if not received:
            self._measure_lag()
            return True  # _receive already waited for a message
        fifo = queue.fifo
        records = [self._record(r, fifo) for r in received]
        wanted = [matches_any(self.settings.filters, _filter_view(record)) for record in records]
        rejected = [r.receipt for r, keep in zip(received, wanted, strict=True) if not keep]
        if rejected:
            self.count(filtered=len(rejected))
            visibility.delete_messages(self.queues, self.queue_name, rejected)
        chosen = [(r, record) for r, record, keep in zip(received, records, wanted, strict=True) if keep]
        if chosen:
            self._deliver(chosen, fifo)
        self._measure_lag()
        return True

    def _receive(self, queue_id: int) -> list[receive.Received]:
        """Up to BatchSize messages: at once, or once the batching window has passed."""
        wanted = self.settings.batch_size
        window = self.settings.batching_window_s
        started = time.monotonic()
        received: list[receive.Received] = []
        while len(received) < wanted and not self.halted():
            generation = self.queues.wakeups.generation(queue_id)
            got = receive.receive(self.queues, self.queue_name, min(_RECEIVE_MAX, wanted - len(received)))
            received.extend(got)
            left = started + window - time.monotonic()
            if received and left <= 0:
                break
            if not got:
                # Nothing now: wait for a send (or the queue poller), at most a poll interval.
                limit = SETTINGS.poll_seconds if not received else min(left, SETTINGS.poll_seconds)
                self.queues.wakeups.block(queue_id, generation, time.monotonic() + limit)
                if not received:
                    return []
        return received

    def _deliver(self, chosen: list[tuple[receive.Received, dict[str, Any]]], fifo: bool) -> None:
        again = sum(1 for r, _ in chosen if r.message.receive_count > 1)
        if again:
            self.count(retries=again)
        event = {"Records": [record for _, record in chosen]}
        outcome = self.invoke(event, [r.message.id for r, _ in chosen])
        if outcome.ok:
            done = [r for r, _ in chosen]
        elif outcome.failed is None:
            done = []
        else:
            failed = set(outcome.failed)
            blocked: set[str] = set()
            done = []
            for r, _ in chosen:
                group = r.message.group
                if r.message.id in failed or (fifo and group in blocked):
                    if fifo and group is not None:
                        blocked.add(group)
                    continue
                done.append(r)
        if done:
            self.count(records=len(done))
            visibility.delete_messages(self.queues, self.queue_name, [r.receipt for r in done])
        self.save_metrics()

    def _record(self, received: receive.Received, fifo: bool) -> dict[str, Any]:
        """One message in the shape of Lambda's SQS event record."""
        message = received.message
        attributes = {
            "ApproximateReceiveCount": str(message.receive_count),
            "SentTimestamp": str(message.sent_ms),
            "SenderId": message.sender_id,
            "ApproximateFirstReceiveTimestamp": str(message.first_receive_ms or message.sent_ms),
        }
        if fifo:
            attributes["SequenceNumber"] = str(message.sequence_number)
            attributes["MessageGroupId"] = str(message.group)
            attributes["MessageDeduplicationId"] = str(message.dedup_id)
        trace = (message.system_attributes.get("AWSTraceHeader") or {}).get("StringValue")
        if trace is not None:
            attributes["AWSTraceHeader"] = trace
        if message.source_arn is not None:
            attributes["DeadLetterQueueSourceArn"] = message.source_arn
        record: dict[str, Any] = {
            "messageId": message.id,
            "receiptHandle": received.receipt,
            "body": message.body,
            "attributes": attributes,
            "messageAttributes": {name: _attribute(value) for name, value in message.attributes.items()},
            "md5OfBody": message.md5_body,
        }
        if message.attributes:
            record["md5OfMessageAttributes"] = md5_of_attributes(message.attributes)
        record["eventSource"] = "aws:sqs"
        record["eventSourceARN"] = self.source_arn
        record["awsRegion"] = self.db.region
        return record

    def _measure_lag(self) -> None:
        if time.monotonic() - self._metrics_saved < SETTINGS.metrics_seconds:
            return
        try:
            counts = catalog.read_attributes(self.queues, self.queue_name, ["ApproximateNumberOfMessages"])
            self.metrics.lag = int(counts.get("ApproximateNumberOfMessages", 0))
            self.save_metrics()
        except QueueDoesNotExist:
            pass


def _attribute(value: dict[str, Any]) -> dict[str, Any]:
    """A message attribute as Lambda shows it: camelCase, with the (always empty) list members."""
    shown: dict[str, Any] = {}
    if "StringValue" in value:
        shown["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        shown["binaryValue"] = value["BinaryValue"]
    shown["stringListValues"] = []
    shown["binaryListValues"] = []
    shown["dataType"] = value["DataType"]
    return shown


def _filter_view(record: dict[str, Any]) -> dict[str, Any]:
    """What a filter pattern sees: the record, with a JSON-object body parsed."""
    try:
        body = orjson.loads(record["body"])
    except orjson.JSONDecodeError:
        return record
    return {**record, "body": body} if isinstance(body, dict) else record
