"""Messages through boto3: send, receive, delete, visibility, batches, FIFO, digests."""

from __future__ import annotations

import base64
import hashlib
import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cellstore.engine.queues.md5 import md5_of_attributes

ATTRS = {
    "s": {"DataType": "String", "StringValue": "hello"},
    "n": {"DataType": "Number", "StringValue": "12.5"},
    "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01\x02"},
}


def wire_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    """boto3 hands binaries back as bytes; the digest is defined over base64 text."""
    out = {}
    for name, value in attrs.items():
        value = dict(value)
        if isinstance(value.get("BinaryValue"), bytes):
            value["BinaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        out[name] = value
    return out


def error(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = excinfo.value.response["Error"]
    return err["Code"], err["Message"]


@pytest.fixture
def queue(sqs: Any, queue_name: str) -> str:
    return str(sqs.create_queue(QueueName=queue_name)["QueueUrl"])


@pytest.fixture
def fifo(sqs: Any, queue_name: str) -> str:
    return str(sqs.create_queue(QueueName=queue_name + ".fifo", Attributes={"FifoQueue": "true"})["QueueUrl"])


def test_send_receive_delete_with_digests(sqs: Any, queue: str) -> None:
    sent = sqs.send_message(QueueUrl=queue, MessageBody="héllo", MessageAttributes=ATTRS)
    assert sent["MD5OfMessageBody"] == hashlib.md5("héllo".encode()).hexdigest()
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(wire_attrs(ATTRS))
    got = sqs.receive_message(QueueUrl=queue, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"])
    (message,) = got["Messages"]
    assert message["MessageId"] == sent["MessageId"]
    assert message["Body"] == "héllo"
    assert message["MD5OfBody"] == sent["MD5OfMessageBody"]
    assert message["MessageAttributes"] == ATTRS
    assert message["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    assert set(message["Attributes"]) >= {"SenderId", "SentTimestamp", "ApproximateFirstReceiveTimestamp"}
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    assert "Messages" not in sqs.receive_message(QueueUrl=queue, VisibilityTimeout=0)


def test_attribute_name_filters(sqs: Any, queue: str) -> None:
    sqs.send_message(QueueUrl=queue, MessageBody="x", MessageAttributes=ATTRS)
    got = sqs.receive_message(QueueUrl=queue, MessageAttributeNames=["s", "n"], AttributeNames=["SentTimestamp"])
    (message,) = got["Messages"]
    assert set(message["MessageAttributes"]) == {"s", "n"}
    assert message["MD5OfMessageAttributes"] == md5_of_attributes({k: ATTRS[k] for k in ("s", "n")})
    assert list(message["Attributes"]) == ["SentTimestamp"]


def test_invalid_message_contents(sqs: Any, queue: str) -> None:
    with pytest.raises(sqs.exceptions.InvalidMessageContents):
        sqs.send_message(QueueUrl=queue, MessageBody="bad \x01 char")


def test_message_too_long(sqs: Any, queue: str) -> None:
    sqs.send_message(QueueUrl=queue, MessageBody="x" * 1_048_576)
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message(QueueUrl=queue, MessageBody="x" * 1_048_577)
    assert error(excinfo) == (
        "InvalidParameterValue",
        "One or more parameters are invalid. Reason: Message must be shorter than 1048576 bytes.",
    )


def test_receive_limits(sqs: Any, queue: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=11)
    assert error(excinfo) == (
        "InvalidParameterValue",
        "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.",
    )
    with pytest.raises(ClientError) as excinfo:
        sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=21)
    assert error(excinfo)[1].endswith("Reason: Must be >= 0 and <= 20, if provided.")


def test_visibility_timeout_and_change(sqs: Any, queue: str) -> None:
    sqs.send_message(QueueUrl=queue, MessageBody="x")
    first = sqs.receive_message(QueueUrl=queue, VisibilityTimeout=60)["Messages"][0]
    assert "Messages" not in sqs.receive_message(QueueUrl=queue)
    sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0)
    second = sqs.receive_message(QueueUrl=queue, AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    assert second["ReceiptHandle"] != first["ReceiptHandle"]
    # the first receipt is stale: deleting with it succeeds and deletes nothing
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=first["ReceiptHandle"])
    sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=0)
    assert sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"] == "x"


def test_message_not_in_flight(sqs: Any, queue: str) -> None:
    sqs.send_message(QueueUrl=queue, MessageBody="x")
    handle = sqs.receive_message(QueueUrl=queue)["Messages"][0]["ReceiptHandle"]
    sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=handle, VisibilityTimeout=0)
    with pytest.raises(sqs.exceptions.MessageNotInflight):
        sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=handle, VisibilityTimeout=10)


def test_invalid_receipt_handle(sqs: Any, queue: str) -> None:
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid) as excinfo:
        sqs.delete_message(QueueUrl=queue, ReceiptHandle="nonsense")
    assert error(excinfo) == ("ReceiptHandleIsInvalid", 'The input receipt handle "nonsense" is not a valid receipt handle.')


