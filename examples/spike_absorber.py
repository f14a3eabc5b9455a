"""The spike absorber: a burst lands in a FIFO queue and a handler drains it into a table at its own pace.

Producers send each entity's updates to a FIFO queue with the entity id as
MessageGroupId, so one entity's updates are handled in order while
different entities are handled concurrently.  The handler applies update
*n* of an entity only if the stored version is *n - 1* (a conditional
write), so nothing is applied twice — a redelivered message finds its
version already there and is acknowledged — and nothing out of order: a gap
is reported as a batch item failure, and the queue delivers it again later
(after maxReceiveCount receives it goes to the dead-letter queue).

Run it:  python examples/spike_absorber.py   (an in-process cellstore, in memory)
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError


def make_handler(client: Any, table: str) -> Any:
    """The queue handler: apply each update once, in version order; report the ones that cannot be yet."""

    def absorb(event: dict[str, Any], context: Any) -> dict[str, Any]:
        failures = []
        for record in event["Records"]:
            if not apply(client, table, json.loads(record["body"])):
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    return absorb


def apply(client: Any, table: str, update: dict[str, Any]) -> bool:
    """True if the update is now applied (by this call or an earlier one); False if it is early."""
    version = int(update["version"])
    condition = "attribute_not_exists(pk)" if version == 1 else "version = :previous"
    values = {":version": {"N": str(version)}, ":amount": {"N": str(update["amount"])},
              ":zero": {"N": "0"}, ":applied": {"L": [{"N": str(version)}]}, ":none": {"L": []}}
    if version > 1:
        values[":previous"] = {"N": str(version - 1)}
    try:
        client.update_item(
            TableName=table,
            Key={"pk": {"S": update["entity"]}},
            UpdateExpression="SET version = :version, balance = if_not_exists(balance, :zero) + :amount, "
            "applied = list_append(if_not_exists(applied, :none), :applied)",
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
        )
        return True
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
    item = client.get_item(TableName=table, Key={"pk": {"S": update["entity"]}}, ConsistentRead=True).get("Item")
    return item is not None and int(item["version"]["N"]) >= version  # a duplicate: already applied


def send_burst(sqs: Any, queue_url: str, entities: int, updates: int) -> int:
    """``updates`` updates for each of ``entities`` entities, interleaved, ten per SendMessageBatch."""
    messages = [
        {"entity": f"entity-{e}", "version": v, "amount": v}
        for v in range(1, updates + 1)
        for e in range(entities)
    ]
    for start in range(0, len(messages), 10):
        entries = [
            {
                "Id": str(i),
                "MessageBody": json.dumps(m),
                "MessageGroupId": m["entity"],
                "MessageDeduplicationId": f"{m['entity']}-{m['version']}",
            }
            for i, m in enumerate(messages[start:start + 10])
        ]
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        if response.get("Failed"):
            raise RuntimeError(response["Failed"])
    return len(messages)


def create(client: Any, sqs: Any, table: str, queue: str) -> str:
    """The target table and the FIFO queue (with a dead-letter queue); returns the queue URL."""
    client.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")
    dlq = sqs.create_queue(QueueName=f"{queue}-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})
    return sqs.create_queue(QueueName=f"{queue}.fifo", Attributes={
        "FifoQueue": "true", "VisibilityTimeout": "2", "RedrivePolicy": policy})["QueueUrl"]


def main() -> None:
    import time

    from cellstore import handlers
    from cellstore.embedded import in_process

    with in_process() as store:
        client, sqs = store.client(), store.client("sqs")
        url = create(client, sqs, "balances", "updates")
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        mapping = handlers.register(store.db, arn, make_handler(client, "balances"), BatchSize=10,
                                    FunctionResponseTypes=["ReportBatchItemFailures"], MaximumConcurrency=4)
        sent = send_burst(sqs, url, entities=50, updates=20)
        while mapping.metrics.records < sent:
            time.sleep(0.1)
        print(f"applied {mapping.metrics.records} of {sent} updates in {mapping.metrics.invocations} invocations")


if __name__ == "__main__":
    main()
