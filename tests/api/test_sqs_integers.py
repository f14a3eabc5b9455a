"""SQS integers through both protocols: only '-'? and ASCII digits, never a 500.

Python's int() takes ' 7 ', '+7', '1_000' and '١٢'; SQS does not.  '--7'
used to pass the query protocol's digit check and crash int() (a 500).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sqs_query_client import QueryClient, text

REFUSED = ["1_000", " 7 ", "+7", "--7", "١٢", "８"]


@pytest.fixture
def query(cellstore_server: Any) -> QueryClient:
    return QueryClient(cellstore_server.endpoint_url)


@pytest.mark.parametrize("value", REFUSED)
def test_query_protocol(query: QueryClient, queue_name: str, value: str) -> None:
    status, root = query.call("CreateQueue", QueueName=queue_name, **{"Attribute.1.Name": "VisibilityTimeout", "Attribute.1.Value": value})
    assert (status, text(root, "Error/Code"), text(root, "Error/Message")) == (
        400, "InvalidAttributeValue", "Invalid value for the parameter VisibilityTimeout.",
    )
    status, root = query.call("CreateQueue", QueueName=queue_name)
    url = text(root, "CreateQueueResult/QueueUrl")
    status, root = query.call("ReceiveMessage", QueueUrl=url, MaxNumberOfMessages=value)
    assert (status, text(root, "Error/Code"), text(root, "Error/Message")) == (
        400, "InvalidParameterValue",
        f"Value {value} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.",
    )


@pytest.mark.parametrize("value", REFUSED)
def test_json_protocol(sqs: Any, queue_name: str, value: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        sqs.create_queue(QueueName=queue_name, Attributes={"DelaySeconds": value})
    assert excinfo.value.response["Error"]["Code"] == "InvalidAttributeValue"
    dlq = sqs.create_queue(QueueName=queue_name + "-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    with pytest.raises(ClientError) as excinfo:
        sqs.create_queue(QueueName=queue_name, Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": value})})
    assert excinfo.value.response["Error"]["Message"] == (
        "Invalid value for the parameter RedrivePolicy. Reason: "
        f"Value {value} for parameter MaxReceiveCount is invalid. Reason: Must be an integer from 1 to 1000."
    )


@pytest.mark.parametrize("value", ["1_000", " 7 ", "--7", "١٢", "８", "NaN", "Infinity", "1e"])
def test_number_message_attributes_use_the_number_grammar(sqs: Any, queue_name: str, value: str) -> None:
    """A Number attribute is spelled as a number; Decimal() alone took ' 7 ', '1_000', 'NaN' and '١٢'."""
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message(QueueUrl=url, MessageBody="b",
                         MessageAttributes={"n": {"DataType": "Number", "StringValue": value}})
    assert excinfo.value.response["Error"]["Message"] == "Can't cast the value of message (user) attribute 'n' to a number."
    sent = sqs.send_message(QueueUrl=url, MessageBody="b",
                            MessageAttributes={"n": {"DataType": "Number", "StringValue": "-1.5E3"}})
    assert "MD5OfMessageAttributes" in sent
