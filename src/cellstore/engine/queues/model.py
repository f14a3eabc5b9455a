"""What the queue engine stores: queue records, messages and receipt handles.

Both records are dataclasses serialised with orjson (which writes
dataclasses natively) and rebuilt with ``from_json``.  A queue's settable
attributes are kept exactly as SQS reports them — strings — so
GetQueueAttributes is a copy, and the typed views below parse them.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field
from typing import Any

import orjson

from cellstore.errors import ReceiptHandleIsInvalid

FIFO_SUFFIX = ".fifo"


@dataclass(slots=True)
class Queue:
    id: int
    name: str
    attributes: dict[str, str]
    tags: dict[str, str] = field(default_factory=dict)
    created: int = 0  # epoch seconds, as CreatedTimestamp reports it
    modified: int = 0
    purged_ms: int | None = None

    @property
    def fifo(self) -> bool:
        return self.attributes.get("FifoQueue") == "true"

    def number(self, name: str) -> int:
        return int(self.attributes[name])

    @property
    def delay_s(self) -> int:
        return self.number("DelaySeconds")

    @property
    def visibility_timeout_s(self) -> int:
        return self.number("VisibilityTimeout")

    @property
    def retention_s(self) -> int:
        return self.number("MessageRetentionPeriod")

    @property
    def max_message_size(self) -> int:
        return self.number("MaximumMessageSize")

    @property
    def wait_time_s(self) -> int:
        return self.number("ReceiveMessageWaitTimeSeconds")

    @property
    def content_based_dedup(self) -> bool:
        return self.attributes.get("ContentBasedDeduplication") == "true"

    @property
    def dedup_per_group(self) -> bool:
        return self.attributes.get("DeduplicationScope") == "messageGroup"

    @property
    def redrive(self) -> tuple[str, int] | None:
        """(deadLetterTargetArn, maxReceiveCount) of the RedrivePolicy, if any."""
        raw = self.attributes.get("RedrivePolicy")
        if not raw:
            return None
        policy = orjson.loads(raw)
        return str(policy["deadLetterTargetArn"]), int(policy["maxReceiveCount"])

    def to_json(self) -> bytes:
        return orjson.dumps(self)

    @classmethod
    def from_json(cls, raw: bytes) -> Queue:
        return cls(**orjson.loads(raw))


@dataclass(slots=True)
class Message:
    seq: int
    id: str
    body: str
    md5_body: str
    attributes: dict[str, Any]  # MessageAttributes, in the JSON protocol's shape
    system_attributes: dict[str, Any]  # MessageSystemAttributes (AWSTraceHeader)
    sent_ms: int
    visible_ms: int
    expires_ms: int
    sender_id: str
    receive_count: int = 0
    first_receive_ms: int | None = None
    token: str | None = None  # the current receipt's nonce; older receipts are stale
    group: str | None = None
    dedup_id: str | None = None
    sequence_number: str | None = None
    source_arn: str | None = None  # DeadLetterQueueSourceArn once redriven

    def to_json(self) -> bytes:
        return orjson.dumps(self)

    @classmethod
    def from_json(cls, raw: bytes) -> Message:
        return cls(**orjson.loads(raw))

    def in_flight(self, now_ms: int) -> bool:
        return self.receive_count > 0 and self.visible_ms > now_ms

    def size(self) -> int:
        """Bytes counted against MaximumMessageSize: the body plus every attribute's parts."""
        return len(self.body.encode("utf-8")) + attributes_size(self.attributes)


def attributes_size(attributes: dict[str, Any]) -> int:
    size = 0
    for name, value in attributes.items():
        size += len(name.encode("utf-8")) + len(str(value.get("DataType", "")).encode("utf-8"))
        if "StringValue" in value:
            size += len(str(value["StringValue"]).encode("utf-8"))
        elif "BinaryValue" in value:
            size += len(base64.b64decode(value["BinaryValue"]))
    return size


@dataclass(frozen=True, slots=True)
class Receipt:
    """A receipt handle, decoded: which message, and which receive of it."""

    queue_id: int
    seq: int
    token: str

    def encode(self) -> str:
        raw = self.queue_id.to_bytes(8, "big") + self.seq.to_bytes(8, "big") + bytes.fromhex(self.token)
        return base64.urlsafe_b64encode(raw).decode("ascii")

    @classmethod
    def decode(cls, handle: str) -> Receipt:
        try:
            raw = base64.urlsafe_b64decode(handle.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raw = b""
        if len(raw) != 32:
            raise ReceiptHandleIsInvalid(f'The input receipt handle "{handle}" is not a valid receipt handle.')
        return cls(int.from_bytes(raw[:8], "big"), int.from_bytes(raw[8:16], "big"), raw[16:].hex())


def new_token() -> str:
    return os.urandom(16).hex()
