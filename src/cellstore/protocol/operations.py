"""Every operation of the APIs cellstore speaks, and which of them it serves: the source of docs/OPERATIONS.md.

An operation AWS has but cellstore does not answer used to be an
``UnknownOperationException`` with no message, which looked like a typo in
the client rather than a gap in cellstore.  It is still that error, with
AWS's status (400), but now with a message naming the operation and
pointing at docs/OPERATIONS.md; a name AWS does not know either gets AWS's
own answer, which has no message.

``AWS_OPERATIONS`` is a snapshot of the service models (botocore's), kept
true by a test that compares it with the installed botocore;
``PARTLY`` says what is missing from operations that are served but not
whole.  ``table`` renders the document from those and the api registries,
and a test checks that the committed docs/OPERATIONS.md is its output:
``python -m cellstore.protocol.operations > docs/OPERATIONS.md`` rewrites it.
"""

from __future__ import annotations

from collections.abc import Container, Mapping

from cellstore.errors import UnknownOperationException

#: Every operation of each service, by the service name ``wire.parse_target`` gives.
AWS_OPERATIONS: Mapping[str, tuple[str, ...]] = {
    "dynamodb": (
        "BatchExecuteStatement", "BatchGetItem", "BatchWriteItem", "CancelBulkOperation", "CreateBackup",
        "CreateGlobalTable", "CreateTable", "DeleteBackup", "DeleteItem", "DeleteResourcePolicy", "DeleteTable",
        "DescribeBackup", "DescribeBulkOperation", "DescribeContinuousBackups", "DescribeContributorInsights",
        "DescribeEndpoints", "DescribeExport", "DescribeGlobalTable", "DescribeGlobalTableSettings",
        "DescribeImport", "DescribeKinesisStreamingDestination", "DescribeLimits", "DescribeTable",
        "DescribeTableReplicaAutoScaling", "DescribeTimeToLive", "DisableKinesisStreamingDestination",
        "EnableKinesisStreamingDestination", "ExecuteStatement", "ExecuteTransaction", "ExportTableToPointInTime",
        "GetItem", "GetResourcePolicy", "ImportTable", "ListBackups", "ListBulkOperations",
        "ListContributorInsights", "ListExports", "ListGlobalTables", "ListImports", "ListTables",
        "ListTagsOfResource", "PutItem", "PutResourcePolicy", "Query", "RestoreTableFromBackup",
        "RestoreTableToPointInTime", "Scan", "SearchVectors", "StartBulkPutItems", "TagResource",
        "TransactGetItems", "TransactWriteItems", "UntagResource", "UpdateContinuousBackups",
        "UpdateContributorInsights", "UpdateGlobalTable", "UpdateGlobalTableSettings", "UpdateItem",
        "UpdateKinesisStreamingDestination", "UpdateTable", "UpdateTableReplicaAutoScaling", "UpdateTimeToLive",
    ),
    "streams": ("DescribeStream", "GetRecords", "GetShardIterator", "ListStreams"),
    "sqs": (
        "AddPermission", "CancelMessageMoveTask", "ChangeMessageVisibility", "ChangeMessageVisibilityBatch",
        "CreateQueue", "DeleteMessage", "DeleteMessageBatch", "DeleteQueue", "GetQueueAttributes", "GetQueueUrl",
        "ListDeadLetterSourceQueues", "ListMessageMoveTasks", "ListQueueTags", "ListQueues", "PurgeQueue",
        "ReceiveMessage", "RemovePermission", "SendMessage", "SendMessageBatch", "SetQueueAttributes",
        "StartMessageMoveTask", "TagQueue", "UntagQueue",
    ),
}

#: Served, but not whole: what is missing.
PARTLY: Mapping[tuple[str, str], str] = {
    ("dynamodb", "CreateTable"): "provisioned capacity is recorded but never throttles; SSESpecification, "
    "OnDemandThroughput and WarmThroughput are not applied",
    ("dynamodb", "UpdateTable"): "provisioned capacity is recorded but never throttles; ReplicaUpdates "
    "(global tables), SSESpecification, OnDemandThroughput and WarmThroughput are not applied",
    ("dynamodb", "DescribeContinuousBackups"): "point-in-time recovery is a recorded setting: nothing can be "
    "restored, so EarliestRestorableDateTime and LatestRestorableDateTime are not reported",
    ("dynamodb", "UpdateContinuousBackups"): "records the point-in-time-recovery setting; no recovery points "
    "are kept (RestoreTableToPointInTime is not served)",
    ("dynamodb", "CreateBackup"): "a consistent copy taken in one write transaction (docs/BACKUPS.md); "
    "no AWS Backup, no backup encryption settings",
    ("dynamodb", "ListBackups"): "USER backups only: cellstore makes no SYSTEM or AWS_BACKUP backups",
    ("dynamodb", "RestoreTableFromBackup"): "SSESpecificationOverride is checked, not applied; "
    "OnDemandThroughputOverride is ignored (docs/BACKUPS.md)",
    ("dynamodb", "PutResourcePolicy"): "tables and streams; the document's shape is checked, not its grammar, "
    "and a stored policy cellstore cannot evaluate denies every request to its resource (docs/AUTH.md)",
    ("dynamodb", "ExecuteStatement"): "PartiQL as docs/PARTIQL.md lists it: SELECT, INSERT, UPDATE, DELETE with "
    "DynamoDB's functions; not SELECT ... IN on the partition key as several reads (it scans)",
    ("dynamodb", "BatchExecuteStatement"): "as ExecuteStatement (docs/PARTIQL.md)",
    ("dynamodb", "ExecuteTransaction"): "as ExecuteStatement (docs/PARTIQL.md)",
    ("sqs", "SetQueueAttributes"): "Policy is stored, not enforced; KMS attributes are stored, nothing is "
    "encrypted",
    ("sqs", "CreateQueue"): "Policy is stored, not enforced; KMS attributes are stored, nothing is encrypted; "
    "a deleted queue's name can be re-used at once",
    ("sqs", "AddPermission"): "edits the queue's Policy, which is not enforced",
    ("sqs", "RemovePermission"): "edits the queue's Policy, which is not enforced",
    ("sqs", "StartMessageMoveTask"): "the move runs to completion inside the call; "
    "MaxNumberOfMessagesPerSecond is not applied",
    ("sqs", "CancelMessageMoveTask"): "no task is ever running, so it always answers ResourceNotFoundException",
}

