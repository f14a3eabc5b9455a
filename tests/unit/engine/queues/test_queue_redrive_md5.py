"""Dead-letter queues, move tasks, and SQS's message-attribute digest."""

from __future__ import annotations

import orjson
import pytest

from cellstore.engine.queues import Queues, catalog, receive, redrive, send
from cellstore.engine.queues.clock import ManualClock
from cellstore.engine.queues.md5 import md5_of_attributes, md5_of_body
from cellstore.engine.queues.send import Outgoing
from cellstore.errors import InvalidParameterValue


def policy(queues: Queues, target: str, count: int) -> str:
    return orjson.dumps({"deadLetterTargetArn": queues.arn(target), "maxReceiveCount": count}).decode()


def test_a_message_received_too_often_moves_to_the_dead_letter_queue(queues: Queues, clock: ManualClock) -> None:
    catalog.create(queues, "dlq", {}, {})
    catalog.create(queues, "src", {"VisibilityTimeout": "1", "RedrivePolicy": policy(queues, "dlq", 3)}, {})
    send.send(queues, "src", Outgoing("x"), "me")
    for _ in range(3):
        assert len(receive.receive(queues, "src", 1)) == 1
        clock.advance(1)
    assert receive.receive(queues, "src", 1) == []
    (moved,) = receive.receive(queues, "dlq", 1)
    assert moved.message.body == "x" and moved.message.receive_count == 1
    assert catalog.dead_letter_sources(queues, "dlq") == ["src"]


def test_move_task_returns_messages_to_their_source(queues: Queues, clock: ManualClock) -> None:
    catalog.create(queues, "dlq", {}, {})
    catalog.create(queues, "src", {"VisibilityTimeout": "1", "RedrivePolicy": policy(queues, "dlq", 1)}, {})
    send.send(queues, "src", Outgoing("x"), "me")
    receive.receive(queues, "src", 1)
    clock.advance(1)
    assert receive.receive(queues, "src", 1) == []  # moved to the DLQ
    task = redrive.start_move(queues, queues.arn("dlq"), None, None)
    assert (task.status, task.moved) == ("COMPLETED", 1)
    assert [r.message.body for r in receive.receive(queues, "src", 1)] == ["x"]
    assert redrive.list_moves(queues, queues.arn("dlq"), 10)[0].moved == 1


def test_redrive_allow_policy(queues: Queues) -> None:
    catalog.create(queues, "dlq", {"RedriveAllowPolicy": '{"redrivePermission": "denyAll"}'}, {})
    with pytest.raises(InvalidParameterValue, match="not allowed"):
        catalog.create(queues, "src", {"RedrivePolicy": policy(queues, "dlq", 3)}, {})


def test_redrive_target_must_exist(queues: Queues) -> None:
    with pytest.raises(InvalidParameterValue, match="does not exist"):
        catalog.create(queues, "src", {"RedrivePolicy": policy(queues, "nope", 3)}, {})


# Published example digests of SQS's algorithm.
STRING = {"attribName1": {"DataType": "String", "StringValue": "attribValue 1"}}
NUMBER = {"customNumberTypeAttrib": {"DataType": "Number.float", "StringValue": "4563442423554324324264524243.32543234"}}
BINARY = {"binaryAttribute": {"DataType": "Binary", "BinaryValue": "SGVsbG8gYmluYXJ5IHdvcmxkIQ=="}}


@pytest.mark.parametrize(
    ("attributes", "digest"),
    [
        (STRING, "19e27d4e946b072f3f58da80d94fd778"),
        (NUMBER, "9fe1b90bbd9965bdf77bac517c7d2495"),
        (BINARY, "31a92b15d92f8db860eda32aceb656c3"),
        ({**STRING, **NUMBER, **BINARY}, "c932db14a896c663f83c260297d594ff"),
    ],
)
def test_md5_of_message_attributes(attributes: dict[str, dict[str, str]], digest: str) -> None:
    assert md5_of_attributes(attributes) == digest


def test_md5_of_body() -> None:
    assert md5_of_body("hello") == "5d41402abc4b2a76b9719d911017c592"
