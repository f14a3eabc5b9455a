"""Queues themselves: create, find, list, delete, purge; attributes and tags.

A queue record lives under ``0x03 0x01 <name>`` (``keys.py``); its messages
under its id, which is never reused.  CreateQueue is idempotent: asking again
with attributes equal to the stored ones returns the same queue, any
difference is ``QueueNameExists``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from cellstore.engine.queues import Queues, attributes, keys, store
from cellstore.engine.queues.model import FIFO_SUFFIX, Queue
from cellstore.errors import (
    InvalidAttributeName,
    InvalidAttributeValue,
    InvalidParameterValue,
    PurgeQueueInProgress,
    QueueDoesNotExist,
    QueueNameExists,
    SqsResourceNotFound,
)
from cellstore.storage.base import Txn

PURGE_INTERVAL_MS = 60_000
MAX_TAGS = 50
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256
RESERVED_TAG_PREFIX = "aws:"
#: SQS's tag characters ("Quotas related to queues"): Unicode letters and digits, white space and ``_ . : / = + - @``.
_TAG_TEXT = re.compile(r"[\w\s.:/=+\-@]*")


def load(txn: Txn, name: str) -> Queue:
    raw = txn.get(keys.queue_record(name))
    if raw is None:
        raise QueueDoesNotExist()
    return Queue.from_json(raw)


def find(txn: Txn, name: str) -> Queue | None:
    raw = txn.get(keys.queue_record(name))
    return None if raw is None else Queue.from_json(raw)


def name_of_arn(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def get(queues: Queues, name: str) -> Queue:
    with queues.db.store.transaction(write=False) as txn:
        return load(txn, name)


def create(queues: Queues, name: str, requested: Mapping[str, str], tags: Mapping[str, str]) -> Queue:
    fifo_requested = requested.get("FifoQueue", "false").lower() == "true"
    if fifo_requested and not name.endswith(FIFO_SUFFIX):
        raise InvalidParameterValue(
            "The name of a FIFO queue can only include alphanumeric characters, hyphens, or "
            "underscores, must end with .fifo suffix and be 1 to 80 in length."
        )
    if name.endswith(FIFO_SUFFIX) and not fifo_requested:
        raise InvalidParameterValue(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
        )
    wanted = {key: attributes.canonical(key, value, fifo=fifo_requested) for key, value in requested.items()}
    if not fifo_requested:
        wanted.pop("FifoQueue", None)
    _check_tag_text(tags)
    now_ms = queues.now_ms()
    with queues.db.store.transaction(write=True) as txn:
        existing = find(txn, name)
        if existing is not None:
            for key, value in wanted.items():
                if existing.attributes.get(key, "") != value:
                    raise QueueNameExists(
                        f"A queue already exists with the same name and a different value for attribute {key}"
                    )
            return existing
        merged = attributes.defaults(fifo_requested) | {k: v for k, v in wanted.items() if v != ""}
        if "KmsMasterKeyId" in merged:
            merged.setdefault("KmsDataKeyReusePeriodSeconds", "300")
            merged["SqsManagedSseEnabled"] = "false"
        attributes.check_fifo_combination(merged)
        queue = Queue(_next_id(txn), name, merged, {}, now_ms // 1000, now_ms // 1000)
        _check_redrive(txn, queues, queue)
        queue.tags = _checked_tags(dict(tags))
        txn.put(keys.queue_record(name), queue.to_json())
        return queue


def _next_id(txn: Txn) -> int:
    raw = txn.get(keys.QUEUE_SEQ)
    queue_id = (int(raw) if raw is not None else 0) + 1
    txn.put(keys.QUEUE_SEQ, str(queue_id).encode("ascii"))
    return queue_id


def _check_redrive(txn: Txn, queues: Queues, queue: Queue) -> None:
    redrive = queue.redrive
    if redrive is None:
        return
    target_arn, _ = redrive
    target = find(txn, name_of_arn(target_arn))
    if target is None or queues.arn(target.name) != target_arn:
        raise InvalidParameterValue(
            f"Value {queue.attributes['RedrivePolicy']} for parameter RedrivePolicy is invalid. "
            "Reason: Dead letter target does not exist."
        )
    if target.fifo != queue.fifo:
        raise InvalidParameterValue(
            f"Value {queue.attributes['RedrivePolicy']} for parameter RedrivePolicy is invalid. "
            "Reason: Dead-letter queue must be same type of queue as the source.."
        )
    if not attributes.allows_source(target.attributes.get("RedriveAllowPolicy"), queues.arn(queue.name)):
        raise InvalidParameterValue(
            f"Value {queue.attributes['RedrivePolicy']} for parameter RedrivePolicy is invalid. "
            "Reason: Queue "
            f"{queues.arn(queue.name)} is not allowed to use {target_arn} as its dead-letter queue."
        )


def list_names(queues: Queues, prefix: str = "") -> list[str]:
    start = keys.queue_record(prefix)
    end = keys.QUEUE_RECORDS_END
    names: list[str] = []
    with queues.db.store.transaction(write=False) as txn:
        for key, _ in txn.range(start, end):
            name = key[len(keys.QUEUE_RECORDS):].decode("utf-8")
            if not name.startswith(prefix):
                break
            names.append(name)
    return names


def delete(queues: Queues, name: str) -> None:
    with queues.db.store.transaction(write=True) as txn:
        queue = load(txn, name)
        txn.delete(keys.queue_record(name))
        start = keys.data(queue.id)
        txn.delete_range(start, keys.data(queue.id + 1))
    queues.wakeups.notify(queue.id)


def purge(queues: Queues, name: str) -> None:
    now_ms = queues.now_ms()
    with queues.db.store.transaction(write=True) as txn:
        queue = load(txn, name)
        if queue.purged_ms is not None and now_ms - queue.purged_ms < PURGE_INTERVAL_MS:
            raise PurgeQueueInProgress(f"Only one PurgeQueue operation on {name} is allowed every 60 seconds.")
        base = keys.data(queue.id)
        for letter in b"mwrgGva":  # everything but the counter and the deduplication history
            txn.delete_range(base + bytes([letter]), base + bytes([letter + 1]))
        queue.purged_ms = now_ms
        txn.put(keys.queue_record(name), queue.to_json())


def read_attributes(queues: Queues, name: str, wanted: list[str]) -> dict[str, str]:
    """GetQueueAttributes: ``wanted`` names (or "All"), in SQS's order."""
    unknown = [n for n in wanted if n != "All" and n not in attributes.READABLE]
    if unknown:
        raise InvalidAttributeName(f"Unknown Attribute {unknown[0]}.")
    now_ms = queues.now_ms()
    with queues.db.store.transaction(write=False) as txn:
        queue = load(txn, name)
        everything = "All" in wanted
        names = [n for n in attributes.ORDER if everything or n in wanted]
        values: dict[str, str] = {}
        if any(n.startswith("Approximate") for n in names):
            visible, in_flight, delayed = store.counts(txn, queue, now_ms)
            values.update(
                ApproximateNumberOfMessages=str(visible),
                ApproximateNumberOfMessagesNotVisible=str(in_flight),
                ApproximateNumberOfMessagesDelayed=str(delayed),
            )
    values.update(
        QueueArn=queues.arn(queue.name),
        CreatedTimestamp=str(queue.created),
        LastModifiedTimestamp=str(queue.modified),
    )
    values.update(queue.attributes)
    return {n: values[n] for n in names if n in values}


