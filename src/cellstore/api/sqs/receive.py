"""ReceiveMessage, including long polling.

An attempt that finds nothing with time left to wait returns a ``Wait``
instead of an answer; the protocol layer (or the in-process router) waits
for the queue's wake-up and calls ``retry``.  The wake-up generation is
read *before* the attempt, so a message sent while the attempt runs makes
the wait end at once rather than be missed.
"""

from __future__ import annotations

import time
from typing import Any

from cellstore.api.registry import operation
from cellstore.api.sqs import messages
from cellstore.api.sqs.context import Context, Result
from cellstore.api.sqs.params import integer, queue_from_url, string, string_list
from cellstore.engine.queues import catalog
from cellstore.engine.queues import receive as engine
from cellstore.engine.queues.md5 import md5_of_attributes
from cellstore.waiting import Wait

SYSTEM_NAMES = (
    "SenderId",
    "SentTimestamp",
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageDeduplicationId",
    "MessageGroupId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)


@operation("ReceiveMessage")
def receive_message(ctx: Context, payload: dict[str, Any]) -> Result:
    name = queue_from_url(payload, ctx.queues.db.account)
    count = integer(payload, "MaxNumberOfMessages", 1, 10, "Must be between 1 and 10, if provided.") or 1
    wait_s = integer(payload, "WaitTimeSeconds", 0, 20, "Must be >= 0 and <= 20, if provided.")
    visibility = integer(payload, "VisibilityTimeout", 0, 43_200, "Must be >= 0 and <= 43200, if provided.")
    attempt_id = string(payload, "ReceiveRequestAttemptId")
    system = set(string_list(payload, "AttributeNames")) | set(string_list(payload, "MessageSystemAttributeNames"))
    user = string_list(payload, "MessageAttributeNames")
    queue = catalog.get(ctx.queues, name)
    if wait_s is None:
        wait_s = queue.wait_time_s
    deadline = time.monotonic() + wait_s

    def attempt() -> Result:
        generation = ctx.queues.wakeups.generation(queue.id)
        received = engine.receive(ctx.queues, name, count, visibility, attempt_id)
        if received or time.monotonic() >= deadline:
            return {"Messages": [_message(r, system, user, ctx) for r in received]} if received else {}
        return Wait(ctx.queues.wakeups, queue.id, generation, deadline, attempt)

    return attempt()


def _message(received: engine.Received, system: set[str], user: list[str], ctx: Context) -> dict[str, Any]:
    message = received.message
    answer: dict[str, Any] = {
        "MessageId": message.id,
        "ReceiptHandle": received.receipt,
        "MD5OfBody": message.md5_body,
        "Body": message.body,
    }
    attributes = _system_attributes(message, system)
    if attributes:
        answer["Attributes"] = attributes
    chosen = messages.wanted(user, message.attributes)
    if chosen:
        answer["MD5OfMessageAttributes"] = md5_of_attributes(chosen)
        answer["MessageAttributes"] = chosen
    return answer


def _system_attributes(message: Any, names: set[str]) -> dict[str, str]:
    if not names:
        return {}
    everything = "All" in names
    values = {
        "SenderId": message.sender_id,
        "SentTimestamp": str(message.sent_ms),
        "ApproximateReceiveCount": str(message.receive_count),
        "ApproximateFirstReceiveTimestamp": str(message.first_receive_ms or message.sent_ms),
        "SequenceNumber": message.sequence_number,
        "MessageDeduplicationId": message.dedup_id,
        "MessageGroupId": message.group,
        "AWSTraceHeader": (message.system_attributes.get("AWSTraceHeader") or {}).get("StringValue"),
        "DeadLetterQueueSourceArn": message.source_arn,
    }
    return {n: v for n in SYSTEM_NAMES if (everything or n in names) and (v := values[n]) is not None}