def test_batches(sqs: Any, queue: str) -> None:
    entries = [{"Id": f"m{i}", "MessageBody": f"body {i}"} for i in range(10)]
    entries[3]["DelaySeconds"] = 901
    result = sqs.send_message_batch(QueueUrl=queue, Entries=entries)
    assert [s["Id"] for s in result["Successful"]] == [f"m{i}" for i in range(10) if i != 3]
    assert result["Failed"] == [
        {
            "Id": "m3",
            "SenderFault": True,
            "Code": "InvalidParameterValue",
            "Message": "Value 901 for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.",
        }
    ]
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert len(got) == 9
    changes = [{"Id": f"c{i}", "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for i, m in enumerate(got[:2])]
    changes.append({"Id": "bad", "ReceiptHandle": "nonsense", "VisibilityTimeout": 0})
    changed = sqs.change_message_visibility_batch(QueueUrl=queue, Entries=changes)
    assert [s["Id"] for s in changed["Successful"]] == ["c0", "c1"]
    assert changed["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    deletes = [{"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got[2:])]
    assert len(sqs.delete_message_batch(QueueUrl=queue, Entries=deletes)["Successful"]) == 7


def test_batch_errors(sqs: Any, queue: str) -> None:
    with pytest.raises(sqs.exceptions.EmptyBatchRequest):
        sqs.send_message_batch(QueueUrl=queue, Entries=[])
    with pytest.raises(sqs.exceptions.TooManyEntriesInBatchRequest) as excinfo:
        sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(11)])
    assert error(excinfo)[1] == "Maximum number of entries per request are 10. You have sent 11."
    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct):
        sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": "a", "MessageBody": "x"}] * 2)
    with pytest.raises(sqs.exceptions.InvalidBatchEntryId):
        sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": "a b", "MessageBody": "x"}])
    with pytest.raises(sqs.exceptions.BatchRequestTooLong) as excinfo:
        sqs.send_message_batch(
            QueueUrl=queue, Entries=[{"Id": str(i), "MessageBody": "x" * 300_000} for i in range(4)]
        )
    assert error(excinfo)[1] == "Batch requests cannot be longer than 1048576 bytes. You have sent 1200000 bytes."


def test_fifo_order_dedup_and_sequence(sqs: Any, fifo: str) -> None:
    first = sqs.send_message(QueueUrl=fifo, MessageBody="1", MessageGroupId="g", MessageDeduplicationId="d1")
    dup = sqs.send_message(QueueUrl=fifo, MessageBody="1", MessageGroupId="g", MessageDeduplicationId="d1")
    assert dup["MessageId"] == first["MessageId"]
    assert dup["SequenceNumber"] == first["SequenceNumber"]
    sqs.send_message(QueueUrl=fifo, MessageBody="2", MessageGroupId="g", MessageDeduplicationId="d2")
    got = sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in got] == ["1", "2"]
    assert got[0]["Attributes"]["MessageGroupId"] == "g"
    assert got[0]["Attributes"]["MessageDeduplicationId"] == "d1"
    assert int(got[0]["Attributes"]["SequenceNumber"]) < int(got[1]["Attributes"]["SequenceNumber"])


def test_fifo_errors(sqs: Any, fifo: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message(QueueUrl=fifo, MessageBody="x", MessageDeduplicationId="d")
    assert error(excinfo) == ("MissingParameter", "The request must contain the parameter MessageGroupId.")
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message(QueueUrl=fifo, MessageBody="x", MessageGroupId="g")
    assert error(excinfo)[0] == "InvalidParameterValue"
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message(QueueUrl=fifo, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d", DelaySeconds=2)
    assert error(excinfo) == (
        "InvalidParameterValue",
        ("Value 2 for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid "
        "for this queue type."),
    )


def test_fifo_order_per_group_with_eight_concurrent_consumers(sqs: Any, queue_name: str) -> None:
    url = sqs.create_queue(
        QueueName=queue_name + ".fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true", "VisibilityTimeout": "30"},
    )["QueueUrl"]
    groups, per_group = 6, 25
    for n in range(per_group):
        entries = [{"Id": f"g{g}", "MessageBody": f"{g}:{n}", "MessageGroupId": f"g{g}"} for g in range(groups)]
        assert not sqs.send_message_batch(QueueUrl=url, Entries=entries)["Failed"]
    seen: dict[int, list[int]] = {g: [] for g in range(groups)}
    lock = threading.Lock()
    failures: list[BaseException] = []

    def consume() -> None:
        try:
            idle = 0
            while idle < 3:
                got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3, WaitTimeSeconds=0).get("Messages", [])
                if not got:
                    idle += 1
                    continue
                idle = 0
                with lock:  # record before deleting: the next of the group cannot be out before the delete
                    for m in got:
                        g, n = map(int, m["Body"].split(":"))
                        seen[g].append(n)
                sqs.delete_message_batch(
                    QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
                )
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=consume) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures
    assert seen == {g: list(range(per_group)) for g in range(groups)}