def set_attributes(queues: Queues, name: str, changes: Mapping[str, str]) -> None:
    now_ms = queues.now_ms()
    with queues.db.store.transaction(write=True) as txn:
        queue = load(txn, name)
        for key, value in changes.items():
            if key == "FifoQueue":
                if value.lower() != ("true" if queue.fifo else "false"):
                    raise InvalidAttributeValue(f"Invalid value for the parameter {key}. Reason: Modifying queue type is not supported.")
                continue
            stored = attributes.canonical(key, value, fifo=queue.fifo)
            if stored == "" and key in ("RedrivePolicy", "RedriveAllowPolicy", "Policy", "KmsMasterKeyId"):
                queue.attributes.pop(key, None)
            else:
                queue.attributes[key] = stored
        attributes.check_fifo_combination(queue.attributes)
        _check_redrive(txn, queues, queue)
        queue.modified = now_ms // 1000
        txn.put(keys.queue_record(name), queue.to_json())


def edit_policy(queues: Queues, name: str, edit: Callable[[Queue, str | None], str | None]) -> None:
    """Replace a queue's Policy with ``edit(queue, policy)`` in one write transaction; None removes it.

    AddPermission and RemovePermission read the policy, add or drop a
    statement and write it back: in one transaction, two of them at once
    cannot lose each other's statement.  ``edit`` raises to refuse.
    """
    now_ms = queues.now_ms()
    with queues.db.store.transaction(write=True) as txn:
        queue = load(txn, name)
        policy = edit(queue, queue.attributes.get("Policy"))
        if policy is None:
            queue.attributes.pop("Policy", None)
        else:
            queue.attributes["Policy"] = attributes.canonical("Policy", policy, fifo=queue.fifo)
        queue.modified = now_ms // 1000
        txn.put(keys.queue_record(name), queue.to_json())


