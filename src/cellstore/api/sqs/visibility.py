"""DeleteMessage, DeleteMessageBatch, ChangeMessageVisibility, ChangeMessageVisibilityBatch."""

from __future__ import annotations

from typing import Any

from cellstore.api.registry import operation
from cellstore.api.sqs.context import Context
from cellstore.api.sqs.params import entries, failure, integer, queue_from_url, string
from cellstore.engine.queues import visibility as engine
from cellstore.errors import CellstoreError, MissingParameter

TIMEOUT_REASON = "Must be between 0 and 43200, if provided."


def _handle(payload: dict[str, Any]) -> str:
    return str(string(payload, "ReceiptHandle", need=True))


def _timeout(payload: dict[str, Any]) -> int:
    value = integer(payload, "VisibilityTimeout", 0, 43_200, TIMEOUT_REASON)
    if value is None:
        raise MissingParameter("The request must contain the parameter VisibilityTimeout.")
    return value


@operation("DeleteMessage")
def delete_message(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    name = queue_from_url(payload, ctx.queues.db.account)
    (error,) = engine.delete_messages(ctx.queues, name, [_handle(payload)])
    if error is not None:
        raise error
    return {}


@operation("ChangeMessageVisibility")
def change_message_visibility(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    name = queue_from_url(payload, ctx.queues.db.account)
    handle = _handle(payload)
    (error,) = engine.change_visibility(ctx.queues, name, [(handle, _timeout(payload))])
    if error is not None:
        raise error
    return {}


@operation("DeleteMessageBatch")
def delete_message_batch(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    name = queue_from_url(payload, ctx.queues.db.account)
    batch = entries(payload, "DeleteMessageBatchRequestEntry")
    return _batch(batch, lambda good: engine.delete_messages(ctx.queues, name, good), _handle)


@operation("ChangeMessageVisibilityBatch")
def change_message_visibility_batch(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    name = queue_from_url(payload, ctx.queues.db.account)
    batch = entries(payload, "ChangeMessageVisibilityBatchRequestEntry")
    return _batch(
        batch,
        lambda good: engine.change_visibility(ctx.queues, name, good),
        lambda entry: (_handle(entry), _timeout(entry)),
    )


def _batch(batch: list[dict[str, Any]], run: Any, parse: Any) -> dict[str, Any]:
    parsed: list[tuple[str, Any]] = []
    for entry in batch:
        try:
            parsed.append((entry["Id"], parse(entry)))
        except CellstoreError as err:
            parsed.append((entry["Id"], err))
    good = [p for _, p in parsed if not isinstance(p, CellstoreError)]
    outcomes = iter(run(good))
    successful: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for entry_id, item in parsed:
        error = item if isinstance(item, CellstoreError) else next(outcomes)
        if error is None:
            successful.append({"Id": entry_id})
        else:
            failed.append(failure(entry_id, error))
    return {"Successful": successful, "Failed": failed}
