"""A bare queue name given as QueueUrl (issue 21, item 11), through boto3.

SQS resolves ``QueueUrl="orders"`` in the caller's account and region, as if
the caller had given the full URL; cellstore does the same.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError


def test_a_bare_name_works_where_a_url_does(sqs: Any, queue_name: str) -> None:
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    sqs.send_message(QueueUrl=queue_name, MessageBody="by name")
    received = sqs.receive_message(QueueUrl=queue_name, WaitTimeSeconds=0)["Messages"]
    assert [message["Body"] for message in received] == ["by name"]
    sqs.delete_message(QueueUrl=queue_name, ReceiptHandle=received[0]["ReceiptHandle"])
    attributes = sqs.get_queue_attributes(QueueUrl=queue_name, AttributeNames=["QueueArn"])["Attributes"]
    assert attributes["QueueArn"].endswith(f":000000000000:{queue_name}")
    # The same queue as its URL names.
    sqs.send_message(QueueUrl=url, MessageBody="by url")
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=queue_name)["Messages"]] == ["by url"]
    sqs.delete_queue(QueueUrl=queue_name)
    assert queue_name not in " ".join(sqs.list_queues(QueueNamePrefix=queue_name).get("QueueUrls", []))


def test_a_bare_name_of_no_queue_does_not_exist(sqs: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        sqs.get_queue_attributes(QueueUrl="no-such-queue-here")
    assert excinfo.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
