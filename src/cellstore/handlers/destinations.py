"""On-failure destinations: where a stream mapping sends what it gives up on.

A destination is an SQS queue ARN of this database (the record becomes one
message, sent through the queue engine) or anything else, taken as a file
path to which each record is appended as one JSON line.  The record is
Lambda's invocation record (``requestContext``, ``responseContext``,
``version``, ``timestamp``, ``DDBStreamBatchInfo``) plus ``payload``: the
event that failed, which Lambda leaves out but which a local store can
afford to keep.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from cellstore.engine.database import Database

_file_lock = threading.Lock()


def invocation_record(
    function_arn: str, condition: str, attempts: int, error: str | None, batch_info: dict[str, Any], payload: Any
) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "requestContext": {
            "requestId": batch_info.get("requestId", ""),
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled" if error else "",
        },
        "version": "1.0",
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        "DDBStreamBatchInfo": {k: v for k, v in batch_info.items() if k != "requestId"},
        "payload": payload,
    }


def send(db: Database, destination: str, record: dict[str, Any]) -> None:
    body = orjson.dumps(record)
    if destination.startswith("arn:aws:sqs:"):
        from cellstore.engine.queues import catalog, queues_for
        from cellstore.engine.queues import send as queue_send

        queues = queues_for(db)
        queue_send.send(
            queues,
            catalog.name_of_arn(destination),
            queue_send.Outgoing(body.decode("utf-8")),
            f"cellstore-handlers:{db.account}",
        )
        return
    with _file_lock, Path(destination).open("ab") as out:
        out.write(body + b"\n")
