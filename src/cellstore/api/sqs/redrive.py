"""ListDeadLetterSourceQueues and the message move tasks."""

from __future__ import annotations

from typing import Any

from cellstore.api.registry import operation
from cellstore.api.sqs.context import Context
from cellstore.api.sqs.params import integer, queue_from_url, string
from cellstore.api.sqs.queues import decode_token, encode_token
from cellstore.engine.queues import catalog, redrive


@operation("ListDeadLetterSourceQueues")
def list_dead_letter_source_queues(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    name = queue_from_url(payload, ctx.queues.db.account)
    limit = integer(payload, "MaxResults", 1, 1000, "MaxResults must be an integer between 1 and 1000.")
    token = string(payload, "NextToken")
    names = catalog.dead_letter_sources(ctx.queues, name)
    if token is not None:
        after = decode_token(token)
        names = [n for n in names if n > after]
    page = names[: limit or 1000]
    result: dict[str, Any] = {"queueUrls": [ctx.queue_url(n) for n in page]}
    if limit is not None and len(names) > limit:
        result["NextToken"] = encode_token(page[-1])
    return result


@operation("StartMessageMoveTask")
def start_message_move_task(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    source = str(string(payload, "SourceArn", need=True))
    destination = string(payload, "DestinationArn")
    rate = integer(payload, "MaxNumberOfMessagesPerSecond", 1, 500, "Must be between 1 and 500, if provided.")
    task = redrive.start_move(ctx.queues, source, destination, rate)
    return {"TaskHandle": task.handle}


@operation("ListMessageMoveTasks")
def list_message_move_tasks(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    source = str(string(payload, "SourceArn", need=True))
    limit = integer(payload, "MaxResults", 1, 10, "Must be between 1 and 10, if provided.") or 1
    results = []
    for task in redrive.list_moves(ctx.queues, source, limit):
        entry: dict[str, Any] = {
            "Status": task.status,
            "SourceArn": task.source_arn,
            "ApproximateNumberOfMessagesMoved": task.moved,
            "ApproximateNumberOfMessagesToMove": task.to_move,
            "StartedTimestamp": task.started_ms,
        }
        if task.status == "RUNNING":
            entry["TaskHandle"] = task.handle
        if task.destination_arn is not None:
            entry["DestinationArn"] = task.destination_arn
        if task.rate is not None:
            entry["MaxNumberOfMessagesPerSecond"] = task.rate
        if task.failure is not None:
            entry["FailureReason"] = task.failure
        results.append(entry)
    return {"Results": results}


@operation("CancelMessageMoveTask")
def cancel_message_move_task(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    task = redrive.cancel_move(ctx.queues, str(string(payload, "TaskHandle", need=True)))
    return {"ApproximateNumberOfMessagesMoved": task.moved}
