"""SendMessage and SendMessageBatch: checks that need the queue, dedup, then insert.

A batch is one storage transaction, so every accepted entry of it is durable
together before the response; an entry that breaks a queue rule (a FIFO
message without a group, say) fails alone, as in SQS.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from cellstore.engine.queues import Queues, catalog, dedup, store
from cellstore.engine.queues.md5 import md5_of_attributes, md5_of_body
from cellstore.engine.queues.model import Message, Queue, attributes_size
from cellstore.errors import CellstoreError, InvalidParameterValue, MissingParameter

#: SequenceNumber is a large decimal in SQS; ours count up from this base.
SEQUENCE_BASE = 10**19


@dataclass(slots=True)
class Outgoing:
    """One message to send, already validated for shape by the api layer."""

    body: str
    attributes: dict[str, Any] = field(default_factory=dict)
    system_attributes: dict[str, Any] = field(default_factory=dict)
    delay_s: int | None = None
    group: str | None = None
    dedup_id: str | None = None


@dataclass(frozen=True, slots=True)
class Sent:
    message_id: str
    md5_body: str
    md5_attributes: str | None
    md5_system_attributes: str | None
    sequence_number: str | None


def send(queues: Queues, name: str, message: Outgoing, sender_id: str) -> Sent:
    result = send_batch(queues, name, [message], sender_id)[0]
    if isinstance(result, CellstoreError):
        raise result
    return result


def send_batch(queues: Queues, name: str, batch: list[Outgoing], sender_id: str) -> list[Sent | CellstoreError]:
    now_ms = queues.now_ms()
    results: list[Sent | CellstoreError] = []
    with queues.db.store.transaction(write=True) as txn:
        queue = catalog.load(txn, name)
        if queue.fifo:
            dedup.sweep(txn, queue, now_ms)
        for outgoing in batch:
            try:
                check(queue, outgoing)
            except CellstoreError as err:
                results.append(err)
                continue
            results.append(_enqueue(txn, queue, outgoing, now_ms, sender_id))
    if any(isinstance(r, Sent) for r in results):
        queues.wakeups.notify(queue.id)
    return results


def check(queue: Queue, outgoing: Outgoing) -> None:
    size = len(outgoing.body.encode("utf-8")) + attributes_size(outgoing.attributes)
    if size > queue.max_message_size:
        raise InvalidParameterValue(
            f"One or more parameters are invalid. Reason: Message must be shorter than {queue.max_message_size} bytes."
        )
    if queue.fifo:
        if outgoing.delay_s is not None and outgoing.delay_s != 0:
            raise InvalidParameterValue(
                f"Value {outgoing.delay_s} for parameter DelaySeconds is invalid. "
                "Reason: The request include parameter that is not valid for this queue type."
            )
        if outgoing.group is None:
            raise MissingParameter("The request must contain the parameter MessageGroupId.")
        if outgoing.dedup_id is None and not queue.content_based_dedup:
            raise InvalidParameterValue(
                "The queue should either have ContentBasedDeduplication enabled or "
                "MessageDeduplicationId provided explicitly"
            )
    elif outgoing.dedup_id is not None:
        raise InvalidParameterValue(
            f"Value {outgoing.dedup_id} for parameter MessageDeduplicationId is invalid. "
            "Reason: The request include parameter that is not valid for this queue type."
        )


def _enqueue(txn: Any, queue: Queue, outgoing: Outgoing, now_ms: int, sender_id: str) -> Sent:
    md5_body = md5_of_body(outgoing.body)
    md5_attrs = md5_of_attributes(outgoing.attributes) if outgoing.attributes else None
    md5_system = md5_of_attributes(outgoing.system_attributes) if outgoing.system_attributes else None
    dedup_key = None
    if queue.fifo:
        dedup_id = outgoing.dedup_id if outgoing.dedup_id is not None else dedup.content_id(outgoing.body)
        dedup_key = dedup.scoped(queue, outgoing.group, dedup_id)
        seen = dedup.recall(txn, queue, dedup_key, now_ms)
        if seen is not None:
            return Sent(seen.message_id, md5_body, md5_attrs, md5_system, seen.sequence_number)
    seq = store.next_seq(txn, queue)
    delay = queue.delay_s if outgoing.delay_s is None else outgoing.delay_s
    message = Message(
        seq=seq,
        id=str(uuid.uuid4()),
        body=outgoing.body,
        md5_body=md5_body,
        attributes=outgoing.attributes,
        system_attributes=outgoing.system_attributes,
        sent_ms=now_ms,
        visible_ms=now_ms + delay * 1000,
        expires_ms=now_ms + queue.retention_s * 1000,
        sender_id=sender_id,
        group=outgoing.group,
    )
    if queue.fifo:
        message.dedup_id = outgoing.dedup_id if outgoing.dedup_id is not None else dedup.content_id(outgoing.body)
        message.sequence_number = str(SEQUENCE_BASE + seq)
    store.insert(txn, queue, message)
    if dedup_key is not None:
        dedup.remember(txn, queue, dedup_key, now_ms, message.id, message.sequence_number)
    return Sent(message.id, md5_body, md5_attrs, md5_system, message.sequence_number)
