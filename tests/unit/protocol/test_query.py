"""The query protocol codec: numbered form members in, SQS's XML out."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from cellstore.errors import QueueDoesNotExist
from cellstore.protocol import query

NS = "{" + query.NAMESPACE + "}"


def test_decode_takes_action_and_drops_version_and_signing() -> None:
    action, params = query.decode(b"Action=ListQueues&Version=2012-11-05&QueueNamePrefix=a%20b", "X-Amz-Date=1")
    assert (action, params) == ("ListQueues", {"QueueNamePrefix": "a b"})


def test_numbered_maps_lists_and_integers() -> None:
    params = {
        "QueueUrl": "http://h/0/q",
        "MessageBody": "x",
        "DelaySeconds": "5",
        "MessageAttribute.1.Name": "color",
        "MessageAttribute.1.Value.DataType": "String",
        "MessageAttribute.1.Value.StringValue": "red",
        "MessageAttribute.2.Name": "n",
        "MessageAttribute.2.Value.DataType": "Number",
        "MessageAttribute.2.Value.StringValue": "1",
    }
    assert query.to_payload("SendMessage", params) == {
        "QueueUrl": "http://h/0/q",
        "MessageBody": "x",
        "DelaySeconds": 5,
        "MessageAttributes": {
            "color": {"DataType": "String", "StringValue": "red"},
            "n": {"DataType": "Number", "StringValue": "1"},
        },
    }


def test_batch_entries_in_number_order() -> None:
    params = {
        "SendMessageBatchRequestEntry.10.Id": "j",
        "SendMessageBatchRequestEntry.10.MessageBody": "10",
        "SendMessageBatchRequestEntry.2.Id": "b",
        "SendMessageBatchRequestEntry.2.MessageBody": "2",
        "AttributeName.1": "All",
    }
    payload = query.to_payload("SendMessageBatch", params)
    assert payload["Entries"] == [{"Id": "b", "MessageBody": "2"}, {"Id": "j", "MessageBody": "10"}]
    assert payload["AttributeNames"] == ["All"]


def test_create_queue_tags_are_lower_case() -> None:
    payload = query.to_payload(
        "CreateQueue", {"QueueName": "q", "Tag.1.Key": "k", "Tag.1.Value": "v", "Attribute.1.Name": "DelaySeconds", "Attribute.1.Value": "1"}
    )
    assert payload == {"QueueName": "q", "tags": {"k": "v"}, "Attributes": {"DelaySeconds": "1"}}


def test_result_xml() -> None:
    result = {
        "Messages": [
            {
                "MessageId": "m",
                "Body": "<&>",
                "Attributes": {"SentTimestamp": "1"},
                "MessageAttributes": {"a": {"StringValue": "v", "DataType": "String"}},
            }
        ]
    }
    root = ET.fromstring(query.encode_result("ReceiveMessage", result, "rid"))
    assert root.tag == NS + "ReceiveMessageResponse"
    message = root.find(f"{NS}ReceiveMessageResult/{NS}Message")
    assert message is not None
    assert message.findtext(f"{NS}Body") == "<&>"
    assert message.findtext(f"{NS}Attribute/{NS}Name") == "SentTimestamp"
    assert message.findtext(f"{NS}MessageAttribute/{NS}Value/{NS}StringValue") == "v"
    assert root.findtext(f"{NS}ResponseMetadata/{NS}RequestId") == "rid"


def test_batch_result_entries_are_named_after_the_action() -> None:
    result = {"Successful": [{"Id": "1"}], "Failed": [{"Id": "2", "SenderFault": True, "Code": "C", "Message": "M"}]}
    root = ET.fromstring(query.encode_result("DeleteMessageBatch", result, "rid"))
    body = root.find(f"{NS}DeleteMessageBatchResult")
    assert body is not None
    assert body.findtext(f"{NS}DeleteMessageBatchResultEntry/{NS}Id") == "1"
    assert body.findtext(f"{NS}BatchResultErrorEntry/{NS}SenderFault") == "true"


def test_empty_result_has_no_result_element() -> None:
    root = ET.fromstring(query.encode_result("DeleteQueue", {}, "rid"))
    assert root.find(f"{NS}DeleteQueueResult") is None


def test_error_xml_uses_the_query_code() -> None:
    root = ET.fromstring(query.encode_error(QueueDoesNotExist(), "rid"))
    assert root.tag == NS + "ErrorResponse"
    assert root.findtext(f"{NS}Error/{NS}Code") == "AWS.SimpleQueueService.NonExistentQueue"
    assert root.findtext(f"{NS}Error/{NS}Type") == "Sender"
    assert root.findtext(f"{NS}RequestId") == "rid"