#: The services as docs/OPERATIONS.md names them, in its order.
TITLES: Mapping[str, str] = {"dynamodb": "DynamoDB", "streams": "DynamoDB Streams", "sqs": "SQS"}

DOC = "docs/OPERATIONS.md"


def unknown_operation(service: str, operation: str) -> UnknownOperationException:
    """The error for ``operation``, which ``service`` does not serve: AWS's, with a message if AWS has it."""
    if operation in AWS_OPERATIONS.get(service, ()):
        return UnknownOperationException(
            f"cellstore does not implement {TITLES[service]} {operation} yet; {DOC} lists what it serves"
        )
    return UnknownOperationException()


def table(served: Mapping[str, Container[str]]) -> str:
    """docs/OPERATIONS.md: each service's operations, served, partly served (and what is missing) or not yet."""
    lines = [
        "# Operations",
        "",
        "Every operation of the three APIs cellstore serves on one port, and how far it goes.",
        "Generated by `python -m cellstore.protocol.operations > docs/OPERATIONS.md` from the",
        "api registries; a test fails when this file and the code disagree.",
        "",
        "An operation not yet served answers `UnknownOperationException` (HTTP 400), as AWS",
        "answers an operation it does not know, with a message naming the operation.",
        "",
        "## Beside the APIs: health, metrics, traces, logs, console",
        "",
        "The same port answers a few paths that are not AWS operations (docs/OBSERVABILITY.md has",
        "the details, docs/CONSOLE.md the console's):",
        "",
        "| path or switch | what |",
        "|---|---|",
        "| `GET /` | health check: 200 while the server answers (not authenticated) |",
        ("| `GET /metrics` | Prometheus text format: requests, latency, capacity, tables, queues, streams, handlers, "
        "storage, cells and cache zones; `--no-metrics` turns it off; dashboard in docs/grafana/ |"),
        "| `GET /console` | the web console, a client of the public APIs; `--no-console` turns it off |",
        ("| `GET /_cellstore/cells`, `/handlers`, `/cache` | read-only admin answers (JSON) for `cellstore cells status`"
        " and the console; under `--auth sigv4` a principal allowed `cellstore:DescribeCells` (`Handlers`, `Cache`) |"),
        ("| `traceparent` header | W3C trace context, joined into OpenTelemetry spans when the SDK is installed and "
        "configured (the `otel` extra; off and free otherwise) |"),
        ("| `--log-format json` | one JSON line per log record, with the request id AWS clients see as "
        "`x-amzn-RequestId` |"),
    ]
    for service, title in TITLES.items():
        names = AWS_OPERATIONS[service]
        have = served[service]
        counts = {"yes": 0, "partly": 0, "not yet": 0}
        rows = []
        for name in names:
            if name not in have:
                status, note = "not yet", ""
            elif (service, name) in PARTLY:
                status, note = "partly", PARTLY[(service, name)]
            else:
                status, note = "yes", ""
            counts[status] += 1
            rows.append(f"| {name} | {status} | {note} |")
        summary = ", ".join(f"{count} {status}" for status, count in counts.items() if count)
        lines += ["", f"## {title}", "", f"{len(names)} operations: {summary}.", "",
                  "| operation | served | missing |", "|---|---|---|", *rows]
    return "\n".join(lines) + "\n"


def served() -> dict[str, Container[str]]:
    """The operations each service's api registry answers (read through the registries' public names)."""
    from cellstore.api import OPERATIONS, sqs, streams

    return {"dynamodb": OPERATIONS, "streams": streams.OPERATIONS, "sqs": sqs.OPERATIONS}


if __name__ == "__main__":
    print(table(served()), end="")
