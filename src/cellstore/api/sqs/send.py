"""SendMessage and SendMessageBatch."""

from __future__ import annotations

from typing import Any

from cellstore.api.registry import operation
from cellstore.api.sqs import messages
from cellstore.api.sqs.context import Context
from cellstore.api.sqs.params import entries, failure, integer, queue_from_url
from cellstore.api.validation import safe_str
from cellstore.engine.queues import send as engine
from cellstore.engine.queues.attributes import MAX_MESSAGE_SIZE
from cellstore.engine.queues.model import attributes_size
from cellstore.errors import BatchRequestTooLong, CellstoreError

DELAY_REASON = "DelaySeconds must be >= 0 and <= 900."


def outgoing(payload: dict[str, Any]) -> engine.Outgoing:
    return engine.Outgoing(
        body=messages.body(payload),
        attributes=messages.attributes(payload.get("MessageAttributes")),
        system_attributes=messages.attributes(payload.get("MessageSystemAttributes"), system=True),
        delay_s=integer(payload, "DelaySeconds", 0, 900, DELAY_REASON),
        group=messages.fifo_id(payload, "MessageGroupId"),
        dedup_id=messages.fifo_id(payload, "MessageDeduplicationId"),
    )


def sent(result: engine.Sent) -> dict[str, Any]:
    answer: dict[str, Any] = {"MessageId": result.message_id, "MD5OfMessageBody": result.md5_body}
    if result.md5_attributes is not None:
        answer["MD5OfMessageAttributes"] = result.md5_attributes
    if result.md5_system_attributes is not None:
        answer["MD5OfMessageSystemAttributes"] = result.md5_system_attributes
    if result.sequence_number is not None:
        answer["SequenceNumber"] = result.sequence_number
    return answer


@operation("SendMessage")
def send_message(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    name = queue_from_url(payload, ctx.queues.db.account)
    message = outgoing(payload)
    return sent(engine.send(ctx.queues, name, message, ctx.queues.db.account))


@operation("SendMessageBatch")
def send_message_batch(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    name = queue_from_url(payload, ctx.queues.db.account)
    batch = entries(payload, "SendMessageBatchRequestEntry")
    total = sum(len(safe_str(e.get("MessageBody", "")).encode("utf-8")) + _attributes_size(e) for e in batch)
    if total > MAX_MESSAGE_SIZE:
        raise BatchRequestTooLong(
            f"Batch requests cannot be longer than {MAX_MESSAGE_SIZE} bytes. You have sent {total} bytes."
        )
    parsed: list[tuple[str, engine.Outgoing | CellstoreError]] = []
    for entry in batch:
        try:
            parsed.append((entry["Id"], outgoing(entry)))
        except CellstoreError as err:
            parsed.append((entry["Id"], err))
    valid = [(entry_id, o) for entry_id, o in parsed if isinstance(o, engine.Outgoing)]
    results = iter(engine.send_batch(ctx.queues, name, [o for _, o in valid], ctx.queues.db.account))
    successful: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for entry_id, item in parsed:
        outcome: Any = item if isinstance(item, CellstoreError) else next(results)
        if isinstance(outcome, CellstoreError):
            failed.append(failure(entry_id, outcome))
        else:
            successful.append({"Id": entry_id, **sent(outcome)})
    return {"Successful": successful, "Failed": failed}


def _attributes_size(entry: dict[str, Any]) -> int:
    raw = entry.get("MessageAttributes")
    try:
        return attributes_size(raw) if isinstance(raw, dict) else 0
    except Exception:  # noqa: BLE001 - malformed attributes are reported per entry later
        return 0