def _check_tag_text(tags: Mapping[str, str]) -> None:
    """Refuse a tag that breaks SQS's documented tag rules ("Quotas related to queues").

    A key of 1 to 128 characters, a value of at most 256, neither starting
    with the reserved ``aws:``, both only Unicode letters and digits, white
    space and ``_ . : / = + - @``.  SQS documents the rules but no error for
    them; cellstore answers InvalidParameterValue, the error SQS gives for its
    other tag limits, with messages of its own naming the offending text.
    """
    for key, value in tags.items():
        if not 1 <= len(key) <= MAX_TAG_KEY_LENGTH:
            raise InvalidParameterValue(f"Tag keys must be between 1 and {MAX_TAG_KEY_LENGTH} characters long: {key}")
        if len(value) > MAX_TAG_VALUE_LENGTH:
            raise InvalidParameterValue(f"Tag values may be at most {MAX_TAG_VALUE_LENGTH} characters long: {value}")
        for what, text in (("key", key), ("value", value)):
            if text.lower().startswith(RESERVED_TAG_PREFIX):
                raise InvalidParameterValue(f"Invalid tag {what}: {text}. The prefix aws: is reserved for AWS use")
            if _TAG_TEXT.fullmatch(text) is None:
                raise InvalidParameterValue(
                    f"Invalid tag {what}: {text}. Tag keys and values may contain only Unicode letters, digits, "
                    "white space and the characters _ . : / = + - @"
                )


def _checked_tags(tags: dict[str, str]) -> dict[str, str]:
    if len(tags) > MAX_TAGS:
        raise InvalidParameterValue(f"Too many tags added for queue. The maximum is {MAX_TAGS}.")
    return tags


def tag(queues: Queues, name: str, tags: Mapping[str, str]) -> None:
    with queues.db.store.transaction(write=True) as txn:
        _check_tag_text(tags)
        queue = load(txn, name)
        queue.tags = _checked_tags(queue.tags | dict(tags))
        txn.put(keys.queue_record(name), queue.to_json())


def untag(queues: Queues, name: str, tag_keys: list[str]) -> None:
    with queues.db.store.transaction(write=True) as txn:
        queue = load(txn, name)
        for key in tag_keys:
            queue.tags.pop(key, None)
        txn.put(keys.queue_record(name), queue.to_json())


def dead_letter_sources(queues: Queues, name: str) -> list[str]:
    """Names of the queues whose RedrivePolicy targets ``name``."""
    with queues.db.store.transaction(write=False) as txn:
        target = load(txn, name)
        arn = queues.arn(target.name)
        sources = []
        for _, raw in txn.range(keys.QUEUE_RECORDS, keys.QUEUE_RECORDS_END):
            queue = Queue.from_json(raw)
            redrive = queue.redrive
            if redrive is not None and redrive[0] == arn:
                sources.append(queue.name)
        return sources


def by_arn(txn: Txn, queues: Queues, arn: str) -> Queue:
    queue = find(txn, name_of_arn(arn))
    if queue is None or queues.arn(queue.name) != arn:
        raise SqsResourceNotFound("The resource that you specified for the SourceArn parameter doesn't exist.")
    return queue
